// Attention's forward without a tape (kernels/attentionWasm.ts, simd.wat attn_fwd) against the
// composed tf ops, and the sampler's attention cache (layers.ts): same values, the kernel really
// runs, the cache is filled once and used after, and nothing leaks.
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { ATTENTION_KERNEL, setWasmFusedAttention } from '../src/core/kernels/attentionWasm';
import { attention, disposeAttentionCache, gaussianArray, type AttentionCache, type ParamGetter } from '../src/core/model/layers';
import { generate } from '../src/core/generate';
import { memorySnapshot, relErr, tinyCheckpoint, useBackend, withKernelNames as launches } from './helpers';

/** Random weights for one attention layer, by parameter name. */
function weights(dims: { qDim: number; kvDim: number; inner: number; outDim: number }, seed: number): Record<string, tf.Tensor> {
  const w: Record<string, tf.Tensor> = {};
  const shapes: Record<string, number[]> = { q: [dims.qDim, dims.inner], k: [dims.kvDim, dims.inner], v: [dims.kvDim, dims.inner], out: [dims.inner, dims.outDim] };
  Object.entries(shapes).forEach(([n, s], i) => {
    // Large enough that the softmax is far from uniform (scores of several units).
    w[`a.${n}.weight`] = tf.tensor2d(gaussianArray(s[0] * s[1], seed + i, 1.5 / Math.sqrt(s[0])), s as [number, number]);
    w[`a.${n}.bias`] = tf.tensor1d(gaussianArray(s[1], seed + 10 + i, 0.1));
  });
  return w;
}

describe('fused attention forward on wasm', () => {
  beforeAll(() => useBackend('wasm'));

  // [batch, queries, keys, qDim, kvDim, inner, heads, masked, self]: the UNet's cross-attention at
  // both levels, its self-attention, the text encoder's masked self-attention, and odd sizes.
  const cases: [number, number, number, number, number, number, number, boolean, boolean][] = [
    [3, 64, 16, 48, 64, 48, 4, true, false],
    [2, 16, 16, 96, 64, 96, 4, true, false],
    [2, 16, 16, 96, 96, 96, 4, false, true],
    [3, 16, 16, 64, 64, 64, 4, true, true],
    [2, 5, 8, 20, 12, 32, 2, true, false],
  ];

  it('matches the composed ops (on wasm and on cpu) to 1e-5, masked keys included, and leaks nothing', async () => {
    for (const [b, lq, lk, qDim, kvDim, inner, heads, masked, self] of cases) {
      const dims = { qDim, kvDim, inner, heads, outDim: qDim };
      const w = weights(dims, 3);
      const p: ParamGetter = (name) => w[name];
      const x = tf.tensor3d(gaussianArray(b * lq * qDim, 5), [b, lq, qDim]);
      const ctx = self ? x : tf.tensor3d(gaussianArray(b * lk * kvDim, 6), [b, lk, kvDim]);
      // Each item masks a different number of trailing keys (at least one kept), as padding does.
      const mask = masked ? tf.tensor2d(Array.from({ length: b * lk }, (_, i) => (i % lk < lk - (Math.floor(i / lk) * 3) % lk ? 1 : 0)), [b, lk]) : undefined;
      const before = memorySnapshot();
      const fused = launches(() => tf.tidy(() => attention(p, 'a', x, ctx, dims, mask).dataSync() as Float32Array));
      expect(fused.names, `${b},${lq},${lk} fused`).toContain(ATTENTION_KERNEL);
      setWasmFusedAttention(false);
      const composed = launches(() => tf.tidy(() => attention(p, 'a', x, ctx, dims, mask).dataSync() as Float32Array));
      setWasmFusedAttention(true);
      expect(composed.names).not.toContain(ATTENTION_KERNEL);
      expect(memorySnapshot()).toEqual(before);
      expect(relErr(fused.out, composed.out), `${b},${lq},${lk},${inner}/${heads}`).toBeLessThan(1e-5);
      // Under a tape the composed ops run (the kernel has no gradient).
      const taped = launches(() => tf.tidy(() => tf.grad((xx: tf.Tensor) => tf.sum(attention(p, 'a', xx as tf.Tensor3D, self ? (xx as tf.Tensor3D) : ctx, dims, mask)))(x)));
      expect(taped.names).not.toContain(ATTENTION_KERNEL);
      taped.out.dispose();
      tf.dispose([...Object.values(w), x, ...(self ? [] : [ctx]), ...(mask ? [mask] : [])]);
    }
    // And against the cpu backend's composed ops for the first case.
    const [b, lq, lk, qDim, kvDim, inner, heads] = cases[0];
    const dims = { qDim, kvDim, inner, heads, outDim: qDim };
    const run = () => {
      const w = weights(dims, 7);
      const out = tf.tidy(() => {
        const x = tf.tensor3d(gaussianArray(b * lq * qDim, 8), [b, lq, qDim]);
        const ctx = tf.tensor3d(gaussianArray(b * lk * kvDim, 9), [b, lk, kvDim]);
        const mask = tf.tensor2d(Array.from({ length: b * lk }, (_, i) => (i % lk < 10 ? 1 : 0)), [b, lk]);
        return attention((n) => w[n], 'a', x, ctx, dims, mask).dataSync() as Float32Array;
      });
      tf.dispose(Object.values(w));
      return out;
    };
    const onWasm = run();
    await useBackend('cpu');
    const onCpu = run();
    await useBackend('wasm');
    expect(relErr(onWasm, onCpu)).toBeLessThan(1e-5);
  });

  it('weights 60 below the row maximum are exactly 0 (no denormal products), and a row masked but for one key copies its value', () => {
    const [b, lk, d] = [1, 8, 4];
    const q = tf.tensor3d(gaussianArray(b * 2 * d, 11), [b, 2, d]);
    const k = tf.tensor3d(gaussianArray(b * lk * d, 12), [b, lk, d]);
    const v = tf.tensor3d(Array.from({ length: lk * d }, (_, i) => Math.floor(i / d) + 1), [b, lk, d]);
    const bias = tf.tensor2d([[0, -1e4, -1e4, -1e4, -1e4, -1e4, -1e4, -1e4]]);
    const out = tf.engine().runKernel(ATTENTION_KERNEL, { q, k, v, bias }, { heads: 1, scale: 0.5 }) as tf.Tensor;
    expect(Array.from(out.dataSync())).toEqual(Array(2 * d).fill(1));
    tf.dispose([q, k, v, bias, out]);
  });

  it('a sampler fills the attention cache once and reuses it: the same images as without it, fewer launches, nothing left behind', async () => {
    const ck = tinyCheckpoint(4);
    const opts = { prompt: 'red heart', count: 2, seed: 3, steps: 4, guidance: 3 };
    const before = memorySnapshot();
    const withCache = launches(() => generate(ck, opts));
    const imgs = await withCache.out;
    expect(memorySnapshot()).toEqual(before);
    // The same UNet without the cache: one step by hand against one cached step.
    const text = { tokens: tf.randomNormal([2, ck.config.text.maxLength, ck.config.text.dim]) as tf.Tensor3D, mask: tf.ones([2, ck.config.text.maxLength]) as tf.Tensor2D };
    const cache: AttentionCache = new Map();
    const inner = ck.config.text.dim;
    const dims = { qDim: inner, kvDim: inner, inner, heads: 4, outDim: inner };
    const w = weights(dims, 21);
    const pw: ParamGetter = (name) => w[name];
    const x = tf.randomNormal([2, 16, inner]) as tf.Tensor3D;
    const plain = tf.tidy(() => attention(pw, 'a', x, text.tokens, dims, text.mask).dataSync() as Float32Array);
    const first = launches(() => tf.tidy(() => attention(pw, 'a', x, text.tokens, dims, text.mask, cache).dataSync() as Float32Array));
    const second = launches(() => tf.tidy(() => attention(pw, 'a', x, text.tokens, dims, text.mask, cache).dataSync() as Float32Array));
    expect(cache.size).toBeGreaterThanOrEqual(2);
    expect(second.names.length).toBeLessThan(first.names.length);
    expect(relErr(second.out, plain)).toBeLessThan(1e-6);
    expect(relErr(first.out, plain)).toBeLessThan(1e-6);
    disposeAttentionCache(cache);
    tf.dispose([...Object.values(w), x, text.tokens, text.mask]);
    expect(memorySnapshot()).toEqual(before);
    // And generate() gives the same images with the fused kernel off (composed ops, cache kept).
    setWasmFusedAttention(false);
    const composed = await generate(ck, opts);
    setWasmFusedAttention(true);
    const [A, B] = [imgs.images, composed.images];
    let maxDiff = 0;
    A.forEach((img, i) => img.forEach((px, j) => (maxDiff = Math.max(maxDiff, Math.abs(px - B[i][j])))));
    expect(maxDiff).toBeLessThanOrEqual(2);
  });
});
