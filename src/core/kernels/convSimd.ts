// Convolutions on the hand-written wasm SIMD kernel (kernels/wasm/simd.wat conv_fwd), on the backend's heap.
//
// conv_fwd computes out[b][oh][ow][n] = sum_{i, j, k} xp[b][oh*sh + i][ow*sw + j][k] f[i][j][k][n]
// over an input padded so that every tap is inside, with the filter packed in blocks of 8 (then 4)
// output channels. Here: the padded copy of the input (rows copied with TypedArray.set) and the
// packed filter, for a forward convolution (its bias the accumulators' start) and for the input
// gradient of a stride-1 one (a full correlation of dy with the filter turned 180 degrees, in and
// out channels swapped: the packing does the turning and the swapping). Every scratch buffer is
// released before returning.
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { KernelRoute, type DisposingBackend, type HeapBackend } from './kernelScope';
import { simdKernelsFor, type SimdKernels } from './simdModule';

type Backend = HeapBackend & DisposingBackend;

/**
 * Threads the wasm backend runs XNNPACK on (1 where it has not started). conv_fwd runs on one: on
 * the threaded build the forward routes leave convolutions and products to XNNPACK, which splits them.
 */
export function wasmThreads(): number {
  try {
    return getThreadsCount();
  } catch {
    return 1;
  }
}

/** Output rows a chunk of the kernel sweeps per block of output channels. */
const ROW_CHUNK = 16;

/** Geometry of one conv_fwd call: the input [B, H, W, K] read with zero padding top/left. */
export interface SimdConvGeometry {
  B: number; H: number; W: number; K: number;
  OH: number; OW: number; N: number;
  kh: number; kw: number; sh: number; sw: number;
  top: number; left: number;
}

/** Whether conv_fwd takes this geometry (channel counts and the output width multiples of 4). */
export function simdConvTakes(g: SimdConvGeometry): boolean {
  return g.K % 4 === 0 && g.N % 4 === 0 && g.OW % 4 === 0 && g.K > 0 && g.N > 0 && g.OW > 0 && g.OH > 0 && g.B > 0 &&
    g.top >= 0 && g.left >= 0;
}

const directGeometry = new Map<string, boolean>();

/**
 * Whether conv_fwd reads only x's own values for this geometry: it skips a tap row outside x's
 * rows, and in each tile of 4 output pixels the first pixel where its tap column is left of x or
 * else the last where it is right of x; every other (pixel, tap column) must land inside x. Checked
 * tile by tile (memoised per geometry).
 */
function readsNoPadding(g: SimdConvGeometry): boolean {
  const key = `${g.W},${g.OW},${g.kw},${g.sw},${g.left},${g.top},${g.K}`;
  let ok = directGeometry.get(key);
  if (ok === undefined) {
    ok = true;
    const Wp = (g.OW - 1) * g.sw + g.kw;
    const [clo, chi] = [g.left, Math.min(g.left + g.W, Wp)];
    for (let ow = 0; ow < g.OW && ok; ow += 4) {
      for (let j = 0; j < g.kw && ok; j++) {
        const col = (p: number) => (ow + p) * g.sw + j;
        const skipped = col(0) < clo ? 0 : col(3) >= chi ? 3 : -1;
        for (let p = 0; p < 4; p++) if (p !== skipped && (col(p) < clo || col(p) >= chi)) ok = false;
      }
    }
    directGeometry.set(key, ok);
  }
  return ok;
}

/**
 * Where a filter's values are: 'hwio', stored as a forward conv's filter [kh][kw][K][N]; 'turned',
 * a forward filter [kh][kw][N][K] read turned 180 degrees with its channels swapped (the input
 * gradient's: tap (i, j), channel k, output n is W[kh-1-i][kw-1-j][n][k]).
 */
export type FilterLayout = 'hwio' | 'turned';

/**
 * Runs conv_fwd with the filter laid out as `layout` says, each output starting from `bias[n]`
 * (float32 [N]) where a bias is given. Returns the output [B, OH, OW, N] (or that data as
 * outShape), or null where the SIMD kernels cannot run on this backend or take this geometry.
 */
export function simdConv(backend: unknown, x: TensorInfo, filter: TensorInfo, g: SimdConvGeometry, layout: FilterLayout, outShape?: number[], bias?: TensorInfo | null): TensorInfo | null {
  const simd = simdKernelsFor(backend);
  if (!simd || !simdConvTakes(g)) return null;
  if (bias && (bias.dtype !== 'float32' || bias.shape.reduce((a, b) => a * b, 1) !== g.N)) return null;
  if (winogradRoute.enabled && winogradTakes(g)) return winogradConv(simd, backend as Backend, x, filter, g, layout, outShape, bias ?? null);
  const be = backend as Backend;
  const { B, H, W, K, OH, OW, N, kh, kw, sh, sw, top, left } = g;
  const Hp = (OH - 1) * sh + kh;
  const Wp = (OW - 1) * sw + kw;
  // Where the kernel never reads a padding value (it skips padding rows, and a tile's first or last
  // pixel on a padding column: a 3x3 'same' conv, a 1x1 conv, a matrix product), the input itself,
  // addressed as if padded; otherwise a padded copy.
  const direct = readsNoPadding(g);
  return withScratch(be, outShape ?? [B, OH, OW, N], (out, alloc) => {
    const xp = direct ? x : alloc(B * Hp * Wp * K);
    const fp = alloc(kh * kw * K * N);
    const zeros = bias ? null : alloc(N);
    if (zeros) (be.typedArrayFromHeap(zeros) as Float32Array).fill(0);
    // Views after every allocation (an allocation may grow the heap and detach older views).
    const F = be.typedArrayFromHeap(filter) as Float32Array;
    const FP = be.typedArrayFromHeap(fp) as Float32Array;
    if (!direct) {
      const X = be.typedArrayFromHeap(x) as Float32Array;
      const XP = be.typedArrayFromHeap(xp) as Float32Array;
      // The padded input: zeros, then the rows of x that fall inside [0, Hp) x [0, Wp).
      XP.fill(0);
      const cols = Math.min(W, Wp - left); // columns of x the conv reads (left >= 0)
      if (cols > 0) {
        for (let b = 0; b < B; b++) {
          for (let r = 0; r < H; r++) {
            const rp = r + top;
            if (rp >= Hp) break;
            const src = (b * H + r) * W * K;
            XP.set(X.subarray(src, src + cols * K), ((b * Hp + rp) * Wp + left) * K);
          }
        }
      }
    }
    // The filter in blocks of 8 output channels, [i][j][k][8], then one block of 4 if N = 4 mod 8.
    let o = 0;
    if (layout === 'hwio') {
      // Each (tap, input channel) row of the stored filter holds the block's 8 (or 4) values in a run.
      const rows = kh * kw * K;
      for (let n0 = 0; n0 < N; n0 += 8) {
        const w = Math.min(8, N - n0);
        for (let r = 0, src = n0; r < rows; r++, src += N) {
          for (let c = 0; c < w; c++) FP[o++] = F[src + c]!;
        }
      }
    } else {
      // Plain loops: an index closure per value took about as long as the convolution itself at 4x4x96.
      for (let n0 = 0; n0 < N; n0 += 8) {
        const w = Math.min(8, N - n0);
        for (let i = 0; i < kh; i++) {
          for (let j = 0; j < kw; j++) {
            const tap = ((kh - 1 - i) * kw + (kw - 1 - j)) * N * K;
            for (let k = 0; k < K; k++) {
              for (let c = 0, src = tap + n0 * K + k; c < w; c++, src += K) FP[o++] = F[src]!;
            }
          }
        }
      }
    }
    const ptr = (t: TensorInfo) => be.typedArrayFromHeap(t).byteOffset;
    simdConvCalls++;
    // Rows and columns of xp that hold x's (the rest is padding, whose taps the kernel skips where it can).
    // Direct: padded row r, column c of item b is x's row r - top, column c - left, so the base
    // moves back by (top W + left) K floats and rows are W, items H rows apart.
    const base = direct ? ptr(x) - 4 * (top * W + left) * K : ptr(xp);
    simd.convFwd(base, ptr(fp), ptr(out), B, direct ? H : Hp, direct ? W : Wp, K, OH, OW, N, kh, kw, sh, sw, ROW_CHUNK, ptr(bias ?? zeros!), top, Math.min(top + H, Hp), left, Math.min(left + W, Wp));
  });
}

let simdConvCalls = 0;

/** How many convolutions (forward or input gradient) conv_fwd has computed in this process. */
export function simdConvCallCount(): number {
  return simdConvCalls;
}

// ---------------------------------------------------------------------------------------------
// Winograd F(4x4, 3x3) (Lavin & Gray 2016): a stride-1 3x3 'same' convolution as 36 matrix
// products over 6x6 input tiles that each give 4x4 outputs, 36 multiplies per 4x4 outputs per
// channel pair instead of 144. conv_fwd runs at the machine's SIMD peak already (38-44 GFLOP/s on
// one core here), so only fewer multiplies make a 3x3 conv faster: U = B^T d B per tile (simd.wat
// wino_in), M_p = U_p V_p for each of the 36 planes p (conv_fwd with a 1x1 filter; V = G g G^T
// packed for it by wino_filter at every call: the weights change at every training step, and the
// transform costs a few hundredths of the products), Y = A^T M A + bias (wino_out).
// The transforms round in float32, so results differ from the direct sum by rounding: 1e-5 to 8e-5
// of the output's scale at the model's shapes, up to 2.5e-4 for the filter gradient, which sums
// over every tile (test/winograd.test.ts bounds them at 2e-4 and 5e-4).

/** Floats between consecutive planes of M and V beyond their size (one cache line). */
const PLANE_PAD = 16;

const winogradRoute = new KernelRoute();

/** Switches the Winograd route on or off (off: conv_fwd directly); for parity tests and A/B timing. */
export const setWasmWinograd = (enabled: boolean): void => winogradRoute.set(enabled);

/** How many convolutions the Winograd route has computed in this process. */
export const winogradCallCount = (): number => winogradRoute.calls;

/**
 * A stride-1 3x3 conv padded by one on each side, output = input size, both sides multiples of 4.
 * Whatever the batch: a route that depended on it would round an image differently with the batch
 * it is in (a DPO step's policy and reference, a batch split over two workers).
 */
export function winogradTakes(g: SimdConvGeometry): boolean {
  return g.kh === 3 && g.kw === 3 && g.sh === 1 && g.sw === 1 && g.top === 1 && g.left === 1 && g.OH === g.H && g.OW === g.W &&
    g.H % 4 === 0 && g.W % 4 === 0;
}

/**
 * A new float32 output of `shape`, written by `body`, which takes its scratch buffers from `alloc`:
 * the scratch is released however `body` ends, the output too when it throws.
 */
function withScratch(be: Backend, shape: number[], body: (out: TensorInfo, alloc: (size: number) => TensorInfo) => void): TensorInfo {
  const out = be.makeOutput(shape, 'float32');
  const scratch: TensorInfo[] = [];
  const alloc = (size: number) => {
    const t = be.makeOutput([size], 'float32');
    scratch.push(t);
    return t;
  };
  try {
    body(out, alloc);
    return out;
  } catch (e) {
    be.disposeData(out.dataId);
    throw e;
  } finally {
    for (const t of scratch) be.disposeData(t.dataId);
  }
}

/**
 * U = B^T d B for every 6x6 tile of x [B, H, W, K] read as if padded by one zero on every side (H, W
 * multiples of 4; wino_in reads x in place), into a scratch buffer [Tp][36][K] (tile t's 36 values
 * in one run, the Tp - T tiles past the last zeros).
 */
function winogradTiles(simd: SimdKernels, be: Backend, alloc: (size: number) => TensorInfo, x: TensorInfo, B: number, H: number, W: number, K: number, Tp: number): TensorInfo {
  const T = (B * H * W) / 16;
  const u = alloc(36 * Tp * K);
  // Views and offsets after the allocation (it may grow the heap and detach older views).
  if (Tp > T) (be.typedArrayFromHeap(u) as Float32Array).fill(0, 36 * T * K);
  simd.winoIn(be.typedArrayFromHeap(x).byteOffset, be.typedArrayFromHeap(u).byteOffset, B, H / 4, W / 4, K);
  return u;
}

function winogradConv(simd: SimdKernels, be: Backend, x: TensorInfo, filter: TensorInfo, g: SimdConvGeometry, layout: FilterLayout, outShape: number[] | undefined, bias: TensorInfo | null): TensorInfo {
  const { B, H, W, K, N } = g;
  const [TH, TW] = [H / 4, W / 4];
  const T = B * TH * TW;
  // Tiles rounded up to a multiple of 4 (conv_fwd's pixels come in fours); the extra ones are zeros.
  const Tp = Math.ceil(T / 4) * 4;
  // The planes of M and of V a cache line more than their size apart: planes a multiple of 4 KiB
  // apart share L1 sets, and wino_filter's and wino_out's 36 accesses per step then evict each other.
  const [mPlane, fPlane] = [Tp * N + PLANE_PAD, K * N + PLANE_PAD];
  return withScratch(be, outShape ?? [B, H, W, N], (out, alloc) => {
    const u = winogradTiles(simd, be, alloc, x, B, H, W, K, Tp);
    const [m, fp, zeros] = [alloc(36 * mPlane), alloc(36 * fPlane), alloc(N)];
    (be.typedArrayFromHeap(zeros) as Float32Array).fill(0);
    const ptr = (t: TensorInfo) => be.typedArrayFromHeap(t).byteOffset; // after every allocation (the heap may grow)
    // V = G g G^T, packed for conv_fwd: tap t of (k, n) at t K N + k N + n ('hwio'), or turned and
    // swapped at (8 - t) N K + n K + k.
    if (layout === 'hwio') simd.winoFilter(ptr(filter), ptr(fp), K, N, K * N, N, 1, 4 * fPlane);
    else simd.winoFilter(ptr(filter) + 4 * 8 * N * K, ptr(fp), K, N, -N * K, 1, K, 4 * fPlane);
    // Plane p of U: tile t's values at u + (36 t + p) K, read by conv_fwd as an image of Tp / 4 rows
    // of 4 pixels at a column stride of 36 (each chunk of rows stays in cache across the output
    // channel blocks); M_p written contiguous, [Tp][N].
    const [pu, pm, pf, pz] = [ptr(u), ptr(m), ptr(fp), ptr(zeros)];
    const rows = Tp / 4;
    for (let p = 0; p < 36; p++) {
      simd.convFwd(pu + 4 * p * K, pf + 4 * p * fPlane, pm + 4 * p * mPlane, 1, rows, 36 * 4, K, rows, 4, N, 1, 1, 1, 36, ROW_CHUNK, pz, 0, rows, 0, 36 * 4);
    }
    simd.winoOut(pm, ptr(out), bias ? ptr(bias) : pz, B, TH, TW, N, 4 * mPlane);
    winogradRoute.calls++;
    simdConvCalls++;
  });
}

/**
 * The filter gradient of a stride-1 3x3 'same' conv by Winograd F(4x4, 3x3): dW = G^T [sum over
 * tiles of U (.) Z] G with U = B^T d B (x's tiles, wino_in) and Z = A dY A^T (dy's 4x4 tiles,
 * wino_dy); the sum over tiles, plane by plane, is conv_dw's A^T B (the dense weight gradient's
 * kernel, a reduction over all tiles in one pass); wino_fgrad takes the 36 planes back to the
 * 3x3 taps. 36 multiplies per tile per channel pair instead of 144. x [B, H, W, K] and dy
 * [B, H, W, N] with H, W multiples of 4 and K, N of 4; returns the filter [3, 3, K, N], or null
 * where the kernels cannot run here or the route is off.
 */
export function winogradFilterGradient(backend: unknown, x: TensorInfo, dy: TensorInfo): TensorInfo | null {
  const simd = simdKernelsFor(backend);
  if (!simd || !winogradRoute.enabled) return null;
  const [B, H, W, K] = x.shape;
  const N = dy.shape[3];
  if (H % 4 !== 0 || W % 4 !== 0 || K % 4 !== 0 || N % 4 !== 0 || dy.shape[0] !== B || dy.shape[1] !== H || dy.shape[2] !== W) return null;
  const be = backend as Backend;
  const T = (B * H * W) / 16;
  const Tp = Math.ceil(T / 4) * 4;
  const [zPlane, vPlane] = [Tp * N + PLANE_PAD, K * N + PLANE_PAD];
  return withScratch(be, [3, 3, K, N], (out, alloc) => {
    const u = winogradTiles(simd, be, alloc, x, B, H, W, K, Tp);
    const [z, dv] = [alloc(36 * zPlane), alloc(36 * vPlane)];
    // The padded tiles' rows of Z are zeros too (their U rows are, and 0 x garbage could be NaN).
    if (Tp > T) {
      const Z = be.typedArrayFromHeap(z) as Float32Array;
      for (let p = 0; p < 36; p++) Z.fill(0, p * zPlane + T * N, p * zPlane + Tp * N);
    }
    const ptr = (t: TensorInfo) => be.typedArrayFromHeap(t).byteOffset; // after every allocation (the heap may grow)
    simd.winoDy(ptr(dy), ptr(z), B, H / 4, W / 4, N, 4 * zPlane);
    const [pu, pz, pv] = [ptr(u), ptr(z), ptr(dv)];
    for (let p = 0; p < 36; p++) {
      // dV_p = U_p^T Z_p: conv_dw over a 1 x (36 Tp) "image" read at a column stride of 36 (U's
      // tile-major layout), against Z_p as a 1 x Tp output gradient.
      simd.convDw(pu + 4 * p * K, pz + 4 * p * zPlane, pv + 4 * p * vPlane, 1, 1, 36 * Tp, K, 1, Tp, N, 1, 1, 1, 36, 0, 0, 1);
    }
    simd.winoFgrad(pv, ptr(out), K, N, 4 * vPlane);
    winogradRoute.calls++;
  });
}
