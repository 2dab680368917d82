// Concat on wasm along the last axes, row by row on the SIMD kernel (simd.wat copy_rows).
//
// The shipped kernel copies each input's part of each outer row with a JS loop of typed-array
// copies: for the UNet's skip connections ([64, 8, 8, 48] twice along the channels, 4,096 rows of
// 48 floats from each input) that was about 1.5 ms a call, 2% of sampling. Here each input's rows
// are one kernel call. Only float32 with every input's inner size in fours and more than one outer
// row; the rest keeps the shipped kernel.
import { Concat, util } from '@tensorflow/tfjs-core';
import type { ConcatAttrs, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { replaceWasmKernel, type HeapBackend } from './kernelScope';
import { simdKernelsFor } from './simdModule';

let enabled = true;
let calls = 0;

/** How many concats the SIMD route has done in this process (tests check it is the one that runs). */
export function simdConcatCalls(): number {
  return calls;
}

/** Switches the SIMD concat on or off (off: the shipped kernel); for parity tests and A/B timing. */
export function setWasmSimdConcat(on: boolean): void {
  enabled = on;
}

const concatFast = (shipped: KernelFunc): KernelFunc => (args) => {
  const inputs = args.inputs as unknown as TensorInfo[];
  const simd = enabled ? simdKernelsFor(args.backend) : null;
  if (!simd || inputs.length < 2 || inputs.some((t) => t.dtype !== 'float32')) return shipped(args);
  const rank = inputs[0].shape.length;
  const axis = util.parseAxisParam((args.attrs as unknown as ConcatAttrs).axis, inputs[0].shape)[0];
  if (inputs.some((t) => t.shape.length !== rank || t.shape.some((d, i) => i !== axis && d !== inputs[0].shape[i]))) return shipped(args);
  const rows = util.sizeFromShape(inputs[0].shape.slice(0, axis));
  const widths = inputs.map((t) => util.sizeFromShape(t.shape.slice(axis)));
  if (rows < 2 || widths.some((w) => w === 0 || w % 4 !== 0)) return shipped(args);
  const be = args.backend as unknown as HeapBackend;
  const outShape = [...inputs[0].shape];
  outShape[axis] = inputs.reduce((n, t) => n + t.shape[axis], 0);
  const out = be.makeOutput(outShape, 'float32');
  const total = widths.reduce((a, b) => a + b, 0);
  calls++;
  // Offsets after the allocation (it may grow the heap).
  const dst = be.typedArrayFromHeap(out).byteOffset;
  let at = 0;
  inputs.forEach((t, i) => {
    simd.copyRows(be.typedArrayFromHeap(t).byteOffset, dst + 4 * at, rows, widths[i], widths[i], total);
    at += widths[i];
  });
  return out;
};

/** Wraps the shipped wasm Concat. Idempotent. */
export function registerWasmConcat(): void {
  replaceWasmKernel(Concat, concatFast);
}
