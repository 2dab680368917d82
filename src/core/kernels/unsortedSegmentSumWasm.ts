// UnsortedSegmentSum for the TF.js wasm backend.
//
// @tensorflow/tfjs-backend-wasm 4.22.0 does not register UnsortedSegmentSum,
// and the gradient of tf.gather (GatherV2) is built on it, so training anything
// that gathers (e.g. an embedding lookup written with tf.gather) fails on wasm
// with "Kernel 'UnsortedSegmentSum' not registered". This registers it, composed
// from the wasm backend's own kernels as a one-hot matrix product:
//   out[s, ...] = sum_{i : ids[i] = s} x[i, ...]
//              = (onehot(ids, S)^T  [S, n])  x  (x reshaped [n, rest])
// Ids outside [0, S) get an all-zero one-hot row and are dropped, as in TF.
//
// The product is arranged with no transpose flags and batch 1 so that the wasm
// BatchMatMul takes its XNNPACK path. XNNPACK caches packed weights keyed on the
// id of operand b, so b is a private copy of x (disposed right after), never x's
// own id, which other kernels may later use with another shape.
//
// The kernels run through a KernelScope (kernelScope.ts), which releases every
// intermediate with backend.disposeData, on success and on error alike, and never
// touches the inputs. The Reshapes share their input's data id (the wasm backend
// bumps its reference count), so disposing a reshape frees nothing still in use.

import {
  BatchMatMul,
  Cast,
  Fill,
  getKernel,
  Identity,
  OneHot,
  registerKernel,
  Reshape,
  Transpose,
  UnsortedSegmentSum,
} from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo, UnsortedSegmentSumAttrs } from '@tensorflow/tfjs-core';
import { KernelScope, type DisposingBackend } from './kernelScope';

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
  const outShape = [numSegments, ...innerShape];
  const scope = new KernelScope(backend as unknown as DisposingBackend, 'UnsortedSegmentSum');
  if (n === 0 || rest === 0 || numSegments === 0) {
    return scope.close(scope.run(Fill, {}, { shape: outShape, value: 0, dtype: 'float32' }));
  }

  try {
    // The wasm OneHot writes int32 whatever dtype it is asked for (a float32
    // request yields denormals), so make int32 and cast.
    const oneHotInt = scope.run(OneHot, { indices: segmentIds }, {
      depth: numSegments, onValue: 1, offValue: 0, dtype: 'int32',
    }); // [n, S]
    const oneHot = scope.run(Cast, { x: oneHotInt }, { dtype: 'float32' });
    const oneHotT = scope.run(Transpose, { x: oneHot }, { perm: [1, 0] }); // [S, n]
    const a = scope.run(Reshape, { x: oneHotT }, { shape: [1, numSegments, n] });
    const xCopy = scope.run(Identity, { x }, {});
    const b = scope.run(Reshape, { x: xCopy }, { shape: [1, n, rest] });
    const product = scope.run(BatchMatMul, { a, b }, { transposeA: false, transposeB: false }); // [1, S, rest]
    // The output is a reshape of product: disposing product only drops its extra reference.
    return scope.close(scope.run(Reshape, { x: product }, { shape: outShape }));
  } catch (e) {
    scope.dispose(); // the error path, too, leaves nothing behind
    throw e;
  }
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
