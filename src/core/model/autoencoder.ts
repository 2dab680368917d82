// Autoencoder: 32x32x3 images in [-1, 1] <-> 8x8x4 latents (downsample 4). A plain AE with a
// small latent penalty; latents are multiplied by config.latentScale (1 / their std over the
// training set) before diffusion so the noise schedule sees unit variance.
import * as tf from '@tensorflow/tfjs-core';
import type { AutoencoderConfig } from './config';
import { conv, groupNormSilu, silu, upsample2x, type ParamGetter } from './layers';

/** Residual block without time conditioning: x + conv(silu(gn(conv(silu(gn(x)))))). */
function aeResBlock(p: ParamGetter, name: string, x: tf.Tensor4D, c: number, groups: number): tf.Tensor4D {
  let h = conv(p, `${name}.conv1`, groupNormSilu(p, `${name}.norm1`, x, c, groups), c, c);
  h = conv(p, `${name}.conv2`, groupNormSilu(p, `${name}.norm2`, h, c, groups), c, c);
  return tf.add(x, h);
}

/** images [B,32,32,3] in [-1,1] -> unscaled latents [B,8,8,latentChannels]. */
export function encode(p: ParamGetter, cfg: AutoencoderConfig, images: tf.Tensor4D): tf.Tensor4D {
  const [c0, c1, c2] = cfg.channels;
  let h = silu(conv(p, 'ae.enc.conv_in', images, 3, c0)) as tf.Tensor4D; // 32x32
  h = silu(conv(p, 'ae.enc.down0', h, c0, c1, { stride: 2 })) as tf.Tensor4D; // 16x16
  h = aeResBlock(p, 'ae.enc.res0', h, c1, cfg.groups);
  h = silu(conv(p, 'ae.enc.down1', h, c1, c2, { stride: 2 })) as tf.Tensor4D; // 8x8
  h = aeResBlock(p, 'ae.enc.res1', h, c2, cfg.groups);
  h = groupNormSilu(p, 'ae.enc.norm_out', h, c2, cfg.groups);
  return conv(p, 'ae.enc.conv_out', h, c2, cfg.latentChannels);
}

/** unscaled latents [B,8,8,latentChannels] -> images [B,32,32,3] (not clipped). */
export function decode(p: ParamGetter, cfg: AutoencoderConfig, latents: tf.Tensor4D): tf.Tensor4D {
  const [c0, c1, c2] = cfg.channels;
  let h = conv(p, 'ae.dec.conv_in', latents, cfg.latentChannels, c2); // 8x8
  h = aeResBlock(p, 'ae.dec.res0', h, c2, cfg.groups);
  h = silu(conv(p, 'ae.dec.up0', upsample2x(h), c2, c1)) as tf.Tensor4D; // 16x16
  h = aeResBlock(p, 'ae.dec.res1', h, c1, cfg.groups);
  h = silu(conv(p, 'ae.dec.up1', upsample2x(h), c1, c0)) as tf.Tensor4D; // 32x32
  h = groupNormSilu(p, 'ae.dec.norm_out', h, c0, cfg.groups);
  return conv(p, 'ae.dec.conv_out', h, c0, 3);
}
