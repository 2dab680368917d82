import type { Page } from '@playwright/test';

import { expect, finishGenerating, generatedPixels, imagesHaveContent, openStudio, record, setControls, startGenerating, test, TINY } from './studio';

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

interface Probe {
  loss: number;
  gradName: string;
  grad: number[];
  error?: string;
}

/** The worker's DPO parity probe (the e2e build's 'parity-probe' hook): one step's loss and conv gradient. */
async function parityProbe(page: Page): Promise<Probe> {
  return page.evaluate(
    () =>
      new Promise<Probe>((resolve) => {
        const worker = (globalThis as unknown as { __sailStudioClient: { worker: Worker } }).__sailStudioClient.worker;
        const onMessage = (event: MessageEvent<Probe & { kind: string; id: number }>) => {
          if (event.data.kind !== 'parity-probe' || event.data.id !== 424242) return;
          worker.removeEventListener('message', onMessage);
          resolve(event.data);
        };
        worker.addEventListener('message', onMessage);
        worker.postMessage({ kind: 'parity-probe', id: 424242 });
      }),
  );
}

test('WebGPU (SwiftShader) computes what wasm computes: the same images for a prompt and seed, one DPO step\'s loss and conv gradient', async ({ page }) => {
  test.setTimeout(600_000);
  const controls = { prompt: 'red heart', count: 2, steps: 4, seed: 5 };
  const onBackend = async (backend: string) => {
    await openStudio(page, { ...TINY, backend });
    await expect(page.getByTestId('backend-name')).toHaveText(backend);
    await setControls(page, controls);
    await startGenerating(page);
    await finishGenerating(page, controls.count);
    const probe = await parityProbe(page);
    expect(probe.error).toBeUndefined();
    return { pixels: await generatedPixels(page), probe };
  };
  const wasm = await onBackend('wasm');
  const gpu = await onBackend('webgpu');

  const diffs = wasm.pixels.flatMap((img, i) => img.map((v, j) => Math.abs(v - gpu.pixels[i]![j]!)));
  const maxDiff = Math.max(...diffs);
  const meanDiff = diffs.reduce((a, b) => a + b, 0) / diffs.length;
  record('pixel levels apart, wasm vs webgpu (max, mean)', [maxDiff, Number(meanDiff.toFixed(3))]);
  expect(maxDiff).toBeLessThanOrEqual(4);

  const lossError = Math.abs(gpu.probe.loss - wasm.probe.loss) / Math.abs(wasm.probe.loss);
  let num = 0;
  let den = 0;
  wasm.probe.grad.forEach((v, i) => {
    num += (gpu.probe.grad[i]! - v) ** 2;
    den += v ** 2;
  });
  const gradError = Math.sqrt(num / den);
  record('DPO step on wasm vs webgpu', { loss: [wasm.probe.loss, gpu.probe.loss], lossRelError: lossError, [`${wasm.probe.gradName} gradient relative L2 error`]: gradError });
  expect(gpu.probe.gradName).toBe(wasm.probe.gradName);
  expect(lossError).toBeLessThan(1e-3);
  expect(gradError).toBeLessThan(1e-3);
});
