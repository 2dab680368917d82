// The wasm SIMD kernel for batched products (src/core/kernels/batchMatMulWasm.ts, wasm/simd.wat):
// the committed module is its source assembled; at the model's attention shapes, every transpose,
// odd and remainder sizes, forward and gradients equal the cpu backend's; it leaves no data behind;
// and it is the kernel that ran (the shipped one gives other timings, not other values: the same
// sums in the same order, so results are checked against cpu, not against the kernel they replace).
import * as tf from '@tensorflow/tfjs-core';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SIMD_MODULE } from '../src/core/kernels/simdModule.generated';
import { setWasmSimdBatchMatMul, simdBatchMatMulCalls, simdBatchMatMulFor } from '../src/core/kernels/batchMatMulWasm';
import { assembleKernel, moduleSource } from '../scripts/lib/wasmKernels.mjs';
import { useBackend } from './helpers';

const values = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + seed) + 0.1 * Math.cos(i * 1.3));
const backendIds = () => (tf.backend() as unknown as { numDataIds(): number }).numDataIds();

async function product(sa: number[], sb: number[], ta: boolean, tb: boolean): Promise<number[]> {
  const a = tf.tensor(values(sa.reduce((x, y) => x * y), 1), sa);
  const b = tf.tensor(values(sb.reduce((x, y) => x * y), 2), sb);
  const f = (x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x as tf.Tensor3D, y as tf.Tensor3D, ta, tb), tf.sin(tf.matMul(x as tf.Tensor3D, y as tf.Tensor3D, ta, tb))));
  const [ga, gb] = tf.grads(f)([a, b]);
  const y = tf.matMul(a as tf.Tensor3D, b as tf.Tensor3D, ta, tb);
  const out = [...(await y.data()), ...(await ga.data()), ...(await gb.data())];
  tf.dispose([a, b, ga, gb, y]);
  return out;
}

describe('wasm SIMD batched matMul', () => {
  it('the committed module is simd.wat assembled (npm run build:wasm-kernels)', async () => {
    const wat = 'src/core/kernels/wasm/simd.wat';
    const modules = await assembleKernel(wat);
    expect(modules).toEqual({ ...SIMD_MODULE });
    expect(readFileSync('src/core/kernels/simdModule.generated.ts', 'utf8')).toBe(moduleSource('SIMD_MODULE', wat, modules));
  });

  it('runs on the wasm backend here (wasm SIMD and the backend heap are reachable)', async () => {
    await useBackend('wasm');
    expect(simdBatchMatMulFor(tf.backend())).toBeTypeOf('function');
  });

  // Attention at the model's shapes (batch = images x heads): scores Q K^T, outputs P V, and the
  // cross-attention at 8x8 against 16 text tokens; then odd sizes (a last odd row, 1-3 leftover
  // columns, K = 1) and a rank-4 batch.
  const cases: [number[], number[], boolean, boolean][] = [
    [[64, 16, 24], [64, 16, 24], false, true],
    [[64, 16, 16], [64, 16, 24], false, false],
    [[32, 64, 12], [32, 16, 12], false, true],
    [[32, 64, 16], [32, 16, 12], false, false],
    [[8, 7, 5], [8, 5, 11], false, false],
    [[8, 5, 7], [8, 11, 5], true, true],
    [[3, 9, 1], [3, 1, 6], false, false],
    [[3, 1, 9], [3, 6, 1], true, true],
    [[2, 3, 4, 6], [2, 3, 6, 10], false, false],
  ];
  it.each(cases)('a %j x b %j (transposeA %s, transposeB %s): forward and both gradients match cpu within 1e-5 relative', async (sa, sb, ta, tb) => {
    await useBackend('cpu');
    const cpu = await product(sa, sb, ta, tb);
    await useBackend('wasm');
    const before = tf.memory().numTensors;
    const ids = backendIds();
    const wasm = await product(sa, sb, ta, tb);
    expect(tf.memory().numTensors).toBe(before);
    expect(backendIds()).toBe(ids);
    const scale = Math.max(...cpu.map(Math.abs));
    expect(scale).toBeGreaterThan(0);
    expect(Math.max(...cpu.map((v, i) => Math.abs(v - wasm[i]))) / scale).toBeLessThan(1e-5);
  });

  // Unbatched A B^T (a dense layer's input gradient, dx = dy W^T) on the same kernel with one batch.
  it.each([
    [[640, 96], [96, 96]],
    [[2560, 48], [192, 48]],
    [[7, 5], [11, 5]],
  ])('unbatched a %j x b %j transposed: on the SIMD kernel, equal to cpu within 1e-5 relative, forward and gradients', async (sa, sb) => {
    await useBackend('cpu');
    const cpu = await product(sa, sb, false, true);
    await useBackend('wasm');
    const a = tf.tensor2d(values(sa[0] * sa[1], 1), sa as [number, number]);
    const b = tf.tensor2d(values(sb[0] * sb[1], 2), sb as [number, number]);
    const calls = simdBatchMatMulCalls();
    tf.matMul(a, b, false, true).dispose();
    expect(simdBatchMatMulCalls()).toBe(calls + 1);
    tf.dispose([a, b]);
    const wasm = await product(sa, sb, false, true);
    let [err, scale] = [0, 0];
    cpu.forEach((v, i) => {
      err = Math.max(err, Math.abs(v - wasm[i]!));
      scale = Math.max(scale, Math.abs(v));
    });
    expect(scale).toBeGreaterThan(0);
    expect(err / scale).toBeLessThan(1e-5);
  });

  it('is the kernel that runs; switched off, the shipped kernel gives the same values', async () => {
    await useBackend('wasm');
    const a = tf.tensor3d(values(64 * 16 * 24, 3), [64, 16, 24]);
    const b = tf.tensor3d(values(64 * 16 * 24, 4), [64, 16, 24]);
    const timed = async () => {
      const y = tf.matMul(a, b, false, true);
      const d = await y.data();
      y.dispose();
      return Array.from(d);
    };
    const calls = simdBatchMatMulCalls();
    const fast = await timed();
    expect(simdBatchMatMulCalls()).toBe(calls + 1);
    setWasmSimdBatchMatMul(false);
    try {
      const shipped = await timed();
      expect(simdBatchMatMulCalls()).toBe(calls + 1);
      const scale = Math.max(...shipped.map(Math.abs));
      expect(Math.max(...shipped.map((v, i) => Math.abs(v - fast[i]))) / scale).toBeLessThan(1e-6);
    } finally {
      setWasmSimdBatchMatMul(true);
    }
    tf.dispose([a, b]);
  });

  it('leaves no data behind across 20 attention-sized gradients', async () => {
    await useBackend('wasm');
    await product([64, 16, 24], [64, 16, 24], false, true);
    const ids = backendIds();
    const tensors = tf.memory().numTensors;
    for (let i = 0; i < 20; i++) await product([64, 16, 24], [64, 16, 24], false, true);
    expect(backendIds()).toBe(ids);
    expect(tf.memory().numTensors).toBe(tensors);
  });
});
