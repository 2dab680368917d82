// Kernel inception distance and the classifier features it reads.
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { classifierFeatures, classifierLogits, initClassifier } from '../src/core/eval/classifier';
import { kernelInceptionDistance } from '../src/core/eval/kid';
import { gaussianArray } from '../src/core/model/layers';
import { memorySnapshot, useBackend } from './helpers';

describe('kernel inception distance', () => {
  it('matches a hand computation in one dimension', () => {
    // d = 1, k(a, b) = (ab + 1)^3. x = {0, 1}, y = {2, 3}.
    const k = (a: number, b: number) => (a * b + 1) ** 3;
    const xx = k(0, 1);
    const yy = k(2, 3);
    const xy = (k(0, 2) + k(0, 3) + k(1, 2) + k(1, 3)) / 4;
    expect(kernelInceptionDistance(Float32Array.of(0, 1), Float32Array.of(2, 3), 1)).toBeCloseTo(xx + yy - 2 * xy, 9);
    expect(() => kernelInceptionDistance(Float32Array.of(0), Float32Array.of(2, 3), 1)).toThrow(/at least 2/);
  });

  it('near zero for two samples of one distribution, clearly positive for a shifted one', () => {
    const d = 8;
    const a = gaussianArray(200 * d, 1);
    const b = gaussianArray(300 * d, 2);
    const shifted = gaussianArray(300 * d, 3).map((v, i) => v + (i % d === 0 ? 1 : 0));
    const same = kernelInceptionDistance(a, b, d);
    const moved = kernelInceptionDistance(a, shifted, d);
    expect(Math.abs(same)).toBeLessThan(0.05);
    expect(moved).toBeGreaterThan(10 * Math.abs(same));
    expect(moved).toBeGreaterThan(0.1);
  });
});

describe('classifier features', () => {
  beforeAll(() => useBackend('wasm'));
  it('are what the head reads: head(features) equals the logits; batched as one; no leaks', async () => {
    const clf = initClassifier(3, 9);
    const n = 5;
    const images = gaussianArray(n * 32 * 32 * 3, 4, 0.5);
    const before = memorySnapshot();
    const f = await classifierFeatures(clf.params, images, clf.config, 2);
    const whole = await classifierFeatures(clf.params, images, clf.config, 128);
    expect(memorySnapshot()).toEqual(before);
    expect(f.length).toBe(n * clf.config.widths[3]);
    for (let i = 0; i < f.length; i++) expect(f[i]).toBeCloseTo(whole[i], 5);
    const [fromFeatures, logits] = tf.tidy(() => {
      const h = tf.add(tf.matMul(tf.tensor2d(f, [n, clf.config.widths[3]]), clf.params['cls.head.weight']), clf.params['cls.head.bias']);
      return [h.dataSync(), classifierLogits(clf.params, tf.tensor4d(images, [n, 32, 32, 3]), clf.config).dataSync()];
    });
    for (let i = 0; i < logits.length; i++) expect(fromFeatures[i]).toBeCloseTo(logits[i], 4);
    Object.values(clf.params).forEach((t) => t.dispose());
  });
});
