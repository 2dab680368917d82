// Identity on wasm without a copy: the output shares its input's data (reference-counted, as the
// cpu backend and the wasm Reshape already do), since no kernel writes into a tensor it did not make.
//
// The engine runs Identity for every tensor a gradient saves for the backward pass (engine.clone)
// and for tf.clone; the shipped wasm kernel copies the whole buffer each time: 918 launches and
// 34 ms of a 1.26 s UNet+text training step by the profile of issue 11. Strings keep the shipped
// kernel.
import { Identity } from '@tensorflow/tfjs-core';
import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { replaceWasmKernel } from './kernelScope';

const identityShared = (shipped: KernelFunc): KernelFunc => (args) => {
  const x = (args.inputs as { x: TensorInfo }).x;
  if (x.dtype === 'string') return shipped(args);
  (args.backend as unknown as { incRef(id: object): void }).incRef(x.dataId);
  return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
};

/** Replaces the shipped wasm Identity. Idempotent. */
export function registerWasmIdentity(): void {
  replaceWasmKernel(Identity, identityShared);
}
