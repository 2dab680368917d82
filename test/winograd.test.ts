// Winograd F(4x4, 3x3) on the wasm SIMD kernels (src/core/kernels/convSimd.ts, simd.wat wino_*):
// every stride-1 3x3 'same' convolution of the UNet and the decoder, forward (with and without a
// bias), as the input gradient (the filter turned) and as the filter gradient, equals the cpu
// backend's direct sum within 2e-4 of the output's scale (5e-4 for the filter gradient; the
// transforms round in float32: about 1e-5 to 2.5e-4 here); it leaves no tensor or backend buffer
// behind; an image rounds the same in any batch; the geometries it does not take go to conv_fwd
// unchanged; and a sampler's images move by at most a pixel level or two.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { setWasmWinograd, simdConvCallCount, winogradCallCount } from '../src/core/kernels/convSimd';
import { loadCheckpointDir } from '../scripts/lib/checkpointFs';
import { generate } from '../src/core/generate';
import { useBackend } from './helpers';

type Shape4 = [number, number, number, number];
const values = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + seed) + 0.1 * Math.cos(i * 1.3 + seed));
const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
const backendIds = () => (tf.backend() as unknown as { numDataIds(): number }).numDataIds();
const TOLERANCE = 2e-4;
/** The filter gradient sums transformed products over every tile: up to about 2.5e-4 of its scale here. */
const FILTER_TOLERANCE = 5e-4;

function relativeError(want: Float32Array, got: Float32Array): number {
  expect(got.length).toBe(want.length);
  let err = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    err = Math.max(err, Math.abs(want[i]! - got[i]!));
    scale = Math.max(scale, Math.abs(want[i]!));
  }
  expect(scale).toBeGreaterThan(0);
  return err / scale;
}

async function forward(xs: Shape4, fs: Shape4, withBias: boolean, stride = 1, pad: 'same' | 'valid' = 'same'): Promise<Float32Array> {
  const x = tf.tensor4d(values(size(xs), 1), xs);
  const f = tf.tensor4d(values(size(fs), 2), fs);
  const b = tf.tensor1d(values(fs[3], 3));
  const y = withBias ? tf.fused.conv2d({ x, filter: f, strides: stride, pad, bias: b }) : tf.conv2d(x, f, stride, pad);
  const v = (await y.data()) as Float32Array;
  tf.dispose([x, f, b, y]);
  return v;
}

async function inputGradient(xs: Shape4, fs: Shape4): Promise<Float32Array> {
  const f = tf.tensor4d(values(size(fs), 4), fs);
  const dy = tf.tensor4d(values(xs[0] * xs[1] * xs[2] * fs[3], 5), [xs[0], xs[1], xs[2], fs[3]]);
  const g = tf.conv2dTranspose(dy, f, xs, 1, 'same');
  const v = (await g.data()) as Float32Array;
  tf.dispose([f, dy, g]);
  return v;
}

/** Runs `f` on wasm, checking that it took the Winograd route `routed` times and left nothing behind. */
async function onWasm(f: () => Promise<Float32Array>, routed: number): Promise<Float32Array> {
  await useBackend('wasm');
  const calls = winogradCallCount();
  const tensors = tf.memory().numTensors;
  const ids = backendIds();
  const v = await f();
  expect(winogradCallCount()).toBe(calls + routed);
  expect(tf.memory().numTensors).toBe(tensors);
  expect(backendIds()).toBe(ids);
  return v;
}

async function onCpu(f: () => Promise<Float32Array>): Promise<Float32Array> {
  await useBackend('cpu');
  return f();
}

describe('Winograd F(4x4, 3x3) convolutions on wasm', () => {
  // The UNet's levels (8x8 and 4x4, 48-192 channels), 4 output channels (conv_out), N = 4 mod 8,
  // the decoder's 16x16, a rectangular image, and 4 latent channels in (conv_in).
  const cases: [Shape4, Shape4][] = [
    [[6, 8, 8, 96], [3, 3, 96, 48]],
    [[16, 4, 4, 192], [3, 3, 192, 96]],
    [[8, 8, 8, 48], [3, 3, 48, 4]],
    [[4, 8, 8, 12], [3, 3, 12, 20]],
    [[2, 16, 16, 32], [3, 3, 32, 64]],
    [[4, 4, 8, 8], [3, 3, 8, 8]],
    [[8, 8, 8, 4], [3, 3, 4, 48]],
    [[1, 4, 4, 96], [3, 3, 96, 96]], // one tile: the tiles padded to four
    [[3, 8, 4, 8], [3, 3, 8, 12]], // six tiles
  ];

  it.each(cases)('forward, x %j, filter %j: with and without a bias equals cpu within 2e-4 relative, leaves nothing behind', async (xs, fs) => {
    for (const withBias of [false, true]) {
      const cpu = await onCpu(() => forward(xs, fs, withBias));
      const wasm = await onWasm(() => forward(xs, fs, withBias), 1);
      expect(relativeError(cpu, wasm)).toBeLessThan(TOLERANCE);
    }
  });

  it('an image comes out the same whatever batch it is in (the route and the tiles do not depend on the batch)', async () => {
    await useBackend('wasm');
    const f = tf.tensor4d(values(9 * 96 * 96, 8), [3, 3, 96, 96]);
    const x = tf.tensor4d(values(5 * 4 * 4 * 96, 9), [5, 4, 4, 96]);
    const all = tf.conv2d(x, f, 1, 'same');
    const first = tf.conv2d(tf.slice(x, [0, 0, 0, 0], [1, 4, 4, 96]), f, 1, 'same');
    const firstOfAll = tf.slice(all, [0, 0, 0, 0], [1, 4, 4, 96]);
    expect(Array.from(await first.data())).toEqual(Array.from(await firstOfAll.data()));
    tf.dispose([f, x, all, first, firstOfAll]);
  });

  it.each(cases.slice(0, 5))('input gradient, x %j, filter %j (the filter turned): equals cpu within 2e-4 relative', async (xs, fs) => {
    const cpu = await onCpu(() => inputGradient(xs, fs));
    const wasm = await onWasm(() => inputGradient(xs, fs), 1);
    expect(relativeError(cpu, wasm)).toBeLessThan(TOLERANCE);
  });

  it.each([
    [[40, 8, 8, 96], [3, 3, 96, 48]],
    [[40, 4, 4, 192], [3, 3, 192, 96]],
    [[3, 4, 4, 8], [3, 3, 8, 12]], // three tiles: padded to four with zero rows on both sides
    [[2, 8, 16, 4], [3, 3, 4, 8]],
  ] as [Shape4, Shape4][])('filter gradient, x %j, filter %j: equals cpu within 5e-4 relative, leaves nothing behind', async (xs, fs) => {
    const run = async () => {
      const x = tf.tensor4d(values(size(xs), 10), xs);
      const dy = tf.tensor4d(values(xs[0] * xs[1] * xs[2] * fs[3], 11), [xs[0], xs[1], xs[2], fs[3]]);
      const g = tf.engine().runKernel('Conv2DBackpropFilter', { x, dy } as unknown as tf.NamedTensorMap,
        { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: fs } as unknown as tf.NamedAttrMap) as tf.Tensor;
      const v = (await g.data()) as Float32Array;
      tf.dispose([x, dy, g]);
      return v;
    };
    const cpu = await onCpu(run);
    const wasm = await onWasm(run, 1);
    expect(relativeError(cpu, wasm)).toBeLessThan(FILTER_TOLERANCE);
  });

  it('a conv layer differentiated through tf.grads equals cpu (forward and input gradient on the route), and 20 steps leave nothing behind', async () => {
    const run = async () => {
      const x = tf.tensor4d(values(8 * 8 * 8 * 48, 6), [8, 8, 8, 48]);
      const f = tf.tensor4d(values(9 * 48 * 48, 7), [3, 3, 48, 48]);
      const loss = (a: tf.Tensor, w: tf.Tensor) => tf.sum(tf.square(tf.conv2d(tf.sin(tf.conv2d(a as tf.Tensor4D, w as tf.Tensor4D, 1, 'same')), w as tf.Tensor4D, 1, 'same')));
      const [gx, gf] = tf.grads(loss)([x, f]);
      const out = Float32Array.from([...(await gx.data()), ...(await gf.data())]);
      tf.dispose([x, f, gx, gf]);
      return out;
    };
    const cpu = await onCpu(run);
    // Two forward convs, two input gradients (the first conv's is x's) and two filter gradients.
    const wasm = await onWasm(run, 6);
    expect(relativeError(cpu, wasm)).toBeLessThan(FILTER_TOLERANCE);
    const tensors = tf.memory().numTensors;
    const ids = backendIds();
    for (let i = 0; i < 20; i++) await run();
    expect(tf.memory().numTensors).toBe(tensors);
    expect(backendIds()).toBe(ids);
  });

  it('stride 2, valid padding, or a side not a multiple of 4 take conv_fwd directly, with the same values as cpu', async () => {
    const others: [Shape4, Shape4, number, 'same' | 'valid'][] = [
      [[4, 8, 8, 8], [3, 3, 8, 8], 2, 'same'],
      [[4, 10, 10, 8], [3, 3, 8, 8], 1, 'valid'],
      [[4, 6, 8, 8], [3, 3, 8, 8], 1, 'same'],
    ];
    for (const [xs, fs, s, p] of others) {
      const cpu = await onCpu(() => forward(xs, fs, true, s, p));
      const direct = simdConvCallCount();
      const wasm = await onWasm(() => forward(xs, fs, true, s, p), 0);
      expect(simdConvCallCount()).toBe(direct + 1);
      expect(relativeError(cpu, wasm)).toBeLessThan(1e-5);
    }
  });

  it('switched off, conv_fwd gives the same values within 2e-4', async () => {
    const on = await onWasm(() => forward([6, 8, 8, 96], [3, 3, 96, 48], true), 1);
    setWasmWinograd(false);
    try {
      const off = await onWasm(() => forward([6, 8, 8, 96], [3, 3, 96, 48], true), 0);
      expect(relativeError(off, on)).toBeLessThan(TOLERANCE);
      expect(off).not.toEqual(on); // a different route really ran
    } finally {
      setWasmWinograd(true);
    }
  });

  it('the shipped model samples the same images within 2 pixel levels with and without it', async () => {
    await useBackend('wasm');
    const ck = loadCheckpointDir('public/models/base');
    const draw = async () => (await generate(ck, { prompt: 'red apple', count: 4, seed: 3, steps: 6, guidance: ck.config.sampling.guidance })).images;
    const calls = winogradCallCount();
    const on = await draw();
    expect(winogradCallCount()).toBeGreaterThan(calls);
    setWasmWinograd(false);
    let off: Awaited<ReturnType<typeof draw>>;
    try {
      off = await draw();
    } finally {
      setWasmWinograd(true);
    }
    let worst = 0;
    on.forEach((img, i) => {
      for (let k = 0; k < img.length; k++) worst = Math.max(worst, Math.abs(img[k]! - off[i]![k]!));
    });
    expect(worst).toBeLessThanOrEqual(2);
    tf.dispose(Object.values(ck.params));
  });
});
