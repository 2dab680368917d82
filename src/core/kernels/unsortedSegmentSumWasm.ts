// UnsortedSegmentSum for the TF.js wasm backend.
//
// @tensorflow/tfjs-backend-wasm 4.22.0 does not register UnsortedSegmentSum,
// and the gradient of tf.gather (GatherV2) is built on it, so training anything
// that gathers (the text encoder's token embedding) fails on wasm with
// "Kernel 'UnsortedSegmentSum' not registered". This registers it as one loop
// over the wasm heap:
//   out[s, ...] = sum_{i : ids[i] = s} x[i, ...]
// Ids outside [0, S) are dropped, as in TF. Rows are added in order of i, in
// float32, as the cpu backend does.
//
// A first version composed it from the backend's kernels as a one-hot matrix
// product (onehot(ids, S)^T x): on the text encoder's gradient (1,024 token rows,
// a vocabulary of 2,236, 64 wide) that is 293 MFLOP of multiplications by zero,
// 35 ms of a 1.26 s UNet+text training step by the profile of issue 11, where
// this loop adds 65,536 numbers.

import { getKernel, registerKernel, UnsortedSegmentSum } from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo, UnsortedSegmentSumAttrs } from '@tensorflow/tfjs-core';
import type { HeapBackend } from './kernelScope';

const BACKEND = 'wasm';

export const unsortedSegmentSumWasm: KernelFunc = ({ inputs, backend, attrs: rawAttrs }) => {
  const { x, segmentIds } = inputs as { x?: TensorInfo; segmentIds?: TensorInfo };
  const { numSegments } = rawAttrs as unknown as UnsortedSegmentSumAttrs;

  if (x == null || segmentIds == null) {
    throw new Error('UnsortedSegmentSum (wasm): expected inputs x and segmentIds');
  }
  if (x.dtype !== 'float32') {
    throw new Error(`UnsortedSegmentSum (wasm): only float32 x is supported, got ${x.dtype}`);
  }
  if (segmentIds.dtype !== 'int32') {
    throw new Error(`UnsortedSegmentSum (wasm): segmentIds must be int32, got ${segmentIds.dtype}`);
  }
  if (x.shape.length < 1 || segmentIds.shape.length !== 1 || segmentIds.shape[0] !== x.shape[0]) {
    throw new Error(
      `UnsortedSegmentSum (wasm): segmentIds must be 1-D with one id per row of x; ` +
        `got x [${x.shape}] and segmentIds [${segmentIds.shape}]`,
    );
  }
  if (!Number.isInteger(numSegments) || numSegments < 0) {
    throw new Error(`UnsortedSegmentSum (wasm): numSegments must be a non-negative integer, got ${numSegments}`);
  }

  const n = x.shape[0]!;
  const innerShape = x.shape.slice(1);
  const rest = innerShape.reduce((a, b) => a * b, 1);
  const be = backend as unknown as HeapBackend;
  const out = be.makeOutput([numSegments, ...innerShape], 'float32');
  if (numSegments * rest === 0) return out;
  const O = be.typedArrayFromHeap(out);
  O.fill(0);
  if (n * rest === 0) return out;
  const X = be.typedArrayFromHeap(x);
  const ids = be.typedArrayFromHeap(segmentIds) as unknown as Int32Array;
  for (let i = 0; i < n; i++) {
    const s = ids[i];
    if (s < 0 || s >= numSegments) continue;
    const o = s * rest;
    const r = i * rest;
    for (let k = 0; k < rest; k++) O[o + k] += X[r + k];
  }
  return out;
};

export const unsortedSegmentSumWasmConfig: KernelConfig = {
  kernelName: UnsortedSegmentSum,
  backendName: BACKEND,
  kernelFunc: unsortedSegmentSumWasm,
};

/** Registers UnsortedSegmentSum for 'wasm' once; later calls do nothing. */
export function registerWasmUnsortedSegmentSum(): void {
  if (getKernel(UnsortedSegmentSum, BACKEND) != null) return;
  registerKernel(unsortedSegmentSumWasmConfig);
}
