// A fast Conv2DBackpropInput (the input gradient of conv2d) for the TF.js wasm backend, built on
// its forward Conv2D (XNNPACK).
//
// Measured in Node on this machine (3x3 convs, batch 32, 16x16x64): forward Conv2D 45 ms, the
// shipped Conv2DBackpropInput 330 ms, this one 61 ms. The input gradient is itself a convolution:
//
//   dx = conv(dilate_s(dy) padded by (k-1-pad), rot180(W) with in/out swapped), stride 1, valid
//
// (conv2dBackpropFilterWasm.ts does the filter gradient the same way, as a dilated conv.)
// Everything runs at the kernel level on TensorInfos (no engine tensors, no tape entries), and
// every intermediate is released with backend.disposeData, so the kernel leaves only its output.
import { backend_util, Conv2D, Conv2DBackpropInput, getKernel, PadV2, registerKernel, Reshape, Reverse, Slice, Transpose, unregisterKernel } from '@tensorflow/tfjs-core';
import type { Conv2DBackpropInputAttrs, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { KernelScope, type DisposingBackend } from './kernelScope';
import { simdConv } from './convSimd';

const BACKEND = 'wasm';

function checkSupported(owner: string, dataFormat: string | undefined, attrs: object): void {
  if (dataFormat != null && dataFormat !== 'NHWC') throw new Error(`${owner} (wasm): only NHWC is supported, got ${dataFormat}`);
  const d = (attrs as { dilations?: number | number[] }).dilations;
  if (d != null && (Array.isArray(d) ? d.some((v) => v !== 1) : d !== 1)) throw new Error(`${owner} (wasm): only dilation 1 is supported`);
}

let simdEnabled = true;

/** Switches the SIMD input gradient (stride 1) on or off (off: the XNNPACK route); for parity tests and A/B timing. */
export function setWasmSimdConvInputGradient(enabled: boolean): void {
  simdEnabled = enabled;
}

export const conv2DBackpropInputViaConv: KernelFunc = ({ inputs, backend, attrs }) => {
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs as unknown as Conv2DBackpropInputAttrs;
  checkSupported('Conv2DBackpropInput', dataFormat, attrs ?? {});
  const info = backend_util.computeConv2DInfo(inputShape, filter.shape as [number, number, number, number], strides, 1, pad, dimRoundingMode, false, 'channelsLast');
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: Cin, outHeight: OH, outWidth: OW, outChannels: Cout, filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, padInfo } = info;
  // (Only where dy's size is the full one: TF.js sizes a numeric padding's output with the filter's
  // height in both directions, which a non-square filter makes inconsistent; the route below copes.)
  const consistent = OH === H + padInfo.top + padInfo.bottom - kh + 1 && OW === W + padInfo.left + padInfo.right - kw + 1;
  if (simdEnabled && sh === 1 && sw === 1 && consistent && dy.dtype === 'float32' && filter.dtype === 'float32') {
    // dx[b][ih][iw][n] = sum_{i, j, k} dyp[b][ih + i][iw + j][k] W[kh-1-i][kw-1-j][n][k], dyp = dy padded
    // by k-1-pad: a stride-1 convolution on the SIMD kernel, the filter turned and swapped in its packing.
    const out = simdConv(backend, dy, filter,
      { B, H: OH, W: OW, K: Cout, OH: H, OW: W, N: Cin, kh, kw, sh: 1, sw: 1, top: kh - 1 - padInfo.top, left: kw - 1 - padInfo.left },
      'turned');
    if (out) return out;
  }
  const scope = new KernelScope(backend as unknown as DisposingBackend, 'Conv2DBackpropInput');
  // Dilate dy by the stride: put s-1 zeros after every row and column (length OH*s).
  let d = dy;
  if (sh > 1 || sw > 1) {
    const r = scope.run(Reshape, { x: dy }, { shape: [B, OH, 1, OW, 1, Cout] });
    const p = scope.run(PadV2, { x: r }, { paddings: [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]], constantValue: 0 });
    d = scope.run(Reshape, { x: p }, { shape: [B, OH * sh, OW * sw, Cout] });
  }
  // Full correlation: pad so that a valid kxk conv gives H x W.
  const top = kh - 1 - padInfo.top;
  const left = kw - 1 - padInfo.left;
  if (top < 0 || left < 0) throw new Error('Conv2DBackpropInput (wasm): padding larger than the filter is not supported');
  const needH = H + kh - 1;
  const needW = W + kw - 1;
  const curH = d.shape[1];
  const curW = d.shape[2];
  let padded = scope.run(PadV2, { x: d }, {
    paddings: [[0, 0], [top, Math.max(needH - top - curH, 0)], [left, Math.max(needW - left - curW, 0)], [0, 0]],
    constantValue: 0,
  });
  if (padded.shape[1] > needH || padded.shape[2] > needW) padded = scope.run(Slice, { x: padded }, { begin: [0, 0, 0, 0], size: [B, needH, needW, Cout] });
  const flipped = scope.run(Reverse, { x: filter }, { dims: [0, 1] });
  const swapped = scope.run(Transpose, { x: flipped }, { perm: [0, 1, 3, 2] }); // [kh, kw, Cout, Cin]
  const dx = scope.run(Conv2D, { x: padded, filter: swapped }, { strides: [1, 1], pad: 'valid', dataFormat: 'NHWC', dilations: [1, 1], dimRoundingMode });
  if (dx.shape[1] !== H || dx.shape[2] !== W || dx.shape[3] !== Cin) throw new Error(`Conv2DBackpropInput (wasm): internal shape [${dx.shape}]`);
  return scope.close(dx);
};

let registered = false;

/** Replaces the shipped, slow wasm Conv2DBackpropInput. Idempotent. */
export function registerWasmConv2DBackpropInput(): void {
  if (registered) return;
  if (getKernel(Conv2DBackpropInput, BACKEND) != null) unregisterKernel(Conv2DBackpropInput, BACKEND);
  registerKernel({ kernelName: Conv2DBackpropInput, backendName: BACKEND, kernelFunc: conv2DBackpropInputViaConv });
  registered = true;
}
