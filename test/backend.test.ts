// Backend choice in Node, and the wasm Conv2DBackpropFilter replacement:
// parity with the cpu backend and no leaks (engine tensors and wasm data ids).
import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { describeBackend, initBackend } from '../src/core/backend';
import { registerWasmConv2DBackpropFilter } from '../src/core/kernels/conv2dBackpropFilterWasm';

type Pad = 'same' | 'valid';

/** A deterministic pseudo-random array in [-1, 1) (mulberry32). */
function randomValues(n: number, seed: number): Float32Array {
  let a = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((t ^ (t >>> 14)) >>> 0) / 4294967296 * 2 - 1;
  }
  return out;
}

const X_SHAPE: [number, number, number, number] = [2, 8, 8, 5];
const F_SHAPE: [number, number, number, number] = [3, 3, 5, 7];

/**
 * d/dx and d/df of sum(conv2d(x, f) * r) on the current backend. r is drawn to
 * the conv output's shape. Returns plain arrays and leaves no tensors behind.
 */
async function convGrads(stride: number, pad: Pad, seed: number): Promise<{ dx: Float32Array; df: Float32Array }> {
  const [dx, df] = tf.tidy(() => {
    const x = tf.tensor4d(randomValues(2 * 8 * 8 * 5, seed), X_SHAPE);
    const f = tf.tensor4d(randomValues(3 * 3 * 5 * 7, seed + 1), F_SHAPE);
    const outShape = tf.conv2d(x, f, stride, pad).shape;
    const r = tf.tensor(randomValues(outShape.reduce((a, b) => a * b, 1), seed + 2), outShape);
    const g = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, pad), r)),
    );
    return g([x, f]) as [tf.Tensor, tf.Tensor];
  });
  const out = { dx: (await dx.data()) as Float32Array, df: (await df.data()) as Float32Array };
  tf.dispose([dx, df]);
  return out;
}

/** The Conv2DBackpropFilter kernel itself (tfjs-core has no public op for it). */
function filterGrad(
  x: tf.Tensor4D, dy: tf.Tensor4D, filterShape: [number, number, number, number],
  strides: number, pad: Pad | number, dataFormat: 'NHWC' | 'NCHW' = 'NHWC',
): tf.Tensor4D {
  const inputs = { x, dy } as unknown as tf.NamedTensorMap;
  const attrs = { strides, pad, dataFormat, filterShape } as unknown as tf.NamedAttrMap;
  return tf.engine().runKernel('Conv2DBackpropFilter', inputs, attrs) as tf.Tensor4D;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('initBackend in Node', () => {
  test("preference 'wasm' picks wasm and says so", async () => {
    const choice = await initBackend({ preference: 'wasm' });
    expect(choice.name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(describeBackend()).toBe('wasm');
    expect(choice.reason).toMatch(/wasm/);
    expect(choice.reason.length).toBeGreaterThan(5);
    expect(choice.tried).toEqual([]);
    expect(choice.adapter).toBeNull();
    expect(tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT')).toBe(false);
    // One thread unless asked for the threaded build (Node's CLIs and tests are not).
    expect(choice.threads).toBe(1);
    // The SIMD kernels, in their fused form: relaxed SIMD is on (scripts/lib/relaxed-simd.mjs).
    expect(choice.simd).toBe(true);
    expect(choice.fma).toBe(true);
  });

  test("preference 'cpu' picks cpu", async () => {
    const choice = await initBackend({ preference: 'cpu' });
    expect(choice.name).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect(choice.threads).toBeNull();
    expect(choice.fma).toBeNull();
    expect(choice.reason).toMatch(/cpu/);
    expect(choice.tried).toEqual([]);
  });

  test("'auto' picks wasm because Node has no navigator.gpu", async () => {
    const choice = await initBackend({ preference: 'auto' });
    expect(choice.name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(choice.reason).toMatch(/navigator\.gpu missing/);
    expect(choice.reason).toMatch(/using wasm/);
    expect(choice.adapter).toBeNull();
    expect(tf.getGradient('Sum')).toBeDefined();
  });

  test("preference 'webgpu' falls back to wasm and records why", async () => {
    const choice = await initBackend({ preference: 'webgpu' });
    expect(choice.name).toBe('wasm');
    expect(choice.tried).toHaveLength(1);
    expect(choice.tried[0]!.name).toBe('webgpu');
    expect(choice.tried[0]!.error).toMatch(/navigator\.gpu/);
    expect(choice.reason).toMatch(/^You chose WebGPU, but it failed to start: .*; using wasm$/);
  });

  describe('with a stand-in navigator.gpu', () => {
    const realNavigator = Object.getOwnPropertyDescriptor(globalThis, 'navigator');
    const fakeGpu = (requestAdapter: () => Promise<unknown>): void => {
      Object.defineProperty(globalThis, 'navigator', { value: { gpu: { requestAdapter } }, configurable: true, writable: true });
    };
    afterEach(() => {
      if (realNavigator) Object.defineProperty(globalThis, 'navigator', realNavigator);
      else delete (globalThis as { navigator?: unknown }).navigator;
    });

    test('a software fallback adapter (SwiftShader) gives wasm', async () => {
      fakeGpu(async () => ({ info: { vendor: 'google', architecture: 'swiftshader', description: '', isFallbackAdapter: true } }));
      const choice = await initBackend();
      expect(choice.name).toBe('wasm');
      expect(choice.adapter).toEqual({ vendor: 'google', architecture: 'swiftshader', description: '', isFallback: true });
      expect(choice.reason).toBe('WebGPU adapter is a software fallback (google swiftshader); wasm is faster here');
      expect(choice.tried).toEqual([]);
    });

    test('the older adapter.isFallbackAdapter flag is honoured', async () => {
      fakeGpu(async () => ({ isFallbackAdapter: true, info: { vendor: 'acme', architecture: 'x', description: 'Acme GPU' } }));
      const choice = await initBackend();
      expect(choice.name).toBe('wasm');
      expect(choice.adapter?.isFallback).toBe(true);
    });

    test('a hardware adapter is tried first; when WebGPU cannot start, wasm, with the reason', async () => {
      // In Node the webgpu backend is not registered, so starting it fails.
      fakeGpu(async () => ({ info: { vendor: 'nvidia', architecture: 'ada', description: 'NVIDIA RTX 4070', isFallbackAdapter: false } }));
      const choice = await initBackend();
      expect(choice.name).toBe('wasm');
      expect(choice.adapter?.isFallback).toBe(false);
      expect(choice.tried.map((t) => t.name)).toEqual(['webgpu']);
      expect(choice.reason).toMatch(/^WebGPU failed to start: .+; using wasm$/);
    });

    test('a requestAdapter that never answers times out', async () => {
      fakeGpu(() => new Promise<never>(() => {}));
      const t0 = performance.now();
      const choice = await initBackend({ timeoutMs: 100 });
      expect(performance.now() - t0).toBeLessThan(5000);
      expect(choice.name).toBe('wasm');
      expect(choice.reason).toMatch(/WebGPU adapter request failed: navigator\.gpu\.requestAdapter\(\) did not finish within 0\.1 s; using wasm/);
    });

    test('no adapter at all gives wasm', async () => {
      fakeGpu(async () => null);
      const choice = await initBackend();
      expect(choice.name).toBe('wasm');
      expect(choice.reason).toBe('WebGPU is present but offered no adapter; using wasm');
    });
  });

  test('registering the wasm kernel twice is harmless', () => {
    registerWasmConv2DBackpropFilter();
    registerWasmConv2DBackpropFilter();
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeDefined();
  });
});

describe('wasm gradient kernels', () => {
  beforeAll(async () => {
    await initBackend({ preference: 'wasm' });
  });

  const cases: [number, Pad][] = [[1, 'same'], [2, 'same'], [1, 'valid'], [2, 'valid']];
  test.each(cases)('gradients match cpu: stride %i, pad %s', async (stride, pad) => {
    const seed = 1000 * stride + (pad === 'same' ? 1 : 2);
    await tf.setBackend('cpu');
    const cpu = await convGrads(stride, pad, seed);
    await tf.setBackend('wasm');
    const wasm = await convGrads(stride, pad, seed);
    expect(maxAbsDiff(cpu.df, wasm.df)).toBeLessThan(1e-4);
    expect(maxAbsDiff(cpu.dx, wasm.dx)).toBeLessThan(1e-4);
    // Not trivially zero.
    expect(Math.max(...Array.from(wasm.df, Math.abs))).toBeGreaterThan(1e-2);
  });

  test('matches cpu on odd shapes and explicit numeric padding', async () => {
    const shapes: { x: [number, number, number, number]; f: [number, number, number, number]; s: number; p: Pad | number }[] = [
      { x: [1, 9, 7, 3], f: [4, 2, 3, 4], s: 2, p: 'same' },
      { x: [2, 9, 9, 5], f: [3, 3, 5, 6], s: 2, p: 1 },
      { x: [2, 6, 6, 4], f: [1, 1, 4, 3], s: 1, p: 'valid' },
      { x: [1, 7, 5, 1], f: [3, 3, 1, 1], s: 2, p: 'valid' },
      { x: [3, 5, 5, 2], f: [5, 5, 2, 3], s: 1, p: 'same' },
    ];
    for (const { x: xs, f: fs, s, p } of shapes) {
      const run = async (): Promise<Float32Array> => {
        const df = tf.tidy(() => {
          const x = tf.tensor4d(randomValues(xs.reduce((a, b) => a * b, 1), 7), xs);
          const outShape = tf.conv2d(x, tf.zeros(fs) as tf.Tensor4D, s, p).shape;
          const dy = tf.tensor4d(randomValues(outShape.reduce((a, b) => a * b, 1), 8), outShape as typeof xs);
          return filterGrad(x, dy, fs, s, p);
        });
        const v = (await df.data()) as Float32Array;
        df.dispose();
        return v;
      };
      await tf.setBackend('cpu');
      const cpu = await run();
      await tf.setBackend('wasm');
      const wasm = await run();
      expect(maxAbsDiff(cpu, wasm)).toBeLessThan(1e-4);
    }
  });

  test('tf.gather gradient (UnsortedSegmentSum) matches cpu', async () => {
    const run = async (): Promise<Float32Array> => {
      const g = tf.tidy(() => {
        const table = tf.tensor2d(randomValues(6 * 4, 11), [6, 4]);
        // Repeated ids must accumulate; id 5 is never used (its gradient row is zero).
        const ids = tf.tensor1d([1, 3, 0, 3, 3, 2, 4, 1], 'int32');
        const r = tf.tensor2d(randomValues(8 * 4, 12), [8, 4]);
        return tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, ids), r)))(table);
      });
      const v = (await g.data()) as Float32Array;
      g.dispose();
      return v;
    };
    await tf.setBackend('cpu');
    const cpu = await run();
    await tf.setBackend('wasm');
    const wasm = await run();
    expect(maxAbsDiff(cpu, wasm)).toBeLessThan(1e-5);
    expect(Array.from(wasm.slice(20, 24))).toEqual([0, 0, 0, 0]);
  });

  test('rejects NCHW with a clear error', () => {
    const x = tf.zeros([1, 5, 8, 8]) as tf.Tensor4D;
    const dy = tf.zeros([1, 7, 8, 8]) as tf.Tensor4D;
    expect(() => filterGrad(x, dy, [3, 3, 5, 7], 1, 'same', 'NCHW')).toThrow(/NHWC/);
    tf.dispose([x, dy]);
  });

  test('leaks nothing over 20 gradient computations (conv and gather)', async () => {
    await tf.setBackend('wasm');
    const backend = tf.backend() as unknown as { numDataIds(): number };
    const x = tf.tensor4d(randomValues(2 * 8 * 8 * 5, 3), X_SHAPE);
    const f = tf.tensor4d(randomValues(3 * 3 * 5 * 7, 4), F_SHAPE);
    const step = (stride: number, pad: Pad): tf.Tensor[] =>
      tf.tidy(() => tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, pad))),
      )([x, f]));

    const table = tf.tensor2d(randomValues(6 * 4, 5), [6, 4]);
    const ids = tf.tensor1d([1, 3, 0, 3], 'int32');
    const gatherStep = (): tf.Tensor => tf.tidy(() => tf.grad((t: tf.Tensor) => tf.sum(tf.square(tf.gather(t, ids))))(table));

    // Warm up once so that any one-time allocations are not counted.
    tf.dispose(step(2, 'same'));
    tf.dispose(gatherStep());
    const before = { ...tf.memory(), dataIds: backend.numDataIds() };
    for (let i = 0; i < 20; i++) {
      const [dx, df] = step(i % 2 === 0 ? 1 : 2, i % 4 < 2 ? 'same' : 'valid');
      const dTable = gatherStep();
      await df!.data();
      await dTable.data();
      tf.dispose([dx!, df!, dTable]);
    }
    const after = { ...tf.memory(), dataIds: backend.numDataIds() };
    expect(after.numTensors).toBe(before.numTensors);
    expect(after.numBytes).toBe(before.numBytes);
    expect(after.dataIds).toBe(before.dataIds);
    tf.dispose([x, f, table, ids]);
  });
});
