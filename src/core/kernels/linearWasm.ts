// A dense layer, y = x W + b over the last axis of x, as one kernel on wasm, and its gradient as
// three (dx = dy W^T, dW = x^T dy, db = the channel sums of dy).
//
// Composed from TF.js ops a dense layer was a reshape to two dimensions, the product, the bias
// add and a reshape back: four or five launches through the engine forward and about as many
// backward, each with its own tape node and saved tensors, plus a separate pass over the output
// for the bias. The UNet runs about 40 dense layers a forward, so that was a sixth of a training
// step's launches. Here the product and the bias are one pass of the SIMD product kernel
// (batchMatMulWasm.ts simdDense; where it cannot run, the shipped fused XNNPACK product between
// reshapes of the backend's own, which share their input's data), and the gradient's products go
// to the wasm BatchMatMul kernel (the SIMD routes of batchMatMulWasm.ts). Each input's gradient is computed only where the backward pass asks for it
// (a registered gradient, unlike a customGrad's), so a layer whose input needs no gradient (the
// text's keys and values) pays for no dx. Other backends keep the composed ops (layers.ts).
import { BatchMatMul, getKernel, registerGradient, registerKernel, Reshape } from '@tensorflow/tfjs-core';
import type { GradConfig, KernelConfig, KernelFunc, NamedAttrMap, Tensor, TensorInfo } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';
import { simdDense } from './batchMatMulWasm';
import { CHANNEL_SUM_KERNEL } from './channelSumWasm';
import { KernelRoute, KernelScope, type DisposingBackend } from './kernelScope';

const BACKEND = 'wasm';
export const LINEAR_KERNEL = 'SailLinear';
export const LINEAR_GRAD_X_KERNEL = 'SailLinearGradX';
export const LINEAR_GRAD_W_KERNEL = 'SailLinearGradW';

const route = new KernelRoute();

/** Switches the fused dense layer on or off (off: the composed ops); for parity tests and A/B timing. */
export const setWasmLinearKernel = (on: boolean): void => route.set(on);

/** How many dense layers the kernel has computed in this process (tests check it is the one that runs). */
export const linearKernelCallCount = (): number => route.calls;

const rowsOf = (shape: number[]) => shape.slice(0, -1).reduce((a, b) => a * b, 1);
const last = (shape: number[]) => shape[shape.length - 1]!;

/**
 * `product` of a and b seen as `aShape` and `bShape` (the backend's reshapes, which share their
 * input's data), its result seen as `outShape`; every intermediate released, whatever happens.
 */
function reshapedProduct(backend: unknown, owner: string, a: TensorInfo, aShape: number[], b: TensorInfo, bShape: number[], outShape: number[], product: (scope: KernelScope, a: TensorInfo, b: TensorInfo) => TensorInfo): TensorInfo {
  const scope = new KernelScope(backend as unknown as DisposingBackend, owner);
  try {
    const y = product(scope, scope.run(Reshape, { x: a }, { shape: aShape }), scope.run(Reshape, { x: b }, { shape: bShape }));
    return scope.close(scope.run(Reshape, { x: y }, { shape: outShape }));
  } catch (e) {
    scope.dispose();
    throw e;
  }
}

/** y [..., N] = x [..., K] w [K, N] + b [N]. */
const linearWasm: KernelFunc = ({ inputs, backend }) => {
  const { x, w, b } = inputs as { x: TensorInfo; w: TensorInfo; b: TensorInfo };
  const [K, N] = w.shape as [number, number];
  if (last(x.shape) !== K || b.shape.length !== 1 || b.shape[0] !== N) throw new Error(`${LINEAR_KERNEL} (wasm): x [${x.shape}], w [${w.shape}] and b [${b.shape}] do not fit`);
  route.calls++;
  // The SIMD product with the bias inside; elsewhere the shipped fused product (XNNPACK).
  return simdDense(backend, x, w, b) ?? reshapedProduct(backend, LINEAR_KERNEL, x, [1, rowsOf(x.shape), K], w, [1, K, N], [...x.shape.slice(0, -1), N],
    (scope, a, bb) => scope.run('_FusedMatMul', { a, b: bb, bias: b }, { transposeA: false, transposeB: false, activation: 'linear' }));
};

/** dx [shape] = dy [..., N] w^T (w [K, N]); attrs.shape: x's shape. */
const linearGradXWasm: KernelFunc = ({ inputs, backend, attrs }) => {
  const { dy, w } = inputs as { dy: TensorInfo; w: TensorInfo };
  const [K, N] = w.shape as [number, number];
  return reshapedProduct(backend, LINEAR_GRAD_X_KERNEL, dy, [1, rowsOf(dy.shape), N], w, [1, K, N], (attrs as unknown as { shape: number[] }).shape,
    (scope, a, bb) => scope.run(BatchMatMul, { a, b: bb }, { transposeA: false, transposeB: true }));
};

/** dW [K, N] = x^T dy over all leading positions. */
const linearGradWWasm: KernelFunc = ({ inputs, backend }) => {
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const [K, N] = [last(x.shape), last(dy.shape)];
  const rows = rowsOf(x.shape);
  return reshapedProduct(backend, LINEAR_GRAD_W_KERNEL, x, [1, rows, K], dy, [1, rows, N], [K, N],
    (scope, a, bb) => scope.run(BatchMatMul, { a, b: bb }, { transposeA: true, transposeB: false }));
};

const linearGrad: GradConfig = {
  kernelName: LINEAR_KERNEL,
  inputsToSave: ['x', 'w'],
  gradFunc: (dy, saved) => {
    const [x, w] = saved as [Tensor, Tensor];
    const d = dy as Tensor;
    return {
      x: () => tf.engine().runKernel(LINEAR_GRAD_X_KERNEL, { dy: d, w }, { shape: x.shape } as unknown as NamedAttrMap) as Tensor,
      w: () => tf.engine().runKernel(LINEAR_GRAD_W_KERNEL, { x, dy: d }, {}) as Tensor,
      b: () => tf.engine().runKernel(CHANNEL_SUM_KERNEL, { x: d }, {}) as Tensor,
    };
  },
};

const configs: KernelConfig[] = [
  { kernelName: LINEAR_KERNEL, backendName: BACKEND, kernelFunc: linearWasm },
  { kernelName: LINEAR_GRAD_X_KERNEL, backendName: BACKEND, kernelFunc: linearGradXWasm },
  { kernelName: LINEAR_GRAD_W_KERNEL, backendName: BACKEND, kernelFunc: linearGradWWasm },
];

let gradientRegistered = false;

/** Registers the kernels for 'wasm' and the gradient once; later calls do nothing. */
export function registerWasmLinear(): void {
  for (const c of configs) if (getKernel(c.kernelName, BACKEND) == null) registerKernel(c);
  if (!gradientRegistered) {
    registerGradient(linearGrad);
    gradientRegistered = true;
  }
}

/** Whether the fused dense layer serves the active backend (and its channel sums, which its bias gradient uses). */
export function linearKernelAvailable(backendName: string): boolean {
  return route.enabled && backendName === BACKEND && getKernel(LINEAR_KERNEL, BACKEND) != null && getKernel(CHANNEL_SUM_KERNEL, BACKEND) != null;
}
