// Noise-predicting UNet over 8x8 latents, conditioned on the timestep (sinusoidal embedding +
// MLP, plus the pooled text vector) and on the text tokens by cross-attention at every level.
// Level 0 is 8x8, level 1 is 4x4; self-attention only where config.selfAttentionLevels says.
import * as tf from '@tensorflow/tfjs-core';
import type { UNetConfig } from './config';
import { attention, conv, groupNorm, groupNormSilu, layerNorm, linear, silu, upsample2x, type ParamGetter } from './layers';
import type { TextStates } from './textEncoder';

/** Sinusoidal embedding of (float) timesteps t [B] -> [B, dim] (Vaswani et al. 2017, as in DDPM). */
export function timestepEmbedding(t: tf.Tensor1D, dim: number): tf.Tensor2D {
  const half = dim / 2;
  const freqs = new Float32Array(half);
  for (let i = 0; i < half; i++) freqs[i] = Math.exp((-Math.log(10000) * i) / half);
  const args = tf.mul(tf.reshape(t, [-1, 1]), tf.tensor2d(freqs, [1, half]));
  return tf.concat([tf.sin(args), tf.cos(args)], 1) as tf.Tensor2D;
}

function resBlock(p: ParamGetter, name: string, x: tf.Tensor4D, temb: tf.Tensor2D, inC: number, outC: number, cfg: UNetConfig): tf.Tensor4D {
  let h = conv(p, `${name}.conv1`, groupNormSilu(p, `${name}.norm1`, x, inC, cfg.groups), inC, outC);
  const shift = linear(p, `${name}.time`, silu(temb), cfg.timeDim, outC);
  h = tf.add(h, tf.reshape(shift, [-1, 1, 1, outC]));
  // conv2 starts at zero so every block starts as the identity: stable early training.
  h = conv(p, `${name}.conv2`, groupNormSilu(p, `${name}.norm2`, h, outC, cfg.groups), outC, outC, { zeroInit: true });
  const skip = inC === outC ? x : conv(p, `${name}.skip`, x, inC, outC, { k: 1 });
  return tf.add(skip, h);
}

/** Self-attention (optional) then cross-attention to the text, as one pre-norm residual. */
function attentionBlock(p: ParamGetter, name: string, x: tf.Tensor4D, text: TextStates, c: number, withSelf: boolean, cfg: UNetConfig, textDim: number): tf.Tensor4D {
  const [b, hgt, wid] = x.shape;
  const normed = tf.reshape(groupNorm(p, `${name}.norm`, x, c, cfg.groups), [b, hgt * wid, c]) as tf.Tensor3D;
  let query = normed;
  let delta: tf.Tensor3D | null = null;
  if (withSelf) {
    delta = attention(p, `${name}.self`, normed, normed, { qDim: c, kvDim: c, inner: c, heads: cfg.heads, outDim: c });
    query = layerNorm(p, `${name}.ln_cross`, tf.add(normed, delta), c) as tf.Tensor3D;
  }
  // The cross-attention output projection starts at zero: the text is learnt in, not imposed.
  const cross = attention(p, `${name}.cross`, query, text.tokens, { qDim: c, kvDim: textDim, inner: c, heads: cfg.heads, outDim: c, zeroOut: true }, text.mask, text.cache);
  const total = delta ? tf.add(delta, cross) : cross;
  return tf.add(x, tf.reshape(total, [b, hgt, wid, c]));
}

/**
 * eps prediction. x: scaled noisy latents [B,8,8,C]; t: float timesteps [B]; text: encoder states.
 */
export function unet(p: ParamGetter, cfg: UNetConfig, x: tf.Tensor4D, t: tf.Tensor1D, text: TextStates, latentChannels: number, textDim: number): tf.Tensor4D {
  const ch = cfg.channels;
  let temb = linear(p, 'unet.time.fc1', timestepEmbedding(t, cfg.timeDim), cfg.timeDim, cfg.timeDim);
  temb = linear(p, 'unet.time.fc2', silu(temb), cfg.timeDim, cfg.timeDim);
  temb = tf.add(temb, linear(p, 'unet.time.text', text.pooled, textDim, cfg.timeDim)) as tf.Tensor2D;
  const temb2 = temb as tf.Tensor2D;

  let h = conv(p, 'unet.conv_in', x, latentChannels, ch[0]);
  const skips: { t: tf.Tensor4D; c: number }[] = [{ t: h, c: ch[0] }];
  let c = ch[0];
  for (let level = 0; level < ch.length; level++) {
    for (let r = 0; r < cfg.resBlocks; r++) {
      h = resBlock(p, `unet.down.${level}.res.${r}`, h, temb2, c, ch[level], cfg);
      c = ch[level];
      h = attentionBlock(p, `unet.down.${level}.attn.${r}`, h, text, c, cfg.selfAttentionLevels.includes(level), cfg, textDim);
      skips.push({ t: h, c });
    }
    if (level < ch.length - 1) {
      h = conv(p, `unet.down.${level}.downsample`, h, c, c, { stride: 2 });
      skips.push({ t: h, c });
    }
  }
  h = resBlock(p, 'unet.mid.res.0', h, temb2, c, c, cfg);
  h = attentionBlock(p, 'unet.mid.attn', h, text, c, true, cfg, textDim);
  for (let level = ch.length - 1; level >= 0; level--) {
    for (let r = 0; r < cfg.resBlocks + 1; r++) {
      const skip = skips.pop()!;
      h = resBlock(p, `unet.up.${level}.res.${r}`, tf.concat([h, skip.t], 3) as tf.Tensor4D, temb2, c + skip.c, ch[level], cfg);
      c = ch[level];
      h = attentionBlock(p, `unet.up.${level}.attn.${r}`, h, text, c, cfg.selfAttentionLevels.includes(level), cfg, textDim);
    }
    if (level > 0) {
      h = conv(p, `unet.up.${level}.upsample`, upsample2x(h), c, ch[level - 1]);
      c = ch[level - 1];
    }
  }
  h = groupNormSilu(p, 'unet.norm_out', h, c, cfg.groups);
  return conv(p, 'unet.conv_out', h, c, latentChannels, { zeroInit: true });
}
