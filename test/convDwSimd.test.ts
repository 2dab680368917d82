// The wasm SIMD filter-gradient kernel (simd.wat conv_dw, conv2dBackpropFilterWasm.ts) and the
// dense weight gradient A^T B it also computes (batchMatMulWasm.ts): at the UNet's shapes and at
// odd ones (stride 2, valid padding, a 4-channel input, a chunk of images cut short, Cout = 4 mod 8,
// rectangular filters and images), the values equal the cpu backend's; switched off, the XNNPACK
// route gives the same; it is the kernel that runs; it leaves no data behind.
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chunkImages, setWasmSimdConvFilterGradient, simdFilterGradientCalls } from '../src/core/kernels/conv2dBackpropFilterWasm';
import { setWasmSimdBatchMatMul, simdBatchMatMulCalls } from '../src/core/kernels/batchMatMulWasm';
import { setWasmSimdConvInputGradient } from '../src/core/kernels/conv2dBackpropInputWasm';
import { setWasmSimdConvForward } from '../src/core/kernels/conv2dForwardWasm';
import { setWasmWinograd, simdConvCallCount } from '../src/core/kernels/convSimd';
import { setRelaxedSimdKernels, simdKernelsFor } from '../src/core/kernels/simdModule';
import { useBackend } from './helpers';

type Pad = 'same' | 'valid' | number;
const values = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + seed) + 0.1 * Math.cos(i * 1.3 + seed));
const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
const backendIds = () => (tf.backend() as unknown as { numDataIds(): number }).numDataIds();

// dy's shape as TF.js sizes it, computed without running a conv: on wasm, XNNPACK's forward conv
// at the numeric-padding quirk below (a non-square filter) writes the size it computes itself past
// the end of the output TF.js allocated, which corrupted the heap for later tests.
function outShape(xs: number[], fs: number[], s: number, p: Pad): number[] {
  const info = tf.backend_util.computeConv2DInfo(xs as [number, number, number, number], fs as [number, number, number, number], s, 1, p);
  return [info.batchSize, info.outHeight, info.outWidth, info.outChannels];
}

function filterGrad(x: tf.Tensor4D, dy: tf.Tensor4D, filterShape: number[], strides: number, pad: Pad): tf.Tensor {
  return tf.engine().runKernel('Conv2DBackpropFilter', { x, dy } as unknown as tf.NamedTensorMap,
    { strides, pad, dataFormat: 'NHWC', filterShape } as unknown as tf.NamedAttrMap) as tf.Tensor;
}

async function dw(xs: number[], fs: number[], s: number, p: Pad): Promise<Float32Array> {
  const x = tf.tensor4d(values(size(xs), 1), xs as [number, number, number, number]);
  const os = outShape(xs, fs, s, p);
  const dy = tf.tensor4d(values(size(os), 2), os as [number, number, number, number]);
  const g = filterGrad(x, dy, fs, s, p);
  const v = (await g.data()) as Float32Array;
  tf.dispose([x, dy, g]);
  return v;
}

function relativeError(want: Float32Array, got: Float32Array): number {
  expect(got.length).toBe(want.length);
  let scale = 0;
  let diff = 0;
  for (let i = 0; i < want.length; i++) {
    scale = Math.max(scale, Math.abs(want[i]!));
    diff = Math.max(diff, Math.abs(want[i]! - got[i]!));
  }
  expect(scale).toBeGreaterThan(0);
  return diff / scale;
}

describe('wasm SIMD filter gradient', () => {
  // conv_dw itself (a 3x3 'same' conv's filter gradient otherwise goes to Winograd: test/winograd.test.ts).
  beforeAll(() => setWasmWinograd(false));
  afterAll(() => setWasmWinograd(true));
  const cases: [number[], number[], number, Pad][] = [
    [[6, 8, 8, 96], [3, 3, 96, 48], 1, 'same'], // the UNet's 8x8 level (3 chunks of 2 images)
    [[16, 4, 4, 96], [3, 3, 96, 96], 1, 'same'], // its 4x4 level
    [[8, 8, 8, 48], [3, 3, 48, 48], 2, 'same'], // the downsampling conv
    [[8, 8, 8, 96], [1, 1, 96, 48], 1, 'same'], // a skip projection
    [[8, 8, 8, 4], [3, 3, 4, 48], 1, 'same'], // conv_in on 4 latent channels
    [[7, 9, 5, 8], [3, 2, 8, 12], 1, 'same'], // chunks cut short, Cout = 4 mod 8, rectangular
    [[3, 9, 9, 4], [3, 3, 4, 8], 2, 'valid'],
    [[2, 6, 7, 8], [5, 5, 8, 4], 1, 1], // explicit padding, a filter wider than the padding
    [[5, 7, 7, 12], [3, 3, 12, 16], 2, 1],
    [[4, 16, 16, 3], [3, 3, 3, 32], 1, 'same'], // an RGB image in (channels padded to 4)
    [[4, 16, 16, 32], [3, 3, 32, 3], 1, 'same'], // an RGB image out
    [[2, 5, 5, 3], [3, 3, 3, 5], 2, 'valid'], // both padded
  ];
  it.each(cases)('x %j, filter %j, stride %i, pad %s: equals cpu within 1e-5 relative, leaves nothing behind', async (xs, fs, s, p) => {
    await useBackend('cpu');
    const cpu = await dw(xs, fs, s, p);
    await useBackend('wasm');
    const calls = simdFilterGradientCalls();
    const tensors = tf.memory().numTensors;
    const ids = backendIds();
    const wasm = await dw(xs, fs, s, p);
    expect(simdFilterGradientCalls()).toBe(calls + 1);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(backendIds()).toBe(ids);
    expect(relativeError(cpu, wasm)).toBeLessThan(1e-5);
  });

  it('switched off, the XNNPACK route gives the same values', async () => {
    await useBackend('wasm');
    const fast = await dw([16, 8, 8, 48], [3, 3, 48, 48], 1, 'same');
    setWasmSimdConvFilterGradient(false);
    try {
      const calls = simdFilterGradientCalls();
      const shipped = await dw([16, 8, 8, 48], [3, 3, 48, 48], 1, 'same');
      expect(simdFilterGradientCalls()).toBe(calls);
      expect(relativeError(shipped, fast)).toBeLessThan(1e-5);
    } finally {
      setWasmSimdConvFilterGradient(true);
    }

  });

  it('chunks about 128 output pixels', () => {
    expect(chunkImages(64)).toBe(2);
    expect(chunkImages(16)).toBe(8);
    expect(chunkImages(1024)).toBe(1);
  });

  it('leaves no data behind across 20 conv gradients through tf.grads', async () => {
    await useBackend('wasm');
    const x = tf.tensor4d(values(4 * 8 * 8 * 8, 3), [4, 8, 8, 8]);
    const f = tf.tensor4d(values(3 * 3 * 8 * 12, 4), [3, 3, 8, 12]);
    const step = () => tf.tidy(() => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same'))))([x, f]));
    tf.dispose(step());
    const ids = backendIds();
    const tensors = tf.memory().numTensors;
    const calls = simdFilterGradientCalls();
    for (let i = 0; i < 20; i++) tf.dispose(step());
    expect(simdFilterGradientCalls()).toBe(calls + 20);
    expect(backendIds()).toBe(ids);
    expect(tf.memory().numTensors).toBe(tensors);
    tf.dispose([x, f]);
  });
});

describe('wasm SIMD dense weight gradient A^T B', () => {
  async function tn(K: number, M: number, N: number): Promise<Float32Array> {
    const a = tf.tensor2d(values(K * M, 5), [K, M]);
    const b = tf.tensor2d(values(K * N, 6), [K, N]);
    const c = tf.matMul(a, b, true, false);
    const v = (await c.data()) as Float32Array;
    tf.dispose([a, b, c]);
    return v;
  }
  const cases: [number, number, number][] = [[1024, 96, 96], [4096, 48, 48], [1024, 64, 96], [100, 12, 8], [3, 4, 4], [640, 8, 20]];
  it.each(cases)('K %i, M %i, N %i: equals cpu within 1e-5 relative and is the SIMD kernel', async (K, M, N) => {
    await useBackend('cpu');
    const cpu = await tn(K, M, N);
    await useBackend('wasm');
    const calls = simdBatchMatMulCalls();
    const ids = backendIds();
    const wasm = await tn(K, M, N);
    expect(simdBatchMatMulCalls()).toBe(calls + 1);
    expect(backendIds()).toBe(ids);
    expect(relativeError(cpu, wasm)).toBeLessThan(1e-5);
  });

  it('the gradient of a dense layer through tf.grads equals cpu; off, the transpose + XNNPACK route agrees', async () => {
    const run = async () => {
      const x = tf.tensor2d(values(256 * 48, 7), [256, 48]);
      const w = tf.tensor2d(values(48 * 96, 8), [48, 96]);
      const g = tf.grad((ww: tf.Tensor) => tf.sum(tf.sin(tf.matMul(x, ww as tf.Tensor2D))))(w);
      const v = (await g.data()) as Float32Array;
      tf.dispose([x, w, g]);
      return v;
    };
    await useBackend('cpu');
    const cpu = await run();
    await useBackend('wasm');
    const fast = await run();
    expect(relativeError(cpu, fast)).toBeLessThan(1e-5);
    setWasmSimdBatchMatMul(false);
    try {
      const calls = simdBatchMatMulCalls();
      const shipped = await run();
      expect(simdBatchMatMulCalls()).toBe(calls);
      expect(relativeError(shipped, fast)).toBeLessThan(1e-5); // fused multiply-adds round once, not twice
    } finally {
      setWasmSimdBatchMatMul(true);
    }
  });
});

describe('wasm SIMD convolution (conv_fwd): the input gradient of stride-1 convs', () => {
  // Forward convs (the XNNPACK route's inner conv) stay on XNNPACK here, so the call count is the
  // input gradient's alone; conv_fwd itself is tested here, Winograd in test/winograd.test.ts.
  beforeAll(() => {
    setWasmSimdConvForward(false);
    setWasmWinograd(false);
  });
  afterAll(() => {
    setWasmSimdConvForward(true);
    setWasmWinograd(true);
  });
  async function dx(xs: number[], fs: number[], p: Pad): Promise<Float32Array> {
    const f = tf.tensor4d(values(size(fs), 3), fs as [number, number, number, number]);
    const os = outShape(xs, fs, 1, p);
    const dy = tf.tensor4d(values(size(os), 4), os as [number, number, number, number]);
    const g = tf.conv2dTranspose(dy, f, xs as [number, number, number, number], 1, p);
    const v = (await g.data()) as Float32Array;
    tf.dispose([f, dy, g]);
    return v;
  }
  const cases: [number[], number[], Pad][] = [
    [[6, 8, 8, 96], [3, 3, 96, 48], 'same'],
    [[16, 4, 4, 192], [3, 3, 192, 96], 'same'],
    [[8, 8, 8, 96], [1, 1, 96, 48], 'same'],
    [[8, 8, 8, 48], [3, 3, 48, 4], 'same'], // conv_out: 4 output channels
    [[3, 6, 8, 12], [3, 3, 12, 20], 'valid'], // cropped, N = 4 mod 8
    [[2, 5, 8, 8], [5, 3, 8, 8], 'same'], // rectangular filter
    [[2, 6, 8, 8], [3, 3, 8, 8], 1], // numeric padding
  ];
  it.each(cases)('x %j, filter %j, pad %s: equals cpu within 1e-5 relative on the SIMD kernel, leaves nothing behind', async (xs, fs, p) => {
    await useBackend('cpu');
    const cpu = await dx(xs, fs, p);
    await useBackend('wasm');
    const calls = simdConvCallCount();
    const tensors = tf.memory().numTensors;
    const ids = backendIds();
    const wasm = await dx(xs, fs, p);
    expect(simdConvCallCount()).toBe(calls + 1);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(backendIds()).toBe(ids);
    expect(relativeError(cpu, wasm)).toBeLessThan(1e-5);
  });

  it('stride 2, an odd output width, or the switch off take the XNNPACK route, with the same values', async () => {
    await useBackend('wasm');
    const calls = simdConvCallCount();
    await dx([2, 8, 8, 8], [3, 3, 8, 8], 'same'); // OW 8: SIMD
    expect(simdConvCallCount()).toBe(calls + 1);
    const f = tf.tensor4d(values(9 * 8 * 8, 3), [3, 3, 8, 8]);
    const dy = tf.tensor4d(values(2 * 4 * 4 * 8, 4), [2, 4, 4, 8]);
    tf.dispose(tf.conv2dTranspose(dy, f, [2, 8, 8, 8], 2, 'same')); // stride 2
    tf.dispose([f, dy]);
    await dx([2, 7, 7, 8], [3, 3, 8, 8], 'same'); // width 7
    // A numeric padding with a non-square filter: TF.js sizes dy with the filter's height both ways.
    await useBackend('cpu');
    const quirkCpu = await dx([2, 5, 8, 8], [5, 3, 8, 8], 1);
    await useBackend('wasm');
    expect(relativeError(quirkCpu, await dx([2, 5, 8, 8], [5, 3, 8, 8], 1))).toBeLessThan(1e-5);
    expect(simdConvCallCount()).toBe(calls + 1);
    const fast = await dx([4, 8, 8, 48], [3, 3, 48, 48], 'same');
    setWasmSimdConvInputGradient(false);
    try {
      const shipped = await dx([4, 8, 8, 48], [3, 3, 48, 48], 'same');
      expect(simdConvCallCount()).toBe(calls + 2);
      expect(relativeError(shipped, fast)).toBeLessThan(1e-5);
    } finally {
      setWasmSimdConvInputGradient(true);
    }
  });
});

describe('wasm SIMD convolution (conv_fwd): forward convs, and fused convs with a bias', () => {
  // conv_fwd itself (3x3 'same' convs otherwise go to Winograd: test/winograd.test.ts).
  beforeAll(() => setWasmWinograd(false));
  afterAll(() => setWasmWinograd(true));
  async function fwd(xs: number[], fs: number[], s: number, p: Pad, withBias: boolean): Promise<Float32Array> {
    const x = tf.tensor4d(values(size(xs), 5), xs as [number, number, number, number]);
    const f = tf.tensor4d(values(size(fs), 6), fs as [number, number, number, number]);
    const b = tf.tensor1d(values(fs[3]!, 7));
    const y = withBias ? tf.fused.conv2d({ x, filter: f, strides: s, pad: p, bias: b }) : tf.conv2d(x, f, s, p);
    const v = (await y.data()) as Float32Array;
    tf.dispose([x, f, b, y]);
    return v;
  }
  const cases: [number[], number[], number, Pad][] = [
    [[6, 8, 8, 96], [3, 3, 96, 48], 1, 'same'],
    [[16, 4, 4, 192], [3, 3, 192, 96], 1, 'same'],
    [[8, 8, 8, 96], [1, 1, 96, 48], 1, 'same'], // 1x1: the input read in place
    [[8, 8, 8, 48], [3, 3, 48, 4], 1, 'same'], // 4 output channels
    [[4, 16, 16, 32], [3, 3, 32, 64], 2, 'same'], // the autoencoder's downsampling
    [[3, 6, 10, 12], [3, 3, 12, 20], 1, 'valid'], // cropped, N = 4 mod 8
    [[2, 5, 8, 8], [5, 3, 8, 8], 1, 'same'], // rectangular filter
    [[2, 6, 8, 8], [3, 5, 8, 8], 1, 'same'], // 5 wide: a tile's second pixel reads padding, so a padded copy
    [[2, 6, 8, 8], [3, 3, 8, 8], 1, 1], // numeric padding
  ];
  it.each(cases)('x %j, filter %j, stride %d, pad %s: with and without a bias, equals cpu within 1e-5 relative on the SIMD kernel, leaves nothing behind', async (xs, fs, st, p) => {
    for (const withBias of [false, true]) {
      await useBackend('cpu');
      const cpu = await fwd(xs, fs, st, p, withBias);
      await useBackend('wasm');
      const calls = simdConvCallCount();
      const tensors = tf.memory().numTensors;
      const ids = backendIds();
      const wasm = await fwd(xs, fs, st, p, withBias);
      expect(simdConvCallCount()).toBe(calls + 1);
      expect(tf.memory().numTensors).toBe(tensors);
      expect(backendIds()).toBe(ids);
      expect(relativeError(cpu, wasm)).toBeLessThan(1e-5);
    }
  });

  it('channels not in fours, an odd output width, an activation, or the switch off take XNNPACK, with the same values', async () => {
    await useBackend('wasm');
    const calls = simdConvCallCount();
    await fwd([2, 8, 8, 3], [3, 3, 3, 32], 1, 'same', true); // the autoencoder's RGB input
    await fwd([2, 7, 7, 8], [3, 3, 8, 8], 1, 'same', false); // width 7
    const x = tf.tensor4d(values(2 * 8 * 8 * 8, 1), [2, 8, 8, 8]);
    const f = tf.tensor4d(values(9 * 8 * 8, 2), [3, 3, 8, 8]);
    const b = tf.tensor1d(values(8, 3));
    const relu = tf.fused.conv2d({ x, filter: f, strides: 1, pad: 'same', bias: b, activation: 'relu' });
    expect(simdConvCallCount()).toBe(calls);
    const plain = tf.relu(tf.add(tf.conv2d(x, f, 1, 'same'), b));
    expect(simdConvCallCount()).toBe(calls + 1);
    expect(relativeError((await plain.data()) as Float32Array, (await relu.data()) as Float32Array)).toBeLessThan(1e-5);
    tf.dispose([x, f, b, relu, plain]);
    const fast = await fwd([4, 8, 8, 48], [3, 3, 48, 48], 1, 'same', true);
    setWasmSimdConvForward(false);
    try {
      const shipped = await fwd([4, 8, 8, 48], [3, 3, 48, 48], 1, 'same', true);
      expect(simdConvCallCount()).toBe(calls + 2);
      expect(relativeError(shipped, fast)).toBeLessThan(1e-5);
    } finally {
      setWasmSimdConvForward(true);
    }
  });
});

describe('the XNNPACK forward route and TF.js output sizes', () => {
  it('a numeric padding with a non-square filter is refused on XNNPACK (it would write past the output) and computed by conv_fwd at TF.js\'s size', async () => {
    const xs: [number, number, number, number] = [2, 5, 10, 8];
    const fs: [number, number, number, number] = [5, 3, 8, 8];
    await useBackend('cpu');
    const cpu = await (async () => {
      const [x, f] = [tf.tensor4d(values(size(xs), 1), xs), tf.tensor4d(values(size(fs), 2), fs)];
      const y = tf.conv2d(x, f, 1, 1);
      const v = (await y.data()) as Float32Array;
      tf.dispose([x, f, y]);
      return v;
    })();
    await useBackend('wasm');
    const x = tf.tensor4d(values(size(xs), 1), xs);
    const f = tf.tensor4d(values(size(fs), 2), fs);
    const y = tf.conv2d(x, f, 1, 1);
    expect(y.shape).toEqual([2, 3, 8, 8]); // TF.js sizes both sides with the filter's height (XNNPACK: 3 x 10)
    expect(relativeError(cpu, (await y.data()) as Float32Array)).toBeLessThan(1e-5);
    setWasmSimdConvForward(false);
    try {
      expect(() => tf.conv2d(x, f, 1, 1)).toThrow(/write past the output/);
    } finally {
      setWasmSimdConvForward(true);
    }
    tf.dispose([x, f, y]);
  });
});

describe('the fused (relaxed SIMD) and the plain kernel modules', () => {
  it('Node runs the fused module here (relaxed SIMD on, as in Chromium); the plain one gives the same values within 1e-5', async () => {
    await useBackend('wasm');
    expect(simdKernelsFor(tf.backend())?.fused).toBe(true);
    const run = async () => [
      ...(await dw([4, 8, 8, 48], [3, 3, 48, 48], 1, 'same')),
      ...(await (async () => {
        const a = tf.tensor3d(values(8 * 16 * 24, 1), [8, 16, 24]);
        const b = tf.tensor3d(values(8 * 16 * 24, 2), [8, 16, 24]);
        const c = tf.matMul(a, b, false, true);
        const v = await c.data();
        tf.dispose([a, b, c]);
        return v;
      })()),
    ];
    const fused = Float32Array.from(await run());
    setRelaxedSimdKernels(false);
    try {
      expect(simdKernelsFor(tf.backend())?.fused).toBe(false);
      const plain = Float32Array.from(await run());
      expect(relativeError(plain, fused)).toBeLessThan(1e-5);
      expect(plain).not.toEqual(fused); // a different module really ran
    } finally {
      setRelaxedSimdKernels(true);
    }
    expect(simdKernelsFor(tf.backend())?.fused).toBe(true);
  });
});
