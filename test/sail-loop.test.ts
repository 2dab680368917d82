// The SAIL loop on a tiny pretrained model (test/fixtures/tiny-base, made by the pretrain CLI):
// a synthetic "brighter is better" preference, resume after cancel, and no tensor leaks.
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { cutAtlas } from '../src/core/data/atlas';
import { makeSchedule } from '../src/core/diffusion/schedule';
import { CancelledError, initialNoise, sampleLatents } from '../src/core/generate';
import { parseCheckpoint, serializeCheckpoint } from '../src/core/io/checkpoint';
import { gaussianArray, type Params } from '../src/core/model/layers';
import { decodeLatents, textStates, type Checkpoint } from '../src/core/model/ldm';
import { dpoInside, mseDifference } from '../src/core/sail/dpo';
import { DriftError, encodeToLatents, runSail, trainDpoRound, type FinishedRound, type PreferencePair, type SailSettings } from '../src/core/sail/loop';
import { DEFAULT_SAIL_SETTINGS, roundDriftBound } from '../src/core/sail/settings';
import { loadCheckpointDir } from '../scripts/lib/checkpointFs';
import { loadEmojiDataset } from '../scripts/lib/png';
import { useBackend } from './helpers';

let base: Checkpoint;
let train: PreferencePair[];
let heldOut: PreferencePair[];
let prompts: string[];

/** Brightness in [-1, 1] images: the mean over pixels and channels. */
async function meanBrightness(ck: Checkpoint, latents: tf.Tensor4D): Promise<number[]> {
  const img = decodeLatents(ck, latents);
  const m = tf.mean(img, [1, 2, 3]);
  const v = Array.from(await m.data());
  tf.dispose([img, m]);
  return v;
}

/** Brighter (toward white) and darker versions of the same emoji: the synthetic preference. */
async function brightnessPairs(ck: Checkpoint, images: Float32Array, captions: string[]): Promise<PreferencePair[]> {
  const brighter = images.map((v) => 0.6 * v + 0.4);
  const darker = images.map((v) => 0.6 * v - 0.4);
  const w = await encodeToLatents(ck, brighter);
  const l = await encodeToLatents(ck, darker);
  return captions.map((prompt, i) => ({ prompt, winner: w[i], loser: l[i] }));
}

// The studio's defaults, only the prompt count scaled to the test's 24 prompts (issue 10: not
// settings picked so that the test passes).
const quick: SailSettings = { ...DEFAULT_SAIL_SETTINGS, rounds: 1, promptsPerRound: 24 };

/**
 * Smallest k with P(X >= k) < 0.05 for X ~ Binomial(n, 1/2): a count a model that learned
 * nothing reaches less than 5% of the time (13 of 24 passes it 42% of the time).
 */
function binomialThreshold(n: number): number {
  const choose = (a: number, b: number) => {
    let r = 1;
    for (let i = 1; i <= b; i++) r = (r * (a - b + i)) / i;
    return r;
  };
  for (let k = 0; k <= n; k++) {
    let tail = 0;
    for (let j = k; j <= n; j++) tail += choose(n, j) / 2 ** n;
    if (tail < 0.05) return k;
  }
  return n + 1;
}

beforeAll(async () => {
  await useBackend('wasm');
  base = loadCheckpointDir('test/fixtures/tiny-base');
  const data = loadEmojiDataset('public/data');
  const ids = data.manifest.splits.pretrain.slice(0, 512).filter((_, i) => i % 8 === 0);
  const images = cutAtlas(data.atlasRGBA, data.width, 4, data.manifest.columns, ids);
  const captions = ids.map((id) => data.manifest.records[id].prompt);
  const all = await brightnessPairs(base, images, captions);
  train = all.slice(0, 40);
  heldOut = all.slice(40);
  prompts = captions.slice(0, 24);
});

describe('SAIL on a synthetic brightness preference', () => {
  it('DPO on seed pairs raises held-out implicit accuracy and brightens samples; a round then self-labels brighter winners', async () => {
    const schedule = makeSchedule(base.config.schedule);
    const { params: m1 } = await trainDpoRound({ base, schedule, start: base.params, reference: base.params, selfPairs: [], seedPairs: train, settings: quick, round: 0 });

    // Held-out implicit accuracy, each pair averaged over 8 (t, noise) draws.
    const n = heldOut.length;
    const stack = (xs: Float32Array[]) => tf.tensor4d(Float32Array.from(xs.flatMap((x) => Array.from(x))), [xs.length, 8, 8, 4]);
    let insideSum = new Float32Array(n);
    for (let k = 0; k < 8; k++) {
      const batch = { winners: stack(heldOut.map((p) => p.winner)), losers: stack(heldOut.map((p) => p.loser)), text: textStates(base, heldOut.map((p) => p.prompt)), timesteps: Int32Array.from({ length: n }, (_, i) => (97 * (i + 1) + 131 * k) % 1000), noise: tf.tensor4d(gaussianArray(n * 256, 1000 + k), [n, 8, 8, 4]) };
      const inside = tf.tidy(() => dpoInside(mseDifference(m1, base.config, schedule, batch), mseDifference(base.params, base.config, schedule, batch), quick.beta));
      const v = await inside.data();
      insideSum = insideSum.map((s, i) => s + v[i]);
      tf.dispose([inside, batch.winners, batch.losers, batch.noise, batch.text.tokens, batch.text.mask, batch.text.pooled]);
    }
    expect(insideSum.filter((v) => v > 0).length).toBeGreaterThanOrEqual(binomialThreshold(n));

    // Samples from the same noise and prompts: brighter after DPO.
    const noise = initialNoise(base, 5, prompts.length);
    const before = await sampleLatents(base, prompts, noise, { guidance: quick.guidance, steps: quick.ddimSteps });
    const after = await sampleLatents({ config: base.config, params: m1 }, prompts, noise, { guidance: quick.guidance, steps: quick.ddimSteps });
    const b0 = await meanBrightness(base, before);
    const b1 = await meanBrightness(base, after);
    tf.dispose([noise, before, after]);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(b1)).toBeGreaterThan(mean(b0));

    // One SAIL round from M1 at the same settings does not undo round 0: either it is kept and its
    // samples stay brighter than the base's, or the drift bound refuses it and the run ends with
    // round 0 (M1, checked above), as the studio does. Which of the two happens turns on float
    // rounding (the round's drift sits near the 10% bound), so both are the product's behaviour.
    let selfPairsSeen: FinishedRound['selfPairs'] = [];
    let trainedRound1 = false;
    let m2: Params | null = null;
    try {
      ({ params: m2 } = await runSail({
        base,
        seedPairs: train,
        promptPools: [prompts],
        settings: quick,
        resumeFrom: { round: 0, params: m1, round0Params: m1 },
        onEvent: (e) => {
          if (e.type === 'phase' && e.round === 1 && e.phase === 'train') trainedRound1 = true;
        },
        onRoundDone: async (r) => {
          selfPairsSeen = r.selfPairs;
        },
      }));
    } catch (e) {
      expect(e).toBeInstanceOf(DriftError);
      const refusal = e as DriftError;
      expect(refusal.round).toBe(1);
      expect(refusal.message).toMatch(/The run ends with round 0, which is kept/);
      if (refusal.notStarted) {
        // Not started: round 0 had left less than laterRoundRoom of the bound, so nothing was trained.
        expect(trainedRound1).toBe(false);
        expect(refusal.checks[0].drift).toBeGreaterThan((1 - quick.laterRoundRoom!) * roundDriftBound(quick, 1));
      } else {
        // Refused only after it trained on its self pairs, and every trained check was past the bound.
        expect(trainedRound1).toBe(true);
        const trainedChecks = refusal.checks.filter((c) => c.step > 0);
        expect(trainedChecks.length).toBeGreaterThan(0);
        for (const c of trainedChecks) expect(c.drift).toBeGreaterThan(roundDriftBound(quick, 1));
      }
    }
    if (m2) {
      expect(selfPairsSeen.length).toBeGreaterThan(0);
      const noise2 = initialNoise(base, 5, prompts.length);
      const after2 = await sampleLatents({ config: base.config, params: m2 }, prompts, noise2, { guidance: quick.guidance, steps: quick.ddimSteps });
      const b2 = await meanBrightness(base, after2);
      tf.dispose([noise2, after2]);
      expect(mean(b2)).toBeGreaterThan(mean(b0));
      Object.values(m2).forEach((t) => t.dispose());
    }
    Object.values(m1).forEach((t) => t.dispose());
  });
});

describe('SAIL round loop mechanics', () => {
  // The mechanics of a round that is kept: at the default DPO-Positive weight (0.25) round 1 of this
  // tiny model drifts 10.9% from the base, past the studio's 10% bound, and a refused round is
  // test/sail-safety.test.ts's subject, not these tests'.
  const tiny: SailSettings = { ...quick, rounds: 1, stepsPerRound: 3, batchSize: 4, promptsPerRound: 2, candidatesPerPrompt: 3, rewardDraws: 2, ddimSteps: 2, driftBound: 0.5 };

  async function bytesOf(params: Params): Promise<Uint8Array> {
    return (await serializeCheckpoint({ config: base.config, params })).safetensors;
  }

  it('resume after cancel reproduces the uninterrupted run for the same seed', async () => {
    const uninterrupted: Uint8Array[] = [];
    const full = await runSail({ base, seedPairs: train.slice(0, 8), promptPools: [prompts], settings: tiny, onRoundDone: async (r) => void uninterrupted.push(await bytesOf(r.params)) });
    Object.values(full.params).forEach((t) => t.dispose());

    // Interrupted: cancel during round 1's training, keep round 0's checkpoint as the studio would.
    let saved: Uint8Array | null = null;
    let inRound1Train = false;
    await expect(
      runSail({
        base,
        seedPairs: train.slice(0, 8),
        promptPools: [prompts],
        settings: tiny,
        onEvent: (e) => {
          if (e.type === 'phase' && e.round === 1 && e.phase === 'train') inRound1Train = true;
        },
        isCancelled: () => inRound1Train,
        onRoundDone: async (r) => {
          if (r.round === 0) saved = await bytesOf(r.params);
        },
      }),
    ).rejects.toBeInstanceOf(CancelledError);
    expect(Buffer.compare(Buffer.from(saved!), Buffer.from(uninterrupted[0]))).toBe(0);
    const { configJson } = await serializeCheckpoint(base);
    const round0 = parseCheckpoint(configJson, saved!).params;
    let resumed: Uint8Array | null = null;
    const rest = await runSail({ base, seedPairs: train.slice(0, 8), promptPools: [prompts], settings: tiny, resumeFrom: { round: 0, params: round0 }, onRoundDone: async (r) => void (resumed = await bytesOf(r.params)) });
    Object.values(rest.params).forEach((t) => t.dispose());
    expect(Buffer.compare(Buffer.from(resumed!), Buffer.from(uninterrupted[1]))).toBe(0);
  });

  it('keeps the tensor count and bytes unchanged across a whole round', async () => {
    const run = async () => {
      const r = await runSail({ base, seedPairs: train.slice(0, 8), promptPools: [prompts], settings: { ...tiny, rounds: 1 }, onRoundDone: async () => {} });
      Object.values(r.params).forEach((t) => t.dispose());
    };
    await run(); // warm-up: lazily created constants
    const m0 = tf.memory();
    await run();
    const m1 = tf.memory();
    expect(m1.numTensors).toBe(m0.numTensors);
    expect(m1.numBytes).toBe(m0.numBytes);
  });
});
