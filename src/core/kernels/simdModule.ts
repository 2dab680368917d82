// The hand-written wasm SIMD kernels (kernels/wasm/simd.wat, assembled into simdModule.generated.ts),
// instantiated on the wasm backend's own heap: the module imports the backend's WebAssembly.Memory,
// so kernels read their inputs and write their outputs where the backend keeps them, no copies.
// One instance per heap; null where it cannot run (no wasm SIMD, no reachable memory), and the
// callers then keep the shipped or the JS kernels.
import { SIMD_MODULE } from './simdModule.generated';

type Fn = (...args: number[]) => void;

export interface SimdKernels {
  /** Batched product, see simd.wat. */
  bmm: Fn;
  /** GroupNorm(+SiLU) backward, passes 1 and 2 over one batch item, see simd.wat. */
  gnPass1: Fn;
  gnPass2: Fn;
  /** GroupNorm forward: moments about a pivot per channel, then the affine map. */
  gnMoments: Fn;
  gnAffine: Fn;
  /** Column sums of a [rows, C] block into out (float32). */
  colsum: Fn;
  /** Filter gradient of a conv (and A^T B of a dense layer), see simd.wat. */
  convDw: Fn;
}

const instances = new WeakMap<WebAssembly.Memory, SimdKernels | null>();

function decodeBase64(s: string): Uint8Array<ArrayBuffer> {
  const bin = atob(s);
  const out = new Uint8Array(new ArrayBuffer(bin.length));
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** The kernels bound to the backend's heap, or null where they cannot run there. */
export function simdKernelsFor(backend: unknown): SimdKernels | null {
  const wasm = (backend as { wasm?: { asm?: { memory?: unknown }; wasmMemory?: unknown } }).wasm;
  const memory = wasm?.asm?.memory ?? wasm?.wasmMemory;
  if (!(memory instanceof WebAssembly.Memory)) return null;
  if (instances.has(memory)) return instances.get(memory)!;
  let kernels: SimdKernels | null = null;
  try {
    const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
    const bytes = decodeBase64(shared ? SIMD_MODULE.shared : SIMD_MODULE.unshared);
    if (WebAssembly.validate(bytes)) {
      const e = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } }).exports;
      kernels = { bmm: e.bmm as Fn, gnPass1: e.gn_pass1 as Fn, gnPass2: e.gn_pass2 as Fn, gnMoments: e.gn_moments as Fn, gnAffine: e.gn_affine as Fn, colsum: e.colsum as Fn, convDw: e.conv_dw as Fn };
    }
  } catch {
    kernels = null; // no wasm SIMD here
  }
  instances.set(memory, kernels);
  return kernels;
}
