// The backward of GroupNorm (+ SiLU) as one fused kernel for the TF.js wasm backend (issue 11).
//
// Differentiated through tf ops, GroupNorm + scale/shift + SiLU costs about three dozen kernel
// launches backward per call (the gradients of moments, sub, div, sqrt, mul, add and sigmoid, each
// a pass over the activations): with the forward, 1,364 launches and 8% of a UNet training step by
// the profile of issue 11. Here the backward is one kernel: two passes of plain loops over the wasm
// heap (SIMD where the channels are in fours). The forward is a second kernel: the group moments,
// then the affine map, and SiLU in the same pass where asked (the sigmoid on the SIMD kernel from a
// polynomial exp); it hands the backward the per-(batch, group) mean and 1/std, and the sigmoid.
//
// With xh = (x - mu) * rstd (per batch b and group g over its n = H*W*C/G elements, NHWC),
// z = gamma[c] * xh + beta[c], y = silu ? z * sigmoid(z) : z, and
// dz = dy * (silu ? s (1 + z (1 - s)) : 1), s = sigmoid(z), dxh = dz * gamma[c]:
//   dgamma[c] = sum_{b,hw} dz * xh,  dbeta[c] = sum_{b,hw} dz
//   dx = rstd * (dxh - mean_g(dxh) - xh * mean_g(dxh * xh))
// Sums are accumulated in float64. Other backends never see this kernel.
import { getKernel, registerKernel } from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { DisposingBackend, HeapBackend } from './kernelScope';
import { simdKernelsFor, type SimdKernels } from './simdModule';

const BACKEND = 'wasm';
export const GROUP_NORM_GRAD_KERNEL = 'SailGroupNormSiluGrad';
export const GROUP_NORM_AFFINE_KERNEL = 'SailGroupNormAffine';

export interface GroupNormAttrs {
  groups: number;
  silu: boolean;
}

/**
 * The forward kernel's attributes: `silu`, y = z sigmoid(z) in the same pass (the sigmoid on the
 * SIMD kernel from a polynomial exp, relative error about 1e-7), and with `saveSigmoid` the
 * sigmoid as a fourth output, which the backward reads.
 */
export interface GroupNormAffineAttrs {
  groups: number;
  silu?: boolean;
  saveSigmoid?: boolean;
}

function dims(x: TensorInfo, groups: number, owner: string): { B: number; HW: number; C: number; cpg: number } {
  if (x.dtype !== 'float32') throw new Error(`${owner} (wasm): float32 only, got ${x.dtype}`);
  if (x.shape.length !== 4) throw new Error(`${owner} (wasm): x must be [B,H,W,C], got [${x.shape}]`);
  const [B, H, W, C] = x.shape as number[];
  if (!Number.isInteger(groups) || groups < 1 || C % groups !== 0) throw new Error(`${owner} (wasm): ${C} channels do not split into ${groups} groups`);
  return { B, HW: H * W, C, cpg: C / groups };
}

function checkVector(t: TensorInfo, C: number, what: string, owner: string): void {
  if (t.dtype !== 'float32' || t.shape.length !== 1 || t.shape[0] !== C) throw new Error(`${owner} (wasm): ${what} must be float32 [${C}], got ${t.dtype} [${t.shape}]`);
}

function checkSame(t: TensorInfo, x: TensorInfo, what: string, owner: string): void {
  if (t.dtype !== 'float32' || t.shape.join(',') !== x.shape.join(',')) throw new Error(`${owner} (wasm): ${what} must be float32 [${x.shape}], got ${t.dtype} [${t.shape}]`);
}

/**
 * The backward on the wasm SIMD kernels (kernels/wasm/simd.wat): per batch item, pass 1 over its
 * HW x C values four channels at a time (the mean and 1/std spread to per-channel vectors, SiLU's
 * derivative from the sigmoid the forward saved, so no exp), the group sums of dxh and dxh xh
 * folded here, then pass 2. Sums in float32 (the JS loop below keeps float64).
 */
function groupNormGradSimd(
  k: SimdKernels,
  be: HeapBackend & DisposingBackend,
  t: { dy: TensorInfo; x: TensorInfo; s: TensorInfo | null; gamma: TensorInfo; beta: TensorInfo; mean: TensorInfo; rstd: TensorInfo; dx: TensorInfo; dg: TensorInfo; db: TensorInfo },
  d: { B: number; HW: number; C: number; cpg: number; groups: number },
): void {
  const { B, HW, C, cpg, groups } = d;
  // Scratch, per channel: mean, 1/std, the sums of dxh and dxh xh, and their group means a, q.
  const scratch = be.makeOutput([6 * C], 'float32');
  try {
    const S = be.typedArrayFromHeap(scratch);
    const ptr = (u: TensorInfo) => be.typedArrayFromHeap(u).byteOffset;
    const [mC, rC, s1, s2, aC, qC] = [0, 1, 2, 3, 4, 5].map((i) => S.byteOffset + 4 * i * C);
    const view = (i: number) => S.subarray(i * C, (i + 1) * C);
    const [vm, vr, v1, v2, va, vq] = [0, 1, 2, 3, 4, 5].map(view);
    const M = be.typedArrayFromHeap(t.mean);
    const R = be.typedArrayFromHeap(t.rstd);
    be.typedArrayFromHeap(t.dg).fill(0);
    be.typedArrayFromHeap(t.db).fill(0);
    const [dy, x, dx, g, bt, dg, db] = [t.dy, t.x, t.dx, t.gamma, t.beta, t.dg, t.db].map(ptr);
    const sp = t.s ? ptr(t.s) : 0;
    const item = HW * C * 4;
    const n = HW * cpg;
    for (let b = 0; b < B; b++) {
      for (let c = 0; c < C; c++) {
        const gi = b * groups + Math.floor(c / cpg);
        vm[c] = M[gi];
        vr[c] = R[gi];
      }
      v1.fill(0);
      v2.fill(0);
      k.gnPass1(dy + b * item, x + b * item, t.s ? sp + b * item : 0, dx + b * item, HW, C, mC, rC, g, bt, dg, db, s1, s2, t.s ? 1 : 0);
      for (let gi = 0; gi < groups; gi++) {
        let a = 0;
        let q = 0;
        for (let c = gi * cpg; c < (gi + 1) * cpg; c++) {
          a += v1[c];
          q += v2[c];
        }
        va.fill(a / n, gi * cpg, (gi + 1) * cpg);
        vq.fill(q / n, gi * cpg, (gi + 1) * cpg);
      }
      k.gnPass2(x + b * item, dx + b * item, HW, C, mC, rC, aC, qC);
    }
  } finally {
    be.disposeData(scratch.dataId);
  }
}

export const groupNormGradWasm: KernelFunc = ({ inputs, backend, attrs }) => {
  const owner = GROUP_NORM_GRAD_KERNEL;
  const { dy, x, gamma, beta, mean, rstd } = inputs as Record<'dy' | 'x' | 'gamma' | 'beta' | 'mean' | 'rstd', TensorInfo>;
  const { groups, silu } = attrs as unknown as GroupNormAttrs;
  const { B, HW, C, cpg } = dims(x, groups, owner);
  if (dy.shape.join(',') !== x.shape.join(',')) throw new Error(`${owner} (wasm): dy [${dy.shape}] and x [${x.shape}] differ`);
  checkVector(gamma, C, 'gamma', owner);
  checkVector(beta, C, 'beta', owner);
  checkVector(mean, B * groups, 'mean', owner);
  checkVector(rstd, B * groups, 'rstd', owner);
  const be = backend as unknown as HeapBackend;
  const dxInfo = be.makeOutput([...x.shape], 'float32');
  const dgInfo = be.makeOutput([C], 'float32');
  const dbInfo = be.makeOutput([C], 'float32');
  const s = (inputs as { s?: TensorInfo }).s;
  const simd = C % 4 === 0 && (!silu || s != null) ? simdKernelsFor(backend) : null;
  if (simd) {
    if (s) checkSame(s, x, 's', owner);
    groupNormGradSimd(simd, be as HeapBackend & DisposingBackend, { dy, x, s: silu ? s! : null, gamma, beta, mean, rstd, dx: dxInfo, dg: dgInfo, db: dbInfo }, { B, HW, C, cpg, groups });
    return [dxInfo, dgInfo, dbInfo];
  }
  const DY = be.typedArrayFromHeap(dy);
  const X = be.typedArrayFromHeap(x);
  const G = be.typedArrayFromHeap(gamma);
  const Bt = be.typedArrayFromHeap(beta);
  const M = be.typedArrayFromHeap(mean);
  const R = be.typedArrayFromHeap(rstd);
  const DX = be.typedArrayFromHeap(dxInfo);
  const DG = be.typedArrayFromHeap(dgInfo);
  const DB = be.typedArrayFromHeap(dbInfo);
  const n = HW * cpg;
  const dgamma = new Float64Array(C);
  const dbeta = new Float64Array(C);
  const sDxh = new Float64Array(groups);
  const sDxhXh = new Float64Array(groups);
  for (let b = 0; b < B; b++) {
    const base = b * HW * C;
    sDxh.fill(0);
    sDxhXh.fill(0);
    // Pass 1: dz, the parameter gradients, the group sums; dxh parked in DX.
    for (let p = 0; p < HW; p++) {
      const off = base + p * C;
      for (let g = 0, c = 0; g < groups; g++) {
        const m = M[b * groups + g];
        const r = R[b * groups + g];
        let s1 = 0;
        let s2 = 0;
        for (let k = 0; k < cpg; k++, c++) {
          const xh = (X[off + c] - m) * r;
          let dz = DY[off + c];
          if (silu) {
            const z = G[c] * xh + Bt[c];
            const sg = 1 / (1 + Math.exp(-z));
            dz *= sg * (1 + z * (1 - sg));
          }
          dgamma[c] += dz * xh;
          dbeta[c] += dz;
          const dxh = dz * G[c];
          s1 += dxh;
          s2 += dxh * xh;
          DX[off + c] = dxh;
        }
        sDxh[g] += s1;
        sDxhXh[g] += s2;
      }
    }
    // Pass 2: dx from dxh and the group means.
    for (let p = 0; p < HW; p++) {
      const off = base + p * C;
      for (let g = 0, c = 0; g < groups; g++) {
        const m = M[b * groups + g];
        const r = R[b * groups + g];
        const a = sDxh[g] / n;
        const q = sDxhXh[g] / n;
        for (let k = 0; k < cpg; k++, c++) {
          const xh = (X[off + c] - m) * r;
          DX[off + c] = r * (DX[off + c] - a - xh * q);
        }
      }
    }
  }
  DG.set(dgamma);
  DB.set(dbeta);
  return [dxInfo, dgInfo, dbInfo];
};

/**
 * The forward's normalisation up to SiLU in one kernel: z = gamma[c] (x - mu) rstd + beta[c] per
 * batch b and group g, and the mean and 1/std [B*G] the backward reads. Two plain passes over the
 * heap: the group sums (float64, sum and sum of squares; the activations are O(1), where
 * E[x^2] - E[x]^2 in float64 loses nothing a float32 result keeps), then z = x * scale[c] + shift[c]
 * with scale and shift folded per (b, c), and with `silu` y = z sigmoid(z) in the same pass: on the
 * SIMD kernel (simd.wat gn_affine_silu, a polynomial exp; a JS loop's Math.exp made an earlier fused
 * forward twice as slow as the composed ops), in a JS loop where the channels are not in fours.
 */
export const groupNormAffineWasm: KernelFunc = ({ inputs, backend, attrs }) => {
  const owner = GROUP_NORM_AFFINE_KERNEL;
  const { x, gamma, beta } = inputs as Record<'x' | 'gamma' | 'beta', TensorInfo>;
  const { groups, silu = false, saveSigmoid = false } = attrs as unknown as GroupNormAffineAttrs;
  const { B, HW, C, cpg } = dims(x, groups, owner);
  checkVector(gamma, C, 'gamma', owner);
  checkVector(beta, C, 'beta', owner);
  const be = backend as unknown as HeapBackend;
  const zInfo = be.makeOutput([...x.shape], 'float32');
  const mInfo = be.makeOutput([B * groups], 'float32');
  const rInfo = be.makeOutput([B * groups], 'float32');
  const sInfo = silu && saveSigmoid ? be.makeOutput([...x.shape], 'float32') : null;
  const outputs = sInfo ? [zInfo, mInfo, rInfo, sInfo] : [zInfo, mInfo, rInfo];
  const simd = C % 4 === 0 && HW > 0 ? simdKernelsFor(backend) : null;
  if (simd) {
    groupNormAffineSimd(simd, be as HeapBackend & DisposingBackend, { x, gamma, beta, z: zInfo, mean: mInfo, rstd: rInfo, s: sInfo }, { B, HW, C, cpg, groups, silu });
    return outputs;
  }
  const X = be.typedArrayFromHeap(x);
  const G = be.typedArrayFromHeap(gamma);
  const Bt = be.typedArrayFromHeap(beta);
  const Z = be.typedArrayFromHeap(zInfo);
  const M = be.typedArrayFromHeap(mInfo);
  const R = be.typedArrayFromHeap(rInfo);
  const n = HW * cpg;
  const s1 = new Float64Array(groups);
  const s2 = new Float64Array(groups);
  const scale = new Float32Array(C);
  const shift = new Float32Array(C);
  for (let b = 0; b < B; b++) {
    const base = b * HW * C;
    s1.fill(0);
    s2.fill(0);
    for (let p = 0; p < HW; p++) {
      const off = base + p * C;
      for (let g = 0, c = 0; g < groups; g++) {
        let a1 = 0;
        let a2 = 0;
        for (let k = 0; k < cpg; k++, c++) {
          const v = X[off + c];
          a1 += v;
          a2 += v * v;
        }
        s1[g] += a1;
        s2[g] += a2;
      }
    }
    for (let g = 0; g < groups; g++) {
      const mu = s1[g] / n;
      foldGroup({ M, R, G, Bt, scale, shift }, b * groups + g, g * cpg, cpg, mu, Math.max(0, s2[g] / n - mu * mu));
    }
    for (let p = 0; p < HW; p++) {
      const off = base + p * C;
      for (let c = 0; c < C; c++) Z[off + c] = X[off + c] * scale[c] + shift[c];
    }
  }
  if (silu) {
    // y = z sigmoid(z) in place of z (and the sigmoid kept where asked).
    const S = sInfo ? be.typedArrayFromHeap(sInfo) : null;
    for (let i = 0; i < Z.length; i++) {
      const z = Z[i];
      const sg = Math.fround(1 / (1 + Math.exp(-z)));
      if (S) S[i] = sg;
      Z[i] = z * sg;
    }
  }
  return outputs;
};

/** A group's mean and 1/std into M and R, and its channels' folded scale gamma r and shift beta - mu gamma r. */
function foldGroup(
  a: { M: Float32Array; R: Float32Array; G: Float32Array; Bt: Float32Array; scale: Float32Array; shift: Float32Array },
  at: number,
  c0: number,
  cpg: number,
  mu: number,
  variance: number,
): void {
  const r = 1 / Math.sqrt(variance + 1e-5);
  a.M[at] = mu;
  a.R[at] = r;
  for (let c = c0; c < c0 + cpg; c++) {
    a.scale[c] = a.G[c] * r;
    a.shift[c] = a.Bt[c] - mu * a.G[c] * r;
  }
}

/**
 * The forward on the wasm SIMD kernels, per batch item: per-channel moments about a pivot (the
 * channel's first value, so the float32 sums of squares hold deviations, not a large mean), folded
 * per group in float64; then z = x scale[c] + shift[c] four channels at a time.
 */
function groupNormAffineSimd(
  k: SimdKernels,
  be: HeapBackend & DisposingBackend,
  t: { x: TensorInfo; gamma: TensorInfo; beta: TensorInfo; z: TensorInfo; mean: TensorInfo; rstd: TensorInfo; s: TensorInfo | null },
  d: { B: number; HW: number; C: number; cpg: number; groups: number; silu: boolean },
): void {
  const { B, HW, C, cpg, groups, silu } = d;
  const scratch = be.makeOutput([5 * C], 'float32'); // pivot, s1, s2, scale, shift
  try {
    const S = be.typedArrayFromHeap(scratch);
    const [pv, s1, s2, sc, sh] = [0, 1, 2, 3, 4].map((i) => S.subarray(i * C, (i + 1) * C));
    const [pp, p1, p2, psc, psh] = [0, 1, 2, 3, 4].map((i) => S.byteOffset + 4 * i * C);
    const X = be.typedArrayFromHeap(t.x);
    const G = be.typedArrayFromHeap(t.gamma);
    const Bt = be.typedArrayFromHeap(t.beta);
    const M = be.typedArrayFromHeap(t.mean);
    const R = be.typedArrayFromHeap(t.rstd);
    const [px, pz] = [X.byteOffset, be.typedArrayFromHeap(t.z).byteOffset];
    const ps = t.s ? be.typedArrayFromHeap(t.s).byteOffset : 0;
    const n = HW * cpg;
    const item = HW * C;
    for (let b = 0; b < B; b++) {
      pv.set(X.subarray(b * item, b * item + C));
      s1.fill(0);
      s2.fill(0);
      k.gnMoments(px + 4 * b * item, HW, C, pp, p1, p2);
      for (let g = 0; g < groups; g++) {
        // The group's sum of x from each channel's moments about its pivot, in float64.
        let sx = 0;
        for (let c = g * cpg; c < (g + 1) * cpg; c++) sx += s1[c] + HW * pv[c];
        const mu = sx / n;
        // Its sum of squared deviations: sum (x - p + p - mu)^2 = s2 + 2 (p - mu) s1 + HW (p - mu)^2.
        let dev = 0;
        for (let c = g * cpg; c < (g + 1) * cpg; c++) {
          const off = pv[c] - mu;
          dev += s2[c] + 2 * off * s1[c] + HW * off * off;
        }
        foldGroup({ M, R, G, Bt, scale: sc, shift: sh }, b * groups + g, g * cpg, cpg, mu, Math.max(0, dev / n));
      }
      if (silu) k.gnAffineSilu(px + 4 * b * item, pz + 4 * b * item, ps ? ps + 4 * b * item : 0, HW, C, psc, psh);
      else k.gnAffine(px + 4 * b * item, pz + 4 * b * item, HW, C, psc, psh);
    }
  } finally {
    be.disposeData(scratch.dataId);
  }
}

export const groupNormAffineWasmConfig: KernelConfig = { kernelName: GROUP_NORM_AFFINE_KERNEL, backendName: BACKEND, kernelFunc: groupNormAffineWasm };

export const groupNormGradWasmConfig: KernelConfig = { kernelName: GROUP_NORM_GRAD_KERNEL, backendName: BACKEND, kernelFunc: groupNormGradWasm };

/** Registers the kernel for 'wasm' once; later calls do nothing. */
export function registerWasmGroupNorm(): void {
  if (getKernel(GROUP_NORM_GRAD_KERNEL, BACKEND) == null) registerKernel(groupNormGradWasmConfig);
  if (getKernel(GROUP_NORM_AFFINE_KERNEL, BACKEND) == null) registerKernel(groupNormAffineWasmConfig);
}

/** Whether the fused forward and backward serve the active backend. */
export function fusedGroupNormAvailable(backendName: string): boolean {
  return backendName === BACKEND && getKernel(GROUP_NORM_GRAD_KERNEL, BACKEND) != null && getKernel(GROUP_NORM_AFFINE_KERNEL, BACKEND) != null;
}
