// Text-to-image sampling: DDIM with classifier-free guidance in latent space, then decode.
// Image i of a request with seed s starts from noise seeded by hashSeed(s, i), so the same
// (prompt, seed, i) gives the same image whatever the batch size: comparisons share noise.
import * as tf from '@tensorflow/tfjs-core';
import { ddimStep, guidanceAt, guide } from './diffusion/ddim';
import { ddimTimesteps, makeSchedule } from './diffusion/schedule';
import { disposeAttentionCache, gaussianArray } from './model/layers';
import { decodeLatents, predictNoise, textStates, type Checkpoint } from './model/ldm';
import { Tokenizer } from './model/tokenizer';
import { hashSeed } from './random';

/**
 * Bound on the predicted clean latent in each DDIM step. The cosine schedule ends at
 * abar_999 = 2.4e-9, so the first step divides the noise-prediction error by sqrt(abar) = 5e-5;
 * unclipped, that error saturated every sample (measured: shapeless colour noise vs recognisable
 * faces and flags with a bound of 3 on unit-variance latents, same weights).
 */
export const DEFAULT_CLIP_X0 = 3;

export class CancelledError extends Error {
  constructor() {
    super('Cancelled');
    this.name = 'CancelledError';
  }
}

export interface GenerateOptions {
  prompt: string;
  count: number;
  seed: number;
  guidance?: number;
  steps?: number;
  onProgress?: (done: number, total: number) => void;
  isCancelled?: () => boolean;
}

export interface GeneratedImages {
  size: number;
  /** RGBA bytes, size*size*4 per image. */
  images: Uint8ClampedArray[];
}

/** Initial latent noise for images `first..first+count-1` of seed `seed`: [count, 8, 8, C]. */
export function initialNoise(ck: Checkpoint, seed: number, count: number, first = 0): tf.Tensor4D {
  const s = ck.config.latentSize;
  const c = ck.config.autoencoder.latentChannels;
  const per = s * s * c;
  const all = new Float32Array(count * per);
  for (let i = 0; i < count; i++) all.set(gaussianArray(per, hashSeed(seed, first + i)), i * per);
  return tf.tensor4d(all, [count, s, s, c]);
}

/** A seed per image from the bits of its starting noise (its first 8 values). */
export function noiseSeeds(noise: Float32Array, count: number): number[] {
  const per = noise.length / Math.max(1, count);
  const bits = new Uint32Array(noise.buffer, noise.byteOffset, noise.length);
  return Array.from({ length: count }, (_, i) => {
    let h = 0x9e3779b9;
    for (let k = 0; k < Math.min(8, per); k++) h = hashSeed(h, bits[i * per + k]!);
    return h;
  });
}

/** The fresh noise of DDIM step `step` for images with these seeds: [count, ...shape]. */
function stepNoise(seeds: number[], step: number, per: number, shape: number[]): tf.Tensor4D {
  const all = new Float32Array(seeds.length * per);
  seeds.forEach((s, i) => all.set(gaussianArray(per, hashSeed(s, 7907, step)), i * per));
  return tf.tensor4d(all, [seeds.length, ...shape.slice(1)] as [number, number, number, number]);
}

/**
 * Samples scaled latents for `prompts` (one image each) from the given starting noise.
 * Returns a new tensor; the caller disposes it and `noise`.
 */
export async function sampleLatents(
  ck: Checkpoint,
  prompts: string[],
  noise: tf.Tensor4D,
  opts: { guidance: number; steps: number; onStep?: (done: number, total: number) => void; isCancelled?: () => boolean },
): Promise<tf.Tensor4D> {
  const n = prompts.length;
  const schedule = makeSchedule(ck.config.schedule);
  const clipX0 = ck.config.sampling.clipX0 ?? DEFAULT_CLIP_X0;
  const timesteps = ddimTimesteps(schedule.trainSteps, opts.steps);
  // Conditional and null prompts in one batch: [cond; uncond].
  const text = textStates(ck, [...prompts, ...prompts.map(() => null)]);
  // The text and the weights are the same at every step: the attention's keys and values once.
  text.cache = new Map();
  const eta = ck.config.sampling.eta ?? 0;
  // eta > 0: each image's fresh noise at step i comes from a seed read off its own starting noise,
  // so an image's samples do not depend on the batch or the worker it is drawn in.
  const imageSeeds = eta > 0 ? noiseSeeds(await noise.data() as Float32Array, n) : null;
  const per = noise.size / Math.max(1, n);
  let x = noise.clone();
  try {
    for (let i = 0; i < timesteps.length; i++) {
      if (opts.isCancelled?.()) throw new CancelledError();
      const t = timesteps[i];
      const tPrev = i + 1 < timesteps.length ? timesteps[i + 1] : -1;
      const next = tf.tidy(() => {
        const xx = tf.concat([x, x], 0) as tf.Tensor4D;
        const g = guidanceAt(opts.guidance, t, ck.config.sampling.guidanceBands);
        const eps = guide(predictNoise(ck.params, ck.config, xx, tf.fill([2 * n], t) as tf.Tensor1D, text), g, ck.config.sampling.guidanceRescale ?? 0);
        const z = imageSeeds && tPrev >= 0 ? stepNoise(imageSeeds, i, per, noise.shape) : undefined;
        return ddimStep(schedule, x, eps, t, tPrev, clipX0, eta, z);
      });
      x.dispose();
      x = next;
      // Wait for the step to finish so progress is real, then yield a macrotask: on wasm the
      // data() promise resolves without one, and a worker would never read a cancel message.
      await x.data();
      await new Promise((resolve) => setTimeout(resolve, 0));
      opts.onStep?.(i + 1, timesteps.length);
    }
    return x;
  } catch (e) {
    x.dispose();
    throw e;
  } finally {
    disposeAttentionCache(text.cache!);
    text.tokens.dispose();
    text.mask.dispose();
    text.pooled.dispose();
  }
}

/** Decoded RGBA bytes from images in [-1, 1] [B,H,W,3]. */
export async function toRgba(images: tf.Tensor4D): Promise<Uint8ClampedArray[]> {
  const [b, h, w] = images.shape;
  const bytes = tf.tidy(() => tf.round(tf.mul(tf.add(images, 1), 127.5)));
  const data = await bytes.data();
  bytes.dispose();
  const out: Uint8ClampedArray[] = [];
  for (let i = 0; i < b; i++) {
    const rgba = new Uint8ClampedArray(h * w * 4);
    for (let j = 0; j < h * w; j++) {
      const k = (i * h * w + j) * 3;
      rgba[j * 4] = data[k];
      rgba[j * 4 + 1] = data[k + 1];
      rgba[j * 4 + 2] = data[k + 2];
      rgba[j * 4 + 3] = 255;
    }
    out.push(rgba);
  }
  return out;
}

export function unknownWords(ck: Checkpoint, prompt: string): string[] {
  return new Tokenizer(ck.config.text).unknownWords(prompt);
}

/** `count` images of one prompt; progress counts DDIM steps plus the decode. */
export async function generate(ck: Checkpoint, opts: GenerateOptions): Promise<GeneratedImages> {
  const steps = opts.steps ?? ck.config.sampling.steps;
  const guidance = opts.guidance ?? ck.config.sampling.guidance;
  if (!Number.isInteger(opts.count) || opts.count < 1 || opts.count > 64) throw new Error(`Image count must be 1..64, got ${opts.count}`);
  const noise = initialNoise(ck, opts.seed, opts.count);
  let latents: tf.Tensor4D;
  try {
    latents = await sampleLatents(ck, Array(opts.count).fill(opts.prompt), noise, {
      guidance,
      steps,
      isCancelled: opts.isCancelled,
      onStep: (done) => opts.onProgress?.(done, steps + 1),
    });
  } finally {
    noise.dispose();
  }
  const decoded = decodeLatents(ck, latents);
  latents.dispose();
  const images = await toRgba(decoded);
  decoded.dispose();
  opts.onProgress?.(steps + 1, steps + 1);
  return { size: ck.config.imageSize, images };
}
