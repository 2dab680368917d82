// Conv2DBackpropFilter for the TF.js wasm backend.
//
// @tensorflow/tfjs-backend-wasm 4.22.0 ships Conv2D and Conv2DBackpropInput but
// not Conv2DBackpropFilter, so the gradient of conv2d with respect to its filter
// (and of conv2dTranspose / fused conv2d) throws "kernel not registered" there.
// This module registers a replacement built only from the wasm backend's own
// kernels (im2col + one matrix product), working on TensorInfos so that it runs
// as a single kernel inside the engine (no tape entries, no engine tensors).
//
//   xp      = PadV2(x, padInfo)                               [B, Hp, Wp, Cin]
//   tap(i,j)= StridedSlice(xp, rows i::s, cols j::s)          [B, OH, OW, Cin]
//   patches = Concat(taps, axis 3) -> Reshape [N, K]          N = B*OH*OW, K = kh*kw*Cin
//   dyT     = Transpose(Reshape(dy, [N, Cout]))                [Cout, N]
//   dWT     = BatchMatMul(dyT, patches)                        [Cout, K]
//   dW      = Reshape(Transpose(dWT), [kh, kw, Cin, Cout])
//
// The product is arranged as dyT x patches with no transpose flags because the
// wasm BatchMatMul only takes its fast XNNPACK path for untransposed operands
// with batch 1 (it otherwise falls back to a naive blocked loop). XNNPACK
// caches packed weights keyed on the id of operand b; here b is our own
// temporary `patches`, disposed right after, which also drops that cache entry.
//
// Every intermediate TensorInfo is released with backend.disposeData (the wasm
// backend reference-counts data ids; Reshape shares its input's id and bumps the
// count), so the kernel leaves only its output behind.

import {
  backend_util,
  BatchMatMul,
  Concat,
  Conv2DBackpropFilter,
  Fill,
  getKernel,
  PadV2,
  registerKernel,
  Reshape,
  StridedSlice,
  Transpose,
} from '@tensorflow/tfjs-core';
import type {
  Conv2DBackpropFilterAttrs,
  KernelConfig,
  KernelFunc,
  NamedAttrMap,
  TensorInfo,
} from '@tensorflow/tfjs-core';

const BACKEND = 'wasm';

/** The part of the wasm backend this kernel touches. */
interface DisposingBackend {
  disposeData(dataId: object, force?: boolean): boolean;
}

type Inputs = Record<string, TensorInfo> | TensorInfo[];

/** Run another registered wasm kernel at the kernel level (no engine, no tape). */
function runKernel(name: string, backend: DisposingBackend, inputs: Inputs, attrs: object): TensorInfo {
  const config = getKernel(name, BACKEND);
  if (config == null) {
    throw new Error(`Conv2DBackpropFilter (wasm): the wasm backend has no '${name}' kernel to build on`);
  }
  const out = config.kernelFunc({
    // Concat takes an array of TensorInfos; the KernelFunc type only knows maps.
    inputs: inputs as unknown as Record<string, TensorInfo>,
    backend,
    attrs: attrs as unknown as NamedAttrMap,
  });
  if (Array.isArray(out)) {
    throw new Error(`Conv2DBackpropFilter (wasm): kernel '${name}' returned ${out.length} outputs, expected 1`);
  }
  return out;
}

function dispose(backend: DisposingBackend, info: TensorInfo): void {
  backend.disposeData(info.dataId);
}

function readDilations(attrs: Record<string, unknown>): [number, number] {
  const d = attrs['dilations'];
  if (d == null) return [1, 1];
  if (typeof d === 'number') return [d, d];
  if (Array.isArray(d) && d.length === 2) return [Number(d[0]), Number(d[1])];
  throw new Error(`Conv2DBackpropFilter (wasm): cannot read dilations ${JSON.stringify(d)}`);
}

export const conv2DBackpropFilterWasm: KernelFunc = ({ inputs, backend: rawBackend, attrs: rawAttrs }) => {
  const backend = rawBackend as DisposingBackend;
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
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
    throw new Error(
      `Conv2DBackpropFilter (wasm): x and dy must be rank 4, got [${x.shape}] and [${dy.shape}]`,
    );
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

  const n = batchSize * outHeight * outWidth;
  const k = kh * kw * inChannels;
  if (n === 0 || k === 0 || outChannels === 0) {
    // Degenerate: nothing contributes; an all-zero filter gradient.
    return runKernel(Fill, backend, {}, { shape: filterShape, value: 0, dtype: 'float32' });
  }

  // Zero padding. Top/left come from padInfo; bottom/right are grown if needed so
  // that every strided tap slice stays inside the padded tensor (the extra rows
  // are zeros and contribute nothing, matching the cpu kernel's bounds checks).
  const top = padInfo.top;
  const left = padInfo.left;
  const needH = (outHeight - 1) * sh + kh;
  const needW = (outWidth - 1) * sw + kw;
  const bottom = Math.max(padInfo.bottom, needH - inHeight - top, 0);
  const right = Math.max(padInfo.right, needW - inWidth - left, 0);
  if (top < 0 || left < 0) {
    throw new Error(`Conv2DBackpropFilter (wasm): negative padding ${JSON.stringify(padInfo)} is not supported`);
  }

  const temps: TensorInfo[] = [];
  try {
    let xp: TensorInfo = x;
    if (top > 0 || bottom > 0 || left > 0 || right > 0) {
      xp = runKernel(PadV2, backend, { x }, {
        paddings: [[0, 0], [top, bottom], [left, right], [0, 0]],
        constantValue: 0,
      });
      temps.push(xp);
    }

    // One strided slice per filter tap, in (i, j) row-major order, so that the
    // patch columns are ordered (i, j, cin) exactly like the filter [kh, kw, Cin].
    const taps: TensorInfo[] = [];
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        const tap = runKernel(StridedSlice, backend, { x: xp }, {
          begin: [0, i, j, 0],
          end: [batchSize, i + (outHeight - 1) * sh + 1, j + (outWidth - 1) * sw + 1, inChannels],
          strides: [1, sh, sw, 1],
          beginMask: 0,
          endMask: 0,
          ellipsisMask: 0,
          newAxisMask: 0,
          shrinkAxisMask: 0,
        });
        temps.push(tap);
        taps.push(tap);
      }
    }

    let patches4d: TensorInfo;
    if (taps.length === 1) {
      patches4d = taps[0]!;
    } else {
      patches4d = runKernel(Concat, backend, taps, { axis: 3 });
      temps.push(patches4d);
    }
    const patches = runKernel(Reshape, backend, { x: patches4d }, { shape: [1, n, k] });
    temps.push(patches);

    const dy2d = runKernel(Reshape, backend, { x: dy }, { shape: [n, outChannels] });
    temps.push(dy2d);
    const dyT2d = runKernel(Transpose, backend, { x: dy2d }, { perm: [1, 0] });
    temps.push(dyT2d);
    const dyT = runKernel(Reshape, backend, { x: dyT2d }, { shape: [1, outChannels, n] });
    temps.push(dyT);

    const dWT = runKernel(BatchMatMul, backend, { a: dyT, b: patches }, { transposeA: false, transposeB: false });
    temps.push(dWT); // [1, Cout, K]
    const dWT2d = runKernel(Reshape, backend, { x: dWT }, { shape: [outChannels, k] });
    temps.push(dWT2d);
    const dW2d = runKernel(Transpose, backend, { x: dWT2d }, { perm: [1, 0] });
    temps.push(dW2d); // [K, Cout]

    // The output shares dW2d's data id (Reshape bumps its count); disposing dW2d
    // in `finally` brings the count back to one, owned by the returned info.
    return runKernel(Reshape, backend, { x: dW2d }, { shape: [kh, kw, inChannels, outChannels] });
  } finally {
    for (const t of temps) dispose(backend, t);
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
 * setup). Leaves an existing registration (e.g. a future tfjs release) alone.
 */
export function registerWasmConv2DBackpropFilter(): void {
  if (getKernel(Conv2DBackpropFilter, BACKEND) != null) return;
  registerKernel(conv2DBackpropFilterWasmConfig);
}
