// The sum over the leading axes of a tensor, per channel of its last axis, as one loop over the
// wasm heap: the gradient of a bias or of a scale/shift (layers.ts channelSum).
//
// On wasm the Sum kernel reduces only the innermost axis (it transposes first otherwise) and
// measured 38-48x slower than a matMul of a ones row with dy as [rows, C]; that matMul in turn
// runs at about 0.5 GFLOP/s (a 1 x rows x C product packs dy for XNNPACK at every call): 67
// launches and 34 ms of a 1.26 s UNet+text training step by the profile of issue 11. Here it is
// one pass over dy with float64 accumulators. Other backends keep the matMul.
import { getKernel, registerKernel } from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { DisposingBackend, HeapBackend } from './kernelScope';
import { simdKernelsFor } from './simdModule';

/** Rows a float32 SIMD block sums before it is added to the float64 totals. */
const SIMD_BLOCK = 256;

const BACKEND = 'wasm';
export const CHANNEL_SUM_KERNEL = 'SailChannelSum';

export const channelSumWasm: KernelFunc = ({ inputs, backend }) => {
  const { x } = inputs as { x?: TensorInfo };
  if (x == null) throw new Error(`${CHANNEL_SUM_KERNEL} (wasm): expected input x`);
  if (x.dtype !== 'float32') throw new Error(`${CHANNEL_SUM_KERNEL} (wasm): float32 only, got ${x.dtype}`);
  if (x.shape.length < 1) throw new Error(`${CHANNEL_SUM_KERNEL} (wasm): x must have a channel axis, got a scalar`);
  const c = x.shape[x.shape.length - 1];
  const rows = x.shape.slice(0, -1).reduce((a, b) => a * b, 1);
  const be = backend as unknown as HeapBackend;
  const out = be.makeOutput([c], 'float32');
  if (c === 0) return out;
  const acc = new Float64Array(c);
  const simd = c % 4 === 0 && rows > 0 ? simdKernelsFor(backend) : null;
  if (simd) {
    // Blocks of SIMD_BLOCK rows summed in float32 on the SIMD kernel, the blocks added in float64.
    const block = (be as HeapBackend & DisposingBackend).makeOutput([c], 'float32');
    try {
      const part = be.typedArrayFromHeap(block);
      const px = be.typedArrayFromHeap(x).byteOffset;
      for (let r = 0; r < rows; r += SIMD_BLOCK) {
        part.fill(0);
        simd.colsum(px + 4 * r * c, Math.min(SIMD_BLOCK, rows - r), c, part.byteOffset);
        for (let k = 0; k < c; k++) acc[k] += part[k];
      }
    } finally {
      (be as unknown as DisposingBackend).disposeData(block.dataId);
    }
  } else if (rows > 0) {
    const X = be.typedArrayFromHeap(x);
    for (let r = 0, off = 0; r < rows; r++, off += c) {
      for (let k = 0; k < c; k++) acc[k] += X[off + k];
    }
  }
  be.typedArrayFromHeap(out).set(acc);
  return out;
};

export const channelSumWasmConfig: KernelConfig = { kernelName: CHANNEL_SUM_KERNEL, backendName: BACKEND, kernelFunc: channelSumWasm };

/** Registers the kernel for 'wasm' once; later calls do nothing. */
export function registerWasmChannelSum(): void {
  if (getKernel(CHANNEL_SUM_KERNEL, BACKEND) == null) registerKernel(channelSumWasmConfig);
}

/** Whether the kernel serves the active backend. */
export function channelSumKernelAvailable(backendName: string): boolean {
  return backendName === BACKEND && getKernel(CHANNEL_SUM_KERNEL, BACKEND) != null;
}
