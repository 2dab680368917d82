// The SAIL round loop (architecture.md section 5).
//   Round 0: Diffusion-DPO on the seed pairs; policy starts at the base, reference = base.
//   Round k >= 1 from M_k: sample N candidates per fresh prompt; score each with the implicit
//   reward of the judge (M_k, or the fixed round-0 model) against the base; best vs worst per
//   prompt (margin threshold); ranked mixup with the seed pairs; DPO from M_k against frozen M_k.
// Every random draw of round r is a pure function of (seed, r, ...), and each round starts a fresh
// optimiser, so resuming from the checkpoint of the last finished round reproduces the
// uninterrupted run exactly (checkpoints round-trip bit-exactly).
import { roundDriftBound } from './settings';
import * as tf from '@tensorflow/tfjs-core';
import { cloneParams } from '../io/checkpoint';
import { makeSchedule, type NoiseSchedule } from '../diffusion/schedule';
import { initialNoise, sampleLatents, toRgba, CancelledError } from '../generate';
import { disposeParams, gaussianArray, type Params } from '../model/layers';
import { decodeLatents, encodeImages, paramNames, textStates, withTextCache, type Checkpoint } from '../model/ldm';
import { hashSeed, mulberry32 } from '../random';
import { adamApply, adamInit, adamStep, disposeAdam, flatValues } from '../train';
import { shardGradient, sliceShard, type GradientHelper, type ShardGradient, type ShardLossSettings, type StepShard } from './shardStep';
import { dpoInside, dpoLossFromInside, dpoStats, mseDifference, winnerLoserMse, type DpoBatch } from './dpo';
import { rankedMixup } from './mixup';
import { againstBaseProblem, rankedSelfPairs, type PairingMode } from './pairing';
import { implicitRewardsPerDraw, meanOverDraws, rewardAccuracyByTimestep, rewardDraws, type BucketAccuracy } from './reward';
import {
  anchorBatch,
  anchorBatchData,
  anchorFromPairs,
  chooseCheck,
  denoiseBatchOf,
  denoiseMse,
  disposeDenoiseBatch,
  dpoPositiveInside,
  driftOf,
  learningRateAt,
  meanDenoiseMse,
  shouldStopEarly,
  signAgreement,
  splitHeldOut,
  ensurePriorSamples,
  type AnchorSet,
  type DenoiseBatch,
  type DenoiseData,
  type RoundCheck,
  type CheckKey,
} from './safety';

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
  // ---- what keeps the policy on its prior (safety.ts, docs/sail.md) ----
  /** Linear warm-up over this fraction of the round's steps, then a cosine decay. */
  warmupFraction: number;
  /** The decayed learning rate at the round's last step, as a fraction of learningRate. */
  finalLrFraction: number;
  /** lambda_pos of the DPO-Positive term: penalises the winner's error rising above the reference's. */
  positiveWeight: number;
  /** lambda_prior: weight of the ordinary denoising loss on anchor (real) images beside the DPO loss. */
  priorWeight: number;
  /**
   * lambda_prior of a later round (round > 0; absent: priorWeight). The prior term pulls towards
   * the real emoji, that is back towards the base, which could undo what round 0 learned; measured
   * at 0 in round 1 the taste moved within noise (docs/sail.md, "Round 1 let loose, eight ways").
   */
  laterPriorWeight?: number;
  /**
   * The DPO reference of a later round: 'previous', the model the round starts from (the paper);
   * 'base', the base model every round (absent: 'previous').
   */
  laterReference?: 'previous' | 'base';
  /**
   * Where a later round's training starts: 'previous', the model the round before kept (the paper);
   * 'base', the base model again, against the base as reference, on the seed pairs and the previous
   * model's self pairs together, so a round is round 0 with more pairs rather than more steps on
   * the same model. The previous model is checked first (step 0) and stays unless a trained check
   * beats it on the held-out pairs (absent: 'previous').
   */
  laterStart?: 'previous' | 'base';
  /** Anchor images per step for the prior term. */
  priorBatch: number;
  /**
   * What the prior term denoises: 'real', the anchor set's real emoji (the drift set); 'samples', the
   * base model's own samples of the anchor prompts (DreamBooth's prior preservation: the model is held
   * to what it drew, not pulled towards the look of the training images; absent: 'real').
   */
  priorSource?: 'real' | 'samples';
  /** Fraction of the seed pairs held out for the checks (none unless 8 pairs stay for training). */
  heldOutFraction: number;
  /** Checks (held-out accuracy, drift) per round; the round keeps the best checked weights. */
  checksPerRound: number;
  /** Stop a round when the held-out loss has not improved for this many checks (0: never). */
  patience: number;
  /** Largest relative rise of the anchor denoising loss over the base's that a kept round may have. */
  driftBound: number;
  /**
   * What a later round (round > 0) is judged on when it chooses its weights and stops early:
   * 'held-out', the held-out seed pairs alone (as round 0); 'seeds', every seed pair (training and
   * held-out) against the base, so a round keeps its steps unless they undo what the seeds taught;
   * 'none', not judged: a later round keeps its last check within the drift bound (round 0 still
   * chose its weights on the held-out pairs, which therefore favour round 0's weights over any later
   * round's: its kept check was the minimum of several noisy measurements on those same pairs).
   */
  laterRoundGuard: 'held-out' | 'seeds' | 'none';
  /**
   * How the drift bound is spent over a run's rounds: 'whole', every round may drift up to it (from
   * the base); 'per-round', round r up to driftBound (r + 1) / (rounds + 1), so round 0 leaves room
   * for the rounds after it and the last round ends within the same bound (absent: 'whole').
   */
  driftBudget?: 'whole' | 'per-round';
  /**
   * A later round starts only when the round before it left at least this share of the round's
   * drift bound unspent: its drift from the base (measured on the drift set before any candidate is
   * sampled) at most (1 - laterRoundRoom) x the bound. Otherwise the run ends with the round before,
   * as when the bound refuses a round, without spending a round's sampling, scoring and training
   * on a round the bound would refuse (absent or 0: every round starts; ignored with laterStart
   * 'base', whose rounds start from the base).
   */
  laterRoundRoom?: number;
  /**
   * Round 0 checked at step 0 too, as a later round is: it keeps the model it started from (the
   * base) unless a trained check beats it on the held-out pairs, so a taste the pairs do not teach
   * leaves the model as it was (absent: false, round 0 keeps its best trained check).
   */
  baseGuard?: boolean;
  /**
   * What the held-out pairs judge a check by, for the kept weights and early stopping: 'loss', the
   * DPO loss (unbounded: one pair the clicker got wrong grows it without limit once the margin
   * saturates, so the earliest checks win); 'soft-error', mean 1 - sigmoid(inside), each pair's
   * share bounded by 1/n (docs/sail.md); 'none', measured and shown but not judged by: a round
   * keeps its last check within the drift bound and never stops early on the held-out pairs.
   */
  heldOutCriterion: 'loss' | 'soft-error' | 'none';
  // ---- which self labels to trust ----
  /** Timestep range [lo, hi] of the reward's draws: where the implicit reward is accurate. */
  rewardTimesteps: [number, number];
  /** A self pair is kept only if at least this share of its K draws agree on the winner. */
  minSignAgreement: number;
  /** And only if its margin ranks in this top fraction of the round's pairs. */
  selfKeepFraction: number;
  /**
   * Share rho of the variance the N candidates of a prompt draw from one common noise:
   * z_j = sqrt(rho) z_common + sqrt(1 - rho) z_j' (still unit variance). 0: independent samples;
   * higher: candidates share their layout, so best and worst differ less in everything else.
   */
  candidateNoiseShare: number;
  /**
   * Classifier-free guidance of the candidates a round samples and scores (absent: `guidance`).
   * On the shipped base a higher scale draws a prompt's samples further apart (docs/base-model.md).
   */
  candidateGuidance?: number;
}

/** A preference pair ready for training: scaled latents of winner and loser. */
export interface PreferencePair {
  prompt: string;
  winner: Float32Array;
  loser: Float32Array;
}

export interface SelfPair extends PreferencePair {
  margin: number;
  /** Share of the K reward draws that agree on the winner. */
  agreement: number;
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
  /** Seed pairs held out of training for the checks. */
  heldOutPairs?: number;
  selfPairs: { prompt: string; margin: number; agreement?: number }[];
  droppedPairs: number;
  /** Self pairs kept by the confidence gate over the pairs the round's prompts gave. */
  selfKeptShare?: number;
  curve: StepPoint[];
  /** Held-out accuracy and drift, checked during the round. */
  checks?: RoundCheck[];
  /** The check whose weights the round kept (it may be before the last step). */
  kept?: RoundCheck;
  /** Why training ended before stepsPerRound, if it did. */
  stoppedEarly?: string;
  /** Round 0: the implicit reward's accuracy per timestep bucket on the held-out seed pairs. */
  timestepAccuracy?: BucketAccuracy[];
  /** Mean implicit accuracy over the last quarter of the round's steps. */
  implicitAccuracy: number;
  /** workers: how many workers the round's sampling, scoring and training were split over (absent: 1). */
  timing: { generateMs: number; scoreMs: number; trainMs: number; totalMs: number; workers?: number };
}

export type SailPhase = 'generate' | 'score' | 'train';

export type SailEvent =
  | { type: 'phase'; round: number; phase: SailPhase }
  | { type: 'progress'; round: number; phase: SailPhase; done: number; total: number }
  | ({ type: 'step'; round: number; total: number } & StepPoint)
  | ({ type: 'check'; round: number } & RoundCheck)
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

/** A round whose every check drifted past the bound: the run stops and keeps the rounds before it. */
export class DriftError extends Error {
  readonly round: number;
  readonly checks: RoundCheck[];
  /** The round was not started: the round before it had left too little of the bound (laterRoundRoom). */
  readonly notStarted: boolean;
  constructor(round: number, checks: RoundCheck[], bound: number, notStarted = false) {
    const least = Math.min(...checks.filter((c) => c.step > 0 || notStarted).map((c) => c.drift));
    super(
      (notStarted
        ? `Round ${round} was not started: round ${round - 1} has already drifted ${(100 * least).toFixed(1)}% from the base model (its denoising error on real emoji; the bound is ${(100 * bound).toFixed(0)}%), too close to the bound for a further round to be kept. `
        : `Round ${round} was not kept: it drifted from the base model (its denoising error on real emoji rose ${(100 * least).toFixed(1)}%, the bound is ${(100 * bound).toFixed(0)}%), so it would stop drawing what it could draw. `) +
        (round === 0
          ? 'Lower the learning rate or the steps per round, or raise the prior weight, and resume.'
          : `The run ends with round ${round - 1}, which is kept: it is the aligned model. To try for more, start a new run with a lower learning rate or a higher prior weight.`),
    );
    this.name = 'DriftError';
    this.round = round;
    this.checks = checks;
    this.notStarted = notStarted;
  }
}

export interface RunSailOptions {
  base: Checkpoint;
  seedPairs: PreferencePair[];
  /** Real images to hold the policy to (prior term and drift); the seed pairs' images when absent. */
  anchor?: AnchorSet;
  /** Fresh prompts for round k at promptPools[k - 1]. */
  promptPools: string[][];
  settings: SailSettings;
  /** The last finished round to continue from (its params are taken over by the run). */
  resumeFrom?: { round: number; params: Params; round0Params?: Params };
  /** Called after each round; persist the checkpoint here. The loop disposes params it no longer needs after this returns. */
  onRoundDone: (round: FinishedRound) => Promise<void>;
  onEvent?: (e: SailEvent) => void;
  isCancelled?: () => boolean;
  /** A second worker that samples and scores half of each round's candidates (the same pairs either way) and differentiates half of every DPO step. */
  helper?: CandidateHelper & GradientHelper;
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

/** Fixed held-out batch: each held-out pair repeated over `draws` fixed (t, e) draws. */
function heldOutBatch(base: Checkpoint, pairs: PreferencePair[], draws: number, seed: number, shape: [number, number, number]): DpoBatch {
  const items = pairs.flatMap((p) => Array.from({ length: draws }, () => p));
  const b = items.length;
  const per = shape[0] * shape[1] * shape[2];
  const rand = mulberry32(hashSeed(seed, 91));
  return {
    winners: stack(items.map((p) => p.winner), shape),
    losers: stack(items.map((p) => p.loser), shape),
    text: textStates(base, items.map((p) => p.prompt)),
    timesteps: Int32Array.from({ length: b }, () => Math.floor(rand() * base.config.schedule.trainSteps)),
    noise: tf.tensor4d(gaussianArray(b * per, hashSeed(seed, 92)), [b, ...shape]),
  };
}

function disposeDpoBatch(b: DpoBatch): void {
  tf.dispose([b.winners, b.losers, b.noise, b.text.tokens, b.text.mask, b.text.pooled]);
}

/** Items [from, to) of a denoising batch's data. */
function sliceData(d: DenoiseData, from: number, to: number): DenoiseData {
  const per = d.x0.length / d.prompts.length;
  return { x0: d.x0.slice(from * per, to * per), noise: d.noise.slice(from * per, to * per), timesteps: d.timesteps.slice(from, to), prompts: d.prompts.slice(from, to) };
}

/** Float32Arrays joined end to end. */
function concatArrays(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** (t, e) draws per held-out pair in a check. */
const HELD_OUT_DRAWS = 4;
/** Anchor items (x 2 fixed draws each) of the drift measure. */
const DRIFT_ITEMS = 32;

/** The drift measure's fixed set: the first anchor items, each at 2 draws, the same every check and round of a run. */
function driftSet(base: Checkpoint, anchor: AnchorSet, seed: number): { prompts: string[]; batch: DenoiseBatch | null } {
  const prompts = [...anchor.prompts.slice(0, DRIFT_ITEMS), ...anchor.prompts.slice(0, DRIFT_ITEMS)];
  const batch = anchor.latents.length > 0 ? anchorBatch(base, { latents: [...anchor.latents.slice(0, DRIFT_ITEMS), ...anchor.latents.slice(0, DRIFT_ITEMS)], prompts }, hashSeed(seed, 93)) : null;
  return { prompts, batch };
}

/** The anchor a round holds its policy to: the given real emoji, else the training pairs' images. */
function roundAnchor(anchor: AnchorSet | undefined, seedTrain: PreferencePair[], selfPairs: PreferencePair[]): AnchorSet {
  return anchor && anchor.latents.length > 0 ? anchor : anchorFromPairs(seedTrain.length ? seedTrain : selfPairs);
}

/**
 * How far `params` has drifted from the base on the drift set a round's checks use (the same
 * draws, so a later round's start reads what the round before kept); null without a drift set.
 */
export async function driftFromBase(base: Checkpoint, schedule: NoiseSchedule, params: Params, anchor: AnchorSet | undefined, seedPairs: PreferencePair[], settings: SailSettings): Promise<number | null> {
  const { train } = splitHeldOut(seedPairs, settings.heldOutFraction, settings.seed);
  const { batch } = driftSet(base, roundAnchor(anchor, train, []), settings.seed);
  if (!batch) return null;
  try {
    const baseMse = await meanDenoiseMse(base.params, base.config, schedule, batch);
    return driftOf(await meanDenoiseMse(params, base.config, schedule, batch), baseMse);
  } finally {
    disposeDenoiseBatch(batch);
  }
}

export interface TrainedRound {
  params: Params;
  curve: StepPoint[];
  checks: RoundCheck[];
  /** The check whose weights `params` are; null when the round was refused (params = a copy of start). */
  kept: RoundCheck | null;
  stoppedEarly?: string;
  heldOut: PreferencePair[];
  /** Workers that differentiated the round's steps: 2 while a helper answered to the end, else 1. */
  workers: number;
}

/**
 * One round of Diffusion-DPO from `start` against the frozen `reference`; returns the new params.
 * The seed pairs are split (seeded, the same every round) into training and held-out pairs; the
 * loss is the DPO-Positive loss plus the prior term on the anchor set; the learning rate warms up
 * and decays; checks during the round measure held-out accuracy and drift from the base, stop
 * early when the held-out loss stops improving, and choose which weights the round keeps.
 */
export async function trainDpoRound(opts: TrainDpoRoundOptions): Promise<TrainedRound> {
  // The text encoder is frozen in a round: each prompt's states are computed once (ldm.ts withTextCache).
  return withTextCache(opts.base, () => trainDpoRoundCached(opts));
}

export interface TrainDpoRoundOptions {
  base: Checkpoint;
  schedule: NoiseSchedule;
  start: Params;
  /**
   * Where the steps start when not at `start` (laterStart 'base'): `start` is then only checked at
   * step 0 and kept if no trained check beats it.
   */
  init?: Params;
  reference: Params;
  selfPairs: PreferencePair[];
  seedPairs: PreferencePair[];
  settings: SailSettings;
  round: number;
  anchor?: AnchorSet;
  /** A second worker that differentiates half of every step (shardStep.ts); the same step up to float rounding. */
  helper?: GradientHelper;
  onStep?: (p: StepPoint) => void;
  onCheck?: (c: RoundCheck) => void;
  isCancelled?: () => boolean;
}

async function trainDpoRoundCached(opts: TrainDpoRoundOptions): Promise<TrainedRound> {
  const { base, schedule, round } = opts;
  // A later round's prior weight, where one is set (laterPriorWeight).
  const settings = round > 0 && opts.settings.laterPriorWeight !== undefined ? { ...opts.settings, priorWeight: opts.settings.laterPriorWeight } : opts.settings;
  const bound = roundDriftBound(settings, round);
  const config = base.config;
  const shape: [number, number, number] = [config.latentSize, config.latentSize, config.autoencoder.latentChannels];
  const per = shape[0] * shape[1] * shape[2];
  const { train: seedTrain, heldOut } = splitHeldOut(opts.seedPairs, settings.heldOutFraction, settings.seed);
  const anchor = roundAnchor(opts.anchor, seedTrain, opts.selfPairs);
  // The prior term's images: the base's samples when asked for and made (runSail makes them), else the anchor itself.
  const priorSet = settings.priorSource === 'samples' && anchor.prior && anchor.prior.latents.length > 0 ? anchor.prior : anchor;
  const plans = rankedMixup({ selfPairs: opts.selfPairs.length, seedPairs: seedTrain.length, alpha: settings.alpha, batchSize: settings.batchSize, steps: settings.stepsPerRound, seed: hashSeed(settings.seed, round, 1) });
  const policy = cloneParams(opts.start);
  const names = paramNames(policy, 'unet');
  const adam = adamInit(policy, names);
  const curve: StepPoint[] = [];
  const checks: RoundCheck[] = [];
  let keptCheck: RoundCheck | null = null;
  let keptWeights: Params | null = null;
  let stoppedEarly: string | undefined;
  const total = plans.length;
  const checkEvery = Math.max(1, Math.round(total / Math.max(1, settings.checksPerRound)));
  // Round 0's early check, half an interval in: set aside, it neither chooses the weights nor stops
  // the round, and is kept only when every regular check is past the drift bound. Pairs far from
  // anything the model draws move it fast (the bench's synthetic discs: 10.1% at step 5); the round
  // then ends with a small step inside the bound instead of being refused with nothing kept.
  const earlyStep = round === 0 && checkEvery >= 2 ? Math.floor(checkEvery / 2) : 0;
  let early: RoundCheck | null = null;
  let earlyWeights: Params | null = null;

  // Fixed measuring sets: the same draws every check and every round of a run.
  const { prompts: driftPrompts, batch: driftBatch } = driftSet(base, anchor, settings.seed);
  const held = heldOut.length > 0 ? heldOutBatch(base, heldOut, HELD_OUT_DRAWS, settings.seed, shape) : null;
  // A later round judged on every seed pair: the same fixed draws every check of the round.
  const guardKey: CheckKey = round > 0 && settings.laterRoundGuard === 'none' ? 'none' : round > 0 && settings.laterRoundGuard === 'seeds' && opts.seedPairs.length > 0 ? 'seedLoss' : settings.heldOutCriterion === 'soft-error' ? 'heldOutSoftError' : settings.heldOutCriterion === 'none' ? 'none' : 'heldOutLoss';
  const seedsBatch = guardKey === 'seedLoss' ? heldOutBatch(base, opts.seedPairs, HELD_OUT_DRAWS, hashSeed(settings.seed, 94), shape) : null;
  const seedsRef = seedsBatch ? tf.tidy(() => mseDifference(base.params, config, schedule, seedsBatch)) : null;
  // Held out against the base, every round: "taste learned" is what the run has learned so far,
  // so a later round can be compared with the one it started from.
  const heldRef = held ? tf.tidy(() => mseDifference(base.params, config, schedule, held)) : null;
  const baseDriftMse = driftBatch ? await meanDenoiseMse(base.params, config, schedule, driftBatch) : NaN;
  const lossSettings: ShardLossSettings = { beta: settings.beta, positiveWeight: settings.positiveWeight, priorWeight: settings.priorWeight };
  let helperLive = false;
  // With a helper that takes checks, a check's images (the held-out pairs' winners and losers, then
  // the drift set, in winnerLoserMse's order) are split: this worker denoises the first part, the
  // helper the rest, each image computed alone, so the errors are the ones one worker gets.
  let split: { mine: DenoiseBatch; theirs: DenoiseData } | null = null;
  if (opts.helper?.checkMse && held && heldRef && driftBatch) {
    const h = held.winners.shape[0];
    const d = driftBatch.x0.shape[0];
    const [w, l, hn, dx, dn] = await Promise.all([held.winners.data(), held.losers.data(), held.noise.data(), driftBatch.x0.data(), driftBatch.noise.data()]) as Float32Array[];
    const heldPrompts = heldOut.flatMap((p) => Array<string>(HELD_OUT_DRAWS).fill(p.prompt));
    const all: DenoiseData = {
      x0: concatArrays([w!, l!, dx!]),
      noise: concatArrays([hn!, hn!, dn!]),
      timesteps: Int32Array.from([...held.timesteps, ...held.timesteps, ...driftBatch.timesteps]),
      prompts: [...heldPrompts, ...heldPrompts, ...driftPrompts],
    };
    const cut = Math.ceil((2 * h + d) / 2);
    split = { mine: denoiseBatchOf(base, sliceData(all, 0, cut)), theirs: sliceData(all, cut, 2 * h + d) };
  }
  if (opts.helper) {
    try {
      await opts.helper.beginRound({ names, reference: await flatValues(opts.reference, names), ...(split ? { check: split.theirs } : {}) });
      helperLive = true;
    } catch (err) {
      console.warn(`The second worker could not start the round (${err instanceof Error ? err.message : String(err)}); this one trains alone.`);
    }
  }

  /** A check's images' errors, this worker's part and the helper's; null once the helper has failed. */
  const splitCheck = async (sp: NonNullable<typeof split>): Promise<Float32Array | null> => {
    const remote = opts.helper!.checkMse!({ weights: await flatValues(policy, names) });
    remote.catch(() => undefined); // seen below
    const mse = tf.tidy(() => denoiseMse(policy, config, schedule, sp.mine));
    const mine = (await mse.data()) as Float32Array;
    mse.dispose();
    try {
      return concatArrays([mine, await remote]);
    } catch (err) {
      helperLive = false;
      console.warn(`The second worker failed (${err instanceof Error ? err.message : String(err)}); this one trains on the whole batch.`);
      return null;
    }
  };

  const check = async (step: number): Promise<RoundCheck> => {
    let heldOutAccuracy: number | null = null;
    let heldOutLoss: number | null = null;
    let heldOutSoftError: number | null = null;
    let drift = 0;
    if (held && heldRef) {
      const h = held.winners.shape[0];
      const shared = helperLive && split ? await splitCheck(split) : null;
      // Every check image's error, the held-out winners, their losers, then the drift set: from the
      // two workers, or here in one UNet batch (every image is computed alone, so its error is the
      // one a separate call gives): one forward of 128 images, not two of 64.
      const [inside, driftSum] = tf.tidy(() => {
        const m = shared
          ? { w: tf.tensor1d(shared.subarray(0, h)), l: tf.tensor1d(shared.subarray(h, 2 * h)), extra: tf.tensor1d(shared.subarray(2 * h)) }
          : winnerLoserMse(policy, config, schedule, held, driftBatch);
        return [dpoInside(tf.sub(m.w, m.l) as tf.Tensor1D, heldRef, settings.beta), m.extra ? tf.sum(m.extra) : null] as const;
      });
      const st = await dpoStats(inside);
      inside.dispose();
      heldOutAccuracy = st.implicitAccuracy;
      heldOutLoss = st.loss;
      heldOutSoftError = st.softError;
      if (driftSum && driftBatch) {
        drift = driftOf((await driftSum.data())[0]! / driftBatch.x0.shape[0], baseDriftMse);
        driftSum.dispose();
      }
    } else if (driftBatch) {
      drift = driftOf(await meanDenoiseMse(policy, config, schedule, driftBatch), baseDriftMse);
    }
    if (!seedsBatch || !seedsRef) return { step, heldOutAccuracy, heldOutLoss, heldOutSoftError, drift };
    const insideSeeds = tf.tidy(() => dpoInside(mseDifference(policy, config, schedule, seedsBatch), seedsRef, settings.beta));
    const seedLoss = (await dpoStats(insideSeeds)).loss;
    insideSeeds.dispose();
    return { step, heldOutAccuracy, heldOutLoss, heldOutSoftError, drift, seedLoss };
  };

  // The weights of the best check so far (step 0: the start's, which stay in opts.start).
  /** A copy of the policy's trained weights as they are now. */
  const snapshot = (): Params => Object.fromEntries(names.map((n) => [n, tf.clone(policy[n])]));
  const remember = (c: RoundCheck) => {
    if (keptWeights) disposeParams(keptWeights);
    keptWeights = c.step > 0 ? snapshot() : null;
    keptCheck = c;
  };

  try {
    // A later round starts from the weights it may keep: checked at step 0, they stay unless a
    // step beats them on the held-out pairs, so a round cannot undo what the rounds before learned.
    if ((round > 0 || settings.baseGuard) && (held || seedsBatch)) {
      const c0 = await check(0);
      checks.push(c0);
      opts.onCheck?.(c0);
      if (chooseCheck(checks, bound, guardKey) === c0) remember(c0);
    }
    // Training from elsewhere (laterStart 'base'): the start was checked above, the steps begin at init.
    if (opts.init && opts.init !== opts.start) {
      for (const n of names) {
        policy[n].dispose();
        policy[n] = tf.clone(opts.init[n]);
      }
    }
    for (let step = 0; step < total; step++) {
      if (opts.isCancelled?.()) throw new CancelledError();
      const pairs = [...plans[step].self.map((i) => opts.selfPairs[i]), ...plans[step].seed.map((i) => seedTrain[i])];
      const b = pairs.length;
      const rand = mulberry32(hashSeed(settings.seed, round, 2, step));
      const timesteps = Int32Array.from({ length: b }, () => Math.floor(rand() * config.schedule.trainSteps));
      const noiseValues = gaussianArray(b * per, hashSeed(settings.seed, round, 3, step));
      const lr = learningRateAt(step, total, settings.learningRate, settings.warmupFraction, settings.finalLrFraction);
      let loss: number;
      let stats: Awaited<ReturnType<typeof dpoStats>>;
      if (helperLive && b >= 2) {
        // Half of the pairs and of the prior items differentiated on the helper worker, at the same weights.
        const priorData = settings.priorWeight > 0 ? anchorBatchData(base, priorSet, hashSeed(settings.seed, round, 4, step), settings.priorBatch) : null;
        const whole: StepShard = { winners: concatArrays(pairs.map((p) => p.winner)), losers: concatArrays(pairs.map((p) => p.loser)), prompts: pairs.map((p) => p.prompt), timesteps, noise: noiseValues, prior: priorData };
        const pb = priorData?.prompts.length ?? 0;
        const [half, priorHalf] = [Math.ceil(b / 2), Math.ceil(pb / 2)];
        const shardOpts = { base, schedule, policy, reference: opts.reference, names, totals: { pairs: b, prior: Math.max(1, pb) }, settings: lossSettings };
        const remote = opts.helper!.gradient({ weights: await flatValues(policy, names), shard: sliceShard(whole, half, b, priorHalf, pb), totals: shardOpts.totals, settings: lossSettings });
        remote.catch(() => undefined); // seen below
        const mine = await shardGradient({ ...shardOpts, shard: sliceShard(whole, 0, half, 0, priorHalf) });
        let theirs: ShardGradient;
        try {
          const r = await remote;
          theirs = { loss: r.loss, grad: tf.tensor1d(r.grad), inside: r.inside };
        } catch (err) {
          helperLive = false;
          console.warn(`The second worker failed (${err instanceof Error ? err.message : String(err)}); this one trains on the whole batch.`);
          theirs = await shardGradient({ ...shardOpts, shard: sliceShard(whole, half, b, priorHalf, pb) });
        }
        const grad = tf.add(mine.grad, theirs.grad) as tf.Tensor1D;
        tf.dispose([mine.grad, theirs.grad]);
        try {
          await adamApply(policy, names, adam, { lr, clipNorm: 1 }, grad);
        } finally {
          grad.dispose();
        }
        loss = mine.loss + theirs.loss;
        const inside = tf.tensor1d(Float32Array.from([...mine.inside, ...theirs.inside]));
        stats = await dpoStats(inside);
        inside.dispose();
      } else {
        const batch: DpoBatch = {
          winners: stack(pairs.map((p) => p.winner), shape),
          losers: stack(pairs.map((p) => p.loser), shape),
          text: textStates(base, pairs.map((p) => p.prompt)),
          timesteps,
          noise: tf.tensor4d(noiseValues, [b, ...shape]),
        };
        const prior: DenoiseBatch | null = settings.priorWeight > 0 ? anchorBatch(base, priorSet, hashSeed(settings.seed, round, 4, step), settings.priorBatch) : null;
        const reference = tf.tidy(() => winnerLoserMse(opts.reference, config, schedule, batch));
        let inside: tf.Tensor1D | null = null;
        ({ loss } = await adamStep(policy, names, adam, { lr, clipNorm: 1 }, (p) => {
          // The prior items in the same UNet batch as the pairs.
          const m = winnerLoserMse(p, config, schedule, batch, prior);
          const i = dpoPositiveInside(m, reference, settings.beta, settings.positiveWeight);
          inside = tf.keep(i);
          const dpo = dpoLossFromInside(i);
          return prior ? (tf.add(dpo, tf.mul(tf.mean(m.extra!), settings.priorWeight)) as tf.Scalar) : dpo;
        }));
        stats = await dpoStats(inside!);
        tf.dispose([inside!, reference.w, reference.l]);
        disposeDpoBatch(batch);
        if (prior) disposeDenoiseBatch(prior);
      }
      if (!Number.isFinite(loss)) throw new NonFiniteLossError(round, step, loss);
      const point = { step: step + 1, loss: stats.loss, implicitAccuracy: stats.implicitAccuracy, rewardMargin: stats.rewardMargin };
      curve.push(point);
      opts.onStep?.(point);
      if (step + 1 === earlyStep) {
        early = await check(step + 1);
        opts.onCheck?.(early);
        if (early.drift <= bound) earlyWeights = snapshot();
      }
      if ((step + 1) % checkEvery === 0 || step + 1 === total) {
        const c = await check(step + 1);
        checks.push(c);
        opts.onCheck?.(c);
        const best = chooseCheck(checks, bound, guardKey);
        if (best === c) remember(c);
        if (step + 1 < total && shouldStopEarly(checks, settings.patience, guardKey)) {
          stoppedEarly = `${guardKey === 'seedLoss' ? 'seed-pair loss' : guardKey === 'heldOutSoftError' ? 'held-out soft error' : 'held-out loss'} did not improve for ${settings.patience} checks (step ${step + 1} of ${total})`;
          break;
        }
        // Far past the bound twice in a row: more steps will not bring it back.
        const last2 = checks.slice(-2);
        if (step + 1 < total && last2.length === 2 && last2.every((x) => x.drift > 2 * bound)) {
          stoppedEarly = `drift passed twice the bound (step ${step + 1} of ${total})`;
          break;
        }
      }
      // A macrotask turn per step: on wasm awaited reads never yield one, and a worker would not
      // read a cancel message until the round ended.
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
  } catch (e) {
    disposeParams(policy);
    if (keptWeights) disposeParams(keptWeights);
    if (earlyWeights) disposeParams(earlyWeights);
    throw e;
  } finally {
    disposeAdam(adam);
    if (driftBatch) disposeDenoiseBatch(driftBatch);
    if (split) disposeDenoiseBatch(split.mine);
    if (held) disposeDpoBatch(held);
    if (heldRef) heldRef.dispose();
    if (seedsBatch) disposeDpoBatch(seedsBatch);
    if (seedsRef) seedsRef.dispose();
  }
  // Every trained check past the drift bound: the round is refused even when its start (step 0)
  // was within it, so the run stops and says why rather than silently repeating the round before.
  if (!checks.some((c) => c.step > 0 && c.drift <= bound)) {
    if (keptWeights) disposeParams(keptWeights);
    keptWeights = null;
    keptCheck = null;
    if (early && earlyWeights) {
      keptWeights = earlyWeights;
      earlyWeights = null;
      keptCheck = early;
      stoppedEarly = `every check from step ${checkEvery} on was past the drift bound; the early check at step ${early.step} is kept`;
    }
  }
  if (earlyWeights) disposeParams(earlyWeights);
  // The early check joins the round's history in step order (it chose nothing unless it was kept).
  if (early) {
    const at = checks.findIndex((c) => c.step > early!.step);
    checks.splice(at === -1 ? checks.length : at, 0, early);
  }
  // The kept weights: the chosen check's, or the start's (kept at step 0, or the round refused).
  for (const n of names) {
    policy[n].dispose();
    policy[n] = keptWeights ? keptWeights[n] : tf.clone(opts.start[n]);
  }
  return { params: policy, curve, checks, kept: keptCheck, stoppedEarly, heldOut, workers: helperLive ? 2 : 1 };
}

/**
 * The initial noise of a prompt's N candidates: independent (rho = 0), or sharing the variance
 * share rho of one common draw, so they vary around a common layout. Unit variance either way.
 */
export function candidateNoise(ck: Checkpoint, seed: number, round: number, promptIndex: number, n: number, rho: number): tf.Tensor4D {
  return tf.tidy(() => {
    const own = initialNoise(ck, hashSeed(seed, round, 10, promptIndex), n);
    if (!(rho > 0)) return own;
    const common = initialNoise(ck, hashSeed(seed, round, 13, promptIndex), 1);
    return tf.add(tf.mul(common, Math.sqrt(rho)), tf.mul(own, Math.sqrt(1 - rho))) as tf.Tensor4D;
  });
}

/** Candidates sampled in one call (all prompts' candidates share the batch). */
const SAMPLE_BATCH = 32;

/** The round's prompts in chunks of whole prompts, SAMPLE_BATCH candidates (or fewer) each: indices into the prompts. */
export function candidateChunks(prompts: number, candidatesPerPrompt: number): number[][] {
  const perChunk = Math.max(1, Math.floor(SAMPLE_BATCH / candidatesPerPrompt));
  const chunks: number[][] = [];
  for (let i = 0; i < prompts; i += perChunk) chunks.push(Array.from({ length: Math.min(perChunk, prompts - i) }, (_, j) => i + j));
  return chunks;
}

/** What sampling and scoring a chunk gives: its candidates' latents, and each candidate's K per-draw rewards. */
export interface ChunkAnnotation<L = tf.Tensor4D> {
  latents: L;
  /** [candidate][draw], candidate-major: chunk.length * N * K values. */
  perDraw: Float32Array;
}

/** The request a helper (another worker, another core) answers with `annotateChunks` on its copy of the base. */
export interface AnnotateRequest {
  generator: Params;
  judge: Params;
  prompts: string[];
  chunks: number[][];
  settings: SailSettings;
  round: number;
}

/**
 * Samples and scores some of a round's chunks elsewhere (a second worker on another core), with
 * the same function on the same noise: the round comes out the same as when one worker does it all.
 */
export interface CandidateHelper {
  annotate(req: AnnotateRequest): Promise<ChunkAnnotation<Float32Array>[]>;
}

/**
 * Samples the N candidates of every prompt of the given chunks (noise seeded per round, prompt and
 * candidate) and scores each with the judge's implicit reward against the base over K draws
 * seeded per prompt: what a chunk gives does not depend on which worker runs it, or with which
 * other chunks. Sampling of all chunks comes first, then scoring (the two phases the UI shows).
 */
export async function annotateChunks(opts: {
  base: Checkpoint;
  schedule: NoiseSchedule;
  req: AnnotateRequest;
  onProgress?: (phase: SailPhase, chunksDone: number) => void;
  isCancelled?: () => boolean;
}): Promise<{ chunks: ChunkAnnotation[]; generateMs: number; scoreMs: number }> {
  const { base } = opts;
  const { generator, judge, prompts, chunks, settings, round } = opts.req;
  const config = base.config;
  const n = settings.candidatesPerPrompt;
  const k = settings.rewardDraws;
  const genCk: Checkpoint = { config, params: generator };
  const latents: tf.Tensor4D[] = [];
  const perDraw: Float32Array[] = [];
  try {
    const t0 = Date.now();
    const sampling = { guidance: settings.candidateGuidance ?? settings.guidance, steps: settings.ddimSteps, isCancelled: opts.isCancelled };
    const againstBase = settings.pairing === 'against-base';
    const problem = againstBaseProblem(settings.pairing, n);
    if (problem) throw new Error(problem);
    for (const chunk of chunks) {
      // Against the base: the model's N/2 samples of a prompt, then the base's from the same noises.
      const per = againstBase ? n / 2 : n;
      const noise = tf.tidy(() => tf.concat(chunk.map((pi) => candidateNoise(genCk, settings.seed, round, pi, per, settings.candidateNoiseShare)), 0) as tf.Tensor4D);
      const chunkPrompts = chunk.flatMap((pi) => Array(per).fill(prompts[pi]) as string[]);
      let mine: tf.Tensor4D | null = null;
      let theirs: tf.Tensor4D | null = null;
      try {
        mine = await sampleLatents(genCk, chunkPrompts, noise, sampling);
        if (!againstBase) {
          latents.push(mine);
          mine = null;
        } else {
          theirs = await sampleLatents(base, chunkPrompts, noise, sampling);
          const [m, t] = [mine, theirs];
          const order = chunk.flatMap((_, p) => [...Array.from({ length: per }, (_, j) => p * per + j), ...Array.from({ length: per }, (_, j) => chunk.length * per + p * per + j)]);
          latents.push(tf.tidy(() => tf.gather(tf.concat([m, t], 0), order) as tf.Tensor4D));
        }
      } finally {
        tf.dispose([noise, ...(mine ? [mine] : []), ...(theirs ? [theirs] : [])]);
      }
      opts.onProgress?.('generate', latents.length);
    }
    const generateMs = Date.now() - t0;
    const t1 = Date.now();
    for (let ci = 0; ci < chunks.length; ci++) {
      if (opts.isCancelled?.()) throw new CancelledError();
      const chunk = chunks[ci];
      const text = textStates(base, chunk.map((pi) => prompts[pi]));
      const job = {
        latents: latents[ci],
        promptOf: Int32Array.from({ length: chunk.length * n }, (_, i) => Math.floor(i / n)),
        text,
        draws: chunk.map((pi) => rewardDraws(config, k, hashSeed(settings.seed, round, 11, pi), settings.rewardTimesteps)),
      };
      perDraw.push(await implicitRewardsPerDraw(judge, base.params, config, opts.schedule, job, { beta: settings.beta }).finally(() => tf.dispose([text.tokens, text.mask, text.pooled])));
      opts.onProgress?.('score', ci + 1);
    }
    return { chunks: latents.map((l, ci) => ({ latents: l, perDraw: perDraw[ci] })), generateMs, scoreMs: Date.now() - t1 };
  } catch (e) {
    tf.dispose(latents);
    throw e;
  }
}

/**
 * Samples, scores and pairs the candidates of one round, batched across prompts: up to
 * SAMPLE_BATCH candidates (whole prompts) per sampling call, and all of a chunk's (candidate, draw)
 * evaluations in batches of the reward. With a helper, the second half of the chunks is sampled
 * and scored there while this worker does the first (the same pairs either way). The confidence
 * gate keeps a best-vs-worst pair only when its margin clears the threshold, at least
 * minSignAgreement of its K draws agree on the winner, and its margin ranks in the top
 * selfKeepFraction of the round's pairs.
 */
export async function selfAnnotate(opts: {
  base: Checkpoint;
  schedule: NoiseSchedule;
  generator: Params;
  judge: Params;
  prompts: string[];
  settings: SailSettings;
  round: number;
  helper?: CandidateHelper;
  onProgress?: (phase: SailPhase, done: number, total: number) => void;
  isCancelled?: () => boolean;
}): Promise<{ pairs: SelfPair[]; dropped: number; considered: number; generateMs: number; scoreMs: number; workers: number }> {
  const { base, settings, round, prompts } = opts;
  const n = settings.candidatesPerPrompt;
  const k = settings.rewardDraws;
  const chunks = candidateChunks(prompts.length, n);
  const req = (cs: number[][]): AnnotateRequest => ({ generator: opts.generator, judge: opts.judge, prompts, chunks: cs, settings, round });
  // The helper takes the second half; this worker the first (and all of them if the helper fails).
  const split = opts.helper && chunks.length > 1 ? Math.ceil(chunks.length / 2) : chunks.length;
  const mine = chunks.slice(0, split);
  const theirs = chunks.slice(split);
  const promptsIn = (cs: number[][]) => cs.reduce((s, c) => s + c.length, 0);
  let helperDone = false;
  const remote = theirs.length > 0 && opts.helper ? opts.helper.annotate(req(theirs)).then((r) => ((helperDone = true), r)) : null;
  // Never an unhandled rejection: a failed helper is seen (and its chunks redone) below.
  remote?.catch(() => undefined);
  // One macrotask turn, so the request (the weights serialised over microtasks) is posted before
  // this worker's own sampling starts: its wasm kernels would hold the microtasks back.
  if (remote) await new Promise((resolve) => setTimeout(resolve, 0));
  let workers = remote ? 2 : 1;
  const progress = (phase: SailPhase, localDone: number) => opts.onProgress?.(phase, promptsIn(mine.slice(0, localDone)) + (helperDone ? promptsIn(theirs) : 0), prompts.length);
  const annotated: ChunkAnnotation[] = [];
  try {
    const local = await annotateChunks({ base, schedule: opts.schedule, req: req(mine), onProgress: progress, isCancelled: opts.isCancelled });
    annotated.push(...local.chunks);
    let { generateMs, scoreMs } = local;
    if (remote) {
      const t = Date.now();
      let fromHelper: ChunkAnnotation<Float32Array>[] | null = null;
      try {
        fromHelper = await remote;
      } catch (err) {
        console.warn(`The second worker failed (${err instanceof Error ? err.message : String(err)}); this one samples its candidates too.`);
      }
      if (fromHelper && fromHelper.length === theirs.length) {
        const [h, w, c] = [base.config.latentSize, base.config.latentSize, base.config.autoencoder.latentChannels];
        theirs.forEach((chunk, i) => annotated.push({ latents: tf.tensor4d(fromHelper![i].latents, [chunk.length * n, h, w, c]), perDraw: fromHelper![i].perDraw }));
        scoreMs += Date.now() - t; // waiting for the helper's last chunks
      } else {
        workers = 1;
        const redo = await annotateChunks({ base, schedule: opts.schedule, req: req(theirs), isCancelled: opts.isCancelled });
        annotated.push(...redo.chunks);
        generateMs += redo.generateMs;
        scoreMs += redo.scoreMs;
      }
      opts.onProgress?.('score', prompts.length, prompts.length);
    }
    // Per prompt, in prompt order: chunks are consecutive prompts, and `annotated` is in chunk order.
    const rewardsPerPrompt: Float32Array[] = [];
    const perDrawPerPrompt: Float32Array[] = [];
    chunks.forEach((chunk, ci) => {
      const means = meanOverDraws(annotated[ci].perDraw, k);
      chunk.forEach((_, j) => {
        rewardsPerPrompt.push(means.slice(j * n, (j + 1) * n));
        perDrawPerPrompt.push(annotated[ci].perDraw.slice(j * n * k, (j + 1) * n * k));
      });
    });
    // Ranked pairing, then the confidence gate.
    const { kept: ranked, dropped } = rankedSelfPairs(rewardsPerPrompt, settings.pairing, settings.marginThreshold, hashSeed(settings.seed, round, 12));
    const considered = ranked.length + dropped.length;
    const agreementOf = (p: (typeof ranked)[number]) => {
      const d = perDrawPerPrompt[p.promptIndex];
      return signAgreement(Array.from({ length: k }, (_, j) => d[p.winner * k + j] - d[p.loser * k + j]));
    };
    const maxKept = Math.ceil(settings.selfKeepFraction * considered);
    const gated = ranked.map((p) => ({ p, agreement: agreementOf(p) })).filter((x) => x.agreement >= settings.minSignAgreement).slice(0, maxKept);
    const perChunk = chunks[0]?.length ?? 1;
    const pairs: SelfPair[] = [];
    for (const { p, agreement } of gated) {
      const ci = Math.floor(p.promptIndex / perChunk);
      const offset = (p.promptIndex - chunks[ci][0]) * n;
      const both = tf.tidy(() => tf.gather(annotated[ci].latents, [offset + p.winner, offset + p.loser]) as tf.Tensor4D);
      const data = (await both.data()) as Float32Array;
      const decoded = decodeLatents(base, both);
      const [winnerImage, loserImage] = await toRgba(decoded);
      tf.dispose([both, decoded]);
      const half = data.length / 2;
      pairs.push({ prompt: prompts[p.promptIndex], winner: data.slice(0, half), loser: data.slice(half), margin: p.margin, agreement, winnerImage, loserImage });
    }
    return { pairs, dropped: considered - pairs.length, considered, generateMs, scoreMs, workers };
  } finally {
    tf.dispose(annotated.map((a) => a.latents));
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
  // The base's own samples of the anchor prompts for the prior term, made once per run (deterministic).
  const anchor = await ensurePriorSamples(base, opts.anchor, settings, opts.isCancelled);

  try {
    for (let round = firstRound; round <= settings.rounds; round++) {
      const started = Date.now();
      let selfPairs: SelfPair[] = [];
      let dropped = 0;
      let considered = 0;
      let generateMs = 0;
      let scoreMs = 0;
      let workers = 1;
      // A later round with too little of the drift bound left is not started (laterRoundRoom): the
      // bound would refuse it after its sampling, scoring and training. A round that trains afresh
      // from the base (laterStart 'base') has the whole bound whatever the round before drifted.
      if (round > 0 && (settings.laterRoundRoom ?? 0) > 0 && settings.laterStart !== 'base') {
        const bound = roundDriftBound(settings, round);
        const drift = await driftFromBase(base, schedule, current, anchor, opts.seedPairs, settings);
        if (drift !== null && drift > (1 - settings.laterRoundRoom!) * bound) {
          throw new DriftError(round, [{ step: 0, heldOutAccuracy: null, heldOutLoss: null, drift }], bound, true);
        }
      }
      // With alpha 0 no batch takes a self pair: the round trains on the seed pairs alone, unsampled.
      if (round > 0 && settings.alpha > 0) {
        const pool = opts.promptPools[round - 1];
        if (!pool || pool.length === 0) throw new Error(`No prompts for round ${round}`);
        opts.onEvent?.({ type: 'phase', round, phase: 'generate' });
        const judge = settings.judge === 'round0' ? round0! : current;
        let scoring = false;
        const annotated = await selfAnnotate({
          base,
          schedule,
          generator: current,
          judge,
          prompts: pool.slice(0, settings.promptsPerRound),
          settings,
          round,
          helper: opts.helper,
          isCancelled: opts.isCancelled,
          onProgress: (phase, done, total) => {
            if (phase === 'score' && !scoring) {
              scoring = true;
              opts.onEvent?.({ type: 'phase', round, phase: 'score' });
            }
            opts.onEvent?.({ type: 'progress', round, phase, done, total });
          },
        });
        ({ pairs: selfPairs, dropped, considered, generateMs, scoreMs, workers } = annotated);
      }
      opts.onEvent?.({ type: 'phase', round, phase: 'train' });
      const t2 = Date.now();
      // laterStart 'base': the round trains from the base against the base; `current` is only checked.
      const fromBase = round > 0 && settings.laterStart === 'base';
      const trained = await trainDpoRound({
        base,
        schedule,
        start: current,
        ...(fromBase ? { init: base.params } : {}),
        reference: fromBase || settings.laterReference === 'base' ? base.params : current,
        selfPairs,
        seedPairs: opts.seedPairs,
        settings,
        round,
        anchor,
        helper: opts.helper,
        isCancelled: opts.isCancelled,
        onStep: (p) => opts.onEvent?.({ type: 'step', round, total: settings.stepsPerRound, ...p }),
        onCheck: (c) => opts.onEvent?.({ type: 'check', round, ...c }),
      });
      const { params, curve, checks } = trained;
      if (!trained.kept) {
        disposeParams(params);
        throw new DriftError(round, checks, roundDriftBound(settings, round));
      }
      // Round 0: how accurate the new model's own reward is per timestep bucket, on pairs it never trained on.
      let timestepAccuracy: BucketAccuracy[] | undefined;
      if (round === 0 && trained.heldOut.length > 0) {
        const bucketPairs = trained.heldOut.map((p) => ({ winner: p.winner, loser: p.loser, text: textStates(base, [p.prompt]) }));
        const T = base.config.schedule.trainSteps;
        const buckets = Array.from({ length: 5 }, (_, i) => [Math.round((i * T) / 5), Math.round(((i + 1) * T) / 5) - 1] as [number, number]);
        timestepAccuracy = await rewardAccuracyByTimestep(params, base.params, base.config, schedule, bucketPairs, { beta: settings.beta, buckets, draws: 4, seed: hashSeed(settings.seed, 95) }).finally(() =>
          bucketPairs.forEach((p) => tf.dispose([p.text.tokens, p.text.mask, p.text.pooled])),
        );
      }
      const trainMs = Date.now() - t2;
      const tail = curve.slice(-Math.max(1, Math.floor(curve.length / 4)));
      const record: RoundRecord = {
        round,
        settings,
        judge: round === 0 ? 'base' : settings.judge,
        seedPairs: opts.seedPairs.length,
        heldOutPairs: trained.heldOut.length,
        selfPairs: selfPairs.map((p) => ({ prompt: p.prompt, margin: p.margin, agreement: p.agreement })),
        droppedPairs: dropped,
        selfKeptShare: round > 0 && considered > 0 ? selfPairs.length / considered : undefined,
        curve,
        checks,
        kept: trained.kept,
        stoppedEarly: trained.stoppedEarly,
        timestepAccuracy,
        implicitAccuracy: tail.reduce((s, p) => s + p.implicitAccuracy, 0) / tail.length,
        timing: { generateMs, scoreMs, trainMs, totalMs: Date.now() - started, ...(Math.max(workers, trained.workers) > 1 ? { workers: Math.max(workers, trained.workers) } : {}) },
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

export { roundDriftBound };
