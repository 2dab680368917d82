// Concat on wasm along the last axes, row by row on the SIMD kernel (simd.wat copy_rows), and its
// gradient, SplitV, the same way back.
//
// The shipped kernel copies each input's part of each outer row with a JS loop of typed-array
// copies: for the UNet's skip connections ([64, 8, 8, 48] twice along the channels, 4,096 rows of
// 48 floats from each input) that was about 1.5 ms a call, 2% of sampling. Here each input's rows
// are one kernel call. Only float32 with every input's inner size in fours and more than one outer
// row; the rest keeps the shipped kernel. SplitV (a training step's split of the skip
// connections' gradient, [40, 8, 8, 96] into two halves: 2.3 ms a call) likewise.
import { backend_util, Concat, SplitV, util } from '@tensorflow/tfjs-core';
import type { ConcatAttrs, KernelFunc, SplitVAttrs, TensorInfo } from '@tensorflow/tfjs-core';
import { KernelRoute, replaceWasmKernel, type HeapBackend } from './kernelScope';
import { simdKernelsFor, type SimdKernels } from './simdModule';

const route = new KernelRoute();

/** How many concats and splits the SIMD route has done in this process (tests check it is the one that runs). */
export const simdConcatCalls = (): number => route.calls;

/** Switches the SIMD concat on or off (off: the shipped kernel); for parity tests and A/B timing. */
export const setWasmSimdConcat = (on: boolean): void => route.set(on);

/**
 * Copies between a whole [rows, sum of widths] and its parts [rows, width_i], part i at column
 * offset sum_{j<i} width_j: into the whole (concat) or out of it (split). Offsets are read here,
 * after every allocation (an allocation may grow the heap).
 */
function copyParts(simd: SimdKernels, be: HeapBackend, whole: TensorInfo, parts: TensorInfo[], rows: number, widths: number[], intoWhole: boolean): void {
  const total = widths.reduce((a, b) => a + b, 0);
  const base = be.typedArrayFromHeap(whole).byteOffset;
  route.calls++;
  let at = 0;
  parts.forEach((t, i) => {
    const part = be.typedArrayFromHeap(t).byteOffset;
    if (intoWhole) simd.copyRows(part, base + 4 * at, rows, widths[i], widths[i], total);
    else simd.copyRows(base + 4 * at, part, rows, widths[i], total, widths[i]);
    at += widths[i];
  });
}

const concatFast = (shipped: KernelFunc): KernelFunc => (args) => {
  const inputs = args.inputs as unknown as TensorInfo[];
  const simd = route.enabled ? simdKernelsFor(args.backend) : null;
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
  copyParts(simd, be, out, inputs, rows, widths, true);
  return out;
};

const splitFast = (shipped: KernelFunc): KernelFunc => (args) => {
  const { x } = args.inputs as { x: TensorInfo };
  const simd = route.enabled ? simdKernelsFor(args.backend) : null;
  if (!simd || x.dtype !== 'float32') return shipped(args);
  const { numOrSizeSplits, axis: axisAttr } = args.attrs as unknown as SplitVAttrs;
  const axis = util.parseAxisParam(axisAttr, x.shape)[0];
  const sizes = backend_util.prepareSplitSize(x, numOrSizeSplits, axis);
  const rows = util.sizeFromShape(x.shape.slice(0, axis));
  const inner = util.sizeFromShape(x.shape.slice(axis + 1));
  const widths = sizes.map((n) => n * inner);
  if (sizes.length < 2 || rows < 2 || widths.some((w) => w === 0 || w % 4 !== 0)) return shipped(args);
  const be = args.backend as unknown as HeapBackend;
  const outs = sizes.map((n) => {
    const shape = [...x.shape];
    shape[axis] = n;
    return be.makeOutput(shape, 'float32');
  });
  copyParts(simd, be, x, outs, rows, widths, false);
  return outs;
};

/** Wraps the shipped wasm Concat and SplitV. Idempotent. */
export function registerWasmConcat(): void {
  replaceWasmKernel(Concat, concatFast);
  replaceWasmKernel(SplitV, splitFast);
}
