// Attention's forward as one kernel for the TF.js wasm backend, for work without a tape (sampling,
// the reference model's and the reward's forward passes).
//
// Composed of tf ops, one attention call is the heads' split (a reshape and a transpose each of q,
// k and v), two batched products, a scale, the key mask's add, a softmax and the transpose back:
// at the UNet's sizes (16 or 64 queries, 16 keys, heads of 12-24 values) each is a short pass and
// together they took about a tenth of a sampling step on wasm. Here it is one pass per (batch item,
// query, head) over the heads where they lie in [B, L, H*d], on the wasm SIMD kernel (simd.wat
// attn_fwd): no transposes, the scores in a scratch row of Lk floats.
//
//   out[b, i, h] = sum_j softmax_j(scale q[b, i, h] . k[b, j, h] + bias[b, j]) v[b, j, h]
//
// The softmax's exp is a polynomial (relative error about 1e-7) of the score minus its row's
// maximum. Only where d and Lk are multiples of 4 and the SIMD module runs; elsewhere (and on other
// backends) layers.ts composes the ops as before. No gradient: it is never called under a tape.
import { getKernel, registerKernel } from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { DisposingBackend, HeapBackend } from './kernelScope';
import { simdKernelsFor } from './simdModule';

const BACKEND = 'wasm';
export const ATTENTION_KERNEL = 'SailAttention';

export interface AttentionAttrs {
  heads: number;
  scale: number;
}

let enabled = true;

/** Switches the fused kernel on or off (off: layers.ts composes the ops); for parity tests and A/B timing. */
export function setWasmFusedAttention(on: boolean): void {
  enabled = on;
}

const attentionWasm: KernelFunc = ({ inputs, backend, attrs }) => {
  const { q, k, v, bias } = inputs as { q: TensorInfo; k: TensorInfo; v: TensorInfo; bias?: TensorInfo };
  const { heads, scale } = attrs as unknown as AttentionAttrs;
  for (const [t, what] of [[q, 'q'], [k, 'k'], [v, 'v']] as const) {
    if (t.dtype !== 'float32' || t.shape.length !== 3) throw new Error(`${ATTENTION_KERNEL} (wasm): ${what} must be float32 [B, L, H*d], got ${t.dtype} [${t.shape}]`);
  }
  const [B, Lq, inner] = q.shape;
  const Lk = k.shape[1];
  if (k.shape[0] !== B || k.shape[2] !== inner || v.shape.join(',') !== k.shape.join(',')) throw new Error(`${ATTENTION_KERNEL} (wasm): q [${q.shape}], k [${k.shape}] and v [${v.shape}] do not match`);
  if (bias && (bias.dtype !== 'float32' || bias.shape.join(',') !== `${B},${Lk}`)) throw new Error(`${ATTENTION_KERNEL} (wasm): bias must be float32 [${B},${Lk}], got [${bias.shape}]`);
  const d = inner / heads;
  if (!Number.isInteger(d) || d % 4 !== 0 || Lk % 4 !== 0) throw new Error(`${ATTENTION_KERNEL} (wasm): heads of ${d} values and ${Lk} keys: both must be multiples of 4`);
  const simd = simdKernelsFor(backend);
  if (!simd) throw new Error(`${ATTENTION_KERNEL} (wasm): the SIMD module does not run here`);
  const be = backend as unknown as HeapBackend & DisposingBackend;
  const out = be.makeOutput([B, Lq, inner], 'float32');
  const scratch = be.makeOutput([Lk], 'float32');
  try {
    // Offsets read after every allocation (an allocation may grow the heap; offsets stay).
    const ptr = (t: TensorInfo) => be.typedArrayFromHeap(t).byteOffset;
    simd.attnFwd(ptr(q), ptr(k), ptr(v), bias ? ptr(bias) : 0, ptr(out), B, Lq, Lk, heads, d, scale, ptr(scratch));
  } finally {
    be.disposeData(scratch.dataId);
  }
  return out;
};

export const attentionWasmConfig: KernelConfig = { kernelName: ATTENTION_KERNEL, backendName: BACKEND, kernelFunc: attentionWasm };

/** Registers the kernel for 'wasm' once; later calls do nothing. */
export function registerWasmAttention(): void {
  if (getKernel(ATTENTION_KERNEL, BACKEND) == null) registerKernel(attentionWasmConfig);
}

/**
 * Whether the fused kernel takes this call on the active backend: wasm with the kernel registered
 * and its SIMD module running, heads of a multiple of 4 values, keys in fours.
 */
export function fusedAttentionTakes(backendName: string, backend: unknown, d: number, lk: number): boolean {
  return enabled && backendName === BACKEND && d % 4 === 0 && lk % 4 === 0 && getKernel(ATTENTION_KERNEL, BACKEND) != null && simdKernelsFor(backend) != null;
}
