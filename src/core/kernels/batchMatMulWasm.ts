// BatchMatMul on wasm with transposed operands, made fast.
//
// The wasm backend takes XNNPACK's fast path only for untransposed operands with batch 1, and a
// naive blocked loop otherwise. Every gradient of a matMul asks for a transposed operand
// (dW = x^T dy, dx = dy W^T), so on a training step of our UNet those products ran at 1.6-3.5
// GFLOP/s and were the largest kernel time. This wrapper transposes such operands explicitly
// (a cheap copy) and calls the shipped kernel untransposed. Batched products (attention) go to
// the shipped kernel unchanged.
import { BatchMatMul, Transpose } from '@tensorflow/tfjs-core';
import type { BatchMatMulAttrs, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { KernelScope, replaceWasmKernel, type DisposingBackend } from './kernelScope';


function swapLastTwo(rank: number): number[] {
  const perm = Array.from({ length: rank }, (_, i) => i);
  [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1], perm[rank - 2]];
  return perm;
}

const batchMatMulUntransposed = (base: KernelFunc): KernelFunc => ({ inputs, backend, attrs }) => {
  const { a, b } = inputs as { a: TensorInfo; b: TensorInfo };
  const { transposeA, transposeB } = attrs as unknown as BatchMatMulAttrs;
  const batchOf = (t: TensorInfo) => t.shape.slice(0, -2).reduce((x, y) => x * y, 1);
  if ((!transposeA && !transposeB) || batchOf(a) !== 1 || batchOf(b) !== 1) {
    return base({ inputs, backend, attrs });
  }
  const scope = new KernelScope(backend as unknown as DisposingBackend, 'BatchMatMul');
  const aa = transposeA ? scope.run(Transpose, { x: a }, { perm: swapLastTwo(a.shape.length) }) : a;
  const bb = transposeB ? scope.run(Transpose, { x: b }, { perm: swapLastTwo(b.shape.length) }) : b;
  return scope.close(scope.run(BatchMatMul, { a: aa, b: bb }, { ...attrs, transposeA: false, transposeB: false }, base));
};

/** Wraps the shipped wasm BatchMatMul. Idempotent. */
export function registerWasmBatchMatMul(): void {
  replaceWasmKernel(BatchMatMul, batchMatMulUntransposed);
}
