// Saving a tensor for the backward pass without a kernel launch or a tape node.
//
// While a gradient tape records, TF.js's engine keeps every input or output a kernel's gradient
// will read (Reshape its input, Multiply both inputs, BatchMatMul both operands, ...) by cloning
// it: engine.clone runs the Identity kernel and adds a tape node mapping the clone back to the
// original. A UNet training step of our model made 809 such clones, a third of its 2,360 kernel
// launches, each paying the engine's whole per-launch cost, and the tape node of each is walked
// again when the tape is filtered for the backward pass. The clone's tape node only matters to a
// second-order gradient (a gradient taken while another tape records); a first-order backward
// pass reads saved tensors only inside gradient functions, which run with no tape on.
//
// Here, while a kernel runs on a first-order tape (where the engine saves a kernel's tensors and
// a customGrad's save() keeps its own; nothing inside a kernel is recorded), a clone is a new
// tensor over the same data (the backend's reference count raised, as the Identity kernels of the
// cpu, wasm and WebGPU backends do), made without a kernel launch and without a tape node.
// Anywhere else (tf.clone in a recorded function, a nested tape, a string tensor, a backend
// without reference counts) the engine's own clone runs.
import * as tf from '@tensorflow/tfjs-core';
import { KernelRoute } from './kernelScope';

interface EngineInternals {
  state: { gradientDepth: number; kernelDepth: number; tensorInfo: Map<object, { backend: { incRef?: (id: object) => void } }> };
  clone(t: tf.Tensor): tf.Tensor;
  makeTensorFromTensorInfo(info: { dataId: object; shape: number[]; dtype: tf.DataType }, backend: unknown): tf.Tensor;
}

let installed = false;
const route = new KernelRoute();

/** Switches the lean saves on or off (off: the engine's clone); for parity tests and A/B timing. */
export const setLeanGradientSaves = (enabled: boolean): void => route.set(enabled);

/** How many tensors have been saved the lean way in this process (tests check the path runs). */
export const leanGradientSaveCount = (): number => route.calls;

/** Installs the lean clone on TF.js's engine once; later calls do nothing. */
export function installLeanGradientSaves(): void {
  if (installed) return;
  const engine = tf.engine() as unknown as EngineInternals;
  const proto = Object.getPrototypeOf(engine) as EngineInternals;
  const engineClone = proto.clone;
  const state = engine.state;
  if (typeof engineClone !== 'function' || typeof proto.makeTensorFromTensorInfo !== 'function' || !state?.tensorInfo || typeof state.kernelDepth !== 'number' || typeof state.gradientDepth !== 'number') return;
  installed = true;
  proto.clone = function (this: EngineInternals, x: tf.Tensor): tf.Tensor {
    if (!route.enabled || this.state.gradientDepth !== 1 || this.state.kernelDepth === 0 || x.dtype === 'string') return engineClone.call(this, x);
    const backend = this.state.tensorInfo.get(x.dataId)?.backend;
    if (typeof backend?.incRef !== 'function') return engineClone.call(this, x);
    backend.incRef(x.dataId);
    route.calls++;
    return this.makeTensorFromTensorInfo({ dataId: x.dataId, shape: x.shape, dtype: x.dtype }, backend);
  };
}
