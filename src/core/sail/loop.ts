// The SAIL round loop (DESIGN.md section 5).
//   Round 0: Diffusion-DPO on the seed pairs; policy starts at the base, reference = base.
//   Round k >= 1 from M_k: sample N candidates per fresh prompt; score each with the implicit
//   reward of the judge (M_k, or the fixed round-0 model) against the base; best vs worst per
//   prompt (margin threshold); ranked mixup with the seed pairs; DPO from M_k against frozen M_k.
// Every random draw of round r is a pure function of (seed, r, ...), and each round starts a fresh
// optimiser, so resuming from the checkpoint of the last finished round reproduces the
// uninterrupted run exactly (checkpoints round-trip bit-exactly).
import * as tf from '@tensorflow/tfjs-core';
import { cloneParams } from '../io/checkpoint';
import { makeSchedule, type NoiseSchedule } from '../diffusion/schedule';
import { initialNoise, sampleLatents, toRgba, CancelledError } from '../generate';
import { disposeParams, gaussianArray, type Params } from '../model/layers';
import { decodeLatents, encodeImages, paramNames, textStates, type Checkpoint } from '../model/ldm';
import { hashSeed, mulberry32 } from '../random';
import { adamInit, adamStep, disposeAdam } from '../train';
import { dpoInside, dpoLossFromInside, dpoStats, mseDifference, type DpoBatch } from './dpo';
import { rankedMixup } from './mixup';
import { rankedSelfPairs, type PairingMode } from './pairing';
import { implicitRewards, rewardDraws } from './reward';

export interface SailSettings {
  /** Self-amplification rounds after round 0 (paper: 3). */
  rounds: number;
  /** Candidates sampled per prompt, N (paper: 8). */
  candidatesPerPrompt: number;
  /** Monte-Carlo draws of the implicit reward, K (paper: 10). */
  rewardDraws: number;
  /** Fraction of self pairs in each batch (paper: 0.25). */
  alpha: number;
  beta: number;
  learningRate: number;
  stepsPerRound: number;
  batchSize: number;
  /** Self pairs with a reward margin below this are dropped. */
  marginThreshold: number;
  pairing: PairingMode;
  judge: 'current' | 'round0';
  promptsPerRound: number;
  guidance: number;
  ddimSteps: number;
  seed: number;
}

/** A preference pair ready for training: scaled latents of winner and loser. */
export interface PreferencePair {
  prompt: string;
  winner: Float32Array;
  loser: Float32Array;
}

export interface SelfPair extends PreferencePair {
  margin: number;
  /** Decoded 32x32 RGBA of winner and loser, for the UI and for export. */
  winnerImage: Uint8ClampedArray;
  loserImage: Uint8ClampedArray;
}

export interface StepPoint {
  step: number;
  loss: number;
  implicitAccuracy: number;
  rewardMargin: number;
}

export interface RoundRecord {
  round: number;
  settings: SailSettings;
  judge: 'base' | 'current' | 'round0';
  seedPairs: number;
  selfPairs: { prompt: string; margin: number }[];
  droppedPairs: number;
  curve: StepPoint[];
  /** Mean implicit accuracy over the last quarter of the round's steps. */
  implicitAccuracy: number;
  timing: { generateMs: number; scoreMs: number; trainMs: number; totalMs: number };
}

export type SailPhase = 'generate' | 'score' | 'train';

export type SailEvent =
  | { type: 'phase'; round: number; phase: SailPhase }
  | { type: 'progress'; round: number; phase: SailPhase; done: number; total: number }
  | ({ type: 'step'; round: number; total: number } & StepPoint)
  | { type: 'round-done'; round: number; record: RoundRecord };

export interface FinishedRound {
  round: number;
  /** M_{round+1}: the policy after this round's DPO. */
  params: Params;
  record: RoundRecord;
  selfPairs: SelfPair[];
}

export class NonFiniteLossError extends Error {
  constructor(round: number, step: number, value: number) {
    super(`Training diverged in round ${round} at step ${step} (loss ${value}). Lower the learning rate or beta and resume from the last finished round.`);
    this.name = 'NonFiniteLossError';
  }
}

export interface RunSailOptions {
  base: Checkpoint;
  seedPairs: PreferencePair[];
  /** Fresh prompts for round k at promptPools[k - 1]. */
  promptPools: string[][];
  settings: SailSettings;
  /** The last finished round to continue from (its params are taken over by the run). */
  resumeFrom?: { round: number; params: Params; round0Params?: Params };
  /** Called after each round; persist the checkpoint here. The loop disposes params it no longer needs after this returns. */
  onRoundDone: (round: FinishedRound) => Promise<void>;
  onEvent?: (e: SailEvent) => void;
  isCancelled?: () => boolean;
}

/** Scaled latents of images in [-1,1] RGB [n,32,32,3] -> per-image Float32Arrays (in chunks). */
export async function encodeToLatents(base: Checkpoint, images: Float32Array, chunk = 128): Promise<Float32Array[]> {
  const s = base.config.imageSize;
  const per = s * s * 3;
  const n = images.length / per;
  const out: Float32Array[] = [];
  for (let start = 0; start < n; start += chunk) {
    const count = Math.min(chunk, n - start);
    const z = tf.tidy(() => encodeImages(base, tf.tensor4d(images.subarray(start * per, (start + count) * per), [count, s, s, 3])));
    const data = (await z.data()) as Float32Array;
    z.dispose();
    const zPer = data.length / count;
    for (let i = 0; i < count; i++) out.push(data.slice(i * zPer, (i + 1) * zPer));
  }
  return out;
}

function stack(arrays: Float32Array[], shape: [number, number, number]): tf.Tensor4D {
  const per = arrays[0].length;
  const out = new Float32Array(arrays.length * per);
  arrays.forEach((a, i) => out.set(a, i * per));
  return tf.tensor4d(out, [arrays.length, ...shape]);
}

/** One round of Diffusion-DPO from `start` against the frozen `reference`; returns the new params. */
export async function trainDpoRound(opts: {
  base: Checkpoint;
  schedule: NoiseSchedule;
  start: Params;
  reference: Params;
  selfPairs: PreferencePair[];
  seedPairs: PreferencePair[];
  settings: SailSettings;
  round: number;
  onStep?: (p: StepPoint) => void;
  isCancelled?: () => boolean;
}): Promise<{ params: Params; curve: StepPoint[] }> {
  const { base, schedule, settings, round } = opts;
  const config = base.config;
  const shape: [number, number, number] = [config.latentSize, config.latentSize, config.autoencoder.latentChannels];
  const per = shape[0] * shape[1] * shape[2];
  const plans = rankedMixup({ selfPairs: opts.selfPairs.length, seedPairs: opts.seedPairs.length, alpha: settings.alpha, batchSize: settings.batchSize, steps: settings.stepsPerRound, seed: hashSeed(settings.seed, round, 1) });
  const policy = cloneParams(opts.start);
  const names = paramNames(policy, 'unet');
  const adam = adamInit(policy, names);
  const curve: StepPoint[] = [];
  try {
    for (let step = 0; step < plans.length; step++) {
      if (opts.isCancelled?.()) throw new CancelledError();
      const pairs = [...plans[step].self.map((i) => opts.selfPairs[i]), ...plans[step].seed.map((i) => opts.seedPairs[i])];
      const b = pairs.length;
      const rand = mulberry32(hashSeed(settings.seed, round, 2, step));
      const batch: DpoBatch = {
        winners: stack(pairs.map((p) => p.winner), shape),
        losers: stack(pairs.map((p) => p.loser), shape),
        text: textStates(base, pairs.map((p) => p.prompt)),
        timesteps: Int32Array.from({ length: b }, () => Math.floor(rand() * config.schedule.trainSteps)),
        noise: tf.tensor4d(gaussianArray(b * per, hashSeed(settings.seed, round, 3, step)), [b, ...shape]),
      };
      const referenceDiff = tf.tidy(() => mseDifference(opts.reference, config, schedule, batch));
      let inside: tf.Tensor1D | null = null;
      const { loss } = await adamStep(policy, names, adam, { lr: settings.learningRate, clipNorm: 1 }, (p) => {
        const i = dpoInside(mseDifference(p, config, schedule, batch), referenceDiff, settings.beta);
        inside = tf.keep(i);
        return dpoLossFromInside(i);
      });
      const stats = await dpoStats(inside!);
      tf.dispose([inside!, referenceDiff, batch.winners, batch.losers, batch.noise, batch.text.tokens, batch.text.mask, batch.text.pooled]);
      if (!Number.isFinite(loss)) throw new NonFiniteLossError(round, step, loss);
      const point = { step: step + 1, loss: stats.loss, implicitAccuracy: stats.implicitAccuracy, rewardMargin: stats.rewardMargin };
      curve.push(point);
      opts.onStep?.(point);
      // A macrotask turn per step: on wasm awaited reads never yield one, and a worker would not
      // read a cancel message until the round ended.
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
  } catch (e) {
    disposeParams(policy);
    throw e;
  } finally {
    disposeAdam(adam);
  }
  return { params: policy, curve };
}

/** Samples, scores and pairs the candidates of one round. */
export async function selfAnnotate(opts: {
  base: Checkpoint;
  schedule: NoiseSchedule;
  generator: Params;
  judge: Params;
  prompts: string[];
  settings: SailSettings;
  round: number;
  onProgress?: (phase: SailPhase, done: number, total: number) => void;
  isCancelled?: () => boolean;
}): Promise<{ pairs: SelfPair[]; dropped: number; generateMs: number; scoreMs: number }> {
  const { base, settings, round, prompts } = opts;
  const config = base.config;
  const n = settings.candidatesPerPrompt;
  const genCk: Checkpoint = { config, params: opts.generator };
  // 1. Candidates: N per prompt, noise seeded per (round, prompt, candidate).
  const t0 = Date.now();
  const latentsPerPrompt: tf.Tensor4D[] = [];
  try {
    for (let pi = 0; pi < prompts.length; pi++) {
      const noise = initialNoise(genCk, hashSeed(settings.seed, round, 10, pi), n);
      latentsPerPrompt.push(await sampleLatents(genCk, Array(n).fill(prompts[pi]), noise, { guidance: settings.guidance, steps: settings.ddimSteps, isCancelled: opts.isCancelled }).finally(() => noise.dispose()));
      opts.onProgress?.('generate', pi + 1, prompts.length);
    }
    const generateMs = Date.now() - t0;
    // 2. Implicit rewards: judge vs the base model as reference, K shared draws per prompt.
    const t1 = Date.now();
    const rewards: Float32Array[] = [];
    for (let pi = 0; pi < prompts.length; pi++) {
      if (opts.isCancelled?.()) throw new CancelledError();
      const text = textStates(base, [prompts[pi]]);
      rewards.push(await implicitRewards(opts.judge, base.params, config, opts.schedule, latentsPerPrompt[pi], text, {
        beta: settings.beta,
        draws: rewardDraws(config, settings.rewardDraws, hashSeed(settings.seed, round, 11, pi)),
      }));
      tf.dispose([text.tokens, text.mask, text.pooled]);
      opts.onProgress?.('score', pi + 1, prompts.length);
    }
    const scoreMs = Date.now() - t1;
    // 3. Ranked pairing with the margin threshold.
    const { kept, dropped } = rankedSelfPairs(rewards, settings.pairing, settings.marginThreshold, hashSeed(settings.seed, round, 12));
    const pairs: SelfPair[] = [];
    for (const p of kept) {
      const lat = latentsPerPrompt[p.promptIndex];
      const both = tf.tidy(() => tf.gather(lat, [p.winner, p.loser]) as tf.Tensor4D);
      const data = (await both.data()) as Float32Array;
      const decoded = decodeLatents(base, both);
      const [winnerImage, loserImage] = await toRgba(decoded);
      tf.dispose([both, decoded]);
      const per = data.length / 2;
      pairs.push({ prompt: prompts[p.promptIndex], winner: data.slice(0, per), loser: data.slice(per), margin: p.margin, winnerImage, loserImage });
    }
    return { pairs, dropped: dropped.length, generateMs, scoreMs };
  } finally {
    tf.dispose(latentsPerPrompt);
  }
}

/** Runs round 0 (or continues after `resumeFrom`) up to `settings.rounds`. */
export async function runSail(opts: RunSailOptions): Promise<{ params: Params; records: RoundRecord[] }> {
  const { base, settings } = opts;
  const schedule = makeSchedule(base.config.schedule);
  const records: RoundRecord[] = [];
  let current: Params = opts.resumeFrom?.params ?? base.params;
  let round0: Params | undefined = opts.resumeFrom?.round0Params;
  const firstRound = opts.resumeFrom ? opts.resumeFrom.round + 1 : 0;
  if (opts.seedPairs.length === 0 && firstRound === 0) throw new Error('Round 0 needs seed pairs: label or upload some first');
  if (settings.judge === 'round0' && firstRound > 1 && !round0) throw new Error('Resuming with the round-0 judge needs the round-0 checkpoint');
  const keep = (p: Params) => p === base.params || p === round0;

  try {
    for (let round = firstRound; round <= settings.rounds; round++) {
      const started = Date.now();
      let selfPairs: SelfPair[] = [];
      let dropped = 0;
      let generateMs = 0;
      let scoreMs = 0;
      if (round > 0) {
        const pool = opts.promptPools[round - 1];
        if (!pool || pool.length === 0) throw new Error(`No prompts for round ${round}`);
        opts.onEvent?.({ type: 'phase', round, phase: 'generate' });
        const judge = settings.judge === 'round0' ? round0! : current;
        const annotated = await selfAnnotate({
          base,
          schedule,
          generator: current,
          judge,
          prompts: pool.slice(0, settings.promptsPerRound),
          settings,
          round,
          isCancelled: opts.isCancelled,
          onProgress: (phase, done, total) => {
            if (phase === 'score' && done === 1) opts.onEvent?.({ type: 'phase', round, phase: 'score' });
            opts.onEvent?.({ type: 'progress', round, phase, done, total });
          },
        });
        ({ pairs: selfPairs, dropped, generateMs, scoreMs } = annotated);
      }
      opts.onEvent?.({ type: 'phase', round, phase: 'train' });
      const t2 = Date.now();
      const { params, curve } = await trainDpoRound({
        base,
        schedule,
        start: current,
        reference: current,
        selfPairs,
        seedPairs: opts.seedPairs,
        settings,
        round,
        isCancelled: opts.isCancelled,
        onStep: (p) => opts.onEvent?.({ type: 'step', round, total: settings.stepsPerRound, ...p }),
      });
      const trainMs = Date.now() - t2;
      const tail = curve.slice(-Math.max(1, Math.floor(curve.length / 4)));
      const record: RoundRecord = {
        round,
        settings,
        judge: round === 0 ? 'base' : settings.judge,
        seedPairs: opts.seedPairs.length,
        selfPairs: selfPairs.map((p) => ({ prompt: p.prompt, margin: p.margin })),
        droppedPairs: dropped,
        curve,
        implicitAccuracy: tail.reduce((s, p) => s + p.implicitAccuracy, 0) / tail.length,
        timing: { generateMs, scoreMs, trainMs, totalMs: Date.now() - started },
      };
      await opts.onRoundDone({ round, params, record, selfPairs });
      opts.onEvent?.({ type: 'round-done', round, record });
      records.push(record);
      if (round === 0) round0 = params;
      if (!keep(current)) disposeParams(current);
      current = params;
    }
  } catch (e) {
    // A cancel or a failure: free what the run holds (finished rounds were already handed to
    // onRoundDone, which persisted them).
    if (current !== base.params) disposeParams(current);
    if (round0 && round0 !== current && round0 !== base.params) disposeParams(round0);
    throw e;
  }
  if (round0 && round0 !== current && round0 !== base.params) disposeParams(round0);
  return { params: current, records };
}
