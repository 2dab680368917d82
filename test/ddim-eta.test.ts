// DDIM with eta > 0 (config.sampling.eta): sigma against DDPM's posterior variance by hand, eta 0
// unchanged and deterministic, and each image's fresh noise a function of its own starting noise, so
// an image's sample does not depend on the batch it is drawn in (the helper worker splits batches).
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { ddimSigma, ddimStep } from '../src/core/diffusion/ddim';
import { makeSchedule } from '../src/core/diffusion/schedule';
import { initialNoise, noiseSeeds, sampleLatents } from '../src/core/generate';
import { tinyCheckpoint, useBackend } from './helpers';

beforeAll(async () => {
  await useBackend('wasm');
});

describe('DDIM eta', () => {
  it('sigma is 0 at eta 0 and at the clean end; at eta 1 it is the DDPM posterior std', () => {
    expect(ddimSigma(0.5, 0.7, 0)).toBe(0);
    expect(ddimSigma(0.5, 1, 1)).toBe(0);
    const [a, ap] = [0.3, 0.6];
    // DDPM posterior variance for a step from abar_t to abar_prev: (1 - abar_prev)/(1 - abar_t) * (1 - abar_t/abar_prev)
    expect(ddimSigma(a, ap, 1)).toBeCloseTo(Math.sqrt(((1 - ap) / (1 - a)) * (1 - a / ap)), 12);
    expect(ddimSigma(a, ap, 0.5)).toBeCloseTo(0.5 * ddimSigma(a, ap, 1), 12);
  });

  it('a step by hand: the mean keeps sqrt(1 - abar_prev - sigma^2) of eps and adds sigma z', async () => {
    const schedule = makeSchedule({ kind: 'cosine', trainSteps: 1000 });
    const [t, tp] = [500, 400];
    const [abar, abarPrev] = [schedule.alphasCumprod[t]!, schedule.alphasCumprod[tp]!];
    const xt = tf.tensor4d([0.3, -0.2, 0.5, 1.1], [1, 1, 2, 2]);
    const eps = tf.tensor4d([0.1, 0.4, -0.7, 0.2], [1, 1, 2, 2]);
    const z = tf.tensor4d([1, -1, 0.5, 2], [1, 1, 2, 2]);
    const got = await ddimStep(schedule, xt, eps, t, tp, undefined, 0.8, z).data();
    const sigma = ddimSigma(abar, abarPrev, 0.8);
    const [X, E, Z] = [await xt.data(), await eps.data(), await z.data()];
    for (let i = 0; i < 4; i++) {
      const x0 = (X[i]! - Math.sqrt(1 - abar) * E[i]!) / Math.sqrt(abar);
      const want = Math.sqrt(abarPrev) * x0 + Math.sqrt(1 - abarPrev - sigma * sigma) * E[i]! + sigma * Z[i]!;
      expect(got[i]).toBeCloseTo(want, 5);
    }
    expect(() => ddimStep(schedule, xt, eps, t, tp, undefined, 0.8)).toThrow(/needs the step noise/);
    tf.dispose([xt, eps, z]);
  });

  it('seeds come from the starting noise alone: the same image sampled alone or in a batch is the same, eta changes it, nothing leaks', async () => {
    const ck = tinyCheckpoint(3);
    const sample = async (eta: number, first: number, count: number) => {
      ck.config.sampling = { ...ck.config.sampling, eta };
      const noise = initialNoise(ck, 11, count, first);
      const x = await sampleLatents(ck, Array(count).fill('grinning face'), noise, { guidance: 3, steps: 6 });
      const v = Array.from(await x.data());
      tf.dispose([noise, x]);
      return v;
    };
    const per = (await (async () => { const n = initialNoise(ck, 11, 1); const s = n.size; n.dispose(); return s; })());
    await sample(0.7, 0, 1); // warm-up
    const before = tf.memory().numTensors;
    const batch = await sample(0.7, 0, 3);
    const alone = await sample(0.7, 1, 1);
    expect(tf.memory().numTensors).toBe(before);
    const second = batch.slice(per, 2 * per);
    const worst = Math.max(...second.map((v, i) => Math.abs(v - alone[i]!)));
    expect(worst).toBeLessThan(1e-5);
    const again = await sample(0.7, 0, 3);
    expect(again).toEqual(batch);
    const deterministic = await sample(0, 0, 3);
    const moved = Math.max(...deterministic.map((v, i) => Math.abs(v - batch[i]!)));
    expect(moved).toBeGreaterThan(1e-2);
    expect(batch.every(Number.isFinite)).toBe(true);
    ck.config.sampling = { ...ck.config.sampling, eta: undefined };
  });

  it('noiseSeeds differ between images and follow their values', () => {
    const a = Float32Array.from({ length: 24 }, (_, i) => Math.sin(i));
    const s = noiseSeeds(a, 3);
    expect(new Set(s).size).toBe(3);
    const b = a.slice();
    b[9] += 1e-3; // the second image's second value
    const t = noiseSeeds(b, 3);
    expect(t[0]).toBe(s[0]);
    expect(t[1]).not.toBe(s[1]);
    expect(t[2]).toBe(s[2]);
  });
});
