// The quick proxy behind the SAIL defaults (docs/sail-defaults.md): a synthetic "brighter is
// better" preference on real emoji (each seed pair = one emoji brightened vs darkened), then
//  1. round 0 (DPO on the seed pairs) over a grid of beta x learning rate x steps: held-out
//     implicit accuracy (pairs never trained on, 8 shared draws each), the brightness shift of
//     samples from fixed noise, and the share of self pairs whose winner is the brighter image;
//  2. from one round-0 model (--nk-from beta,lr,steps), self-annotation agreement with the taste
//     for several candidates-per-prompt N and reward draws K (--nk).
// Prints a markdown report and writes it to --out (--append adds to it instead).
//   npm run tune-sail -- --model public/models/base --out docs/sail-defaults.md
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { cutAtlas } from '../src/core/data/atlas';
import { makeSchedule } from '../src/core/diffusion/schedule';
import { initialNoise, sampleLatents } from '../src/core/generate';
import { disposeParams, gaussianArray, type Params } from '../src/core/model/layers';
import { decodeLatents, textStates, type Checkpoint } from '../src/core/model/ldm';
import { dpoInside, mseDifference } from '../src/core/sail/dpo';
import { encodeToLatents, selfAnnotate, trainDpoRound, type PreferencePair, type SailSettings } from '../src/core/sail/loop';
import { DEFAULT_SAIL_SETTINGS } from '../src/core/sail/settings';
import { parseArgs } from './lib/args';
import { loadCheckpointDir } from './lib/checkpointFs';
import { initNodeBackend } from './lib/nodeBackend';
import { loadEmojiDataset } from './lib/png';

const spec = {
  model: { default: 'public/models/base', help: 'base checkpoint' },
  betas: { default: '100,500,2000', help: 'comma-separated betas' },
  lrs: { default: '1e-4,3e-4,1e-3', help: 'comma-separated learning rates' },
  steps: { default: '30', help: 'comma-separated steps of round 0' },
  batch: { default: 16, help: 'pairs per step' },
  'train-pairs': { default: 48, help: 'seed pairs' },
  'held-out': { default: 24, help: 'held-out pairs' },
  prompts: { default: 16, help: 'prompts for the self-annotation check' },
  'ddim-steps': { default: 10, help: 'DDIM steps for samples' },
  nk: { default: '4x2,4x10,8x2,8x10', help: 'N x K pairs for the self-annotation sweep ("" to skip)' },
  'nk-from': { default: '100,3e-4,30', help: 'beta,lr,steps of the round-0 model the N x K sweep starts from' },
  grid: { default: 'yes', help: 'run the beta x lr x steps grid (yes | no)' },
  append: { default: false, help: 'append to --out instead of overwriting it' },
  out: { default: 'docs/sail-defaults.md', help: 'report path' },
  backend: { default: 'wasm', help: 'wasm | cpu' },
};

const list = (s: unknown) => String(s).split(',').map(Number);
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(xs.length, 1);
const rgbSum = (rgba: Uint8ClampedArray) => rgba.reduce((s, v, i) => (i % 4 === 3 ? s : s + v), 0);

async function heldOutAccuracy(base: Checkpoint, params: Params, pairs: PreferencePair[], beta: number): Promise<number> {
  const schedule = makeSchedule(base.config.schedule);
  const n = pairs.length;
  const per = pairs[0].winner.length;
  const stack = (xs: Float32Array[]) => {
    const out = new Float32Array(xs.length * per);
    xs.forEach((x, i) => out.set(x, i * per));
    return tf.tensor4d(out, [xs.length, base.config.latentSize, base.config.latentSize, base.config.autoencoder.latentChannels]);
  };
  const sum = new Float32Array(n);
  for (let k = 0; k < 8; k++) {
    const batch = { winners: stack(pairs.map((p) => p.winner)), losers: stack(pairs.map((p) => p.loser)), text: textStates(base, pairs.map((p) => p.prompt)), timesteps: Int32Array.from({ length: n }, (_, i) => (97 * (i + 1) + 131 * k) % base.config.schedule.trainSteps), noise: tf.tensor4d(gaussianArray(n * per, 1000 + k), [n, base.config.latentSize, base.config.latentSize, base.config.autoencoder.latentChannels]) };
    const inside = tf.tidy(() => dpoInside(mseDifference(params, base.config, schedule, batch), mseDifference(base.params, base.config, schedule, batch), beta));
    (await inside.data()).forEach((v, i) => (sum[i] += v));
    tf.dispose([inside, batch.winners, batch.losers, batch.noise, batch.text.tokens, batch.text.mask, batch.text.pooled]);
  }
  return sum.filter((v) => v > 0).length / n;
}

async function sampleBrightness(base: Checkpoint, params: Params, prompts: string[], ddimSteps: number): Promise<number> {
  const noise = initialNoise(base, 5, prompts.length);
  const lat = await sampleLatents({ config: base.config, params }, prompts, noise, { guidance: base.config.sampling.guidance, steps: ddimSteps });
  const img = decodeLatents(base, lat);
  const m = tf.mean(img);
  const v = (await m.data())[0];
  tf.dispose([noise, lat, img, m]);
  return v;
}

async function main() {
  const args = parseArgs(process.argv.slice(2), spec, 'npm run tune-sail -- [options]');
  const backend = await initNodeBackend(String(args.backend));
  const base = loadCheckpointDir(String(args.model));
  const schedule = makeSchedule(base.config.schedule);
  const data = loadEmojiDataset('public/data');
  const nTrain = Number(args['train-pairs']);
  const nHeld = Number(args['held-out']);
  const pool = data.manifest.splits.sailPools.flat().filter((id) => data.manifest.records[id].skinTone === null);
  const ids = pool.filter((_, i) => i % Math.max(1, Math.floor(pool.length / (nTrain + nHeld))) === 0).slice(0, nTrain + nHeld);
  const images = cutAtlas(data.atlasRGBA, data.width, 4, data.manifest.columns, ids);
  const captions = ids.map((id) => data.manifest.records[id].prompt);
  const w = await encodeToLatents(base, images.map((v) => 0.6 * v + 0.4));
  const l = await encodeToLatents(base, images.map((v) => 0.6 * v - 0.4));
  const all = captions.map((prompt, i) => ({ prompt, winner: w[i], loser: l[i] }));
  const train = all.slice(0, nTrain);
  const held = all.slice(nTrain);
  const prompts = data.manifest.splits.evaluation.filter((id) => data.manifest.records[id].skinTone === null).slice(0, Number(args.prompts)).map((id) => data.manifest.records[id].prompt);
  const ddimSteps = Number(args['ddim-steps']);
  const b0 = await sampleBrightness(base, base.params, prompts, ddimSteps);
  const lines: string[] = [];
  const log = (s: string) => {
    console.log(s);
    lines.push(s);
  };
  if (!args.append) log(`# SAIL defaults: how they were measured\n`);
  if (!args.append) log(`Proxy: a synthetic taste "brighter is better". Seed pairs: ${nTrain} emoji from the SAIL prompt pools, each brightened (0.6x+0.4) vs darkened (0.6x-0.4); ${nHeld} more such pairs held out. Model: \`${String(args.model)}\` (${base.config.provenance.command ?? 'no provenance'}). Backend ${backend}, ${new Date().toISOString().slice(0, 10)}. Command: \`npm run tune-sail -- ${process.argv.slice(2).join(' ')}\`.\n`);
  if (String(args.grid) === 'yes') log(`Columns: held-out implicit accuracy (8 shared draws per pair), mean brightness of samples for ${prompts.length} evaluation prompts from fixed noise (base: ${b0.toFixed(3)}; range -1..1), and the share of self pairs (best vs worst of N=8, K=10) whose winner is the brighter image, with the round-0 model as generator and judge.\n`);
  const settingsFor = (beta: number, lr: number, steps: number): SailSettings => ({ ...DEFAULT_SAIL_SETTINGS, beta, learningRate: lr, stepsPerRound: steps, batchSize: Number(args.batch), ddimSteps, guidance: base.config.sampling.guidance });
  if (String(args.grid) === 'yes') {
    log('| beta | lr | steps | train acc (last 5) | held-out acc | sample brightness | brighter self winners | seconds |');
    log('|---|---|---|---|---|---|---|---|');
    for (const steps of list(args.steps)) {
      for (const beta of list(args.betas)) {
        for (const lr of list(args.lrs)) {
          const t0 = Date.now();
          const settings = settingsFor(beta, lr, steps);
          const { params, curve } = await trainDpoRound({ base, schedule, start: base.params, reference: base.params, selfPairs: [], seedPairs: train, settings, round: 0 });
          const acc = await heldOutAccuracy(base, params, held, beta);
          const bright = await sampleBrightness(base, params, prompts, ddimSteps);
          const annotated = await selfAnnotate({ base, schedule, generator: params, judge: params, prompts, settings, round: 1 });
          const brighter = annotated.pairs.filter((p) => rgbSum(p.winnerImage) > rgbSum(p.loserImage)).length / Math.max(annotated.pairs.length, 1);
          log(`| ${beta} | ${lr} | ${steps} | ${mean(curve.slice(-5).map((p) => p.implicitAccuracy)).toFixed(2)} | ${acc.toFixed(2)} | ${bright.toFixed(3)} | ${brighter.toFixed(2)} | ${((Date.now() - t0) / 1000).toFixed(0)} |`);
          disposeParams(params);
        }
      }
    }
  }
  const nk = String(args.nk).split(',').filter(Boolean).map((x) => x.split('x').map(Number));
  if (nk.length > 0) {
    const [beta, lr, steps] = list(args['nk-from']);
    const settings = settingsFor(beta, lr, steps);
    const { params } = await trainDpoRound({ base, schedule, start: base.params, reference: base.params, selfPairs: [], seedPairs: train, settings, round: 0 });
    log(`\nSelf-annotation for N candidates per prompt and K reward draws, from the round-0 model of beta ${beta}, lr ${lr}, ${steps} steps (generator and judge), ${prompts.length} prompts; agreement = share of best-vs-worst pairs whose winner is the brighter image. Command: \`npm run tune-sail -- ${process.argv.slice(2).join(' ')}\`.\n`);
    log('| N | K | agreement | mean margin | generate s | score s |');
    log('|---|---|---|---|---|---|');
    for (const [n, k] of nk) {
      const annotated = await selfAnnotate({ base, schedule, generator: params, judge: params, prompts, settings: { ...settings, candidatesPerPrompt: n, rewardDraws: k }, round: 1 });
      const agree = annotated.pairs.filter((p) => rgbSum(p.winnerImage) > rgbSum(p.loserImage)).length / Math.max(annotated.pairs.length, 1);
      log(`| ${n} | ${k} | ${agree.toFixed(2)} | ${mean(annotated.pairs.map((p) => p.margin)).toFixed(3)} | ${(annotated.generateMs / 1000).toFixed(0)} | ${(annotated.scoreMs / 1000).toFixed(0)} |`);
    }
    disposeParams(params);
  }
  mkdirSync(dirname(String(args.out)), { recursive: true });
  if (args.append) appendFileSync(String(args.out), lines.join('\n') + '\n');
  else writeFileSync(String(args.out), lines.join('\n') + '\n');
}

main().catch((e) => {
  console.error(`tune-sail failed: ${(e as Error).message}`);
  process.exit(1);
});
