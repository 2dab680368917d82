// Where a Diffusion-DPO step's time goes (native-bench workload b: trainDpoRound at the default
// settings, 16 pairs a step, the prior batch beside them): the wall time of a short round, then
// tf.profile of another, its kernel time summed by kernel and by kernel + input shapes.
//   taskset -c 0 node --import ./scripts/lib/node-tfjs.mjs --import tsx bench/profile-dpo.ts [--model public/models/base] [--steps 6]
import * as tf from '@tensorflow/tfjs-core';
import { printProfile } from './profileTable';
import { initNodeBackend } from '../scripts/lib/nodeBackend';
import { loadCheckpointDir } from '../scripts/lib/checkpointFs';
import { makeSchedule } from '../src/core/diffusion/schedule';
import { gaussianArray } from '../src/core/model/layers';
import { trainDpoRound } from '../src/core/sail/loop';
import { DEFAULT_SAIL_SETTINGS } from '../src/core/sail/settings';

const argv = process.argv.slice(2);
const arg = (k: string, d: string) => (argv.includes(`--${k}`) ? argv[argv.indexOf(`--${k}`) + 1] : d);
await initNodeBackend('wasm');
const ck = loadCheckpointDir(arg('model', 'public/models/base'));
const steps = Number(arg('steps', '6'));
const config = ck.config;
const schedule = makeSchedule(config.schedule);
const per = config.latentSize ** 2 * config.autoencoder.latentChannels;
const words = ['grinning face', 'red apple', 'dog face', 'japan flag', 'thumbs up sign', 'heavy black heart', 'fire', 'ghost'];
const mk = (n: number, seed: number) => Array.from({ length: n }, (_, i) => ({ prompt: words[i % words.length], winner: gaussianArray(per, seed * 1000 + 2 * i), loser: gaussianArray(per, seed * 1000 + 2 * i + 1) }));
const seedPairs = mk(32, 1);
const selfPairs = mk(8, 2).map((q) => ({ ...q, margin: 1, winnerImage: new Uint8ClampedArray(0), loserImage: new Uint8ClampedArray(0) }));
const round = async () => {
  const stamps: number[] = [performance.now()];
  const r = await trainDpoRound({
    base: ck, schedule, start: ck.params, reference: ck.params, selfPairs, seedPairs,
    settings: { ...DEFAULT_SAIL_SETTINGS, stepsPerRound: steps, batchSize: 16, checksPerRound: 1 }, round: 0,
    onStep: () => stamps.push(performance.now()),
  });
  tf.dispose(Object.values(r.params));
  return stamps.slice(1).map((t, i) => t - stamps[i]);
};
const gaps = await round();
const sorted = gaps.slice(1).sort((a, b) => a - b);
console.log(`step gaps (ms): ${gaps.map((g) => g.toFixed(0)).join(' ')}; median after the first ${sorted[Math.floor(sorted.length / 2)].toFixed(0)}`);
const prof = await tf.profile(async () => {
  await round();
});
console.log(`${prof.kernels.length} launches profiled over ${steps} steps (and the round's checks)`);
printProfile(prof);
