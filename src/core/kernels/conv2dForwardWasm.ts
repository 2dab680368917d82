// Forward convolutions (Conv2D and FusedConv2D with a bias and no activation) on the hand-written
// SIMD kernel (simd.wat conv_fwd, convSimd.ts) where it takes the geometry: NHWC, dilation 1, input
// and output channels and the output width in fours, float32, and the wasm backend on one thread.
//
// Measured in Node on one core at the UNet's shapes (batch 64, 3x3, 48-192 channels, fused
// multiply-adds): the kernel 35-37 GFLOP/s against XNNPACK's 31-32 (XNNPACK as shipped in TF.js's
// wasm build has no FMA). The bias is where the accumulators start, so a conv + bias is one pass.
// Elsewhere (strides the geometry does not fit, channels not in fours, an activation, the threaded
// build, whose XNNPACK splits a conv over its threads) the shipped kernel runs.
import { backend_util, Conv2D, FusedConv2D } from '@tensorflow/tfjs-core';
import type { Conv2DAttrs, FusedConv2DAttrs, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { simdConv, wasmThreads } from './convSimd';
import { replaceWasmKernel } from './kernelScope';

let simdEnabled = true;

/** Switches forward convolutions on the SIMD kernel on or off (off: XNNPACK); for parity tests and A/B timing. */
export function setWasmSimdConvForward(enabled: boolean): void {
  simdEnabled = enabled;
}

/** conv(x, filter) + bias on conv_fwd, or null where it does not take the convolution. */
function simdForward(backend: unknown, x: TensorInfo, filter: TensorInfo, attrs: Conv2DAttrs, bias: TensorInfo | null): TensorInfo | null {
  if (!simdEnabled || x.dtype !== 'float32' || filter.dtype !== 'float32' || x.shape.length !== 4 || filter.shape.length !== 4) return null;
  const { strides, pad, dataFormat, dilations, dimRoundingMode } = attrs;
  if (dataFormat != null && dataFormat !== 'NHWC') return null;
  if (dilations != null && (Array.isArray(dilations) ? dilations.some((v) => v !== 1) : dilations !== 1)) return null;
  if (wasmThreads() > 1) return null;
  const info = backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filter.shape as [number, number, number, number], strides, 1, pad, dimRoundingMode, false, 'channelsLast');
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: K, outHeight: OH, outWidth: OW, outChannels: N, filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, padInfo } = info;
  return simdConv(backend, x, filter, { B, H, W, K, OH, OW, N, kh, kw, sh, sw, top: padInfo.top, left: padInfo.left }, 'hwio', undefined, bias);
}

/**
 * The shipped kernel, refused where TF.js and XNNPACK size the output differently: TF.js sizes a
 * numeric padding's output with the filter's height in both directions, XNNPACK with each side's
 * own, and for a non-square filter XNNPACK then writes past the end of the output TF.js allocated
 * (it corrupted the heap in a test). conv_fwd above follows TF.js's size and takes such convs where
 * its geometry fits.
 */
function checkedShipped(shipped: KernelFunc, args: Parameters<KernelFunc>[0]): ReturnType<KernelFunc> {
  const { x, filter } = args.inputs as { x: TensorInfo; filter: TensorInfo };
  const { strides, pad, dimRoundingMode } = args.attrs as unknown as Conv2DAttrs;
  if (typeof pad === 'number' && x.shape.length === 4 && filter.shape.length === 4) {
    const info = backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filter.shape as [number, number, number, number], strides, 1, pad, dimRoundingMode, false, 'channelsLast');
    const { padInfo: p, strideHeight: sh, strideWidth: sw } = info;
    const oh = Math.floor((info.inHeight + p.top + p.bottom - info.filterHeight) / sh) + 1;
    const ow = Math.floor((info.inWidth + p.left + p.right - info.filterWidth) / sw) + 1;
    if (oh !== info.outHeight || ow !== info.outWidth) {
      throw new Error(`Conv2D (wasm): a numeric padding with a ${info.filterHeight}x${info.filterWidth} filter gives an output of ${info.outHeight}x${info.outWidth} in TF.js and ${oh}x${ow} in XNNPACK, which would write past the output; use 'same', 'valid' or a square filter`);
    }
  }
  return shipped(args);
}

const conv2DFast = (shipped: KernelFunc): KernelFunc => (args) => {
  const { x, filter } = args.inputs as { x: TensorInfo; filter: TensorInfo };
  return simdForward(args.backend, x, filter, args.attrs as unknown as Conv2DAttrs, null) ?? checkedShipped(shipped, args);
};

const fusedConv2DFast = (shipped: KernelFunc): KernelFunc => (args) => {
  const { x, filter, bias, preluActivationWeights } = args.inputs as { x: TensorInfo; filter: TensorInfo; bias?: TensorInfo; preluActivationWeights?: TensorInfo };
  const attrs = args.attrs as unknown as FusedConv2DAttrs;
  if ((attrs.activation != null && attrs.activation !== 'linear') || preluActivationWeights != null) return checkedShipped(shipped, args);
  return simdForward(args.backend, x, filter, attrs, bias ?? null) ?? checkedShipped(shipped, args);
};

/** Wraps the shipped wasm Conv2D and FusedConv2D. Idempotent. */
export function registerWasmConv2DForward(): void {
  replaceWasmKernel(Conv2D, conv2DFast);
  replaceWasmKernel(FusedConv2D, fusedConv2DFast);
}
