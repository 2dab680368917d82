// Composing wasm kernels at the kernel level: run registered kernels on TensorInfos (no engine
// tensors, no tape entries) and release every intermediate with backend.disposeData. Only what
// `run` made is ever disposed, never an input passed in from outside.
import { getKernel, registerKernel, unregisterKernel } from '@tensorflow/tfjs-core';
import type { KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';

const BACKEND = 'wasm';

const replaced = new Set<string>();

/**
 * Replaces the wasm backend's shipped kernel `name` by `wrap(shipped)`, which may call the shipped
 * one. Idempotent: a second call leaves the first replacement in place.
 */
export function replaceWasmKernel(name: string, wrap: (shipped: KernelFunc) => KernelFunc): void {
  if (replaced.has(name)) return;
  const config = getKernel(name, BACKEND);
  if (!config) throw new Error(`${name} (wasm): the wasm backend is not loaded`);
  replaced.add(name);
  unregisterKernel(name, BACKEND);
  registerKernel({ ...config, kernelFunc: wrap(config.kernelFunc) });
}

/** The wasm backend as kernels that loop over its heap see it: outputs they fill, views of any tensor's data. */
export interface HeapBackend {
  makeOutput(shape: number[], dtype: 'float32'): TensorInfo;
  /** A view of the tensor's data on the wasm heap: Float32Array for float32, Int32Array for int32. */
  typedArrayFromHeap(t: TensorInfo): Float32Array;
}

export interface DisposingBackend {
  disposeData(dataId: object, force?: boolean): boolean;
}

/** Runs registered wasm kernels and remembers their outputs for disposal. */
export class KernelScope {
  private readonly made: TensorInfo[] = [];
  constructor(private readonly backend: DisposingBackend, private readonly owner: string) {}

  run(name: string, inputs: Record<string, TensorInfo>, attrs: object, kernelFunc = getKernel(name, BACKEND)?.kernelFunc): TensorInfo {
    if (kernelFunc == null) throw new Error(`${this.owner} (wasm): the wasm backend has no '${name}' kernel`);
    const out = kernelFunc({ inputs, backend: this.backend as never, attrs: attrs as NamedAttrMap });
    if (Array.isArray(out)) throw new Error(`${this.owner} (wasm): '${name}' returned several outputs`);
    this.made.push(out);
    return out;
  }

  /** Disposes every intermediate except `keep`. */
  close(keep: TensorInfo): TensorInfo {
    this.release(keep);
    return keep;
  }

  /** Disposes everything `run` made, keeping nothing: for error paths. */
  dispose(): void {
    this.release(null);
  }

  private release(keep: TensorInfo | null): void {
    // Empty the list first so that a later close/dispose never disposes a data id twice.
    for (const t of this.made.splice(0)) if (t !== keep) this.backend.disposeData(t.dataId);
  }
}

/**
 * A kernel route that parity tests and A/B timings switch off (what it replaces then runs) and
 * whose uses they count, to check that it is the route that runs.
 */
export class KernelRoute {
  enabled = true;
  calls = 0;
  set(on: boolean): void {
    this.enabled = on;
  }
}
