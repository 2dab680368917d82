// Diffusion-DPO (Wallace et al. 2023), as architecture.md section 5 writes it:
//   mse_m(x0) = mean_{C,H,W} (e - eps_m(x_t, t, c))^2, winner and loser share t and e
//   inside    = -0.5 * beta * [ (mse_pol(w) - mse_pol(l)) - (mse_ref(w) - mse_ref(l)) ]
//   loss      = mean over the batch of -logsigmoid(inside);  implicit accuracy = mean(inside > 0)
// Positive inside: relative to the reference, the policy denoises the winner better than the loser.
// Only the UNet is trained; the text encoder and autoencoder stay as in the base model, so the
// text states are computed once per batch and shared by policy and reference.
import * as tf from '@tensorflow/tfjs-core';
import { qSample, type NoiseSchedule } from '../diffusion/schedule';
import type { ModelConfig } from '../model/config';
import type { Params } from '../model/layers';
import { predictNoise } from '../model/ldm';
import type { TextStates } from '../model/textEncoder';
import type { DenoiseBatch } from './safety';

export interface DpoBatch {
  /** Scaled latents of winners and losers, [B,8,8,C] each. */
  winners: tf.Tensor4D;
  losers: tf.Tensor4D;
  /** Text states of the B prompts (from the frozen text encoder). */
  text: TextStates;
  /** One timestep and one noise per pair, shared by its winner and loser. */
  timesteps: Int32Array;
  noise: tf.Tensor4D;
}

/**
 * Per-sample mse of a model on winners and on losers, [B] each. Winners and losers go through the
 * network as one batch of 2B; with `extra` (a prior-preservation batch), its items join the same batch (one forward and one
 * backward instead of two of each: the UNet treats every item on its own, so the values are those
 * of a separate call) and their mse comes back as `extra`.
 */
export function winnerLoserMse(params: Params, config: ModelConfig, schedule: NoiseSchedule, batch: DpoBatch, extra?: DenoiseBatch | null): { w: tf.Tensor1D; l: tf.Tensor1D; extra?: tf.Tensor1D } {
  const b = batch.winners.shape[0];
  const n = extra ? extra.x0.shape[0] : 0;
  const x0 = tf.concat([batch.winners, batch.losers, ...(extra ? [extra.x0] : [])], 0) as tf.Tensor4D;
  const noise = tf.concat([batch.noise, batch.noise, ...(extra ? [extra.noise] : [])], 0) as tf.Tensor4D;
  const ts = Int32Array.from([...batch.timesteps, ...batch.timesteps, ...(extra ? extra.timesteps : [])]);
  const xt = qSample(schedule, x0, noise, ts);
  const part = (f: (t: TextStates) => tf.Tensor) => tf.concat([f(batch.text), f(batch.text), ...(extra ? [f(extra.text)] : [])], 0);
  const text: TextStates = {
    tokens: part((t) => t.tokens) as tf.Tensor3D,
    mask: part((t) => t.mask) as tf.Tensor2D,
    pooled: part((t) => t.pooled) as tf.Tensor2D,
  };
  const eps = predictNoise(params, config, xt, tf.tensor1d(Float32Array.from(ts)), text);
  const mse = tf.mean(tf.squaredDifference(eps, noise), [1, 2, 3]);
  const [w, l, e] = tf.split(mse, n > 0 ? [b, b, n] : [b, b], 0);
  return n > 0 ? { w: w as tf.Tensor1D, l: l as tf.Tensor1D, extra: e as tf.Tensor1D } : { w: w as tf.Tensor1D, l: l as tf.Tensor1D };
}

/** Per-sample [mse(w) - mse(l)], shape [B]. */
export function mseDifference(params: Params, config: ModelConfig, schedule: NoiseSchedule, batch: DpoBatch): tf.Tensor1D {
  const { w, l } = winnerLoserMse(params, config, schedule, batch);
  return tf.sub(w, l) as tf.Tensor1D;
}

/** inside = -0.5 beta (policyDiff - referenceDiff), [B]. */
export function dpoInside(policyDiff: tf.Tensor1D, referenceDiff: tf.Tensor1D, beta: number): tf.Tensor1D {
  return tf.mul(tf.sub(policyDiff, referenceDiff), -0.5 * beta) as tf.Tensor1D;
}

/**
 * mean(-logsigmoid(inside)) written as mean(softplus(-inside)): tf.logSigmoid's custom gradient
 * reads a tensor its tidy has already freed when differentiated inside tf.grads (seen on cpu).
 */
export function dpoLossFromInside(inside: tf.Tensor1D): tf.Scalar {
  return tf.mean(tf.softplus(tf.neg(inside))) as tf.Scalar;
}

export interface DpoStats {
  loss: number;
  /** Fraction of pairs with inside > 0. */
  implicitAccuracy: number;
  /** Mean of inside: the implicit reward of the winner minus that of the loser. */
  rewardMargin: number;
  /** Mean of 1 - sigmoid(inside): the Bradley-Terry probability of the opposite label. Bounded per
   * pair, so one mislabelled or extreme pair cannot dominate it as it can the loss. */
  softError: number;
}

/** Reads the statistics of a batch from its `inside` values. */
export async function dpoStats(inside: tf.Tensor1D): Promise<DpoStats> {
  const v = await inside.data();
  let loss = 0;
  let acc = 0;
  let margin = 0;
  let soft = 0;
  for (const x of v) {
    soft += 1 / (1 + Math.exp(x));
    // -logsigmoid(x) = softplus(-x), computed stably.
    loss += x > 0 ? Math.log1p(Math.exp(-x)) : -x + Math.log1p(Math.exp(x));
    acc += x > 0 ? 1 : 0;
    margin += x;
  }
  const n = v.length;
  return { loss: loss / n, implicitAccuracy: acc / n, rewardMargin: margin / n, softError: soft / n };
}
