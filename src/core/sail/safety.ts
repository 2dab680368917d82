// What keeps Diffusion-DPO on a handful of pairs from wrecking the model (issue 10; math and the
// measured choice in docs/sail.md):
//   - a learning-rate warm-up and cosine decay, so Adam stops moving every weight by ~lr per step
//     once the margin has saturated;
//   - the DPO-Positive term (Pal et al. 2024, "Smaug"): inside gets
//       -0.5 beta * lambda_pos * max(0, mse_pol(w) - mse_ref(w))
//     so lowering the loser's likelihood can no longer pay for raising the winner's error;
//   - a prior-preservation term (DreamBooth, Ruiz et al. 2023): lambda_prior * the ordinary
//     denoising loss on real images (the anchor set) beside the DPO loss;
//   - a held-out split of the seed pairs, checked during the round (implicit accuracy and DPO loss),
//     with early stopping and the best checkpoint kept;
//   - drift: the policy's denoising loss on a fixed anchor set (same noise, same timesteps) over the
//     base's, minus 1. A round whose every check is over the bound is refused.
import * as tf from '@tensorflow/tfjs-core';
import { qSample, type NoiseSchedule } from '../diffusion/schedule';
import type { ModelConfig } from '../model/config';
import { gaussianArray, type Params } from '../model/layers';
import { predictNoise, textStates, type Checkpoint } from '../model/ldm';
import { initialNoise, sampleLatents } from '../generate';
import { hashSeed, mulberry32 } from '../random';
import type { PreferencePair } from './loop';

/**
 * Learning rate at `step` (0-based) of `total`: linear warm-up over the first `warmup` fraction,
 * then a cosine decay from lr to finalFraction * lr at the last step.
 */
export function learningRateAt(step: number, total: number, lr: number, warmup: number, finalFraction: number): number {
  const warmSteps = Math.max(0, Math.round(warmup * total));
  if (step < warmSteps) return (lr * (step + 1)) / (warmSteps + 1);
  const span = Math.max(1, total - 1 - warmSteps);
  const progress = Math.min(1, (step - warmSteps) / span);
  const low = lr * finalFraction;
  return low + 0.5 * (lr - low) * (1 + Math.cos(Math.PI * progress));
}

/**
 * A seeded held-out split of the seed pairs: round(fraction * n) pairs, at least 2, and only when
 * at least 8 pairs would stay for training (fewer pairs cannot spare any). The same (n, fraction,
 * seed) always gives the same split, so every round of a run holds out the same pairs.
 */
export function splitHeldOut<T>(pairs: readonly T[], fraction: number, seed: number): { train: T[]; heldOut: T[] } {
  const n = pairs.length;
  const want = fraction > 0 ? Math.max(2, Math.round(fraction * n)) : 0;
  if (want === 0 || n - want < 8) return { train: [...pairs], heldOut: [] };
  const order = Array.from({ length: n }, (_, i) => i);
  const rand = mulberry32(hashSeed(seed, 77));
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const held = new Set(order.slice(0, want));
  return { train: pairs.filter((_, i) => !held.has(i)), heldOut: pairs.filter((_, i) => held.has(i)) };
}

/**
 * DPO-Positive inside, [B]:
 *   -0.5 beta [ (polW - polL) - (refW - refL) + lambda max(0, polW - refW) ]
 * With lambda = 0 it is the plain Diffusion-DPO inside (dpo.ts).
 */
export function dpoPositiveInside(pol: { w: tf.Tensor1D; l: tf.Tensor1D }, ref: { w: tf.Tensor1D; l: tf.Tensor1D }, beta: number, lambda: number): tf.Tensor1D {
  // No tidy: this runs inside tf.valueAndGrads, whose tape must keep the intermediates.
  const diff = tf.sub(tf.sub(pol.w, pol.l), tf.sub(ref.w, ref.l));
  const withPenalty = lambda > 0 ? tf.add(diff, tf.mul(tf.relu(tf.sub(pol.w, ref.w)), lambda)) : diff;
  return tf.mul(withPenalty, -0.5 * beta) as tf.Tensor1D;
}

/** Real images to hold the model to: scaled latents and their prompts. */
export interface AnchorSet {
  latents: Float32Array[];
  prompts: string[];
  /** The base model's samples of the anchor prompts, for the prior term with priorSource 'samples' (anchor.ts withPriorSamples). */
  prior?: { latents: Float32Array[]; prompts: string[] };
}

/** A denoising batch over anchor items: latents, text, timesteps and noise, all fixed by the seed. */
export interface DenoiseBatch {
  x0: tf.Tensor4D;
  noise: tf.Tensor4D;
  timesteps: Int32Array;
  text: ReturnType<typeof textStates>;
}

/**
 * `count` anchor items (drawn with replacement by `seed`; all of them, in order, when count is
 * undefined), each with a timestep and a noise fixed by the seed.
 */
export function anchorBatch(base: Checkpoint, anchor: AnchorSet, seed: number, count?: number, timesteps?: [number, number]): DenoiseBatch {
  return denoiseBatchOf(base, anchorBatchData(base, anchor, seed, count, timesteps));
}

/** A denoising batch as plain arrays (what a helper worker is sent): latents, noise, timesteps, prompts. */
export interface DenoiseData {
  x0: Float32Array;
  noise: Float32Array;
  timesteps: Int32Array;
  prompts: string[];
}

/** anchorBatch's items as arrays: the same draws. */
export function anchorBatchData(base: Checkpoint, anchor: AnchorSet, seed: number, count?: number, timesteps?: [number, number]): DenoiseData {
  const config = base.config;
  const n = anchor.latents.length;
  if (n === 0) throw new Error('The anchor set is empty');
  const rand = mulberry32(hashSeed(seed, 5));
  const idx = count === undefined ? Array.from({ length: n }, (_, i) => i) : Array.from({ length: count }, () => Math.floor(rand() * n));
  const [lo, hi] = timesteps ?? [0, config.schedule.trainSteps - 1];
  const s = config.latentSize;
  const c = config.autoencoder.latentChannels;
  const per = s * s * c;
  const data = new Float32Array(idx.length * per);
  idx.forEach((k, i) => data.set(anchor.latents[k], i * per));
  return {
    x0: data,
    noise: gaussianArray(idx.length * per, hashSeed(seed, 6)),
    timesteps: Int32Array.from(idx, () => lo + Math.floor(rand() * (hi - lo + 1))),
    prompts: idx.map((k) => anchor.prompts[k]),
  };
}

/** The tensors of a denoising batch given as arrays (text states from the base's frozen text encoder). */
export function denoiseBatchOf(base: Checkpoint, d: DenoiseData): DenoiseBatch {
  const s = base.config.latentSize;
  const c = base.config.autoencoder.latentChannels;
  const count = d.prompts.length;
  return {
    x0: tf.tensor4d(d.x0, [count, s, s, c]),
    noise: tf.tensor4d(d.noise, [count, s, s, c]),
    timesteps: d.timesteps,
    text: textStates(base, d.prompts),
  };
}

export function disposeDenoiseBatch(b: DenoiseBatch): void {
  tf.dispose([b.x0, b.noise, b.text.tokens, b.text.mask, b.text.pooled]);
}

/** Per-sample denoising mse [B] of `params` on a batch (architecture.md section 5's mse_m); no tidy, so it can be differentiated. */
export function denoiseMse(params: Params, config: ModelConfig, schedule: NoiseSchedule, b: DenoiseBatch): tf.Tensor1D {
  const xt = qSample(schedule, b.x0, b.noise, b.timesteps);
  const eps = predictNoise(params, config, xt, tf.tensor1d(Float32Array.from(b.timesteps)), b.text);
  return tf.mean(tf.squaredDifference(eps, b.noise), [1, 2, 3]) as tf.Tensor1D;
}

/** Mean denoising mse of `params` over a fixed batch, in chunks of `chunk` items, read back. */
export async function meanDenoiseMse(params: Params, config: ModelConfig, schedule: NoiseSchedule, b: DenoiseBatch, chunk = 64): Promise<number> {
  const n = b.x0.shape[0];
  let sum = 0;
  for (let start = 0; start < n; start += chunk) {
    const count = Math.min(chunk, n - start);
    const mse = tf.tidy(() => {
      const part: DenoiseBatch = {
        x0: tf.slice(b.x0, [start], [count]) as tf.Tensor4D,
        noise: tf.slice(b.noise, [start], [count]) as tf.Tensor4D,
        timesteps: b.timesteps.slice(start, start + count),
        text: { tokens: tf.slice(b.text.tokens, [start], [count]), mask: tf.slice(b.text.mask, [start], [count]), pooled: tf.slice(b.text.pooled, [start], [count]) },
      };
      return tf.sum(denoiseMse(params, config, schedule, part));
    });
    sum += (await mse.data())[0];
    mse.dispose();
  }
  return sum / n;
}

/** Drift of a policy from the base on the fixed anchor batch: mse_policy / mse_base - 1. */
export function driftOf(policyMse: number, baseMse: number): number {
  return policyMse / baseMse - 1;
}

/** The anchor set a run uses when no real images are given: the seed pairs' own images (base-model samples when the user clicked them). */
export function anchorFromPairs(pairs: readonly PreferencePair[]): AnchorSet {
  return { latents: pairs.flatMap((p) => [p.winner, p.loser]), prompts: pairs.flatMap((p) => [p.prompt, p.prompt]) };
}

/** A check of the policy during a round: held-out seed pairs and drift. */
export interface RoundCheck {
  step: number;
  /** Implicit accuracy and DPO loss on the held-out seed pairs, against the base (null without a held-out split); step 0 is a later round's start. */
  heldOutAccuracy: number | null;
  heldOutLoss: number | null;
  /** Mean 1 - sigmoid(inside) on the held-out pairs (heldOutCriterion 'soft-error'). */
  heldOutSoftError?: number | null;
  /** Relative rise of the denoising loss on the anchor set over the base's. */
  drift: number;
  /** DPO loss against the base on every seed pair (a later round judged with laterRoundGuard 'seeds'). */
  seedLoss?: number | null;
}

/** The loss a round's checks are judged on ('none': none, the last check within the bound wins). */
export type CheckKey = 'heldOutLoss' | 'seedLoss' | 'heldOutSoftError' | 'none';

function judged(c: RoundCheck, key: CheckKey): number | null {
  return key === 'none' ? null : (c[key] ?? null);
}

/**
 * Which check's weights a round keeps: among checks within the drift bound, the one with the lowest
 * held-out loss (ties: the later); without held-out pairs, the last within the bound. Null when
 * every check is over the bound.
 */
export function chooseCheck(checks: readonly RoundCheck[], driftBound: number, key: CheckKey = 'heldOutLoss'): RoundCheck | null {
  let best: RoundCheck | null = null;
  for (const c of checks) {
    if (!(c.drift <= driftBound)) continue;
    const v = judged(c, key);
    const b = best ? judged(best, key) : null;
    if (!best || v === null || b === null || v <= b) best = c;
  }
  return best;
}

/** Early stopping: the held-out loss has not improved on its best for `patience` checks in a row. */
export function shouldStopEarly(checks: readonly RoundCheck[], patience: number, key: CheckKey = 'heldOutLoss'): boolean {
  if (patience <= 0) return false;
  const losses = checks.map((c) => judged(c, key)).filter((v): v is number => v !== null);
  if (losses.length <= patience) return false;
  const best = Math.min(...losses.slice(0, losses.length - patience));
  return losses.slice(-patience).every((v) => v > best);
}

/** Share of the K per-draw reward differences r_k(w) - r_k(l) that are positive: how stable a self label's sign is. */
export function signAgreement(perDrawDiff: ArrayLike<number>): number {
  let pos = 0;
  for (let i = 0; i < perDrawDiff.length; i++) if (perDrawDiff[i] > 0) pos++;
  return perDrawDiff.length === 0 ? 0 : pos / perDrawDiff.length;
}

/** Noise seed of the prior samples: fixed, so every run and every CLI holds a model to the same samples. */
export const PRIOR_SAMPLE_SEED = 4242;

/**
 * The anchor set with the base model's own samples of its prompts added (`prior`): one sample per
 * prompt, sample i from the noise of image i of PRIOR_SAMPLE_SEED, in batches of `batch`.
 */
export async function withPriorSamples(
  base: Checkpoint,
  anchor: AnchorSet,
  opts: { guidance: number; steps: number; batch?: number; isCancelled?: () => boolean },
): Promise<AnchorSet> {
  const batch = opts.batch ?? 32;
  const latents: Float32Array[] = [];
  for (let start = 0; start < anchor.prompts.length; start += batch) {
    const prompts = anchor.prompts.slice(start, start + batch);
    const noise = initialNoise(base, PRIOR_SAMPLE_SEED, prompts.length, start);
    const z = await sampleLatents(base, prompts, noise, { guidance: opts.guidance, steps: opts.steps, isCancelled: opts.isCancelled }).finally(() => noise.dispose());
    const data = (await z.data()) as Float32Array;
    z.dispose();
    const per = data.length / prompts.length;
    for (let i = 0; i < prompts.length; i++) latents.push(data.slice(i * per, (i + 1) * per));
  }
  return { ...anchor, prior: { latents, prompts: [...anchor.prompts] } };
}

/**
 * The anchor set a run trains with: with the prior term on the base's samples (priorSource
 * 'samples', priorWeight > 0) and none made yet, the set with them added; otherwise as given.
 */
export async function ensurePriorSamples(
  base: Checkpoint,
  anchor: AnchorSet | undefined,
  settings: { priorSource?: 'real' | 'samples'; priorWeight: number; guidance: number; ddimSteps: number },
  isCancelled?: () => boolean,
): Promise<AnchorSet | undefined> {
  if (!anchor || anchor.prior || settings.priorSource !== 'samples' || !(settings.priorWeight > 0) || anchor.latents.length === 0) return anchor;
  return withPriorSamples(base, anchor, { guidance: settings.guidance, steps: settings.ddimSteps, isCancelled });
}
