// What keeps Diffusion-DPO from wrecking the model (src/core/sail/safety.ts): each loss term
// against a hand computation and finite differences, the schedule, the held-out split, the choice
// of checked weights, the confidence gate, and the drift bound refusing a round that a huge
// learning rate wrecks while the round before it is kept.
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeSchedule } from '../src/core/diffusion/schedule';
import { cloneParams } from '../src/core/io/checkpoint';
import { disposeParams, type Params } from '../src/core/model/layers';
import type { Checkpoint } from '../src/core/model/ldm';
import { anchorIds } from '../src/core/sail/anchor';
import { dpoLossFromInside, dpoStats } from '../src/core/sail/dpo';
import { DriftError, driftFromBase, roundDriftBound, runSail, trainDpoRound, type FinishedRound, type PreferencePair, type SailEvent, type SailSettings } from '../src/core/sail/loop';
import { meanOverDraws, rewardDraws } from '../src/core/sail/reward';
import {
  anchorBatch,
  chooseCheck,
  denoiseMse,
  disposeDenoiseBatch,
  dpoPositiveInside,
  learningRateAt,
  meanDenoiseMse,
  shouldStopEarly,
  signAgreement,
  splitHeldOut,
  withPriorSamples,
  type AnchorSet,
  type RoundCheck,
} from '../src/core/sail/safety';
import { DEFAULT_SAIL_SETTINGS } from '../src/core/sail/settings';
import { loadCheckpointDir } from '../scripts/lib/checkpointFs';
import { loadEmojiDataset } from '../scripts/lib/png';
import { lightDarkPairs, useBackend } from './helpers';

let base: Checkpoint;
let anchor: AnchorSet;
let pairs: PreferencePair[];
let prompts: string[];

beforeAll(async () => {
  await useBackend('wasm');
  base = loadCheckpointDir('test/fixtures/tiny-base');
  ({ anchor, pairs, prompts } = await lightDarkPairs(base, 256));
});

describe('learning-rate schedule', () => {
  it('warms up linearly, peaks at lr, and decays by cosine to the final fraction', () => {
    const lr = 1e-3;
    const at = (s: number) => learningRateAt(s, 30, lr, 0.1, 0.1);
    expect(at(0)).toBeCloseTo(lr / 4, 12); // 3 warm-up steps: (0+1)/(3+1)
    expect(at(2)).toBeCloseTo((3 * lr) / 4, 12);
    expect(at(3)).toBeCloseTo(lr, 12);
    expect(at(29)).toBeCloseTo(0.1 * lr, 12);
    const mid = 3 + (29 - 3) / 2;
    expect(at(mid)).toBeCloseTo(0.1 * lr + 0.5 * 0.9 * lr, 12);
    for (let s = 4; s < 30; s++) expect(at(s)).toBeLessThanOrEqual(at(s - 1));
  });
});

describe('drift budget over rounds', () => {
  it("'whole' holds every round to the bound; 'per-round' gives round r (r + 1) / (rounds + 1) of it, the last round all of it", () => {
    const s = { driftBound: 0.12, rounds: 2 };
    expect([0, 1, 2].map((r) => roundDriftBound(s, r))).toEqual([0.12, 0.12, 0.12]);
    expect([0, 1, 2].map((r) => roundDriftBound({ ...s, driftBudget: 'whole' }, r))).toEqual([0.12, 0.12, 0.12]);
    const per = [0, 1, 2, 3].map((r) => roundDriftBound({ ...s, driftBudget: 'per-round' }, r));
    expect(per[0]).toBeCloseTo(0.04, 12);
    expect(per[1]).toBeCloseTo(0.08, 12);
    expect(per[2]).toBeCloseTo(0.12, 12);
    expect(per[3]).toBeCloseTo(0.12, 12); // never past the bound
    // A one-round run (Diffusion-DPO alone) keeps the whole bound.
    expect(roundDriftBound({ driftBound: 0.1, rounds: 0, driftBudget: 'per-round' }, 0)).toBe(0.1);
  });
});

describe('held-out split of the seed pairs', () => {
  it('is seeded, disjoint, a quarter of 16, and empty when too few pairs would stay', () => {
    const items = Array.from({ length: 16 }, (_, i) => i);
    const a = splitHeldOut(items, 0.25, 3);
    expect(a.heldOut).toHaveLength(4);
    expect(a.train).toHaveLength(12);
    expect([...a.train, ...a.heldOut].sort((x, y) => x - y)).toEqual(items);
    expect(splitHeldOut(items, 0.25, 3)).toEqual(a);
    expect(splitHeldOut(items, 0.25, 4).heldOut).not.toEqual(a.heldOut);
    expect(splitHeldOut(items.slice(0, 9), 0.25, 3).heldOut).toHaveLength(0);
    expect(splitHeldOut(items, 0, 3).heldOut).toHaveLength(0);
  });
});

describe('DPO-Positive inside', () => {
  it('matches a hand computation, and with lambda 0 is plain Diffusion-DPO', async () => {
    const pol = { w: tf.tensor1d([0.30, 0.10]), l: tf.tensor1d([0.20, 0.40]) };
    const ref = { w: tf.tensor1d([0.25, 0.20]), l: tf.tensor1d([0.25, 0.30]) };
    const beta = 10;
    const lambda = 4;
    // pair 0: diff (0.1) - (0) = 0.1, penalty 4 * max(0, 0.05) = 0.2 -> -5 * 0.3 = -1.5
    // pair 1: diff (-0.3) - (-0.1) = -0.2, penalty 0 -> -5 * -0.2 = 1.0
    const inside = dpoPositiveInside(pol, ref, beta, lambda);
    const v = Array.from(await inside.data());
    expect(v[0]).toBeCloseTo(-1.5, 5);
    expect(v[1]).toBeCloseTo(1.0, 5);
    const plain = Array.from(await dpoPositiveInside(pol, ref, beta, 0).data());
    expect(plain[0]).toBeCloseTo(-0.5, 5);
    tf.dispose([pol.w, pol.l, ref.w, ref.l, inside]);
  });

  it('its loss gradient w.r.t. the policy errors matches finite differences', async () => {
    const ref = { w: tf.tensor1d([0.25, 0.20, 0.5]), l: tf.tensor1d([0.25, 0.30, 0.4]) };
    const x0 = [0.3, 0.1, 0.45, 0.2, 0.4, 0.41];
    const loss = (x: tf.Tensor) => {
      const [w, l] = tf.split(x, 2) as [tf.Tensor1D, tf.Tensor1D];
      return dpoLossFromInside(dpoPositiveInside({ w, l }, ref, 10, 4));
    };
    const g = tf.grad(loss)(tf.tensor1d(x0));
    const analytic = Array.from(await g.data());
    const h = 1e-3;
    for (let i = 0; i < x0.length; i++) {
      const plus = x0.slice();
      const minus = x0.slice();
      plus[i] += h;
      minus[i] -= h;
      const fp = (await loss(tf.tensor1d(plus)).data())[0];
      const fm = (await loss(tf.tensor1d(minus)).data())[0];
      expect(analytic[i]).toBeCloseTo((fp - fm) / (2 * h), 3);
    }
    tf.dispose([ref.w, ref.l, g]);
  });
});

describe('prior term and drift', () => {
  it('the anchor draws base emoji across subcategories, never the evaluation split or a skin-tone variant', () => {
    const data = loadEmojiDataset('public/data');
    const ids = anchorIds(data.manifest, 64);
    expect(new Set(ids).size).toBe(64);
    const evaluation = new Set(data.manifest.splits.evaluation);
    for (const id of ids) {
      expect(evaluation.has(id)).toBe(false);
      expect(data.manifest.records[id].skinTone).toBeNull();
    }
    const categories = new Set(ids.map((id) => data.manifest.records[id].category));
    expect(categories.size).toBeGreaterThanOrEqual(6);
  });

  it('the denoising mse is the mean squared noise-prediction error, and chunked means agree with one batch', async () => {
    const schedule = makeSchedule(base.config.schedule);
    const batch = anchorBatch(base, anchor, 7);
    const perSample = denoiseMse(base.params, base.config, schedule, batch);
    const values = Array.from(await perSample.data());
    const oneBatch = values.reduce((a, b) => a + b, 0) / values.length;
    expect(await meanDenoiseMse(base.params, base.config, schedule, batch, 5)).toBeCloseTo(oneBatch, 5);
    // A pretrained model predicts the noise better than predicting zero (mse 1 for unit noise).
    expect(oneBatch).toBeLessThan(1);
    expect(oneBatch).toBeGreaterThan(0);
    // The same seed gives the same timesteps and noise.
    const again = anchorBatch(base, anchor, 7);
    expect(Array.from(again.timesteps)).toEqual(Array.from(batch.timesteps));
    tf.dispose(perSample);
    disposeDenoiseBatch(batch);
    disposeDenoiseBatch(again);
  });
});

describe('prior term on the base model\'s own samples', () => {
  it('one deterministic sample per anchor prompt, independent of the batch, leak-free; the real anchor untouched', async () => {
    const small: AnchorSet = { latents: anchor.latents.slice(0, 5), prompts: anchor.prompts.slice(0, 5) };
    const before = tf.memory();
    const a = await withPriorSamples(base, small, { guidance: 4, steps: 3, batch: 2 });
    expect(tf.memory().numTensors).toBe(before.numTensors);
    const b = await withPriorSamples(base, small, { guidance: 4, steps: 3, batch: 32 });
    expect(a.prior!.prompts).toEqual(small.prompts);
    expect(a.prior!.latents).toHaveLength(5);
    a.prior!.latents.forEach((z, i) => {
      expect(z.length).toBe(small.latents[i].length);
      expect(Array.from(z)).toEqual(Array.from(b.prior!.latents[i]));
      expect(z.every(Number.isFinite)).toBe(true);
      expect(Array.from(z)).not.toEqual(Array.from(small.latents[i]));
    });
    expect(a.latents).toBe(small.latents);
    expect(Array.from(a.prior!.latents[0])).not.toEqual(Array.from(a.prior!.latents[1]));
  });

  it("with priorSource 'samples' the prior term denoises anchor.prior, with 'real' the anchor itself", async () => {
    const schedule = makeSchedule(base.config.schedule);
    const settings: SailSettings = { ...DEFAULT_SAIL_SETTINGS, stepsPerRound: 4, batchSize: 4, checksPerRound: 1, patience: 0, priorWeight: 5, positiveWeight: 0, driftBound: 10 };
    const train = (s: SailSettings, a: AnchorSet) => trainDpoRound({ base, schedule, start: base.params, reference: base.params, selfPairs: [], seedPairs: pairs, settings: s, round: 0, anchor: a });
    const shifted: AnchorSet = { ...anchor, prior: { latents: anchor.latents.map((z) => z.map((v) => v + 1)), prompts: anchor.prompts } };
    const same: AnchorSet = { ...anchor, prior: { latents: anchor.latents, prompts: anchor.prompts } };
    const real = await train({ ...settings, priorSource: 'real' }, shifted);
    const samplesSame = await train({ ...settings, priorSource: 'samples' }, same);
    const samplesShifted = await train({ ...settings, priorSource: 'samples' }, shifted);
    const losses = (r: typeof real) => r.curve.map((p) => p.loss);
    // Same images under either name: the same run, bit for bit; other images: another run.
    expect(losses(samplesSame)).toEqual(losses(real));
    expect(losses(samplesShifted)).not.toEqual(losses(real));
    for (const r of [real, samplesSame, samplesShifted]) Object.values(r.params).forEach((t) => t.dispose());
  });
});

describe("a later round's prior weight", () => {
  it('laterPriorWeight sets the prior weight of rounds after round 0 and leaves round 0 alone', async () => {
    const schedule = makeSchedule(base.config.schedule);
    const settings: SailSettings = { ...DEFAULT_SAIL_SETTINGS, stepsPerRound: 3, batchSize: 4, checksPerRound: 1, patience: 0, priorWeight: 5, positiveWeight: 0, driftBound: 10, laterRoundGuard: 'none' };
    const train = (s: SailSettings, round: number) => trainDpoRound({ base, schedule, start: base.params, reference: base.params, selfPairs: [], seedPairs: pairs, settings: s, round, anchor });
    const losses = (r: Awaited<ReturnType<typeof train>>) => r.curve.map((p) => p.loss);
    const runs = [
      await train({ ...settings, laterPriorWeight: 0 }, 1),
      await train({ ...settings, priorWeight: 0 }, 1),
      await train(settings, 1),
      await train({ ...settings, laterPriorWeight: 0 }, 0),
      await train(settings, 0),
    ];
    expect(losses(runs[0])).toEqual(losses(runs[1]));
    expect(losses(runs[0])).not.toEqual(losses(runs[2]));
    expect(losses(runs[3])).toEqual(losses(runs[4]));
    for (const r of runs) Object.values(r.params).forEach((t) => t.dispose());
  });
});

describe("a later round's reference and start", () => {
  const settings: SailSettings = { ...DEFAULT_SAIL_SETTINGS, rounds: 1, stepsPerRound: 2, batchSize: 4, promptsPerRound: 2, candidatesPerPrompt: 2, rewardDraws: 2, ddimSteps: 2, checksPerRound: 1, driftBound: 100, laterRoundGuard: 'none' };
  /**
   * Round 1 after a "round 0" that differs from the base (every UNet weight times `scale`): round
   * 1's weights, and a twin of that round 0 to measure by (runSail frees the one it is given).
   */
  const roundOneAfter = async (scale: number, patch: Partial<SailSettings>, onEvent: (e: SailEvent) => void) => {
    const scaled = () => Object.fromEntries(Object.entries(base.params).map(([k, v]) => [k, k.startsWith('unet') ? tf.tidy(() => tf.mul(v, scale)) : tf.clone(v)])) as Params;
    const start = scaled();
    const out = await runSail({ base, seedPairs: pairs, anchor, promptPools: [prompts], settings: { ...settings, ...patch }, resumeFrom: { round: 0, params: start, round0Params: start }, onEvent, onRoundDone: async () => {} });
    return { params: out.params, round0: scaled() };
  };

  it("'previous': round 1's first step has margin 0 (policy = reference); 'base': the margin round 0 left", async () => {
    const before = tf.memory().numTensors;
    const firstMargin = async (laterReference: 'previous' | 'base') => {
      const margins: number[] = [];
      const out = await roundOneAfter(1.02, { laterReference }, (e) => void (e.type === 'step' && margins.push(e.rewardMargin)));
      disposeParams(out.params);
      disposeParams(out.round0);
      return margins[0]!;
    };
    // Policy and reference are the same weights, evaluated in different batches: 0 up to float rounding.
    const previous = await firstMargin('previous');
    const fromBase = await firstMargin('base');
    expect(Math.abs(previous)).toBeLessThan(1e-4);
    expect(Math.abs(fromBase)).toBeGreaterThan(100 * Math.abs(previous));
    expect(tf.memory().numTensors).toBe(before);
  });

  it("start 'base': checks the previous model at step 0, then trains from the base against the base (first margin 0)", async () => {
    const before = tf.memory().numTensors;
    const unet = Object.keys(base.params).filter((n) => n.startsWith('unet.'));
    const distance = async (a: Params, b: Params) => {
      let sum = 0;
      for (const n of unet) {
        const d = tf.tidy(() => tf.sum(tf.abs(tf.sub(a[n], b[n]))));
        sum += (await d.data())[0]!;
        d.dispose();
      }
      return sum;
    };
    const run = async (laterStart: 'previous' | 'base') => {
      const margins: number[] = [];
      const checks: number[] = [];
      // A round 0 far from the base: every UNet weight times 1.2.
      const out = await roundOneAfter(1.2, { laterStart }, (e) => {
        if (e.type === 'step') margins.push(e.rewardMargin);
        if (e.type === 'check') checks.push(e.heldOutLoss!);
      });
      const toBase = await distance(out.params, base.params);
      const toStart = await distance(out.params, out.round0);
      disposeParams(out.params);
      disposeParams(out.round0);
      return { margin: margins[0]!, check0: checks[0]!, toBase, toStart };
    };
    const previous = await run('previous');
    const fromBase = await run('base');
    // Both check the same previous model at step 0.
    expect(fromBase.check0).toBeCloseTo(previous.check0, 5);
    expect(Math.abs(fromBase.check0 - Math.log(2))).toBeGreaterThan(1e-3);
    // From the base against the base: the first step's margin is 0 up to float rounding.
    expect(Math.abs(fromBase.margin)).toBeLessThan(1e-4);
    // The kept (last) check was trained from the base, not from the previous model.
    expect(fromBase.toBase).toBeLessThan(0.2 * fromBase.toStart);
    expect(previous.toStart).toBeLessThan(0.2 * previous.toBase);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('a later round with alpha 0', () => {
  it('samples no candidates and trains on the seed pairs alone', async () => {
    const before = tf.memory().numTensors;
    const settings: SailSettings = { ...DEFAULT_SAIL_SETTINGS, rounds: 1, alpha: 0, stepsPerRound: 2, batchSize: 4, promptsPerRound: 2, candidatesPerPrompt: 2, rewardDraws: 2, ddimSteps: 2, checksPerRound: 1, driftBound: 100, laterRoundGuard: 'none' };
    const phases: string[] = [];
    const records: FinishedRound['record'][] = [];
    const start = cloneParams(base.params);
    const out = await runSail({
      base,
      seedPairs: pairs,
      anchor,
      promptPools: [prompts],
      settings,
      resumeFrom: { round: 0, params: start, round0Params: start },
      onEvent: (e) => void (e.type === 'phase' && phases.push(`${e.round}:${e.phase}`)),
      onRoundDone: async (r) => void records.push(r.record),
    });
    disposeParams(out.params);
    expect(phases).toEqual(['1:train']);
    expect(records[0]!.selfPairs).toEqual([]);
    expect(records[0]!.selfKeptShare).toBeUndefined();
    expect(records[0]!.curve).toHaveLength(2);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('which checked weights a round keeps', () => {
  const c = (step: number, loss: number | null, drift: number): RoundCheck => ({ step, heldOutAccuracy: null, heldOutLoss: loss, drift });
  it('the lowest held-out loss within the drift bound; null when all drifted', () => {
    expect(chooseCheck([c(5, 0.6, 0.01), c(10, 0.5, 0.02), c(15, 0.4, 0.3)], 0.1)?.step).toBe(10);
    expect(chooseCheck([c(5, null, 0.01), c(10, null, 0.05)], 0.1)?.step).toBe(10);
    expect(chooseCheck([c(5, 0.6, 0.2), c(10, 0.5, Number.NaN)], 0.1)).toBeNull();
  });
  it('stops early when the held-out loss has not improved for `patience` checks', () => {
    expect(shouldStopEarly([c(1, 0.6, 0), c(2, 0.5, 0), c(3, 0.55, 0), c(4, 0.52, 0)], 2)).toBe(true);
    expect(shouldStopEarly([c(1, 0.6, 0), c(2, 0.5, 0), c(3, 0.55, 0), c(4, 0.49, 0)], 2)).toBe(false);
    expect(shouldStopEarly([c(1, 0.6, 0), c(2, 0.7, 0), c(3, 0.8, 0)], 0)).toBe(false);
  });
  it('judged on the held-out soft error when asked: one pair gone far wrong cannot pick the earliest check', async () => {
    // Held-out insides of 4 pairs at two checks: early, every pair near 0; later, three pairs
    // learned (+6) and one (a clicker slip) far wrong (-12). The loss prefers the early check,
    // the soft error the later one.
    const early = await dpoStats(tf.tensor1d([0.2, 0.1, 0.3, -0.2]));
    const later = await dpoStats(tf.tensor1d([6, 6, 6, -12]));
    expect(later.loss).toBeGreaterThan(early.loss);
    expect(later.softError).toBeLessThan(early.softError);
    const checks: RoundCheck[] = [
      { ...c(5, early.loss, 0.01), heldOutSoftError: early.softError },
      { ...c(10, later.loss, 0.02), heldOutSoftError: later.softError },
    ];
    expect(chooseCheck(checks, 0.1)?.step).toBe(5);
    expect(chooseCheck(checks, 0.1, 'heldOutSoftError')?.step).toBe(10);
    expect(chooseCheck(checks, 0.015, 'heldOutSoftError')?.step).toBe(5); // the drift bound still rules
  });
  it("judged on nothing when asked ('none'): the last check within the bound, and never an early stop", () => {
    const checks = [c(0, 0.3, 0), c(5, 0.6, 0.01), c(10, 0.9, 0.05), c(15, 0.2, 0.3)];
    expect(chooseCheck(checks, 0.1)?.step).toBe(0); // the held-out loss keeps the start
    expect(chooseCheck(checks, 0.1, 'none')?.step).toBe(10); // step 15 drifted past the bound
    expect(chooseCheck([c(5, 0.6, 0.2)], 0.1, 'none')).toBeNull();
    const rising = [c(1, 0.1, 0), c(2, 0.5, 0), c(3, 0.6, 0), c(4, 0.7, 0)];
    expect(shouldStopEarly(rising, 2)).toBe(true);
    expect(shouldStopEarly(rising, 2, 'none')).toBe(false);
  });
  it('judged on the seed-pair loss when asked: the held-out loss is then ignored', () => {
    const s = (step: number, held: number, seeds: number, drift = 0): RoundCheck => ({ ...c(step, held, drift), seedLoss: seeds });
    const checks = [s(0, 0.5, 0.6), s(5, 0.4, 0.65), s(10, 0.6, 0.55), s(15, 0.3, 0.5, 0.2)];
    expect(chooseCheck(checks, 0.1)?.step).toBe(5);
    expect(chooseCheck(checks, 0.1, 'seedLoss')?.step).toBe(10);
    expect(shouldStopEarly([s(0, 0.5, 0.6), s(5, 0.6, 0.5), s(10, 0.7, 0.45)], 2)).toBe(true);
    expect(shouldStopEarly([s(0, 0.5, 0.6), s(5, 0.6, 0.5), s(10, 0.7, 0.45)], 2, 'seedLoss')).toBe(false);
  });
});

describe('confidence gate', () => {
  it('sign agreement is the share of positive per-draw differences; means over draws are per candidate', () => {
    expect(signAgreement([1, 2, -1, 3])).toBe(0.75);
    expect(signAgreement([])).toBe(0);
    expect(Array.from(meanOverDraws(Float32Array.from([1, 3, 2, 4]), 2))).toEqual([2, 3]);
  });
  it('reward draws stay in the timestep range', () => {
    const d = rewardDraws(base.config, 50, 3, [100, 299]);
    for (const t of d.timesteps) {
      expect(t).toBeGreaterThanOrEqual(100);
      expect(t).toBeLessThanOrEqual(299);
    }
  });
});

describe('the drift bound', () => {
  // Every later round starts (laterRoundRoom 0): these cases are about the bound refusing a trained round.
  const settings: SailSettings = { ...DEFAULT_SAIL_SETTINGS, rounds: 1, stepsPerRound: 6, batchSize: 4, promptsPerRound: 2, candidatesPerPrompt: 3, rewardDraws: 2, ddimSteps: 2, checksPerRound: 3, laterRoundRoom: 0 };

  it("round 0 keeps its early check (half an interval in) when every regular check is past the bound, and only then", async () => {
    const schedule = makeSchedule(base.config.schedule);
    const memBefore = tf.memory();
    const s12: SailSettings = { ...settings, stepsPerRound: 12, checksPerRound: 4, patience: 0, learningRate: 1e-3 };
    const round0 = (driftBound: number) => trainDpoRound({ base, schedule, start: base.params, reference: base.params, selfPairs: [], seedPairs: pairs, settings: { ...s12, driftBound }, round: 0, anchor });
    // With no bound to speak of: the early check (step 1 of checks every 3) is in the history, and chose nothing.
    const free = await round0(100);
    expect(free.checks.map((c) => c.step)).toEqual([1, 3, 6, 9, 12]);
    expect(free.kept!.step).toBeGreaterThan(1);
    const earlyDrift = free.checks[0].drift;
    const regularLeast = Math.min(...free.checks.slice(1).map((c) => c.drift));
    expect(earlyDrift).toBeLessThan(regularLeast);
    // A bound between the two: the round keeps the early check's weights instead of being refused.
    const between = await round0((earlyDrift + regularLeast) / 2);
    expect(between.kept!.step).toBe(1);
    expect(between.stoppedEarly).toMatch(/early check at step 1 is kept/);
    const unet = Object.keys(base.params).filter((n) => n.startsWith('unet.'));
    let moved = false;
    for (const n of unet) if (Array.from(await between.params[n].data()).some((v, i) => v !== (base.params[n].dataSync() as Float32Array)[i])) moved = true;
    expect(moved).toBe(true);
    // A bound under the early check too: refused, nothing kept.
    const under = await round0(earlyDrift / 2);
    expect(under.kept).toBeNull();
    for (const r of [free, between, under]) Object.values(r.params).forEach((t) => t.dispose());
    expect(tf.memory().numTensors).toBe(memBefore.numTensors);
  });

  it('refuses a round that a huge learning rate wrecks and keeps the round before it, leaking nothing', async () => {
    const memBefore = tf.memory();
    const finished: FinishedRound[] = [];
    const saved: number[] = [];
    const events: string[] = [];
    let error: unknown = null;
    // Round 0 at the defaults; round 1 at lr 0.5, which wrecks any model.
    const run0 = await runSail({ base, seedPairs: pairs, anchor, promptPools: [prompts], settings: { ...settings, rounds: 0 }, onRoundDone: async (r) => void finished.push(r) });
    expect(finished).toHaveLength(1);
    expect(finished[0].record.kept!.drift).toBeLessThanOrEqual(settings.driftBound);
    expect(run0.params).toBe(finished[0].params);
    const round0: Params = cloneParams(run0.params);
    try {
      await runSail({
        base,
        seedPairs: pairs,
        anchor,
        promptPools: [prompts],
        settings: { ...settings, learningRate: 0.5 },
        resumeFrom: { round: 0, params: round0, round0Params: round0 },
        onEvent: (e) => void (e.type === 'check' && events.push(`${e.round}:${e.drift}`)),
        onRoundDone: async (r) => void saved.push(r.round),
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DriftError);
    expect((error as DriftError).round).toBe(1);
    expect((error as Error).message).toMatch(/not kept.*drifted/);
    expect(saved).toEqual([]);
    expect(events.length).toBeGreaterThan(0);
    // The run disposed the copy of round 0 it was handed; the saved round 0 is intact.
    const check = finished[0].params[Object.keys(finished[0].params).find((n) => n.startsWith('unet.'))!];
    expect(Number.isFinite((await check.data())[0])).toBe(true);
    Object.values(finished[0].params).forEach((t) => t.dispose());
    const memAfter = tf.memory();
    expect(memAfter.numTensors).toBe(memBefore.numTensors);
  });
});

describe('a later round with too little of the drift bound left', () => {
  const settings: SailSettings = { ...DEFAULT_SAIL_SETTINGS, rounds: 1, stepsPerRound: 6, batchSize: 4, promptsPerRound: 2, candidatesPerPrompt: 3, rewardDraws: 2, ddimSteps: 2, checksPerRound: 3, laterRoundRoom: 0 };

  it('is not started (nothing sampled) when the round before drifted past (1 - laterRoundRoom) x the bound, and runs when it did not', async () => {
    const memBefore = tf.memory();
    const finished: FinishedRound[] = [];
    const run0 = await runSail({ base, seedPairs: pairs, anchor, promptPools: [prompts], settings: { ...settings, rounds: 0 }, onRoundDone: async (r) => void finished.push(r) });
    const kept = finished[0].record.kept!.drift;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThanOrEqual(settings.driftBound);
    // The start drift reads the same fixed draws as round 0's checks: what round 0 kept.
    const start = await driftFromBase(base, makeSchedule(base.config.schedule), run0.params, anchor, pairs, settings);
    expect(start).toBeCloseTo(kept, 6);
    const attempt = async (laterRoundRoom: number, extra: Partial<SailSettings> = {}) => {
      const phases: string[] = [];
      const saved: number[] = [];
      const copy = cloneParams(run0.params);
      const common = { base, seedPairs: pairs, anchor, promptPools: [prompts] };
      const error = await runSail({
        ...common,
        settings: { ...settings, laterRoundRoom, ...extra },
        resumeFrom: { round: 0, params: copy, round0Params: copy },
        onEvent: (e) => void (e.type === 'phase' && phases.push(`${e.round}:${e.phase}`)),
        onRoundDone: async (r) => void saved.push(r.round),
      }).then(
        (r) => {
          disposeParams(r.params);
          return null;
        },
        (e: unknown) => e,
      );
      return { phases, saved, error };
    };
    // Room for half of round 0's drift only: round 1 is not started, and says why.
    const tight = await attempt(1 - kept / settings.driftBound / 2);
    expect(tight.error).toBeInstanceOf(DriftError);
    expect((tight.error as DriftError).notStarted).toBe(true);
    expect((tight.error as DriftError).round).toBe(1);
    expect((tight.error as Error).message).toMatch(/Round 1 was not started: round 0 has already drifted .*The run ends with round 0/);
    expect(tight.phases).toEqual([]);
    expect(tight.saved).toEqual([]);
    // Room for all of it: round 1 samples its candidates as before.
    const loose = await attempt(1e-6);
    expect(loose.phases).toContain('1:generate');
    // A round that starts from the base has the whole bound, whatever round 0 drifted.
    const fresh = await attempt(1 - kept / settings.driftBound / 2, { laterStart: 'base' });
    expect(fresh.phases).toContain('1:generate');
    Object.values(run0.params).forEach((t) => t.dispose());
    expect(tf.memory().numTensors).toBe(memBefore.numTensors);
  });
});

describe('a later round', () => {
  const settings: SailSettings = { ...DEFAULT_SAIL_SETTINGS, stepsPerRound: 12, batchSize: 4, checksPerRound: 4, patience: 0, alpha: 1 };
  const flipped = () => pairs.map((p) => ({ prompt: p.prompt, winner: p.loser, loser: p.winner }));

  it("keeps the weights it started from when training on labels against the seed pairs' would undo them, and moves when they agree", async () => {
    const schedule = makeSchedule(base.config.schedule);
    const memBefore = tf.memory();
    const round = (selfPairs: PreferencePair[]) => trainDpoRound({ base, schedule, start: base.params, reference: base.params, selfPairs, seedPairs: pairs, settings, round: 1, anchor });
    const against = await round(flipped());
    expect(against.checks[0].step).toBe(0);
    expect(against.kept!.step).toBe(0);
    const unet = Object.keys(base.params).filter((n) => n.startsWith('unet.'));
    for (const n of unet) expect(Array.from(await against.params[n].data())).toEqual(Array.from(await base.params[n].data()));
    const along = await round(pairs);
    expect(along.kept!.step).toBeGreaterThan(0);
    expect(along.kept!.heldOutLoss!).toBeLessThan(against.checks[0].heldOutLoss!);
    for (const r of [against, along]) Object.values(r.params).forEach((t) => t.dispose());
    expect(tf.memory().numTensors).toBe(memBefore.numTensors);
  });

  it("judged on every seed pair ('seeds'): still keeps its start against the seeds' labels, and moves with them", async () => {
    const schedule = makeSchedule(base.config.schedule);
    const memBefore = tf.memory();
    const guarded = { ...settings, laterRoundGuard: 'seeds' as const };
    const round = (selfPairs: PreferencePair[]) => trainDpoRound({ base, schedule, start: base.params, reference: base.params, selfPairs, seedPairs: pairs, settings: guarded, round: 1, anchor });
    const against = await round(flipped());
    expect(against.checks.every((k) => typeof k.seedLoss === 'number' && Number.isFinite(k.seedLoss))).toBe(true);
    expect(against.kept!.step).toBe(0);
    const along = await round(pairs);
    expect(along.kept!.step).toBeGreaterThan(0);
    expect(along.kept!.seedLoss!).toBeLessThan(along.checks[0].seedLoss!);
    for (const r of [against, along]) Object.values(r.params).forEach((t) => t.dispose());
    expect(tf.memory().numTensors).toBe(memBefore.numTensors);
  });

  it('round 0 with baseGuard keeps the base when its training pairs contradict the held-out ones, and moves when they agree', async () => {
    const schedule = makeSchedule(base.config.schedule);
    const memBefore = tf.memory();
    // The held-out quarter as labelled, the training pairs flipped: no trained step can beat the base on the held-out pairs.
    const heldIdx = new Set(splitHeldOut(pairs.map((_, i) => i), settings.heldOutFraction, settings.seed).heldOut);
    expect(heldIdx.size).toBeGreaterThan(0);
    const contradicting = pairs.map((p, i) => (heldIdx.has(i) ? p : { prompt: p.prompt, winner: p.loser, loser: p.winner }));
    const round0 = (seedPairs: PreferencePair[], s: SailSettings) => trainDpoRound({ base, schedule, start: base.params, reference: base.params, selfPairs: [], seedPairs, settings: s, round: 0, anchor });
    const guarded = { ...settings, baseGuard: true };
    const against = await round0(contradicting, guarded);
    expect(against.checks[0].step).toBe(0);
    expect(against.kept!.step).toBe(0);
    const unet = Object.keys(base.params).filter((n) => n.startsWith('unet.'));
    for (const n of unet) expect(Array.from(await against.params[n].data())).toEqual(Array.from(await base.params[n].data()));
    // Without the guard round 0 keeps a trained check whatever the held-out pairs say.
    const unguarded = await round0(contradicting, settings);
    expect(unguarded.checks[0].step).toBeGreaterThan(0);
    expect(unguarded.kept!.step).toBeGreaterThan(0);
    const along = await round0(pairs, guarded);
    expect(along.kept!.step).toBeGreaterThan(0);
    expect(along.kept!.heldOutLoss!).toBeLessThan(along.checks[0].heldOutLoss!);
    for (const r of [against, unguarded, along]) Object.values(r.params).forEach((t) => t.dispose());
    expect(tf.memory().numTensors).toBe(memBefore.numTensors);
  });
});
