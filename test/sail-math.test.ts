// Diffusion-DPO loss, implicit reward, pairing and mixup on fixed inputs.
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeSchedule } from '../src/core/diffusion/schedule';
import { gaussianArray } from '../src/core/model/layers';
import { textStates } from '../src/core/model/ldm';
import { dpoInside, dpoLossFromInside, dpoStats, mseDifference, winnerLoserMse, type DpoBatch } from '../src/core/sail/dpo';
import { denoiseMse } from '../src/core/sail/safety';
import { rankedMixup, selfCountPerBatch } from '../src/core/sail/mixup';
import { pairCandidates, rankedSelfPairs } from '../src/core/sail/pairing';
import { implicitRewards, rewardDraws } from '../src/core/sail/reward';
import { cloneParams } from '../src/core/io/checkpoint';
import { tinyCheckpoint, useBackend } from './helpers';

beforeAll(async () => {
  await useBackend('wasm');
});

describe('Diffusion-DPO loss', () => {
  it('the prior items in the pairs\' UNet batch give the mse of a separate call, and their gradients add up the same', () => {
    const ck = tinyCheckpoint(6);
    const config = ck.config;
    const schedule = makeSchedule(config.schedule);
    const shape: [number, number, number] = [config.latentSize, config.latentSize, config.autoencoder.latentChannels];
    const per = shape[0] * shape[1] * shape[2];
    const [b, n] = [3, 2];
    const batch: DpoBatch = {
      winners: tf.tensor4d(gaussianArray(b * per, 1), [b, ...shape]),
      losers: tf.tensor4d(gaussianArray(b * per, 2), [b, ...shape]),
      text: textStates(ck, ['red heart', 'dog face', null]),
      timesteps: Int32Array.from([10, 500, 990]),
      noise: tf.tensor4d(gaussianArray(b * per, 3), [b, ...shape]),
    };
    const prior = { x0: tf.tensor4d(gaussianArray(n * per, 4), [n, ...shape]), noise: tf.tensor4d(gaussianArray(n * per, 5), [n, ...shape]), timesteps: Int32Array.from([200, 700]), text: textStates(ck, ['frog', 'cat face']) };
    const names = Object.keys(ck.params).filter((k) => k.startsWith('unet.')).slice(0, 6);
    const lossOf = (joint: boolean) => (...xs: tf.Tensor[]) => {
      const p = { ...ck.params };
      names.forEach((k, i) => (p[k] = xs[i]));
      if (joint) {
        const m = winnerLoserMse(p, config, schedule, batch, prior);
        return tf.add(tf.sum(tf.sub(m.w, m.l)), tf.mul(tf.sum(m.extra!), 3)) as tf.Scalar;
      }
      const m = winnerLoserMse(p, config, schedule, batch);
      return tf.add(tf.sum(tf.sub(m.w, m.l)), tf.mul(tf.sum(denoiseMse(p, config, schedule, prior)), 3)) as tf.Scalar;
    };
    const [joint, apart] = [true, false].map((j) => tf.tidy(() => {
      const { value, grads } = tf.valueAndGrads(lossOf(j))(names.map((k) => ck.params[k]));
      return [value.dataSync()[0], ...grads.map((g) => Array.from(g.dataSync()))] as [number, ...number[][]];
    }));
    expect(joint[0]).toBeCloseTo(apart[0], 5);
    for (let i = 1; i < joint.length; i++) {
      const [a, c] = [joint[i] as number[], apart[i] as number[]];
      const scale = Math.max(1e-8, ...c.map(Math.abs));
      a.forEach((v, j) => expect(Math.abs(v - c[j]) / scale).toBeLessThan(1e-4));
    }
    tf.dispose([batch.winners, batch.losers, batch.noise, batch.text.tokens, batch.text.mask, batch.text.pooled, prior.x0, prior.noise, prior.text.tokens, prior.text.mask, prior.text.pooled]);
  });

  it('matches a hand computation: values, sign convention, implicit accuracy', async () => {
    // policy: mse(w) - mse(l); reference: the same for the frozen model.
    const policyDiff = tf.tensor1d([-0.02, 0.01, 0.0, 0.03]);
    const refDiff = tf.tensor1d([0.0, 0.0, 0.01, 0.01]);
    const beta = 100;
    const inside = dpoInside(policyDiff, refDiff, beta);
    // inside = -0.5 * beta * (policy - ref) = [1, -0.5, 0.5, -1]
    expect(Array.from(await inside.data()).map((v) => +v.toFixed(5))).toEqual([1, -0.5, 0.5, -1]);
    const softplus = (x: number) => Math.log(1 + Math.exp(x));
    const expected = (softplus(-1) + softplus(0.5) + softplus(-0.5) + softplus(1)) / 4;
    const loss = dpoLossFromInside(inside);
    expect((await loss.data())[0]).toBeCloseTo(expected, 5);
    const stats = await dpoStats(inside);
    expect(stats.loss).toBeCloseTo(expected, 5);
    // The policy denoises the winner better than the reference does in pairs 0 and 2.
    expect(stats.implicitAccuracy).toBe(0.5);
    expect(stats.rewardMargin).toBeCloseTo(0, 6);
    // Soft error: mean 1 - sigmoid(inside) = mean sigmoid(-inside).
    const sig = (x: number) => 1 / (1 + Math.exp(-x));
    expect(stats.softError).toBeCloseTo((sig(-1) + sig(0.5) + sig(-0.5) + sig(1)) / 4, 6);
    tf.dispose([policyDiff, refDiff, inside, loss]);
  });

  const makeBatch = (ck: ReturnType<typeof tinyCheckpoint>, b: number): DpoBatch => ({
    winners: tf.tensor4d(gaussianArray(b * 256, 1), [b, 8, 8, 4]),
    losers: tf.tensor4d(gaussianArray(b * 256, 2), [b, 8, 8, 4]),
    text: textStates(ck, Array(b).fill('dog face')),
    timesteps: Int32Array.from({ length: b }, (_, i) => 100 + 200 * i),
    noise: tf.tensor4d(gaussianArray(b * 256, 3), [b, 8, 8, 4]),
  });

  it('identical policy and reference give loss log 2 and zero implicit reward', async () => {
    const ck = tinyCheckpoint(5);
    const schedule = makeSchedule(ck.config.schedule);
    const batch = makeBatch(ck, 3);
    const reference = cloneParams(ck.params);
    const inside = tf.tidy(() => dpoInside(mseDifference(ck.params, ck.config, schedule, batch), mseDifference(reference, ck.config, schedule, batch), 5000));
    const stats = await dpoStats(inside);
    expect(stats.loss).toBeCloseTo(Math.log(2), 6);
    expect(stats.rewardMargin).toBe(0);
    const latents = tf.tensor4d(gaussianArray(4 * 256, 9), [4, 8, 8, 4]);
    const text = textStates(ck, ['dog face']);
    const r = await implicitRewards(ck.params, reference, ck.config, schedule, latents, text, { beta: 5000, draws: rewardDraws(ck.config, 3, 1) });
    expect(Array.from(r).map(Math.abs)).toEqual([0, 0, 0, 0]);
    tf.dispose([inside, latents, text.tokens, text.mask, text.pooled, batch.winners, batch.losers, batch.noise]);
  });

  it('its gradient matches finite differences (cpu, float32)', async () => {
    await useBackend('cpu');
    const ck = tinyCheckpoint(6);
    const schedule = makeSchedule(ck.config.schedule);
    // A policy that differs from the reference, with non-zero output layers.
    const policy = cloneParams(ck.params);
    let k = 0;
    for (const [n, p] of Object.entries(policy)) {
      policy[n] = tf.add(p, tf.mul(tf.randomNormal(p.shape, 0, 1, 'float32', k++), 0.2));
      p.dispose();
    }
    const batch = makeBatch(ck, 2);
    const refDiff = tf.tidy(() => mseDifference(ck.params, ck.config, schedule, batch));
    const name = 'unet.conv_out.weight';
    const direction = tf.randomNormal(policy[name].shape, 0, 1, 'float32', 99);
    const lossAt = (w: tf.Tensor) => dpoLossFromInside(dpoInside(mseDifference({ ...policy, [name]: w }, ck.config, schedule, batch), refDiff, 50));
    const grad = tf.grad(lossAt)(policy[name]);
    const analytic = (await tf.sum(tf.mul(grad, direction)).data())[0];
    const h = 1e-2;
    const plus = (await tf.tidy(() => lossAt(tf.add(policy[name], tf.mul(direction, h)))).data())[0];
    const minus = (await tf.tidy(() => lossAt(tf.sub(policy[name], tf.mul(direction, h)))).data())[0];
    const numeric = (plus - minus) / (2 * h);
    expect(Math.abs(analytic)).toBeGreaterThan(1e-4);
    expect(Math.abs(analytic - numeric) / Math.abs(analytic)).toBeLessThan(0.02);
    await useBackend('wasm');
  });
});

describe('pairing and mixup', () => {
  it('best-vs-worst takes the extremes; random takes two distinct candidates, winner the higher', () => {
    expect(pairCandidates([0.1, 0.9, -0.3, 0.2], 0, 'best-worst', 1)).toEqual({ promptIndex: 0, winner: 1, loser: 2, margin: expect.closeTo(1.2, 6) });
    for (let s = 0; s < 50; s++) {
      const p = pairCandidates([0.1, 0.9, -0.3, 0.2], 3, 'random', s)!;
      expect(p.winner).not.toBe(p.loser);
      expect(p.margin).toBeGreaterThanOrEqual(0);
    }
  });

  it('against the base: the noise whose model-vs-base rewards differ most, winner by the sign', () => {
    // Candidates 0..2 are the model's, 3..5 the base's from the same three noises.
    expect(pairCandidates([0.5, 0.9, 0.1, 0.4, 0.2, 0.3], 0, 'against-base', 1)).toEqual({ promptIndex: 0, winner: 1, loser: 4, margin: expect.closeTo(0.7, 6) });
    // Where every model sample scores below its base twin, the base's image is the winner.
    expect(pairCandidates([0.1, 0.2, 0.5, 0.3], 2, 'against-base', 1)).toEqual({ promptIndex: 2, winner: 2, loser: 0, margin: expect.closeTo(0.4, 6) });
  });

  it('the margin threshold drops what it should and ranks the rest by margin', () => {
    const { kept, dropped } = rankedSelfPairs([[0, 1], [0, 0.05], [0, 3], [0.5, 0.2]], 'best-worst', 0.1, 1);
    expect(kept.map((p) => p.promptIndex)).toEqual([2, 0, 3]);
    expect(dropped.map((p) => p.promptIndex)).toEqual([1]);
  });

  it('mixup batches hold the requested fraction of self pairs, ranked first', () => {
    const plans = rankedMixup({ selfPairs: 5, seedPairs: 30, alpha: 0.25, batchSize: 8, steps: 10, seed: 1 });
    for (const p of plans) {
      expect(p.self).toHaveLength(2);
      expect(p.seed).toHaveLength(6);
      expect(new Set(p.seed).size).toBe(6);
    }
    expect(plans[0].self).toEqual([0, 1]);
    expect(plans[1].self).toEqual([2, 3]);
    expect(plans[2].self).toEqual([4, 0]);
    // Seed pairs are visited evenly: every one within each pass of 30.
    const firstPass = plans.slice(0, 5).flatMap((p) => p.seed);
    expect(new Set(firstPass).size).toBe(30);
    expect(selfCountPerBatch(8, 0, 5, 30)).toBe(0);
    expect(rankedMixup({ selfPairs: 4, seedPairs: 0, alpha: 0.25, batchSize: 4, steps: 2, seed: 1 })[0].self).toHaveLength(4);
    expect(rankedMixup({ selfPairs: 0, seedPairs: 9, alpha: 0.25, batchSize: 4, steps: 2, seed: 1 })[0].seed).toHaveLength(4);
    expect(() => rankedMixup({ selfPairs: 0, seedPairs: 0, alpha: 0.25, batchSize: 4, steps: 2, seed: 1 })).toThrow(/No pairs/);
  });
});
