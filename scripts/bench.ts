// Speed of the default model on the Node wasm backend: UNet (+ text encoder) forward+backward
// per training batch, autoencoder training step, and sampled images per second (DDIM + CFG +
// decode). Prints the figures and writes them to --out (JSON).
//   npm run bench -- [--batch 64] [--steps 25] [--repeats 5]
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { generate } from '../src/core/generate';
import { renderGrid } from '../src/core/grid';
import { makeConfig } from '../src/core/model/config';
import { countParams } from '../src/core/model/layers';
import { initParams, paramNames } from '../src/core/model/ldm';
import { autoencoderBatch, diffusionBatch, disposeBatch, makeSchedule } from '../src/core/pretrain';
import { autoencoderLoss, diffusionLoss } from '../src/core/train';
import { parseArgs } from './lib/args';
import { loadCheckpointDir } from './lib/checkpointFs';
import { initNodeBackend } from './lib/nodeBackend';

const spec = {
  model: { default: '', help: 'checkpoint folder to bench (default: a fresh default-size model)' },
  batch: { default: 64, help: 'training batch size' },
  repeats: { default: 5, help: 'timed repeats (after one warm-up)' },
  steps: { default: 25, help: 'DDIM steps for sampling' },
  images: { default: 16, help: 'images per sampling call' },
  backend: { default: 'wasm', help: 'wasm | cpu' },
  out: { default: 'bench/results.json', help: 'where to write the figures' },
};

async function timeIt(repeats: number, fn: () => Promise<void>): Promise<number> {
  await fn(); // warm-up: kernel compilation, allocations
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]; // median
}

async function main() {
  const args = parseArgs(process.argv.slice(2), spec, 'npm run bench -- [options]');
  const backend = await initNodeBackend(String(args.backend));
  const ck = args.model ? loadCheckpointDir(String(args.model)) : (() => {
    const config = makeConfig(Array.from({ length: 2000 }, (_, i) => `w${i}`));
    return { config, params: initParams(config, 1) };
  })();
  const { config, params } = ck;
  const B = Number(args.batch);
  const repeats = Number(args.repeats);
  const schedule = makeSchedule(config.schedule);
  const latentPer = config.latentSize ** 2 * config.autoencoder.latentChannels;
  const latents = Float32Array.from({ length: 256 * latentPer }, (_, i) => Math.sin(i));
  const prompts = Array.from({ length: 256 }, (_, i) => `w${i} w${i + 1} face`);
  const unetNames = paramNames(params, 'text', 'unet');
  const aeNames = paramNames(params, 'ae');

  const gradStep = async (names: string[], loss: (p: typeof params) => tf.Scalar) => {
    const out = tf.tidy(() => {
      const { value, grads } = tf.valueAndGrads((...xs: tf.Tensor[]) => {
        const p = { ...params };
        names.forEach((n, i) => (p[n] = xs[i]));
        return loss(p);
      })(names.map((n) => params[n]));
      return [value, ...grads];
    });
    await out[0].data();
    await Promise.all(out.slice(1).map((g) => g.data()));
    tf.dispose(out);
  };

  let step = 0;
  const unetMs = await timeIt(repeats, async () => {
    const batch = diffusionBatch(latents, prompts, config, { batch: B, seed: 1, step: step++, cfgDropout: 0.1 });
    await gradStep(unetNames, (p) => diffusionLoss(p, config, schedule, batch));
    disposeBatch(batch);
  });
  const images = Float32Array.from({ length: 256 * 32 * 32 * 3 }, (_, i) => Math.cos(i));
  const aeMs = await timeIt(Math.max(1, Math.ceil(repeats / 2)), async () => {
    const batch = autoencoderBatch(images, 32, B, 1, step++);
    await gradStep(aeNames, (p) => autoencoderLoss(p, config, batch));
    batch.dispose();
  });
  const n = Number(args.images);
  const steps = Number(args.steps);
  const sampleMs = await timeIt(Math.max(1, Math.ceil(repeats / 2)), async () => {
    await generate(ck, { prompt: 'grinning face', count: n, seed: 1, steps, guidance: config.sampling.guidance });
  });
  // The Label tab's refill: 3 pairs (images 0 and 1 of a seed each), one request per pair as
  // before, or all 6 images as one batch of grid cells (issue 11); alternated, medians.
  const labelPrompts = ['grinning face', 'red heart', 'dog face'];
  const sampling = { steps: config.sampling.steps, guidance: config.sampling.guidance };
  const onePerPair: number[] = [];
  const batched: number[] = [];
  for (let r = -1; r < repeats; r++) {
    let t0 = performance.now();
    for (const [i, prompt] of labelPrompts.entries()) await generate(ck, { prompt, count: 2, seed: 10 + i, ...sampling });
    if (r >= 0) onePerPair.push(performance.now() - t0);
    t0 = performance.now();
    await renderGrid(ck, labelPrompts.flatMap((prompt, i) => [0, 1].map((image) => ({ prompt, seed: 10 + i, image }))), sampling);
    if (r >= 0) batched.push(performance.now() - t0);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const results = {
    date: new Date().toISOString(),
    backend,
    node: process.version,
    model: args.model || 'fresh default config',
    parameters: { total: countParams(params), unetAndText: unetNames.reduce((s, k) => s + params[k].size, 0), autoencoder: aeNames.reduce((s, k) => s + params[k].size, 0) },
    unetForwardBackwardMsPerBatch: Math.round(unetMs),
    autoencoderForwardBackwardMsPerBatch: Math.round(aeMs),
    batch: B,
    labelPairs: { pairs: labelPrompts.length, ddimSteps: sampling.steps, onePerRequestMs: Math.round(median(onePerPair)), batchedMs: Math.round(median(batched)), speedup: Number((median(onePerPair) / median(batched)).toFixed(2)) },
    sampling: { images: n, ddimSteps: steps, msPerCall: Math.round(sampleMs), imagesPerSecond: Number(((n * 1000) / sampleMs).toFixed(2)) },
  };
  console.log(JSON.stringify(results, null, 2));
  mkdirSync(dirname(String(args.out)), { recursive: true });
  writeFileSync(String(args.out), JSON.stringify(results, null, 2) + '\n');
}

main().catch((e) => {
  console.error(`bench failed: ${(e as Error).message}`);
  process.exit(1);
});
