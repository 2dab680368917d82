// Concat and split along the last axes on the wasm SIMD kernel (kernels/concatWasm.ts) against the shipped
// kernel and the cpu backend: the same values, the route taken where it should be, nothing leaked.
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { setWasmSimdConcat, simdConcatCalls } from '../src/core/kernels/concatWasm';
import { gaussianArray } from '../src/core/model/layers';
import { memorySnapshot, useBackend } from './helpers';

describe('concat on the wasm SIMD kernel', () => {
  beforeAll(() => useBackend('wasm'));

  // [shapes, axis, whether the SIMD route takes it]
  const cases: [number[][], number, boolean][] = [
    [[[64, 8, 8, 48], [64, 8, 8, 48]], -1, true],
    [[[3, 5, 8], [3, 5, 4], [3, 5, 12]], 2, true],
    [[[4, 6, 8], [4, 2, 8]], 1, true],
    [[[2, 3, 4, 4], [2, 1, 4, 4]], 1, true],
    [[[3, 5], [3, 3]], 1, false], // widths not in fours
    [[[5, 4], [2, 4]], 0, false], // one outer row
  ];

  it('gives the shipped kernel\'s and the cpu backend\'s values, and leaks nothing', async () => {
    const make = (shapes: number[][]) => shapes.map((s, i) => tf.tensor(gaussianArray(s.reduce((a, b) => a * b, 1), 50 + i), s));
    const results: number[][] = [];
    for (const [shapes, axis, takes] of cases) {
      const xs = make(shapes);
      const before = memorySnapshot();
      const n0 = simdConcatCalls();
      const fast = tf.tidy(() => Array.from(tf.concat(xs, axis).dataSync()));
      expect(simdConcatCalls() - n0, `${JSON.stringify(shapes)} on the SIMD route`).toBe(takes ? 1 : 0);
      setWasmSimdConcat(false);
      const shipped = tf.tidy(() => Array.from(tf.concat(xs, axis).dataSync()));
      setWasmSimdConcat(true);
      expect(memorySnapshot()).toEqual(before);
      expect(fast).toEqual(shipped);
      results.push(fast);
      tf.dispose(xs);
    }
    await useBackend('cpu');
    try {
      cases.forEach(([shapes, axis], i) => {
        const xs = make(shapes);
        expect(tf.tidy(() => Array.from(tf.concat(xs, axis).dataSync()))).toEqual(results[i]);
        tf.dispose(xs);
      });
    } finally {
      await useBackend('wasm');
    }
  });

  it('a split along the last axes (concat\'s gradient) gives the shipped kernel\'s pieces, and leaks nothing', () => {
    const x = tf.tensor(gaussianArray(40 * 8 * 8 * 96, 70), [40, 8, 8, 96]);
    for (const [sizes, axis, takes] of [[[48, 48], -1, true], [[40, 8, 48], 3, true], [[2, 6], 1, true], [[45, 51], 3, false], [[10, 30], 0, false]] as [number[], number, boolean][]) {
      const before = memorySnapshot();
      const n0 = simdConcatCalls();
      const fast = tf.tidy(() => tf.split(x, sizes, axis).map((t) => Array.from(t.dataSync())));
      expect(simdConcatCalls() - n0, `${sizes} on axis ${axis} on the SIMD route`).toBe(takes ? 1 : 0);
      setWasmSimdConcat(false);
      const shipped = tf.tidy(() => tf.split(x, sizes, axis).map((t) => Array.from(t.dataSync())));
      setWasmSimdConcat(true);
      expect(memorySnapshot()).toEqual(before);
      expect(fast).toEqual(shipped);
    }
    x.dispose();
  });

  it('a concat under a tape keeps its gradient', () => {
    const a = tf.tensor(gaussianArray(2 * 3 * 8, 60), [2, 3, 8]);
    const b = tf.tensor(gaussianArray(2 * 3 * 4, 61), [2, 3, 4]);
    const w = tf.tensor(gaussianArray(2 * 3 * 12, 62), [2, 3, 12]);
    const [ga, gb] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.concat([x, y], -1), w)))([a, b]);
    const wv = w.arraySync() as number[][][];
    expect(ga.arraySync()).toEqual(wv.map((r) => r.map((c) => c.slice(0, 8))));
    expect(gb.arraySync()).toEqual(wv.map((r) => r.map((c) => c.slice(8))));
    tf.dispose([a, b, w, ga, gb]);
  });
});
