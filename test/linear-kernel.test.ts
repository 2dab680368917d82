// The dense layer as one wasm kernel with a registered gradient (src/core/kernels/linearWasm.ts;
// its forward the SIMD product with the bias inside, batchMatMulWasm.ts simdDense, over row and
// column counts that leave every tail of its 4 x 8 tiles):
// value and every gradient against the composed ops it replaced (reshapes, XNNPACK's product and
// a bias add, on the same backend), for two- and three-dimensional inputs; a gradient nobody asks
// for is not computed; nothing is left behind.
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { linearKernelCallCount, setWasmLinearKernel } from '../src/core/kernels/linearWasm';
import { setWasmSimdBatchMatMul } from '../src/core/kernels/batchMatMulWasm';
import { gaussianArray, linear, readParams } from '../src/core/model/layers';
import { memorySnapshot, relErr, useBackend, withKernelNames } from './helpers';

beforeAll(async () => {
  await useBackend('wasm');
});

async function valueAndGrads(shape: number[], K: number, N: number, fused: boolean) {
  setWasmLinearKernel(fused);
  try {
    const size = shape.reduce((a, b) => a * b, 1);
    const x = tf.tensor(gaussianArray(size, 1), shape);
    const params = { 'l.weight': tf.tensor2d(gaussianArray(K * N, 2), [K, N]), 'l.bias': tf.tensor1d(gaussianArray(N, 3)) };
    const probe = tf.tensor(gaussianArray((size / K) * N, 4), [...shape.slice(0, -1), N]);
    const { out, names } = withKernelNames(() => tf.tidy(() => {
      const { value, grads } = tf.valueAndGrads((xx: tf.Tensor, w: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.mul(linear(readParams({ 'l.weight': w, 'l.bias': b }), 'l', xx, K, N), probe)) as tf.Scalar)([x, params['l.weight'], params['l.bias']]);
      return [value, ...grads];
    }));
    const values = await Promise.all(out.map((t) => t.data() as Promise<Float32Array>));
    tf.dispose([...out, x, probe, ...Object.values(params)]);
    return { values, names };
  } finally {
    setWasmLinearKernel(true);
  }
}

describe('dense layer kernel (wasm)', () => {
  for (const [shape, K, N] of [[[40, 96], 96, 96], [[6, 16, 64], 64, 96], [[3, 5, 12], 12, 8], [[7, 20], 20, 12], [[5, 9], 9, 6], [[2, 3, 16], 16, 20]] as [number[], number, number][]) {
    it(`x [${shape}] W [${K},${N}]: value and gradients match the composed layer, leaking nothing`, async () => {
      await valueAndGrads(shape, K, N, true);
      const before = memorySnapshot();
      const calls = linearKernelCallCount();
      const fused = await valueAndGrads(shape, K, N, true);
      expect(linearKernelCallCount()).toBe(calls + 1);
      expect(memorySnapshot()).toEqual(before);
      expect(fused.names).toContain('SailLinear');
      expect(fused.names).toContain('SailLinearGradX');
      expect(fused.names).toContain('SailLinearGradW');
      const composed = await valueAndGrads(shape, K, N, false);
      expect(composed.names).not.toContain('SailLinear');
      expect(memorySnapshot()).toEqual(before);
      fused.values.forEach((v, i) => expect(relErr(v, composed.values[i]!)).toBeLessThan(1e-5));
      expect(fused.names.length).toBeLessThan(composed.names.length);
    });
  }

  it('takes the shipped fused product where the SIMD products are off (the threaded build): the same values, nothing left behind', async () => {
    const x = tf.tensor3d(gaussianArray(3 * 5 * 12, 8), [3, 5, 12]);
    const p = readParams({ 'l.weight': tf.tensor2d(gaussianArray(12 * 20, 9), [12, 20]), 'l.bias': tf.tensor1d(gaussianArray(20, 10)) });
    const first = tf.tidy(() => linear(p, 'l', x, 12, 20));
    const simd = await first.data();
    first.dispose();
    const before = memorySnapshot();
    setWasmSimdBatchMatMul(false);
    try {
      const { out, names } = withKernelNames(() => tf.tidy(() => linear(p, 'l', x, 12, 20)));
      expect(names).toEqual(['SailLinear']);
      expect(out.shape).toEqual([3, 5, 20]);
      expect(relErr(await out.data(), simd)).toBeLessThan(1e-6);
      out.dispose();
    } finally {
      setWasmSimdBatchMatMul(true);
    }
    expect(memorySnapshot()).toEqual(before);
    tf.dispose([x, p('l.weight', [12, 20], { kind: 'zeros' }), p('l.bias', [20], { kind: 'zeros' })]);
  });

  it('computes no input gradient where none is asked for', () => {
    const x = tf.tensor2d(gaussianArray(8 * 12, 5), [8, 12]);
    const w = tf.tensor2d(gaussianArray(12 * 8, 6), [12, 8]);
    const b = tf.tensor1d(gaussianArray(8, 7));
    const { out, names } = withKernelNames(() => tf.tidy(() => tf.grads((ww: tf.Tensor) => tf.sum(linear(readParams({ 'l.weight': ww, 'l.bias': b }), 'l', x, 12, 8)))([w])));
    expect(names).toContain('SailLinearGradW');
    expect(names).not.toContain('SailLinearGradX');
    tf.dispose([...out, x, w, b]);
  });
});
