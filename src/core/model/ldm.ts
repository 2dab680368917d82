// The latent diffusion model as a whole: a config plus one flat parameter record holding the
// autoencoder (ae.*), the text encoder (text.*) and the UNet (unet.*).
import * as tf from '@tensorflow/tfjs-core';
import { decode, encode } from './autoencoder';
import type { ModelConfig } from './config';
import { initialisingParams, readParams, type ParamGetter, type Params } from './layers';
import { encodeText, type TextStates } from './textEncoder';
import { Tokenizer } from './tokenizer';
import { unet } from './unet';

export interface Checkpoint {
  config: ModelConfig;
  params: Params;
}

export type ParamGroup = 'ae' | 'text' | 'unet';

/** Names of the parameters that belong to one network. */
export function paramNames(params: Params, ...groups: ParamGroup[]): string[] {
  return Object.keys(params).filter((n) => groups.some((g) => n.startsWith(`${g}.`)));
}

/** Fresh parameters for `config`, seeded; created by running each network once on dummy inputs. */
export function initParams(config: ModelConfig, seed: number): Params {
  const params: Params = {};
  const p = initialisingParams(seed, params);
  tf.tidy(() => {
    const s = config.imageSize;
    const images = tf.zeros([1, s, s, config.imageChannels]) as tf.Tensor4D;
    const latents = encode(p, config.autoencoder, images);
    decode(p, config.autoencoder, latents);
    const text = textStatesWith(p, config, [null]);
    unet(p, config.unet, latents, tf.zeros([1]) as tf.Tensor1D, text, config.autoencoder.latentChannels, config.text.dim);
  });
  return params;
}

function textStatesWith(p: ParamGetter, config: ModelConfig, prompts: (string | null)[]): TextStates {
  const { ids, mask } = new Tokenizer(config.text).encode(prompts);
  const L = config.text.maxLength;
  return encodeText(p, config.text, tf.tensor2d(ids, [prompts.length, L], 'int32'), tf.tensor2d(mask, [prompts.length, L]));
}

/** Text states for prompts; `null` is the null (unconditional) prompt. */
export function textStates(ck: Checkpoint, prompts: (string | null)[]): TextStates {
  const cache = textCaches.get(ck.params);
  if (cache) return cachedTextStates(ck, cache, prompts);
  return tf.tidy(() => {
    const { tokens, mask, pooled } = textStatesWith(readParams(ck.params), ck.config, prompts);
    return { tokens, mask, pooled };
  }) as TextStates;
}

/** Each prompt's text states (one row of each tensor, kept) while a cache is open on its weights. */
interface TextCache {
  rows: Map<string | null, TextStates>;
  users: number;
}

const textCaches = new WeakMap<Params, TextCache>();

/**
 * Runs `run` with the text encoder of `ck` memoised per prompt: every textStates(ck, ...) call
 * inside encodes only the prompts it has not seen and assembles the rest from their stored rows
 * (a training round asks for the same few dozen prompts at every step: 7 ms of a 300 ms
 * Diffusion-DPO step of 16 pairs went to encoding them again). Only for weights that do not change
 * while it runs (a round trains the UNet alone). Each prompt is encoded on its own row (the encoder
 * treats every prompt on its own: fixed length, per-prompt attention and norms), so the states are
 * the ones a direct call gives. The rows are disposed when the outermost `run` ends.
 */
export async function withTextCache<T>(ck: Checkpoint, run: () => Promise<T>): Promise<T> {
  const close = openTextCache(ck);
  try {
    return await run();
  } finally {
    close();
  }
}

/** withTextCache's cache opened until the returned function is called (once); caches nest. */
export function openTextCache(ck: Checkpoint): () => void {
  let cache = textCaches.get(ck.params);
  if (!cache) {
    cache = { rows: new Map(), users: 0 };
    textCaches.set(ck.params, cache);
  }
  const c = cache;
  c.users++;
  let open = true;
  return () => {
    if (!open) return;
    open = false;
    if (--c.users === 0) {
      for (const r of c.rows.values()) tf.dispose([r.tokens, r.mask, r.pooled]);
      textCaches.delete(ck.params);
    }
  };
}

function cachedTextStates(ck: Checkpoint, cache: TextCache, prompts: (string | null)[]): TextStates {
  const missing = [...new Set(prompts)].filter((p) => !cache.rows.has(p));
  if (missing.length > 0) {
    tf.tidy(() => {
      const { tokens, mask, pooled } = textStatesWith(readParams(ck.params), ck.config, missing);
      const [t, m, q] = [tf.split(tokens, missing.length, 0), tf.split(mask, missing.length, 0), tf.split(pooled, missing.length, 0)];
      missing.forEach((p, i) => cache.rows.set(p, { tokens: tf.keep(t[i]!) as tf.Tensor3D, mask: tf.keep(m[i]!) as tf.Tensor2D, pooled: tf.keep(q[i]!) as tf.Tensor2D }));
    });
  }
  const rows = prompts.map((p) => cache.rows.get(p)!);
  return tf.tidy(() => ({
    tokens: tf.concat(rows.map((r) => r.tokens), 0),
    mask: tf.concat(rows.map((r) => r.mask), 0),
    pooled: tf.concat(rows.map((r) => r.pooled), 0),
  })) as TextStates;
}

/** images [B,32,32,3] in [-1,1] -> latents scaled to unit variance [B,8,8,4]. */
export function encodeImages(ck: Checkpoint, images: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => tf.mul(encode(readParams(ck.params), ck.config.autoencoder, images), ck.config.latentScale));
}

/** scaled latents -> images in [-1,1] (clipped). */
export function decodeLatents(ck: Checkpoint, latents: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => tf.clipByValue(decode(readParams(ck.params), ck.config.autoencoder, tf.div(latents, ck.config.latentScale)), -1, 1));
}

/** eps_theta(x_t, t, c) for scaled latents x_t [B,8,8,4] and timesteps [B]. */
export function predictNoise(params: Params, config: ModelConfig, xt: tf.Tensor4D, timesteps: tf.Tensor1D, text: TextStates): tf.Tensor4D {
  return unet(readParams(params), config.unet, xt, timesteps, text, config.autoencoder.latentChannels, config.text.dim);
}

/** eps prediction that also runs the text encoder from `params` (so its gradient reaches text.*). */
export function predictNoiseFromIds(params: Params, config: ModelConfig, xt: tf.Tensor4D, timesteps: tf.Tensor1D, ids: tf.Tensor2D, mask: tf.Tensor2D): tf.Tensor4D {
  const p = readParams(params);
  const text = encodeText(p, config.text, ids, mask);
  return unet(p, config.unet, xt, timesteps, text, config.autoencoder.latentChannels, config.text.dim);
}
