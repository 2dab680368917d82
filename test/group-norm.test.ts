// The fused GroupNorm(+SiLU) wasm backward kernel (kernels/groupNormWasm.ts) against the composed tf ops:
// values and the gradients of x, gamma and beta, with and without SiLU; used by the model on wasm;
// no tensors left behind.
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { GROUP_NORM_AFFINE_KERNEL, GROUP_NORM_GRAD_KERNEL } from '../src/core/kernels/groupNormWasm';
import { simdKernelsFor } from '../src/core/kernels/simdModule';
import { gaussianArray, groupNorm, type ParamGetter } from '../src/core/model/layers';
import { memorySnapshot, relErr, useBackend, withKernelNames } from './helpers';


function run(shape: [number, number, number, number], groups: number, silu: boolean, composite: boolean, seed: number) {
  const c = shape[3];
  const size = shape.reduce((a, b) => a * b, 1);
  // An offset and scale per channel, so that the mean is far from zero (the variance's two passes matter).
  const xv = gaussianArray(size, seed).map((v, i) => 3 + 2 * v * (1 + (i % c) / c));
  const gv = gaussianArray(c, seed + 1).map((v) => 1 + 0.5 * v);
  const bv = gaussianArray(c, seed + 2, 0.5);
  const wv = gaussianArray(size, seed + 3); // a random linear read-out, so every dy differs
  return tf.tidy(() => {
    const x = tf.tensor4d(xv, shape);
    const gamma = tf.tensor1d(gv);
    const beta = tf.tensor1d(bv);
    const w = tf.tensor4d(wv, shape);
    const f = (xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) => {
      const p: ParamGetter = (name) => (name.endsWith('weight') ? gg : bb);
      return groupNorm(p, 'n', xx as tf.Tensor4D, c, groups, { silu, composite });
    };
    const y = f(x, gamma, beta);
    const [dx, dg, db] = tf.grads((xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.mul(f(xx, gg, bb), w)))([x, gamma, beta]);
    return [y, dx, dg, db].map((t) => t.dataSync() as Float32Array);
  });
}

describe('GroupNorm + SiLU with the fused wasm backward', () => {
  beforeAll(() => useBackend('wasm'));

  for (const silu of [true, false]) {
    for (const [shape, groups] of [[[2, 4, 4, 16], 8], [[3, 8, 8, 32], 4], [[1, 2, 3, 6], 3]] as [[number, number, number, number], number][]) {
      it(`${silu ? 'with' : 'without'} SiLU, x [${shape}], ${groups} groups: values and gradients match the composed ops`, () => {
        const fused = run(shape, groups, silu, false, 11);
        const ref = run(shape, groups, silu, true, 11);
        const names = ['y', 'dx', 'dgamma', 'dbeta'];
        fused.forEach((v, i) => expect(relErr(v, ref[i]), names[i]).toBeLessThan(2e-5));
      });
    }
  }

  it('the SIMD backward (channels in fours, SiLU from the saved sigmoid) equals the JS loop (the exp recomputed), and leaks nothing', () => {
    expect(simdKernelsFor(tf.backend())).not.toBeNull();
    for (const [shape, groups] of [[[16, 8, 8, 48], 8], [[3, 4, 4, 96], 8], [[2, 5, 3, 16], 4]] as [[number, number, number, number], number][]) {
      const before = memorySnapshot();
      const [simd, js] = tf.tidy(() => {
        const size = shape.reduce((a, b) => a * b, 1);
        const x = tf.tensor4d(gaussianArray(size, 7).map((v, i) => 1 + 2 * v + (i % 5)), shape);
        const dy = tf.tensor4d(gaussianArray(size, 8), shape);
        const gamma = tf.tensor1d(gaussianArray(shape[3], 9).map((v) => 1 + 0.3 * v));
        const beta = tf.tensor1d(gaussianArray(shape[3], 10, 0.4));
        const [z, mean, rstd] = tf.engine().runKernel(GROUP_NORM_AFFINE_KERNEL, { x, gamma, beta }, { groups } as unknown as tf.NamedAttrMap) as tf.Tensor[];
        const sg = tf.sigmoid(z);
        const attrs = { groups, silu: true } as unknown as tf.NamedAttrMap;
        const withS = tf.engine().runKernel(GROUP_NORM_GRAD_KERNEL, { dy, x, gamma, beta, mean, rstd, s: sg }, attrs) as tf.Tensor[];
        const withoutS = tf.engine().runKernel(GROUP_NORM_GRAD_KERNEL, { dy, x, gamma, beta, mean, rstd }, attrs) as tf.Tensor[];
        return [withS.map((t) => t.dataSync() as Float32Array), withoutS.map((t) => t.dataSync() as Float32Array)];
      });
      expect(memorySnapshot()).toEqual(before);
      simd.forEach((v, i) => expect(relErr(v, js[i]), `${shape} output ${i}`).toBeLessThan(1e-5));
    }
  });

  it('the forward with SiLU in the same pass (SIMD polynomial sigmoid; JS loop for channels not in fours) matches z sigmoid(z) in float64 over a wide range, and leaks nothing', () => {
    for (const [shape, groups] of [[[4, 8, 8, 48], 8], [[2, 4, 4, 96], 8], [[2, 5, 3, 6], 3]] as [[number, number, number, number], number][]) {
      const before = memorySnapshot();
      const [z, y, sg, y2] = tf.tidy(() => {
        const size = shape.reduce((a, b) => a * b, 1);
        const x = tf.tensor4d(gaussianArray(size, 17).map((v, i) => v + (i % 7)), shape);
        // gamma up to about 40 and beta +-10: z reaches far into both saturated tails
        const gamma = tf.tensor1d(gaussianArray(shape[3], 18).map((v) => 20 * v));
        const beta = tf.tensor1d(gaussianArray(shape[3], 19, 5));
        const run = (attrs: object) => tf.engine().runKernel(GROUP_NORM_AFFINE_KERNEL, { x, gamma, beta }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
        const [zz] = run({ groups });
        const withS = run({ groups, silu: true, saveSigmoid: true });
        const withoutS = run({ groups, silu: true, saveSigmoid: false });
        expect(withS).toHaveLength(4);
        expect(withoutS).toHaveLength(3);
        return [zz, withS[0], withS[3], withoutS[0]].map((t) => t.dataSync() as Float32Array);
      });
      expect(memorySnapshot()).toEqual(before);
      let maxRel = 0;
      let maxAbs = 0;
      let span = 0;
      for (let i = 0; i < z.length; i++) {
        const want = 1 / (1 + Math.exp(-z[i]));
        // Relative where the sigmoid is a normal float32; below that (z < -69) it is zero to 1e-30.
        maxRel = Math.max(maxRel, want > 1e-30 ? Math.abs(sg[i] - want) / want : Math.abs(sg[i] - want) * 1e24);
        maxAbs = Math.max(maxAbs, Math.abs(y[i] - z[i] * want));
        span = Math.max(span, Math.abs(z[i]));
      }
      expect(span).toBeGreaterThan(40);
      expect(maxRel, `${shape} sigmoid`).toBeLessThan(1e-6);
      expect(maxAbs, `${shape} y`).toBeLessThan(1e-5);
      expect(Array.from(y2)).toEqual(Array.from(y));
    }
  });

  it('outside a tape the layer runs the forward kernel alone, with the value it has under a tape', () => {
    const shape: [number, number, number, number] = [3, 8, 8, 16];
    const x = tf.tensor4d(gaussianArray(3 * 8 * 8 * 16, 21), shape);
    const gamma = tf.tensor1d(gaussianArray(16, 22).map((v) => 1 + 0.3 * v));
    const beta = tf.tensor1d(gaussianArray(16, 23, 0.4));
    const p: ParamGetter = (name) => (name.endsWith('weight') ? gamma : beta);
    const before = memorySnapshot();
    const { out: plain, names: kernels } = withKernelNames(() => tf.tidy(() => groupNorm(p, 'n', x, 16, 4, { silu: true }).dataSync() as Float32Array));
    expect(kernels).toEqual([GROUP_NORM_AFFINE_KERNEL]);
    let taped: Float32Array | null = null;
    tf.tidy(() => {
      tf.grads((xx: tf.Tensor) => {
        const yy = groupNorm(p, 'n', xx as tf.Tensor4D, 16, 4, { silu: true });
        taped = yy.dataSync() as Float32Array;
        return tf.sum(yy);
      })([x]);
    });
    expect(Array.from(plain)).toEqual(Array.from(taped!));
    expect(memorySnapshot()).toEqual(before);
    tf.dispose([x, gamma, beta]);
  });

  it('the model path really runs the fused backward, and leaks nothing forward or backward', () => {
    const shape: [number, number, number, number] = [2, 4, 4, 8];
    const before = memorySnapshot();
    run(shape, 4, true, false, 3);
    expect(memorySnapshot()).toEqual(before);
    const { names: kernels } = withKernelNames(() => tf.tidy(() => {
      const x = tf.randomNormal(shape);
      const gamma = tf.ones([8]);
      const beta = tf.zeros([8]);
      const p: ParamGetter = (name) => (name.endsWith('weight') ? gamma : beta);
      tf.grads((xx: tf.Tensor) => tf.sum(groupNorm(p, 'n', xx as tf.Tensor4D, 8, 4, { silu: true })))([x]);
    }));
    expect(kernels).toContain(GROUP_NORM_GRAD_KERNEL);
    expect(kernels).toContain(GROUP_NORM_AFFINE_KERNEL);
  });

  it('at the model\'s shapes the fused forward and backward on wasm match the composed ops on the cpu backend', async () => {
    for (const [shape, silu] of [[[16, 8, 8, 48], true], [[16, 4, 4, 96], false]] as [[number, number, number, number], boolean][]) {
      const fused = run(shape, 8, silu, false, 5);
      await useBackend('cpu');
      try {
        const ref = run(shape, 8, silu, true, 5);
        const names = ['y', 'dx', 'dgamma', 'dbeta'];
        fused.forEach((v, i) => expect(relErr(v, ref[i]), `${shape} ${names[i]}`).toBeLessThan(2e-5));
      } finally {
        await useBackend('wasm');
      }
    }
  });

  it('the forward kernel refuses channels that do not split, and gamma of the wrong length', () => {
    const attrs = { groups: 4 } as unknown as tf.NamedAttrMap;
    expect(() => tf.tidy(() => tf.engine().runKernel(GROUP_NORM_AFFINE_KERNEL, { x: tf.zeros([1, 2, 2, 6]), gamma: tf.zeros([6]), beta: tf.zeros([6]) }, attrs))).toThrow(/do not split/);
    expect(() => tf.tidy(() => tf.engine().runKernel(GROUP_NORM_AFFINE_KERNEL, { x: tf.zeros([1, 2, 2, 8]), gamma: tf.zeros([6]), beta: tf.zeros([8]) }, attrs))).toThrow(/gamma must be float32 \[8\]/);
  });

  it('refuses channels that do not split into the groups, and a non-4-D input', () => {
    const attrs = { groups: 4, silu: true } as unknown as tf.NamedAttrMap;
    const v = (n: number) => tf.zeros([n]);
    expect(() => tf.tidy(() => tf.engine().runKernel(GROUP_NORM_GRAD_KERNEL, { dy: tf.zeros([1, 2, 2, 6]), x: tf.zeros([1, 2, 2, 6]), gamma: v(6), beta: v(6), mean: v(4), rstd: v(4) }, attrs))).toThrow(/do not split/);
    expect(() => tf.tidy(() => tf.engine().runKernel(GROUP_NORM_GRAD_KERNEL, { dy: tf.zeros([2, 8]), x: tf.zeros([2, 8]), gamma: v(8), beta: v(8), mean: v(8), rstd: v(8) }, attrs))).toThrow(/\[B,H,W,C\]/);
    expect(() => tf.tidy(() => tf.engine().runKernel(GROUP_NORM_GRAD_KERNEL, { dy: tf.zeros([1, 2, 2, 8]), x: tf.zeros([1, 2, 2, 8]), gamma: v(8), beta: v(8), mean: v(3), rstd: v(4) }, attrs))).toThrow(/mean must be float32 \[4\]/);
  });
});
