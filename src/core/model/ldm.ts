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
  return tf.tidy(() => {
    const { tokens, mask, pooled } = textStatesWith(readParams(ck.params), ck.config, prompts);
    return { tokens, mask, pooled };
  }) as TextStates;
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
