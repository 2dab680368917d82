// BatchMatMul on wasm, made fast.
//
// Unbatched products with a transposed operand: the wasm backend takes XNNPACK's fast path only
// for untransposed operands with batch 1, and a naive blocked loop otherwise. Every gradient of a
// matMul asks for a transposed operand (dW = x^T dy, dx = dy W^T), so on a training step of our
// UNet those products ran at 1.6-3.5 GFLOP/s. The weight gradient A^T B (A transposed, B not)
// goes to the SIMD filter-gradient kernel (simdTransposedA below), which reads A in place: a
// transpose plus XNNPACK's packing of B at every call held it at 8-11 GFLOP/s. The input gradient
// A B^T goes to the batched SIMD kernel below with one batch (the same transpose-and-pack route
// held it at 12-23). Anything else (both transposed, or a kernel that cannot run) is transposed
// explicitly (a cheap copy) and handed to the shipped kernel untransposed.
//
// Batched products (attention: [B*heads, L, d] x [B*heads, d, L'] and their gradients, L = 16 or
// 64, d = 12-24) ran on that naive loop at 0.7-2 GFLOP/s, about a fifth of a UNet training step.
// They go to a hand-written wasm SIMD kernel (kernels/wasm/simd.wat, simdModule.ts) that runs on
// the backend's own heap: its module imports the backend's
// WebAssembly.Memory, so operands are read and the output written in place, no copies. Any
// transpose is a stride (of B, a copy of each B[t] into a scratch buffer). Sums run over k in
// order, in float32, as the shipped loop does. Where the module cannot run (no wasm SIMD, no
// reachable memory) the shipped kernel does the work.
import { BatchMatMul, Transpose } from '@tensorflow/tfjs-core';
import type { BatchMatMulAttrs, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { wasmThreads } from './convSimd';
import { simdKernelsFor } from './simdModule';
import { KernelRoute, KernelScope, replaceWasmKernel, type DisposingBackend, type HeapBackend } from './kernelScope';

type BmmFn = (...args: number[]) => void;

const simdRoute = new KernelRoute();

/** How many products the SIMD kernel has computed in this process (tests check it is the one that runs). */
export const simdBatchMatMulCalls = (): number => simdRoute.calls;

/** Switches the SIMD kernel for batched products on or off (off: the shipped kernel); for parity tests and A/B timing. */
export const setWasmSimdBatchMatMul = (enabled: boolean): void => simdRoute.set(enabled);

/** The SIMD kernel for batched products bound to the backend's heap, or null where it cannot run there. */
export function simdBatchMatMulFor(backend: unknown): BmmFn | null {
  return simdKernelsFor(backend)?.bmm ?? null;
}

function swapLastTwo(rank: number): number[] {
  const perm = Array.from({ length: rank }, (_, i) => i);
  [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1], perm[rank - 2]];
  return perm;
}

const batchOf = (t: TensorInfo) => t.shape.slice(0, -2).reduce((x, y) => x * y, 1);

/** op(A[t]) op(B[t]) (+ opts.bias on every row; the output as opts.outShape) for every t on the SIMD kernel; null when the product is not one it takes. */
function simdBatched(bmm: BmmFn, a: TensorInfo, b: TensorInfo, transposeA: boolean, transposeB: boolean, backend: unknown, opts: { bias?: TensorInfo; outShape?: number[] } = {}): TensorInfo | null {
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.length !== b.shape.length || a.shape.length < 2) return null;
  const batchShape = a.shape.slice(0, -2);
  if (b.shape.slice(0, -2).some((d, i) => d !== batchShape[i])) return null; // broadcast batches: shipped kernel
  const r = a.shape.length;
  const [a1, a2] = [a.shape[r - 2], a.shape[r - 1]];
  const [b1, b2] = [b.shape[r - 2], b.shape[r - 1]];
  const M = transposeA ? a2 : a1;
  const K = transposeA ? a1 : a2;
  const N = transposeB ? b1 : b2;
  if ((transposeB ? b2 : b1) !== K) throw new Error(`BatchMatMul (wasm): inner dimensions ${K} and ${transposeB ? b2 : b1} differ`);
  const T = batchOf(a);
  if (T === 0 || M === 0 || N === 0 || K === 0) return null;
  const be = backend as HeapBackend & DisposingBackend;
  const out = be.makeOutput(opts.outShape ?? [...batchShape, M, N], 'float32');
  // Scratch: B[t] as rows of N when B is transposed, and one row for an odd last row of C.
  const scratch = be.makeOutput([(transposeB ? K * N : 0) + N], 'float32');
  try {
    // Offsets on the heap, read after every allocation (an allocation may grow the memory; offsets stay).
    const ptr = (t: TensorInfo) => be.typedArrayFromHeap(t).byteOffset;
    const s = ptr(scratch);
    simdRoute.calls++;
    bmm(ptr(a), ptr(b), ptr(out), T, M, N, K, a1 * a2, transposeA ? 1 : a2, transposeA ? M : 1, b1 * b2, transposeB ? 1 : N, transposeB ? K : 1, s, s + (transposeB ? K * N * 4 : 0), opts.bias ? ptr(opts.bias) : 0);
  } finally {
    be.disposeData(scratch.dataId);
  }
  return out;
}

/**
 * y [..., N] = x [..., K] w [K, N] + bias [N] (a dense layer's forward) on the SIMD product kernel,
 * the bias where each output's sum starts: its 4 x 8 register tiles ran at 46-51 GFLOP/s at the
 * UNet's dense shapes against XNNPACK's 35-38 (bench/matmul-routes.ts). Null where the kernel
 * cannot run, and on the threaded build (XNNPACK splits a product over its threads).
 */
export function simdDense(backend: unknown, x: TensorInfo, w: TensorInfo, bias: TensorInfo): TensorInfo | null {
  if (!simdRoute.enabled || wasmThreads() > 1 || bias.dtype !== 'float32' || w.shape.length !== 2) return null;
  const [K, N] = w.shape as [number, number];
  if (x.shape[x.shape.length - 1] !== K || bias.shape.length !== 1 || bias.shape[0] !== N) return null;
  const bmm = simdBatchMatMulFor(backend);
  // x seen as one [rows, K] matrix (the same data), the output given x's leading shape.
  const rows = x.shape.slice(0, -1).reduce((p, q) => p * q, 1);
  return bmm ? simdBatched(bmm, { ...x, shape: [rows, K] }, w, false, false, backend, { bias, outShape: [...x.shape.slice(0, -1), N] }) : null;
}

/**
 * A^T B for unbatched A [K, M], B [K, N] (M, N multiples of 4: every weight gradient of our dense
 * layers) on the SIMD filter-gradient kernel (simd.wat conv_dw, as a 1x1 conv over a [1, 1, K, M]
 * image): no transpose, no packing. Sums run over k in order in float32, in chunks of up to 256
 * rows added in turn. Null where the kernel cannot run or the product is not one it takes.
 */
function simdTransposedA(a: TensorInfo, b: TensorInfo, backend: unknown): TensorInfo | null {
  if (a.dtype !== 'float32' || b.dtype !== 'float32') return null;
  const [K, M] = a.shape.slice(-2);
  const [Kb, N] = b.shape.slice(-2);
  if (K !== Kb || M % 4 !== 0 || N % 4 !== 0 || K === 0 || M === 0 || N === 0) return null;
  const simd = simdKernelsFor(backend);
  if (!simd) return null;
  const be = backend as HeapBackend;
  const out = be.makeOutput([...a.shape.slice(0, -2), M, N], 'float32');
  const ptr = (t: TensorInfo) => be.typedArrayFromHeap(t).byteOffset; // after the allocation (the heap may grow)
  const rows = K % 256 === 0 ? 256 : K % 128 === 0 ? 128 : K % 64 === 0 ? 64 : K;
  simdRoute.calls++;
  simd.convDw(ptr(a), ptr(b), ptr(out), K / rows, 1, rows, M, 1, rows, N, 1, 1, 1, 1, 0, 0, 1);
  return out;
}

const batchMatMulFast = (base: KernelFunc): KernelFunc => ({ inputs, backend, attrs }) => {
  const { a, b } = inputs as { a: TensorInfo; b: TensorInfo };
  const { transposeA, transposeB } = attrs as unknown as BatchMatMulAttrs;
  if (batchOf(a) !== 1 || batchOf(b) !== 1) {
    const bmm = simdRoute.enabled ? simdBatchMatMulFor(backend) : null;
    const out = bmm ? simdBatched(bmm, a, b, !!transposeA, !!transposeB, backend) : null;
    return out ?? base({ inputs, backend, attrs });
  }
  if (!transposeA && !transposeB) return base({ inputs, backend, attrs });
  if (transposeA && !transposeB) {
    const out = simdRoute.enabled ? simdTransposedA(a, b, backend) : null;
    if (out) return out;
  }
  if (!transposeA && transposeB) {
    // A B^T (every input gradient of a dense layer, dx = dy W^T): the batched SIMD kernel with one
    // batch, B^T copied into its scratch. The transpose plus XNNPACK's operator creation and packing
    // of the fresh transposed B at every call held [640, 96] x [96, 96]^T at 12-23 GFLOP/s; this
    // runs it at 29 (bench/matmul-routes.ts).
    const bmm = simdRoute.enabled ? simdBatchMatMulFor(backend) : null;
    const out = bmm ? simdBatched(bmm, a, b, false, true, backend) : null;
    if (out) return out;
  }
  const scope = new KernelScope(backend as unknown as DisposingBackend, 'BatchMatMul');
  const aa = transposeA ? scope.run(Transpose, { x: a }, { perm: swapLastTwo(a.shape.length) }) : a;
  const bb = transposeB ? scope.run(Transpose, { x: b }, { perm: swapLastTwo(b.shape.length) }) : b;
  return scope.close(scope.run(BatchMatMul, { a: aa, b: bb }, { ...attrs, transposeA: false, transposeB: false }, base));
};

/** Wraps the shipped wasm BatchMatMul. Idempotent. */
export function registerWasmBatchMatMul(): void {
  replaceWasmKernel(BatchMatMul, batchMatMulFast);
}
