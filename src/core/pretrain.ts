// Pretraining of the base model: the autoencoder first, then the text encoder + UNet on frozen,
// pre-encoded latents. Every random draw of step s is a pure function of (seed, phase, s), so a
// run resumed from a checkpoint at step s continues exactly as the uninterrupted run would.
import * as tf from '@tensorflow/tfjs-core';
import { tokenizeWords } from './data/emoji';
import { drawWeighted } from './data/sampling';
import { makeSchedule, type NoiseSchedule } from './diffusion/schedule';
import type { ModelConfig } from './model/config';
import { gaussianArray, type Params } from './model/layers';
import { decodeLatents, encodeImages, type Checkpoint } from './model/ldm';
import { decode, encode } from './model/autoencoder';
import { readParams } from './model/layers';
import { Tokenizer } from './model/tokenizer';
import { hashSeed, mulberry32 } from './random';
import { autoencoderLoss, diffusionLoss, type DiffusionBatch } from './train';

/** Vocabulary: every word of every training prompt, in first-seen order (deterministic). */
export function buildVocab(prompts: string[]): string[] {
  const seen = new Set<string>();
  for (const p of prompts) for (const w of tokenizeWords(p)) seen.add(w);
  return [...seen];
}

const PHASE_AE = 1;
const PHASE_UNET = 2;
const PHASE_DECODER = 3;

/**
 * Batch indices for one step, with replacement over `n` examples: uniform, or by the cumulative
 * weights `cdf` (data/sampling.ts) when given. The same uniform draws feed both, so a step's batch
 * stays a pure function of (seed, phase, step).
 */
export function batchIndices(n: number, batch: number, seed: number, phase: number, step: number, cdf?: Float64Array): number[] {
  if (cdf && cdf.length !== n) throw new Error(`sampling table has ${cdf.length} entries for ${n} examples`);
  const rand = mulberry32(hashSeed(seed, phase, step, 0));
  return Array.from({ length: batch }, () => (cdf ? drawWeighted(cdf, rand()) : Math.floor(rand() * n)));
}

function gather(data: Float32Array, per: number, indices: number[]): Float32Array {
  const out = new Float32Array(indices.length * per);
  indices.forEach((idx, i) => out.set(data.subarray(idx * per, (idx + 1) * per), i * per));
  return out;
}

/** Images of one autoencoder step: [B,32,32,3] from `images` ([n*32*32*3] in [-1,1]). */
export function autoencoderBatch(images: Float32Array, imageSize: number, batch: number, seed: number, step: number): tf.Tensor4D {
  const per = imageSize * imageSize * 3;
  const idx = batchIndices(images.length / per, batch, seed, PHASE_AE, step);
  return tf.tensor4d(gather(images, per, idx), [batch, imageSize, imageSize, 3]);
}

/**
 * One decoder fine-tuning step's batch: the frozen encoder's unscaled latents of random images and
 * the images themselves. The encoder stays fixed, so the latent space the UNet learned is unchanged.
 */
export function decoderBatch(
  images: Float32Array,
  unscaledLatents: Float32Array,
  config: ModelConfig,
  batch: number,
  seed: number,
  step: number,
): { latents: tf.Tensor4D; images: tf.Tensor4D } {
  const size = config.imageSize;
  const per = size * size * 3;
  const s = config.latentSize;
  const c = config.autoencoder.latentChannels;
  const idx = batchIndices(images.length / per, batch, seed, PHASE_DECODER, step);
  return {
    latents: tf.tensor4d(gather(unscaledLatents, s * s * c, idx), [batch, s, s, c]),
    images: tf.tensor4d(gather(images, per, idx), [batch, size, size, 3]),
  };
}

/** Reconstruction MSE of the decoder alone on given latents. */
export function decoderStepLoss(params: Params, config: ModelConfig, batch: { latents: tf.Tensor4D; images: tf.Tensor4D }): tf.Scalar {
  return tf.mean(tf.squaredDifference(decode(readParams(params), config.autoencoder, batch.latents), batch.images)) as tf.Scalar;
}

export function autoencoderStepLoss(params: Params, config: ModelConfig, images: tf.Tensor4D): tf.Scalar {
  return autoencoderLoss(params, config, images);
}

/**
 * One UNet step's batch: latents of random examples (uniform, or weighted by `cdf`; with
 * `variants` > 1, one of each example's augmented renderings), their prompts (replaced by the null prompt
 * with probability `cfgDropout`, for classifier-free guidance), uniform timesteps, fresh noise.
 */
export function diffusionBatch(
  latents: Float32Array,
  prompts: string[],
  config: ModelConfig,
  opts: { batch: number; seed: number; step: number; cfgDropout: number; cdf?: Float64Array; variants?: number },
): DiffusionBatch {
  const s = config.latentSize;
  const c = config.autoencoder.latentChannels;
  const per = s * s * c;
  const { batch, seed, step } = opts;
  const idx = batchIndices(prompts.length, batch, seed, PHASE_UNET, step, opts.cdf);
  const rand = mulberry32(hashSeed(seed, PHASE_UNET, step, 1));
  const timesteps = Int32Array.from(idx, () => Math.floor(rand() * config.schedule.trainSteps));
  const batchPrompts = idx.map((i) => (rand() < opts.cfgDropout ? null : prompts[i]));
  // With augmented copies (data/augment.ts, variant-major after the originals), each example takes
  // one of its `variants` renderings, drawn uniformly: a separate stream, so the images, timesteps
  // and prompts of a step are those of the run without copies.
  const variants = opts.variants ?? 1;
  if (latents.length !== variants * prompts.length * per) throw new Error(`${latents.length / per} latents for ${prompts.length} prompts x ${variants} variants`);
  const pick = mulberry32(hashSeed(seed, PHASE_UNET, step, 3));
  const rows = variants > 1 ? idx.map((i) => Math.floor(pick() * variants) * prompts.length + i) : idx;
  const { ids, mask } = new Tokenizer(config.text).encode(batchPrompts);
  const L = config.text.maxLength;
  return {
    x0: tf.tensor4d(gather(latents, per, rows), [batch, s, s, c]),
    noise: tf.tensor4d(gaussianArray(batch * per, hashSeed(seed, PHASE_UNET, step, 2)), [batch, s, s, c]),
    timesteps,
    ids: tf.tensor2d(ids, [batch, L], 'int32'),
    mask: tf.tensor2d(mask, [batch, L]),
  };
}

/**
 * Rows [start, start + count) of a batch, as a batch of their own (new tensors): a data-parallel
 * step computes each shard's gradient where it runs and averages them.
 */
export function sliceBatch(b: DiffusionBatch, start: number, count: number): DiffusionBatch {
  return {
    x0: tf.slice(b.x0, [start, 0, 0, 0], [count, -1, -1, -1]),
    noise: tf.slice(b.noise, [start, 0, 0, 0], [count, -1, -1, -1]),
    timesteps: b.timesteps.slice(start, start + count),
    ids: tf.slice(b.ids, [start, 0], [count, -1]),
    mask: tf.slice(b.mask, [start, 0], [count, -1]),
  };
}

export function disposeBatch(b: DiffusionBatch): void {
  tf.dispose([b.x0, b.noise, b.ids, b.mask]);
}

export function unetStepLoss(params: Params, config: ModelConfig, schedule: NoiseSchedule, batch: DiffusionBatch): tf.Scalar {
  return diffusionLoss(params, config, schedule, batch);
}

/** Unscaled encoder latents for all images, in chunks: Float32Array [n*8*8*C]. */
export async function encodeAll(params: Params, config: ModelConfig, images: Float32Array, chunk = 128): Promise<Float32Array> {
  const size = config.imageSize;
  const per = size * size * 3;
  const n = images.length / per;
  const latentPer = config.latentSize * config.latentSize * config.autoencoder.latentChannels;
  const out = new Float32Array(n * latentPer);
  for (let start = 0; start < n; start += chunk) {
    const count = Math.min(chunk, n - start);
    const z = tf.tidy(() => encode(readParams(params), config.autoencoder, tf.tensor4d(images.subarray(start * per, (start + count) * per), [count, size, size, 3])));
    out.set(await z.data(), start * latentPer);
    z.dispose();
  }
  return out;
}

/** 1 / standard deviation of the latents: makes the diffusion see unit-variance data (LDM, Rombach et al. 2022). */
export function latentScaleFor(unscaledLatents: Float32Array): number {
  let sum = 0;
  let sq = 0;
  for (const v of unscaledLatents) {
    sum += v;
    sq += v * v;
  }
  const n = unscaledLatents.length;
  const variance = sq / n - (sum / n) ** 2;
  return 1 / Math.sqrt(Math.max(variance, 1e-12));
}

/** Reconstruction PSNR in dB over images in [-1,1]: 10 log10(peak^2 / MSE), peak-to-peak 2. */
export async function reconstructionPsnr(ck: Checkpoint, images: Float32Array): Promise<number> {
  const size = ck.config.imageSize;
  const n = images.length / (size * size * 3);
  const mse = tf.tidy(() => {
    const x = tf.tensor4d(images, [n, size, size, 3]);
    return tf.mean(tf.squaredDifference(decodeLatents(ck, encodeImages(ck, x)), x));
  });
  const value = (await mse.data())[0];
  mse.dispose();
  return 10 * Math.log10(4 / value);
}

export { makeSchedule };

/**
 * Learning rate of a step: constant `lr` until `decayStart`, then a cosine tail down to `lrMin` at
 * `total` (Loshchilov & Hutter 2017). Measured on the shipped base: at a constant 1e-3 the
 * denoising loss sits on a noise floor; the decaying tail took 15% off the fixed held-out loss.
 * `decayStart` < 0 means no decay. An optional `warmup` ramps the rate linearly from lr/steps over
 * `steps` steps from step `from` (a decayed run extended at full rate restarts smoothly).
 */
export function unetLearningRate(step: number, opts: { lr: number; lrMin: number; decayStart: number; total: number; warmup?: { from: number; steps: number } }): number {
  const { lr, lrMin, decayStart, total, warmup } = opts;
  let rate = lr;
  if (decayStart >= 0 && step >= decayStart && total > decayStart) {
    const progress = Math.min(1, (step - decayStart) / (total - decayStart));
    rate = lrMin + 0.5 * (lr - lrMin) * (1 + Math.cos(Math.PI * progress));
  }
  if (warmup && warmup.steps > 0 && step >= warmup.from && step < warmup.from + warmup.steps) rate *= (step - warmup.from + 1) / warmup.steps;
  return rate;
}

/** EMA decay of the n-th update (n from 0): min(max, (1 + n) / (10 + n)), ramped so early averages are not stuck at the init. */
export function emaDecay(n: number, max: number): number {
  return Math.min(max, (1 + n) / (10 + n));
}

/** ema[name] <- d * ema[name] + (1 - d) * params[name] for every name of `ema`; old tensors disposed. */
export function emaUpdate(ema: Params, params: Params, decay: number): void {
  for (const name of Object.keys(ema)) {
    const next = tf.tidy(() => tf.add(tf.mul(ema[name], decay), tf.mul(params[name], 1 - decay)));
    ema[name].dispose();
    ema[name] = next;
  }
}

/** Copies of params[names], the starting EMA. */
export function emaInit(params: Params, names: string[]): Params {
  const out: Params = {};
  for (const n of names) out[n] = tf.clone(params[n]);
  return out;
}
