import { expect, finishGenerating, imagesHaveContent, openStudio, record, setControls, startGenerating, test } from './studio';

test('with ?backend=webgpu the worker runs on WebGPU (SwiftShader) and generates 4 images', async ({ page }) => {
  // SwiftShader compiles every shader on first use: the first generation took 1.5-3 minutes here.
  test.setTimeout(600_000);
  record('ms to ready', await openStudio(page, { backend: 'webgpu' }));
  await expect(page.getByTestId('backend-name')).toHaveText('webgpu');
  await expect(page.getByTestId('backend-reason')).toContainText('You chose WebGPU');
  await expect(page.getByTestId('backend-adapter')).toContainText(/fallback/i);

  await setControls(page, { prompt: 'grinning face', count: 4, steps: 4, seed: 7 });
  await startGenerating(page);
  const generated = await finishGenerating(page, 4);
  record('progress seen', generated.progressSeen);
  record('ms to the first step (mostly shader compilation)', generated.firstStepMs);
  record('ms per generation (4 images, 4 steps, webgpu)', generated.ms);

  expect(generated.backend).toBe('webgpu');
  expect(await imagesHaveContent(page)).toEqual([true, true, true, true]);
  // The bar moved: it passed through values between empty and full, and ended full.
  const between = generated.progressSeen.filter((v) => v > 0 && v < generated.progressMax);
  expect(between.length).toBeGreaterThan(0);
  expect(generated.progressSeen.at(-1)).toBe(generated.progressMax);
});
