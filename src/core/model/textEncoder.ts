// Text encoder: token + position embeddings, then pre-LayerNorm transformer layers with a key
// padding mask. Output: per-token states [B, L, dim] for the UNet's cross-attention, and a pooled
// vector (masked mean) that joins the time embedding.
import * as tf from '@tensorflow/tfjs-core';
import type { TextConfig } from './config';
import { attention, layerNorm, linear, silu, type AttentionCache, type ParamGetter } from './layers';

export interface TextStates {
  tokens: tf.Tensor3D; // [B, L, dim]
  mask: tf.Tensor2D; // [B, L]
  pooled: tf.Tensor2D; // [B, dim]
  /**
   * Set by a caller that runs the UNet many times with one set of weights on these states and no
   * gradients (a sampler): the cross-attention's keys and values are computed once (layers.ts
   * attention). The caller disposes it.
   */
  cache?: AttentionCache;
}

/** ids: int32 [B, L]; mask: float32 [B, L]. */
export function encodeText(p: ParamGetter, cfg: TextConfig, ids: tf.Tensor2D, mask: tf.Tensor2D): TextStates {
  const [b, L] = ids.shape;
  const V = cfg.vocab.length;
  const D = cfg.dim;
  // Embedding as a gather: its gradient is UnsortedSegmentSum, which src/core/kernels registers
  // for wasm as one loop (a oneHot x matrix product gave the same numbers at 290 MFLOP a batch).
  const table = p('text.token_embedding', [V, D], { kind: 'normal', std: 0.5 });
  const positions = p('text.position_embedding', [L, D], { kind: 'normal', std: 0.1 });
  let h: tf.Tensor = tf.add(tf.reshape(tf.gather(table, tf.reshape(ids, [-1])), [b, L, D]), positions);
  for (let i = 0; i < cfg.layers; i++) {
    const n = `text.layer.${i}`;
    const a = layerNorm(p, `${n}.ln1`, h, D) as tf.Tensor3D;
    h = tf.add(h, attention(p, `${n}.attn`, a, a, { qDim: D, kvDim: D, inner: D, heads: cfg.heads, outDim: D }, mask));
    const m = layerNorm(p, `${n}.ln2`, h, D);
    h = tf.add(h, linear(p, `${n}.mlp.fc2`, silu(linear(p, `${n}.mlp.fc1`, m, D, 2 * D)), 2 * D, D));
  }
  const tokens = layerNorm(p, 'text.ln_final', h, D) as tf.Tensor3D;
  const m3 = tf.reshape(mask, [b, L, 1]);
  const pooled = tf.div(tf.sum(tf.mul(tokens, m3), 1), tf.maximum(tf.sum(m3, 1), 1)) as tf.Tensor2D;
  return { tokens, mask, pooled };
}
