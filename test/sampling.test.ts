// Balanced pretraining sampling, the warm-up of an extended run, and the fixed denoising loss.
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { balancedWeights, categoryShares, cumulative, drawWeighted } from '../src/core/data/sampling';
import { fixedDenoisingLoss, fixedDraws } from '../src/core/eval/denoising';
import { gaussianArray } from '../src/core/model/layers';
import { makeSchedule } from '../src/core/diffusion/schedule';
import { encodeImages } from '../src/core/model/ldm';
import { Tokenizer } from '../src/core/model/tokenizer';
import { batchIndices, unetLearningRate } from '../src/core/pretrain';
import { perSampleNoiseMse } from '../src/core/train';
import { memorySnapshot, tinyCheckpoint, useBackend } from './helpers';

// Category A: base a1 with 3 variants (a1 itself + 2 skin tones), base a2 alone; B: base b1 alone;
// C: bases c1..c4.
const recs = [
  { category: 'A', baseUnified: 'a1' },
  { category: 'A', baseUnified: 'a1' },
  { category: 'A', baseUnified: 'a1' },
  { category: 'A', baseUnified: 'a2' },
  { category: 'B', baseUnified: 'b1' },
  { category: 'C', baseUnified: 'c1' },
  { category: 'C', baseUnified: 'c2' },
  { category: 'C', baseUnified: 'c3' },
  { category: 'C', baseUnified: 'c4' },
];

describe('balanced sampling weights', () => {
  it('power 0.5 by hand: category share sqrt(bases), split over bases, then over variants', () => {
    const w = balancedWeights(recs, 0.5);
    const z = Math.SQRT2 + 1 + 2; // sqrt(2) + sqrt(1) + sqrt(4)
    const a = Math.SQRT2 / z;
    expect(w[0]).toBeCloseTo(a / 2 / 3, 12);
    expect(w[2]).toBeCloseTo(a / 2 / 3, 12);
    expect(w[3]).toBeCloseTo(a / 2, 12);
    expect(w[4]).toBeCloseTo(1 / z, 12);
    expect(w[5]).toBeCloseTo(2 / z / 4, 12);
    expect(w.reduce((s, x) => s + x, 0)).toBeCloseTo(1, 12);
  });

  it('power 1 is uniform over base emoji, power 0 gives every category the same share', () => {
    const w1 = balancedWeights(recs, 1);
    // 7 base emoji: each 1/7, a1's split three ways.
    expect(w1[3]).toBeCloseTo(1 / 7, 12);
    expect(w1[0] + w1[1] + w1[2]).toBeCloseTo(1 / 7, 12);
    expect(w1[8]).toBeCloseTo(1 / 7, 12);
    const shares = categoryShares(recs, balancedWeights(recs, 0));
    for (const c of ['A', 'B', 'C']) expect(shares[c]).toBeCloseTo(1 / 3, 12);
  });

  it('drawWeighted finds the interval of u, and draws follow the weights', () => {
    const cdf = cumulative([1, 0, 3]);
    expect(Array.from(cdf)).toEqual([0.25, 0.25, 1]);
    expect(drawWeighted(cdf, 0)).toBe(0);
    expect(drawWeighted(cdf, 0.2499)).toBe(0);
    expect(drawWeighted(cdf, 0.25)).toBe(2); // a zero weight is never drawn
    expect(drawWeighted(cdf, 0.9999)).toBe(2);
    expect(() => cumulative([0, 0])).toThrow(/zero/);
    expect(() => cumulative([1, NaN])).toThrow(/NaN/);
    const w = balancedWeights(recs, 0.5);
    const counts = new Array(recs.length).fill(0);
    const draws = 400 * 64;
    for (let s = 0; s < 400; s++) for (const i of batchIndices(recs.length, 64, 3, 2, s, cumulative(w))) counts[i]++;
    // Binomial sd of a share p over 25,600 draws is at most 0.0032: 5 sd.
    counts.forEach((c, i) => expect(Math.abs(c / draws - w[i])).toBeLessThan(0.016));
  });

  it('a weighted batch is a pure function of (seed, phase, step), and a table of the wrong length is refused', () => {
    const cdf = cumulative(balancedWeights(recs));
    expect(batchIndices(9, 16, 1, 2, 5, cdf)).toEqual(batchIndices(9, 16, 1, 2, 5, cdf));
    expect(batchIndices(9, 16, 1, 2, 5, cdf)).not.toEqual(batchIndices(9, 16, 1, 2, 6, cdf));
    expect(() => batchIndices(8, 4, 1, 2, 0, cdf)).toThrow(/9 entries for 8/);
  });
});

describe('UNet learning rate with a warm-up', () => {
  const base = { lr: 1e-3, lrMin: 1e-5, decayStart: 1000, total: 2000 };
  it('ramps linearly from where the segment starts, then follows the schedule', () => {
    const warm = { ...base, warmup: { from: 500, steps: 10 } };
    expect(unetLearningRate(499, warm)).toBe(1e-3);
    expect(unetLearningRate(500, warm)).toBeCloseTo(1e-4, 12);
    expect(unetLearningRate(504, warm)).toBeCloseTo(5e-4, 12);
    expect(unetLearningRate(509, warm)).toBeCloseTo(1e-3, 12);
    expect(unetLearningRate(510, warm)).toBe(1e-3);
    expect(unetLearningRate(1500, warm)).toBeCloseTo(unetLearningRate(1500, base), 15);
    expect(unetLearningRate(1500, base)).toBeCloseTo(1e-5 + 0.5 * (1e-3 - 1e-5), 12);
    expect(unetLearningRate(2000, base)).toBeCloseTo(1e-5, 12);
  });
});

describe('fixed denoising loss', () => {
  beforeAll(() => useBackend('wasm'));

  it('equals the per-sample loss computed by hand on the same draws, is the same every call, and leaks nothing', async () => {
    const ck = tinyCheckpoint(2);
    const n = 5;
    const per = 32 * 32 * 3;
    const images = gaussianArray(n * per, 9, 0.5).map((v) => Math.max(-1, Math.min(1, v)));
    const prompts = ['red heart', 'dog face', 'frog', 'grinning face', 'cat face'];
    const groups = ['x', 'y', 'y', 'y', 'x'];
    const opts = { draws: 3, seed: 4, batch: 4 }; // a batch boundary inside an image's draws
    const before = memorySnapshot();
    const a = await fixedDenoisingLoss(ck, images, prompts, groups, opts);
    const b = await fixedDenoisingLoss(ck, images, prompts, groups, opts);
    expect(memorySnapshot()).toEqual(before);
    expect(Array.from(a.perImage)).toEqual(Array.from(b.perImage));
    // Image 3 by hand, one draw at a time.
    const schedule = makeSchedule(ck.config.schedule);
    const { timesteps, noiseSeed } = fixedDraws(3, 3, ck.config.schedule.trainSteps, 4);
    expect(timesteps[0]).toBeLessThan(ck.config.schedule.trainSteps / 3);
    expect(timesteps[2]).toBeGreaterThanOrEqual((2 * ck.config.schedule.trainSteps) / 3);
    let byHand = 0;
    for (let k = 0; k < 3; k++) {
      const { ids, mask } = new Tokenizer(ck.config.text).encode([prompts[3]]);
      const L = ck.config.text.maxLength;
      const v = tf.tidy(() => {
        const x0 = encodeImages(ck, tf.tensor4d(images.subarray(3 * per, 4 * per), [1, 32, 32, 3]));
        const zPer = x0.size;
        const noise = gaussianArray(zPer * 3, noiseSeed).subarray(k * zPer, (k + 1) * zPer);
        return perSampleNoiseMse(ck.params, ck.config, schedule, { x0, noise: tf.tensor4d(noise, x0.shape), timesteps: Int32Array.of(timesteps[k]), ids: tf.tensor2d(ids, [1, L], 'int32'), mask: tf.tensor2d(mask, [1, L]) });
      });
      byHand += (await v.data())[0] / 3;
      v.dispose();
    }
    expect(a.perImage[3]).toBeCloseTo(byHand, 5);
    const mean = Array.from(a.perImage).reduce((s, x) => s + x, 0) / n;
    expect(a.mean).toBeCloseTo(mean, 10);
    const gx = (a.perImage[0] + a.perImage[4]) / 2;
    const gy = (a.perImage[1] + a.perImage[2] + a.perImage[3]) / 3;
    expect(a.groupMean).toBeCloseTo((gx + gy) / 2, 10);
    expect(a.perGroup.map((g) => g.images)).toEqual([2, 3]);
    // Keyed draws: a subset of the images keeps each image's loss from the whole set.
    const keys = [40, 41, 42, 43, 44];
    const whole = await fixedDenoisingLoss(ck, images, prompts, groups, { ...opts, keys });
    const sub = await fixedDenoisingLoss(ck, images.subarray(2 * per, 4 * per), prompts.slice(2, 4), groups.slice(2, 4), { ...opts, keys: keys.slice(2, 4) });
    expect(sub.perImage[0]).toBeCloseTo(whole.perImage[2], 6);
    expect(sub.perImage[1]).toBeCloseTo(whole.perImage[3], 6);
    expect(whole.perImage[2]).not.toBeCloseTo(a.perImage[2], 6);
    Object.values(ck.params).forEach((t) => t.dispose());
  });
});
