// Unbatched products with a transposed operand at the UNet's dense shapes (batch 40 x 16 or 64
// tokens), on the route kernels/batchMatMulWasm.ts takes (the SIMD kernels) and with those kernels
// switched off (transpose + the shipped kernel, XNNPACK creating and packing the fresh operand at
// every call); A B untransposed (XNNPACK, its packed weights cached) for reference. GFLOP/s, the
// median of 5 rounds of 20 products, alternated route by route.
//   taskset -c 0 node --import ./scripts/lib/node-tfjs.mjs --import tsx bench/matmul-routes.ts
import * as tf from '@tensorflow/tfjs-core';
import { initNodeBackend } from '../scripts/lib/nodeBackend';
import { setWasmSimdBatchMatMul } from '../src/core/kernels/batchMatMulWasm';

await initNodeBackend('wasm');
const median = (v: number[]) => [...v].sort((x, y) => x - y)[Math.floor(v.length / 2)];
function time(routes: (() => tf.Tensor)[], simd: boolean[]): number[] {
  const times: number[][] = routes.map(() => []);
  for (let r = 0; r < 6; r++) {
    routes.forEach((f, i) => {
      setWasmSimdBatchMatMul(simd[i]);
      const t0 = performance.now();
      for (let k = 0; k < 20; k++) f().dispose();
      if (r > 0) times[i].push((performance.now() - t0) / 20);
    });
  }
  setWasmSimdBatchMatMul(true);
  return times.map(median);
}
console.log('M K N | A B^T simd | A B^T shipped | A^T B simd | A^T B shipped | A B (XNNPACK) GFLOP/s');
for (const [M, K, N] of [[640, 96, 96], [640, 96, 384], [640, 384, 96], [2560, 48, 48], [2560, 48, 192], [2560, 192, 48]]) {
  const a = tf.randomNormal([M, K]);
  const w = tf.randomNormal([N, K]);
  const wt = tf.transpose(w);
  const dy = tf.randomNormal([M, N]);
  const ms = time(
    [() => tf.matMul(a, w, false, true), () => tf.matMul(a, w, false, true), () => tf.matMul(a, dy, true, false), () => tf.matMul(a, dy, true, false), () => tf.matMul(a, wt)],
    [true, false, true, false, true],
  );
  const gf = (2 * M * K * N) / 1e6;
  console.log(`${M} ${K} ${N} | ${ms.map((t) => (gf / t).toFixed(1)).join(' | ')}`);
  tf.dispose([a, w, wt, dy]);
}
