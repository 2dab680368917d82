// Conv2DBackpropFilter for the TF.js wasm backend.
//
// @tensorflow/tfjs-backend-wasm 4.22.0 ships Conv2D and Conv2DBackpropInput but
// not Conv2DBackpropFilter, so the gradient of conv2d with respect to its filter
// (and of conv2dTranspose / fused conv2d) throws "kernel not registered" there.
// This module registers a replacement built only from the wasm backend's own
// kernels, working on TensorInfos so that it runs as one kernel inside the
// engine (no tape entries, no engine tensors).
//
// The filter gradient is itself a convolution (NHWC, xp = x zero-padded):
//   dW[i, j, ci, co] = sum_{b, oh, ow} xp[b, oh*sh + i, ow*sw + j, ci] * dy[b, oh, ow, co]
// Relabel the axes: batch <- ci, input channel <- b, filter <- dy:
//   X' = transpose(x,  [3, 1, 2, 0])   [Cin, H, W, B]
//   F' = transpose(dy, [1, 2, 0, 3])   [OH, OW, B, Cout]
//   R  = conv2d(X', F', stride 1, dilation (sh, sw), explicit padding)   [Cin, kh, kw, Cout]
//   dW = transpose(R, [1, 2, 0, 3])    [kh, kw, Cin, Cout]
// The conv stride becomes a dilation of the dy "filter". The output has exactly
// kh x kw pixels when the padded input spans (OH-1)*s + k rows, so bottom/right
// padding is grown, or rows the conv never reads are cropped, to make it so.
//
// Why not im2col (pad + kh*kw strided slices + concat + one matMul)? It gives
// the same numbers, but on this machine it measured 3-15x slower than this
// route (e.g. x [16,32,32,32], f [3,3,32,64], stride 2: 189 ms vs 13 ms),
// because the wasm StridedSlice is an element loop and the big patch matrix has
// to be packed for XNNPACK; here XNNPACK's convolution does all the work.
//
// Where wasm SIMD runs (channel counts padded to multiples of 4 where they are not), a hand-written kernel
// (kernels/wasm/simd.wat conv_dw) does it directly instead: tap by tap, dW[i, j] = X_shifted^T dY
// with 4 x 8 register tiles, no transposes, no packing, on the backend's heap.
//
// XNNPACK caches its packed weights per filter tensor id; our filter F' is a
// temporary that is disposed right away, which frees that cache entry too.
// The kernels run through a KernelScope (kernelScope.ts), which releases every
// intermediate TensorInfo with backend.disposeData (the wasm backend
// reference-counts data ids), on success and on error alike, so only the
// output is left behind; the inputs x and dy are never disposed.

import {
  backend_util,
  Conv2D,
  Conv2DBackpropFilter,
  Fill,
  getKernel,
  registerKernel,
  Slice,
  Transpose,
} from '@tensorflow/tfjs-core';
import type {
  Conv2DBackpropFilterAttrs,
  KernelConfig,
  KernelFunc,
  TensorInfo,
} from '@tensorflow/tfjs-core';
import { KernelRoute, KernelScope, type DisposingBackend, type HeapBackend } from './kernelScope';
import { simdKernelsFor } from './simdModule';
import { winogradFilterGradient } from './convSimd';

const BACKEND = 'wasm';

function readDilations(attrs: Record<string, unknown>): [number, number] {
  const d = attrs['dilations'];
  if (d == null) return [1, 1];
  if (typeof d === 'number') return [d, d];
  if (Array.isArray(d) && d.length === 2) return [Number(d[0]), Number(d[1])];
  throw new Error(`Conv2DBackpropFilter (wasm): cannot read dilations ${JSON.stringify(d)}`);
}

const simdRoute = new KernelRoute();

/** Switches the SIMD filter gradient on or off (off: the XNNPACK route below); for parity tests and A/B timing. */
export const setWasmSimdConvFilterGradient = (enabled: boolean): void => simdRoute.set(enabled);

/** How many filter (or dense weight) gradients the SIMD kernel has computed in this process. */
export const simdFilterGradientCalls = (): number => simdRoute.calls;

/** Images per chunk of the SIMD kernel: about 128 output pixels (64-1024 measured: 64-128 fastest), so a chunk's x and dy stay in cache. */
export function chunkImages(pixelsPerImage: number): number {
  return Math.max(1, Math.floor(128 / Math.max(1, pixelsPerImage)));
}

/** A copy of the NHWC tensor t with its channels padded by zeros to c4 (added to scratch, for the caller to release). */
function padChannels(be: HeapBackend & DisposingBackend, t: TensorInfo, c4: number, scratch: TensorInfo[]): TensorInfo {
  const c = t.shape[t.shape.length - 1];
  const pixels = t.shape.slice(0, -1).reduce((a, b) => a * b, 1);
  const out = be.makeOutput([...t.shape.slice(0, -1), c4], 'float32');
  scratch.push(out);
  const [src, dst] = [be.typedArrayFromHeap(t) as Float32Array, be.typedArrayFromHeap(out) as Float32Array];
  dst.fill(0);
  for (let p = 0, i = 0, o = 0; p < pixels; p++, i += c, o += c4) {
    for (let k = 0; k < c; k++) dst[o + k] = src[i + k]!;
  }
  return out;
}

export const conv2DBackpropFilterWasm: KernelFunc = ({ inputs, backend, attrs: rawAttrs }) => {
  const { x, dy } = inputs as { x?: TensorInfo; dy?: TensorInfo };
  const attrs = rawAttrs as unknown as Conv2DBackpropFilterAttrs;
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs;

  if (x == null || dy == null) {
    throw new Error('Conv2DBackpropFilter (wasm): expected inputs x and dy');
  }
  if (dataFormat != null && dataFormat !== 'NHWC') {
    throw new Error(`Conv2DBackpropFilter (wasm): only dataFormat 'NHWC' is supported, got '${dataFormat}'`);
  }
  const [dh, dw] = readDilations(rawAttrs as Record<string, unknown>);
  if (dh !== 1 || dw !== 1) {
    throw new Error(`Conv2DBackpropFilter (wasm): only dilations of 1 are supported, got [${dh}, ${dw}]`);
  }
  if (x.shape.length !== 4 || dy.shape.length !== 4) {
    throw new Error(`Conv2DBackpropFilter (wasm): x and dy must be rank 4, got [${x.shape}] and [${dy.shape}]`);
  }
  if (x.dtype !== 'float32' || dy.dtype !== 'float32') {
    throw new Error(`Conv2DBackpropFilter (wasm): only float32 is supported, got ${x.dtype} and ${dy.dtype}`);
  }

  const convInfo = backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    strides,
    1 /* dilations */,
    pad,
    dimRoundingMode,
    false /* depthwise */,
    'channelsLast',
  );
  const {
    batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels,
    filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, padInfo,
  } = convInfo;

  if (dy.shape[0] !== batchSize || dy.shape[1] !== outHeight || dy.shape[2] !== outWidth ||
      dy.shape[3] !== outChannels) {
    throw new Error(
      `Conv2DBackpropFilter (wasm): dy shape [${dy.shape}] does not match the conv output ` +
        `[${batchSize},${outHeight},${outWidth},${outChannels}]`,
    );
  }

  const { top, left } = padInfo;
  if (top < 0 || left < 0) {
    throw new Error(`Conv2DBackpropFilter (wasm): negative padding ${JSON.stringify(padInfo)} is not supported`);
  }
  // Rows/cols of the padded input that the forward conv reads: (OH-1)*s + k.
  const needH = (outHeight - 1) * sh + kh;
  const needW = (outWidth - 1) * sw + kw;
  // How much of x lies inside that window, and the zero padding that completes it.
  const hUse = Math.min(inHeight, needH - top);
  const wUse = Math.min(inWidth, needW - left);

  const scope = new KernelScope(backend as unknown as DisposingBackend, 'Conv2DBackpropFilter');
  if (batchSize === 0 || outHeight <= 0 || outWidth <= 0 || hUse <= 0 || wUse <= 0 || inChannels === 0) {
    // Nothing reaches the output: the gradient is all zeros.
    return scope.close(scope.run(Fill, {}, { shape: filterShape, value: 0, dtype: 'float32' }));
  }
  const simd = simdRoute.enabled ? simdKernelsFor(backend) : null;
  if (simd && kh === 3 && kw === 3 && sh === 1 && sw === 1 && top === 1 && left === 1 && outHeight === inHeight && outWidth === inWidth) {
    // A stride-1 3x3 'same' conv: Winograd F(4x4, 3x3) where its sides and channels fit (convSimd.ts).
    const out = winogradFilterGradient(backend, x, dy);
    if (out) {
      simdRoute.calls++;
      return out;
    }
  }
  if (simd) {
    const be = backend as unknown as HeapBackend & DisposingBackend;
    const out = be.makeOutput(filterShape, 'float32');
    // Channel counts not a multiple of 4 (an RGB image, a 3-channel output): x and/or dy copied with
    // their channels padded by zeros, the gradient computed for the padded counts, then cut back.
    const ci = Math.ceil(inChannels / 4) * 4;
    const co = Math.ceil(outChannels / 4) * 4;
    const scratch: TensorInfo[] = [];
    try {
      const xs = ci === inChannels ? x : padChannels(be, x, ci, scratch);
      const dys = co === outChannels ? dy : padChannels(be, dy, co, scratch);
      const dws = ci === inChannels && co === outChannels ? out : be.makeOutput([kh, kw, ci, co], 'float32');
      if (dws !== out) scratch.push(dws);
      const ptr = (t: TensorInfo) => be.typedArrayFromHeap(t).byteOffset; // after every allocation (the heap may grow)
      simdRoute.calls++;
      simd.convDw(ptr(xs), ptr(dys), ptr(dws), batchSize, inHeight, inWidth, ci, outHeight, outWidth, co,
        kh, kw, sh, sw, top, left, chunkImages(outHeight * outWidth));
      if (dws !== out) {
        const [src, dst] = [be.typedArrayFromHeap(dws) as Float32Array, be.typedArrayFromHeap(out) as Float32Array];
        for (let r = 0; r < kh * kw * inChannels; r++) {
          const [tap, c] = [Math.floor(r / inChannels), r % inChannels];
          const from = (tap * ci + c) * co;
          dst.set(src.subarray(from, from + outChannels), r * outChannels);
        }
      }
    } catch (e) {
      be.disposeData(out.dataId);
      throw e;
    } finally {
      for (const t of scratch) be.disposeData(t.dataId);
    }
    return out;
  }
  const bottom = needH - top - hUse;
  const right = needW - left - wUse;

  try {
    // Uncropped, xc is the input x itself; the scope only disposes what it ran, so never x.
    const xc = hUse < inHeight || wUse < inWidth
      ? scope.run(Slice, { x }, { begin: [0, 0, 0, 0], size: [batchSize, hUse, wUse, inChannels] })
      : x;
    const xT = scope.run(Transpose, { x: xc }, { perm: [3, 1, 2, 0] }); // [Cin, hUse, wUse, B]
    const dyT = scope.run(Transpose, { x: dy }, { perm: [1, 2, 0, 3] }); // [OH, OW, B, Cout]
    const r = scope.run(Conv2D, { x: xT, filter: dyT }, {
      strides: [1, 1],
      pad: [[0, 0], [top, bottom], [left, right], [0, 0]],
      dataFormat: 'NHWC',
      dilations: [sh, sw],
      dimRoundingMode: undefined,
    }); // [Cin, kh, kw, Cout]
    if (r.shape[1] !== kh || r.shape[2] !== kw) {
      throw new Error(`Conv2DBackpropFilter (wasm): internal shape error, got [${r.shape}] for filter [${filterShape}]`);
    }
    return scope.close(scope.run(Transpose, { x: r }, { perm: [1, 2, 0, 3] })); // [kh, kw, Cin, Cout]
  } catch (e) {
    scope.dispose(); // the error path, too, leaves nothing behind
    throw e;
  }
};

export const conv2DBackpropFilterWasmConfig: KernelConfig = {
  kernelName: Conv2DBackpropFilter,
  backendName: BACKEND,
  kernelFunc: conv2DBackpropFilterWasm,
};

/**
 * Registers Conv2DBackpropFilter for the 'wasm' backend. Safe to call any number
 * of times and before or after the backend is initialised (the kernel needs no
 * setup). Leaves an existing registration (e.g. from a later tfjs release) alone.
 */
export function registerWasmConv2DBackpropFilter(): void {
  if (getKernel(Conv2DBackpropFilter, BACKEND) != null) return;
  registerKernel(conv2DBackpropFilterWasmConfig);
}
