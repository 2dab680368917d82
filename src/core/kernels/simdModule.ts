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
  /** The affine map and SiLU in one pass (the sigmoid kept where asked). */
  gnAffineSilu: Fn;
  /** Column sums of a [rows, C] block into out (float32). */
  colsum: Fn;
  /** Filter gradient of a conv (and A^T B of a dense layer), see simd.wat. */
  convDw: Fn;
  /** A convolution over a padded input with a packed filter, see simd.wat and convSimd.ts. */
  convFwd: Fn;
  /** SiLU's gradient from its saved sigmoid, see simd.wat. */
  siluGrad: Fn;
  /** Rows of floats from one buffer to another at strides (a concat's part), see simd.wat. */
  copyRows: Fn;
  /** Sum of squares (16 lanes out) and one Adam pass over flat buffers, see simd.wat. */
  sumsq: Fn;
  adam: Fn;
  /** Attention's forward with the heads in place (scores, softmax, weighted values), see simd.wat. */
  attnFwd: Fn;
  /** Winograd F(4x4, 3x3): input tiles to 36 planes, the planes' products back to outputs, and the filter's transform (convSimd.ts). */
  winoIn: Fn;
  winoOut: Fn;
  winoFilter: Fn;
  /** The filter gradient by Winograd: output-gradient tiles to planes, and the planes' products back to a filter. */
  winoDy: Fn;
  winoFgrad: Fn;
  /** Whether the matrix kernels fuse multiply and add (relaxed SIMD's relaxed_madd: one FMA). */
  fused: boolean;
}

const instances = new WeakMap<WebAssembly.Memory, SimdKernels | null>();
const plainInstances = new WeakMap<WebAssembly.Memory, SimdKernels | null>();
let relaxedAllowed = true;

/**
 * Whether the kernels may use the fused multiply-add module (relaxed SIMD) where it validates;
 * off, the module as written (mul then add). For parity tests and A/B timing.
 */
export function setRelaxedSimdKernels(allowed: boolean): void {
  relaxedAllowed = allowed;
}

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
  const cache = relaxedAllowed ? instances : plainInstances;
  if (cache.has(memory)) return cache.get(memory)!;
  let kernels: SimdKernels | null = null;
  const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
  const variants: [string, boolean][] = [
    ...(relaxedAllowed ? [[shared ? SIMD_MODULE.sharedRelaxed : SIMD_MODULE.unsharedRelaxed, true] as [string, boolean]] : []),
    [shared ? SIMD_MODULE.shared : SIMD_MODULE.unshared, false],
  ];
  for (const [source, fused] of variants) {
    try {
      const bytes = decodeBase64(source);
      if (!WebAssembly.validate(bytes)) continue; // no wasm SIMD, or (fused) no relaxed SIMD here
      const e = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } }).exports;
      kernels = { bmm: e.bmm as Fn, gnPass1: e.gn_pass1 as Fn, gnPass2: e.gn_pass2 as Fn, gnMoments: e.gn_moments as Fn, gnAffine: e.gn_affine as Fn, gnAffineSilu: e.gn_affine_silu as Fn, colsum: e.colsum as Fn, convDw: e.conv_dw as Fn, convFwd: e.conv_fwd as Fn, siluGrad: e.silu_grad as Fn, attnFwd: e.attn_fwd as Fn, winoIn: e.wino_in as Fn, winoOut: e.wino_out as Fn, winoFilter: e.wino_filter as Fn, winoDy: e.wino_dy as Fn, winoFgrad: e.wino_fgrad as Fn, copyRows: e.copy_rows as Fn, sumsq: e.sumsq as Fn, adam: e.adam as Fn, fused };
      break;
    } catch {
      kernels = null;
    }
  }
  cache.set(memory, kernels);
  return kernels;
}
