// One Diffusion-DPO step split between two workers (issue 11: both cores in the browser). Each
// worker differentiates its share of the step's loss at the same weights: the sum over its pairs
// of -log sigmoid(inside) divided by the step's pair count, plus lambda_prior times the sum over
// its prior items of the denoising error divided by the step's prior count. The shares add up to
// the one-worker loss (mean over pairs + lambda_prior x mean over prior items), so the summed
// gradients are its gradient, up to float rounding; Adam and clipping run once, on the run's
// worker. The helper worker is sent the flat UNet weights with every step and the frozen
// reference's once per round (helperService.ts).
import * as tf from '@tensorflow/tfjs-core';
import type { NoiseSchedule } from '../diffusion/schedule';
import type { Params } from '../model/layers';
import { textStates, type Checkpoint } from '../model/ldm';
import { flatGradients } from '../train';
import { winnerLoserMse, type DpoBatch } from './dpo';
import { denoiseBatchOf, disposeDenoiseBatch, dpoPositiveInside, type DenoiseData } from './safety';

/** A share of a step's batch, as arrays: pairs (winner and loser latents, one timestep and noise each) and prior items. */
export interface StepShard {
  winners: Float32Array;
  losers: Float32Array;
  prompts: string[];
  timesteps: Int32Array;
  noise: Float32Array;
  prior: DenoiseData | null;
}

/** The whole step's counts, which every share's loss is divided by. */
export interface ShardTotals {
  pairs: number;
  prior: number;
}

export interface ShardLossSettings {
  beta: number;
  positiveWeight: number;
  priorWeight: number;
}

export interface ShardGradient<G = tf.Tensor1D> {
  /** This share of the step's loss. */
  loss: number;
  /** Its gradient w.r.t. the trained parameters, flat in their order. */
  grad: G;
  /** inside per pair of the share (for the step's implicit accuracy and margin). */
  inside: Float32Array;
}

/** Differentiates half of each DPO step on another worker (another core). */
export interface GradientHelper {
  /**
   * A round begins: the trained parameters' names and the frozen reference's values of them, flat;
   * with `check`, its share of the round's checks (images whose denoising error checkMse returns).
   */
  beginRound(req: { names: string[]; reference: Float32Array; check?: DenoiseData }): Promise<void>;
  gradient(req: { weights: Float32Array; shard: StepShard; totals: ShardTotals; settings: ShardLossSettings }): Promise<ShardGradient<Float32Array>>;
  /** Each check image's denoising error at these weights (the `check` the round began with). */
  checkMse?(req: { weights: Float32Array }): Promise<Float32Array>;
}

/** The shard of pairs [from, to) and prior items [priorFrom, priorTo) of a step given as one shard. */
export function sliceShard(step: StepShard, from: number, to: number, priorFrom: number, priorTo: number): StepShard {
  const per = step.winners.length / step.prompts.length;
  const priorPer = step.prior ? step.prior.x0.length / Math.max(1, step.prior.prompts.length) : 0;
  return {
    winners: step.winners.slice(from * per, to * per),
    losers: step.losers.slice(from * per, to * per),
    prompts: step.prompts.slice(from, to),
    timesteps: step.timesteps.slice(from, to),
    noise: step.noise.slice(from * per, to * per),
    prior: step.prior && {
      x0: step.prior.x0.slice(priorFrom * priorPer, priorTo * priorPer),
      noise: step.prior.noise.slice(priorFrom * priorPer, priorTo * priorPer),
      timesteps: step.prior.timesteps.slice(priorFrom, priorTo),
      prompts: step.prior.prompts.slice(priorFrom, priorTo),
    },
  };
}

/** The share's loss and gradient (the caller disposes `grad`). */
export async function shardGradient(opts: {
  base: Checkpoint;
  schedule: NoiseSchedule;
  policy: Params;
  reference: Params;
  names: string[];
  shard: StepShard;
  totals: ShardTotals;
  settings: ShardLossSettings;
}): Promise<ShardGradient> {
  const { base, schedule, shard, totals, settings } = opts;
  const config = base.config;
  const b = shard.prompts.length;
  const s = config.latentSize;
  const c = config.autoencoder.latentChannels;
  const batch: DpoBatch = {
    winners: tf.tensor4d(shard.winners, [b, s, s, c]),
    losers: tf.tensor4d(shard.losers, [b, s, s, c]),
    text: textStates(base, shard.prompts),
    timesteps: shard.timesteps,
    noise: tf.tensor4d(shard.noise, [b, s, s, c]),
  };
  const prior = shard.prior && shard.prior.prompts.length > 0 && settings.priorWeight > 0 ? denoiseBatchOf(base, shard.prior) : null;
  const reference = tf.tidy(() => winnerLoserMse(opts.reference, config, schedule, batch));
  let inside: tf.Tensor1D | null = null;
  try {
    const { value, grad } = flatGradients(opts.policy, opts.names, (p) => {
      const m = winnerLoserMse(p, config, schedule, batch, prior);
      const i = dpoPositiveInside(m, reference, settings.beta, settings.positiveWeight);
      inside = tf.keep(i);
      const dpo = tf.div(tf.sum(tf.softplus(tf.neg(i))), totals.pairs) as tf.Scalar;
      return prior ? (tf.add(dpo, tf.mul(tf.sum(m.extra!), settings.priorWeight / totals.prior)) as tf.Scalar) : dpo;
    });
    const loss = (await value.data())[0];
    value.dispose();
    const insideValues = (await inside!.data()) as Float32Array;
    return { loss, grad, inside: insideValues.slice() };
  } finally {
    tf.dispose([batch.winners, batch.losers, batch.noise, batch.text.tokens, batch.text.mask, batch.text.pooled, reference.w, reference.l]);
    if (inside) (inside as tf.Tensor1D).dispose();
    if (prior) disposeDenoiseBatch(prior);
  }
}
