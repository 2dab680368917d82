// SiLU's gradient in one pass over the wasm heap: dx = dy s (1 + x (1 - s)), s = sigmoid(x) saved by
// the forward (layers.ts silu). Composed, the same gradient is six launches over the tensor (the
// product rule's two multiplies, the sigmoid's gradient, the sum): about 2 ms each on a
// [64, 32, 32, 32] activation of the autoencoder. SIMD where the kernels run, a JS loop otherwise.
import { getKernel, registerKernel } from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { HeapBackend } from './kernelScope';
import { simdKernelsFor } from './simdModule';

const BACKEND = 'wasm';
export const SILU_GRAD_KERNEL = 'SailSiluGrad';

export const siluGradWasm: KernelFunc = ({ inputs, backend }) => {
  const { dy, x, s } = inputs as { dy?: TensorInfo; x?: TensorInfo; s?: TensorInfo };
  if (dy == null || x == null || s == null) throw new Error(`${SILU_GRAD_KERNEL} (wasm): expected inputs dy, x and s`);
  for (const t of [dy, x, s]) if (t.dtype !== 'float32') throw new Error(`${SILU_GRAD_KERNEL} (wasm): float32 only, got ${t.dtype}`);
  const n = x.shape.reduce((a, b) => a * b, 1);
  if (dy.shape.reduce((a, b) => a * b, 1) !== n || s.shape.reduce((a, b) => a * b, 1) !== n) {
    throw new Error(`${SILU_GRAD_KERNEL} (wasm): dy [${dy.shape}], x [${x.shape}] and s [${s.shape}] differ in size`);
  }
  const be = backend as unknown as HeapBackend;
  const out = be.makeOutput(x.shape, 'float32');
  const [D, X, S, O] = [dy, x, s, out].map((t) => be.typedArrayFromHeap(t) as Float32Array);
  const simd = simdKernelsFor(backend);
  const head = simd ? n - (n % 4) : 0;
  if (simd && head > 0) simd.siluGrad(D!.byteOffset, X!.byteOffset, S!.byteOffset, O!.byteOffset, head);
  for (let i = head; i < n; i++) O![i] = D![i]! * S![i]! * (1 + X![i]! * (1 - S![i]!));
  return out;
};

export const siluGradWasmConfig: KernelConfig = { kernelName: SILU_GRAD_KERNEL, backendName: BACKEND, kernelFunc: siluGradWasm };

/** Registers the kernel for 'wasm' once; later calls do nothing. */
export function registerWasmSiluGrad(): void {
  if (getKernel(SILU_GRAD_KERNEL, BACKEND) == null) registerKernel(siluGradWasmConfig);
}

/** Whether the kernel serves the active backend. */
export function siluGradKernelAvailable(backendName: string): boolean {
  return backendName === BACKEND && getKernel(SILU_GRAD_KERNEL, BACKEND) != null;
}
