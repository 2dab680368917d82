// Training: Adam over a chosen subset of the flat parameter record, gradients by
// tf.valueAndGrads over plain tensors (no tf.Variable registry, so params stay pure data and the
// optimiser state is keyed by parameter name, which makes it resumable from a file).
import * as tf from '@tensorflow/tfjs-core';
import './gradients';
import { decode, encode } from './model/autoencoder';
import type { ModelConfig } from './model/config';
import { readParams, type Params } from './model/layers';
import { predictNoiseFromIds } from './model/ldm';
import type { NoiseSchedule } from './diffusion/schedule';
import { qSample } from './diffusion/schedule';

export interface AdamOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Clip the global gradient norm to this value (none when undefined). */
  clipNorm?: number;
}

export interface AdamState {
  step: number;
  /** First and second moments, keyed `m.<param>` and `v.<param>`. */
  moments: Params;
}

export function adamInit(params: Params, names: string[]): AdamState {
  const moments: Params = {};
  for (const n of names) {
    moments[`m.${n}`] = tf.zerosLike(params[n]);
    moments[`v.${n}`] = tf.zerosLike(params[n]);
  }
  return { step: 0, moments };
}

export function disposeAdam(state: AdamState): void {
  for (const t of Object.values(state.moments)) t.dispose();
}

/**
 * One optimisation step: loss(params) is differentiated w.r.t. params[names]; those entries of
 * `params` are replaced in place by their updated tensors (old ones disposed). Returns the loss
 * value and the gradient norm (before clipping), read asynchronously.
 */
export async function adamStep(
  params: Params,
  names: string[],
  state: AdamState,
  opts: AdamOptions,
  loss: (p: Params) => tf.Scalar,
): Promise<{ loss: number; gradNorm: number }> {
  const { lr, beta1 = 0.9, beta2 = 0.999, eps = 1e-8 } = opts;
  const t = state.step + 1;
  const result = tf.tidy(() => {
    const f = (...xs: tf.Tensor[]) => {
      const p: Params = { ...params };
      names.forEach((n, i) => (p[n] = xs[i]));
      return loss(p);
    };
    const { value, grads } = tf.valueAndGrads(f)(names.map((n) => params[n]));
    const gradNorm = tf.sqrt(tf.addN(grads.map((g) => tf.sum(tf.square(g)))));
    // Scale factor min(1, clip / norm); a non-finite norm leaves scale NaN and poisons the
    // update, which the caller sees in the returned loss and gradNorm.
    const scale = opts.clipNorm === undefined ? tf.scalar(1) : tf.minimum(1, tf.div(opts.clipNorm, tf.add(gradNorm, 1e-12)));
    const updated: tf.Tensor[] = [];
    names.forEach((n, i) => {
      const g = tf.mul(grads[i], scale);
      const m = tf.add(tf.mul(state.moments[`m.${n}`], beta1), tf.mul(g, 1 - beta1));
      const v = tf.add(tf.mul(state.moments[`v.${n}`], beta2), tf.mul(tf.square(g), 1 - beta2));
      const mHat = tf.div(m, 1 - beta1 ** t);
      const vHat = tf.div(v, 1 - beta2 ** t);
      const next = tf.sub(params[n], tf.mul(tf.div(mHat, tf.add(tf.sqrt(vHat), eps)), lr));
      updated.push(next, m, v);
    });
    return { value, gradNorm, updated };
  });
  names.forEach((n, i) => {
    params[n].dispose();
    state.moments[`m.${n}`].dispose();
    state.moments[`v.${n}`].dispose();
    params[n] = result.updated[3 * i];
    state.moments[`m.${n}`] = result.updated[3 * i + 1];
    state.moments[`v.${n}`] = result.updated[3 * i + 2];
  });
  state.step = t;
  const [lossValue, normValue] = await Promise.all([result.value.data(), result.gradNorm.data()]);
  result.value.dispose();
  result.gradNorm.dispose();
  return { loss: lossValue[0], gradNorm: normValue[0] };
}

/** Autoencoder objective: reconstruction MSE + a small L2 pull on the latents (keeps their scale bounded). */
export function autoencoderLoss(params: Params, config: ModelConfig, images: tf.Tensor4D, latentPenalty = 1e-4): tf.Scalar {
  const p = readParams(params);
  const z = encode(p, config.autoencoder, images);
  const recon = decode(p, config.autoencoder, z);
  return tf.add(tf.mean(tf.squaredDifference(recon, images)), tf.mul(tf.mean(tf.square(z)), latentPenalty)) as tf.Scalar;
}

export interface DiffusionBatch {
  /** Scaled latents [B,8,8,C]. */
  x0: tf.Tensor4D;
  noise: tf.Tensor4D;
  timesteps: Int32Array;
  ids: tf.Tensor2D;
  mask: tf.Tensor2D;
}

/** Per-sample noise-prediction MSE [B]: mean over C,H,W of (eps - eps_theta(x_t, t, c))^2 (DESIGN.md section 5). */
export function perSampleNoiseMse(params: Params, config: ModelConfig, schedule: NoiseSchedule, batch: DiffusionBatch): tf.Tensor1D {
  const xt = qSample(schedule, batch.x0, batch.noise, batch.timesteps);
  const t = tf.tensor1d(Float32Array.from(batch.timesteps));
  const eps = predictNoiseFromIds(params, config, xt, t, batch.ids, batch.mask);
  return tf.mean(tf.squaredDifference(eps, batch.noise), [1, 2, 3]) as tf.Tensor1D;
}

/** The denoising objective of pretraining: mean of perSampleNoiseMse. */
export function diffusionLoss(params: Params, config: ModelConfig, schedule: NoiseSchedule, batch: DiffusionBatch): tf.Scalar {
  return tf.mean(perSampleNoiseMse(params, config, schedule, batch)) as tf.Scalar;
}
