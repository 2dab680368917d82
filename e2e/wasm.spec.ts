import {
  expect,
  finishGenerating,
  generatedPixels,
  imagesHaveContent,
  openStudio,
  record,
  setControls,
  startGenerating,
  test,
} from './studio';

test('generates on wasm while the page stays responsive', async ({ page }) => {
  await openStudio(page, { backend: 'wasm' });
  await expect(page.getByTestId('backend-name')).toHaveText('wasm');

  // Warm-up at the size the WebGPU spec uses, for a like-for-like figure.
  await setControls(page, { prompt: 'grinning face', count: 4, steps: 4, seed: 7 });
  await startGenerating(page);
  const small = await finishGenerating(page, 4);
  record('ms per generation (4 images, 4 steps, wasm)', small.ms);
  expect(small.backend).toBe('wasm');
  expect(await imagesHaveContent(page)).toEqual([true, true, true, true]);

  // A longer run, to interact with the page while the worker is busy.
  await setControls(page, { prompt: 'dog face', count: 16, steps: 50, seed: 3 });
  await startGenerating(page);
  const suggestionsBefore = await page.getByTestId('suggestion').allInnerTexts();
  const clickStarted = Date.now();
  await page.getByTestId('shuffle-suggestions').click();
  await expect(page.getByTestId('suggestion')).not.toHaveText(suggestionsBefore, { timeout: 2_000 });
  record('ms from click to new suggestions during generation', Date.now() - clickStarted);
  const timerLag = await page.evaluate(
    () => new Promise<number>((resolve) => {
      const t = performance.now();
      setTimeout(() => resolve(performance.now() - t), 0);
    }),
  );
  record('main-thread timer lag during generation, ms', Math.round(timerLag));
  expect(timerLag).toBeLessThan(250);
  // All of that happened while the worker was still generating.
  expect(await page.getByTestId('progress').getAttribute('data-status')).toBe('running');

  const large = await finishGenerating(page, 16);
  record('ms per generation (16 images, 50 steps, wasm)', large.ms);
  expect(large.progressSeen.length).toBeGreaterThan(10);
});

test('Cancel stops a generation on wasm and keeps the last images', async ({ page }) => {
  await openStudio(page, { backend: 'wasm' });
  await setControls(page, { prompt: 'grinning face', count: 2, steps: 4, seed: 1 });
  await startGenerating(page);
  await finishGenerating(page, 2);

  await setControls(page, { prompt: 'dog face', count: 16, steps: 200, seed: 2 });
  await startGenerating(page);
  await expect.poll(async () => Number(await page.getByTestId('progress').getAttribute('aria-valuenow'))).toBeGreaterThan(1);
  const clicked = Date.now();
  await page.getByTestId('cancel').click();
  await expect(page.getByTestId('progress')).toHaveAttribute('data-status', 'idle', { timeout: 10_000 });
  record('ms from Cancel to idle', Date.now() - clicked);
  await expect(page.getByTestId('progress-label')).toHaveText('Cancelled');
  expect(Number(await page.getByTestId('progress').getAttribute('aria-valuenow'))).toBeLessThan(100);
  await expect(page.getByTestId('errors')).toBeEmpty();
  // The previous result stays on screen, and the next generation works.
  await expect(page.getByTestId('generated-image')).toHaveCount(2);
  await setControls(page, { prompt: 'cat face', count: 1, steps: 2 });
  await startGenerating(page);
  await finishGenerating(page, 1);
});

test('on the cross-origin-isolated page, ?threads=all runs wasm on every core and draws what the default one thread draws', async ({ page }) => {
  const controls = { prompt: 'red heart', count: 4, steps: 8, seed: 11 };
  await openStudio(page, { backend: 'wasm', threads: 'all' });
  expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
  const cores = await page.evaluate(() => navigator.hardwareConcurrency);
  const threads = page.getByTestId('backend-threads');
  await expect(threads).toHaveAttribute('data-threads', String(cores));
  // The SIMD kernels bind to the threaded build's shared heap too, in their fused (FMA) form.
  await expect(threads).toHaveAttribute('data-simd', 'true');
  await expect(threads).toHaveAttribute('data-fma', 'true');
  record('wasm threads', cores);
  await setControls(page, controls);
  await startGenerating(page);
  const many = await finishGenerating(page, 4);
  const manyPixels = await generatedPixels(page);

  // By default wasm keeps one thread: the same prompt and seed give the same images.
  await openStudio(page, { backend: 'wasm' });
  await expect(threads).toHaveAttribute('data-threads', '1');
  await expect(threads).toHaveAttribute('data-simd', 'true');
  await expect(threads).toHaveAttribute('data-fma', 'true');
  await expect(threads).toHaveText('(one thread)');
  await setControls(page, controls);
  await startGenerating(page);
  const one = await finishGenerating(page, 4);
  const onePixels = await generatedPixels(page);
  record('ms per generation (4 images, 8 steps), threads vs one', { [cores]: many.ms, 1: one.ms });
  let maxDiff = 0;
  onePixels.forEach((img, i) => img.forEach((v, j) => (maxDiff = Math.max(maxDiff, Math.abs(v - manyPixels[i]![j]!)))));
  record('max pixel difference, threads vs one', maxDiff);
  expect(maxDiff).toBeLessThanOrEqual(3);
});
