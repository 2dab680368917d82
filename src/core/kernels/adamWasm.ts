// Adam with global-norm clipping over the flat gradient as one kernel for the TF.js wasm backend.
//
// Composed of tf ops (train.ts adamApply), a step is about seventeen passes over the flat buffers
// (the norm's square and sum, the clip, the moments' four products and two sums, the update's
// products, root, sum and quotient, the parameters' concat and the subtraction) and then the new
// flat values cut back into one tensor per parameter: on a Diffusion-DPO step's 1.4 M weights,
// 7 products alone took 7 ms by the profile. Here it is two passes on the wasm SIMD kernels
// (simd.wat sumsq and adam): the squared norm, then per parameter the clipped gradient, both
// moments and the new weights written straight into that parameter's new tensor. The arithmetic
// is adamApply's, in its order, in float32; the norm's sum runs in 16 lanes.
//
// Inputs: grad, m, v [N] and p0..p{k-1}, the parameters in the flat order (sizes summing to N).
// Outputs: m', v', the gradient norm before clipping [1], then the k new parameters.
import { getKernel, registerKernel } from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { DisposingBackend, HeapBackend } from './kernelScope';
import { simdKernelsFor } from './simdModule';

const BACKEND = 'wasm';
export const ADAM_KERNEL = 'SailAdamFlat';

export interface AdamKernelAttrs {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** The step's number, 1 for the first (bias corrections). */
  t: number;
  /** Clip the global norm to this (negative: no clipping). */
  clipNorm: number;
}

let enabled = true;

/** Switches the kernel on or off (off: adamApply composes the ops); for parity tests and A/B timing. */
export function setWasmAdamKernel(on: boolean): void {
  enabled = on;
}

const adamWasm: KernelFunc = ({ inputs, backend, attrs }) => {
  const { grad, m, v } = inputs as { grad: TensorInfo; m: TensorInfo; v: TensorInfo };
  const { lr, beta1, beta2, eps, t, clipNorm } = attrs as unknown as AdamKernelAttrs;
  const params: TensorInfo[] = [];
  for (let i = 0; (inputs as Record<string, TensorInfo | undefined>)[`p${i}`]; i++) params.push((inputs as Record<string, TensorInfo>)[`p${i}`]);
  const n = grad.shape[0];
  const sizes = params.map((p) => p.shape.reduce((a, b) => a * b, 1));
  if ([grad, m, v, ...params].some((x) => x.dtype !== 'float32')) throw new Error(`${ADAM_KERNEL} (wasm): float32 only`);
  if (m.shape[0] !== n || v.shape[0] !== n || sizes.reduce((a, b) => a + b, 0) !== n) throw new Error(`${ADAM_KERNEL} (wasm): grad [${n}], m [${m.shape}], v [${v.shape}] and the parameters' ${sizes.reduce((a, b) => a + b, 0)} values differ`);
  const simd = simdKernelsFor(backend);
  if (!simd) throw new Error(`${ADAM_KERNEL} (wasm): the SIMD module does not run here`);
  const be = backend as unknown as HeapBackend & DisposingBackend;
  const om = be.makeOutput([n], 'float32');
  const ov = be.makeOutput([n], 'float32');
  const norm = be.makeOutput([1], 'float32');
  const outs = params.map((p) => be.makeOutput([...p.shape], 'float32'));
  const lanes = be.makeOutput([16], 'float32');
  try {
    // Views and offsets after every allocation (an allocation may grow the heap).
    const view = (x: TensorInfo) => be.typedArrayFromHeap(x) as Float32Array;
    const G = view(grad);
    const body = n - (n % 16);
    simd.sumsq(G.byteOffset, body, view(lanes).byteOffset);
    let sq = 0;
    for (const x of view(lanes)) sq += x;
    for (let i = body; i < n; i++) sq += G[i] * G[i];
    const gnorm = Math.fround(Math.sqrt(Math.fround(sq)));
    view(norm)[0] = gnorm;
    // adamApply's scale min(1, clip / (norm + 1e-12)); where the norm is NaN, 1 as the wasm
    // backend's Minimum gives, so a NaN gradient value poisons its own entries (and the norm the
    // caller checks), as the composed ops do.
    const ratio = Math.fround(clipNorm / Math.fround(gnorm + 1e-12));
    const scale = clipNorm >= 0 && ratio < 1 ? ratio : 1;
    const f = Math.fround;
    const [b1, a1, b2, a2] = [f(beta1), f(1 - beta1), f(beta2), f(1 - beta2)];
    const [c1, c2, e] = [f(lr / (1 - beta1 ** t)), f(1 / (1 - beta2 ** t)), f(eps)];
    const [M, V, OM, OV] = [view(m), view(v), view(om), view(ov)];
    let at = 0;
    params.forEach((p, k) => {
      const size = sizes[k];
      const P = view(p);
      const OP = view(outs[k]);
      const main = size - (size % 4);
      simd.adam(G.byteOffset + 4 * at, M.byteOffset + 4 * at, V.byteOffset + 4 * at, P.byteOffset, OM.byteOffset + 4 * at, OV.byteOffset + 4 * at, OP.byteOffset, main, scale, b1, a1, b2, a2, c1, c2, e);
      for (let i = main; i < size; i++) {
        const g = f(G[at + i] * scale);
        const mm = f(f(M[at + i] * b1) + f(g * a1));
        const vv = f(f(V[at + i] * b2) + f(f(g * g) * a2));
        OM[at + i] = mm;
        OV[at + i] = vv;
        OP[i] = f(P[i] - f(f(mm * c1) / f(f(Math.sqrt(f(vv * c2))) + e)));
      }
      at += size;
    });
  } catch (err) {
    for (const x of [om, ov, norm, ...outs]) be.disposeData(x.dataId);
    throw err;
  } finally {
    be.disposeData(lanes.dataId);
  }
  return [om, ov, norm, ...outs];
};

export const adamWasmConfig: KernelConfig = { kernelName: ADAM_KERNEL, backendName: BACKEND, kernelFunc: adamWasm };

/** Registers the kernel for 'wasm' once; later calls do nothing. */
export function registerWasmAdam(): void {
  if (getKernel(ADAM_KERNEL, BACKEND) == null) registerKernel(adamWasmConfig);
}

/** Whether the kernel serves the active backend (wasm, registered, its SIMD module running). */
export function adamKernelTakes(backendName: string, backend: unknown): boolean {
  return enabled && backendName === BACKEND && getKernel(ADAM_KERNEL, BACKEND) != null && simdKernelsFor(backend) != null;
}
