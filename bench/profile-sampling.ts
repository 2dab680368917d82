// Where sampling's time goes (bench_tfjs's workload c: generate() of 32 images, DDIM 25 steps,
// guidance 4, decode): the wall time of one call, then tf.profile of another, its kernel time
// summed by kernel and by kernel + input shapes (a customGrad's scope also appears as "unnamed
// scope" around the kernels inside it, so the sums overlap).
//   taskset -c 0 node --import ./scripts/lib/node-tfjs.mjs --import tsx bench/profile-sampling.ts [--model public/models/base]
import * as tf from '@tensorflow/tfjs-core';
import { printProfile } from './profileTable';
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
console.log(`wall ${wall.toFixed(0)} ms; ${prof.kernels.length} launches profiled`);
printProfile(prof);
