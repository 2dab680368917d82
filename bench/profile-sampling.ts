// Where sampling's time goes (bench_tfjs's workload c: generate() of 32 images, DDIM 25 steps,
// guidance 4, decode): the wall time of one call, then tf.profile of another, its kernel time
// summed by kernel and by kernel + input shapes (a customGrad's scope also appears as "unnamed
// scope" around the kernels inside it, so the sums overlap).
//   taskset -c 0 node --import ./scripts/lib/node-tfjs.mjs --import tsx bench/profile-sampling.ts [--model public/models/base]
import * as tf from '@tensorflow/tfjs-core';
import { initNodeBackend } from '../scripts/lib/nodeBackend';
import { loadCheckpointDir } from '../scripts/lib/checkpointFs';
import { generate } from '../src/core/generate';

const argv = process.argv.slice(2);
const model = argv.includes('--model') ? argv[argv.indexOf('--model') + 1] : 'public/models/base';
await initNodeBackend('wasm');
const ck = loadCheckpointDir(model);
const run = (seed: number) => generate(ck, { prompt: 'grinning face', count: 32, seed, steps: 25, guidance: ck.config.sampling.guidance });
await run(1);
const t0 = performance.now();
await run(2);
const wall = performance.now() - t0;
const prof = await tf.profile(async () => {
  await run(3);
});
const sum = (key: (k: (typeof prof.kernels)[number]) => string) => {
  const agg = new Map<string, { n: number; ms: number }>();
  for (const k of prof.kernels) {
    const a = agg.get(key(k)) ?? { n: 0, ms: 0 };
    a.n++;
    a.ms += k.kernelTimeMs as number;
    agg.set(key(k), a);
  }
  return [...agg.entries()].sort((a, b) => b[1].ms - a[1].ms);
};
console.log(`wall ${wall.toFixed(0)} ms; ${prof.kernels.length} launches profiled`);
console.log('\nby kernel (launches, ms):');
for (const [k, v] of sum((k) => k.name).slice(0, 25)) console.log(`  ${k.padEnd(28)} ${String(v.n).padStart(6)} ${v.ms.toFixed(1).padStart(9)}`);
console.log('\nby kernel and input shapes:');
for (const [k, v] of sum((k) => `${k.name} ${JSON.stringify(k.inputShapes?.slice(0, 2))}`).slice(0, 30)) console.log(`  ${k.slice(0, 80).padEnd(80)} ${String(v.n).padStart(6)} ${v.ms.toFixed(1).padStart(9)}`);
