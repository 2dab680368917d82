// Two cores for pretraining: a whole UNet pretraining step (gradient of batch B, Adam with
// clipping) on one thread against the same step split over T worker threads
// (scripts/lib/unetShards.ts), alternated block by block, medians. Run it on an otherwise idle
// machine (the threads need the cores):
//   npm run bench:threads -- [--threads 2] [--batch 32] [--steps 10] [--blocks 3]
import { writeFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { paramNames } from '../src/core/model/ldm';
import { diffusionBatch, disposeBatch, makeSchedule, unetStepLoss } from '../src/core/pretrain';
import { adamApply, adamInit, adamStep, disposeAdam } from '../src/core/train';
import { cutAtlas } from '../src/core/data/atlas';
import { encodeImages } from '../src/core/model/ldm';
import { parseArgs } from './lib/args';
import { loadCheckpointDir } from './lib/checkpointFs';
import { initNodeBackend } from './lib/nodeBackend';
import { loadEmojiDataset } from './lib/png';
import { UnetShardPool } from './lib/unetShards';

const spec = {
  model: { default: 'public/models/base', help: 'checkpoint folder whose weights the steps start from' },
  threads: { default: 2, help: 'threads of the data-parallel arm' },
  batch: { default: 32, help: 'batch per step (the pretraining default)' },
  steps: { default: 10, help: 'timed steps per block' },
  blocks: { default: 3, help: 'alternated blocks per arm' },
  out: { default: 'bench/threads.json', help: 'where to write the figures' },
};

async function main() {
  const args = parseArgs(process.argv.slice(2), spec, 'npm run bench:threads -- [options]');
  const backend = await initNodeBackend('wasm');
  const ck = loadCheckpointDir(String(args.model));
  const { config, params } = ck;
  const data = loadEmojiDataset('public/data');
  const ids = data.manifest.splits.pretrain.slice(0, 512);
  const images = cutAtlas(data.atlasRGBA, data.width, 4, data.manifest.columns, ids);
  const z = tf.tidy(() => encodeImages(ck, tf.tensor4d(images, [ids.length, config.imageSize, config.imageSize, 3])));
  const latents = (await z.data()) as Float32Array;
  z.dispose();
  const prompts = ids.map((id) => data.manifest.records[id].prompt);
  const names = paramNames(params, 'text', 'unet');
  const batch = Number(args.batch);
  const threads = Number(args.threads);
  const steps = Number(args.steps);
  const schedule = makeSchedule(config.schedule);
  const job = { config, latents, prompts, variants: 1, seed: 1, batch, cfgDropout: 0.1, names };
  const pool = await UnetShardPool.open(threads, job, params, backend);
  const adam = adamInit(params, names);
  const opts = { lr: 1e-5, clipNorm: 1 };
  let step = 0;
  const one = async () => {
    const b = diffusionBatch(latents, prompts, config, { batch, seed: 1, step: step++, cfgDropout: 0.1 });
    await adamStep(params, names, adam, opts, (p) => unetStepLoss(p, config, schedule, b));
    disposeBatch(b);
  };
  const parallel = async () => {
    const { grad } = await pool.gradient(params, step++);
    await adamApply(params, names, adam, opts, grad);
    grad.dispose();
  };
  const times: Record<'one' | 'parallel', number[]> = { one: [], parallel: [] };
  await one();
  await parallel();
  for (let block = 0; block < Number(args.blocks); block++) {
    for (const [arm, fn] of [['one', one], ['parallel', parallel]] as const) {
      for (let i = 0; i < steps; i++) {
        const t0 = performance.now();
        await fn();
        times[arm].push(performance.now() - t0);
      }
    }
  }
  await pool.close();
  disposeAdam(adam);
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const result = {
    date: new Date().toISOString(),
    command: `npm run bench:threads -- ${process.argv.slice(2).join(' ')}`.trim(),
    batch,
    threads,
    msPerStepOneThread: Math.round(median(times.one)),
    msPerStepThreads: Math.round(median(times.parallel)),
    speedup: Number((median(times.one) / median(times.parallel)).toFixed(2)),
  };
  console.log(`UNet pretraining step, batch ${batch}: one thread ${result.msPerStepOneThread} ms, ${threads} threads ${result.msPerStepThreads} ms (median of ${times.one.length}); speed-up ${result.speedup}x`);
  writeFileSync(String(args.out), JSON.stringify(result, null, 1) + '\n');
}

main().catch((e) => {
  console.error(`bench:threads failed: ${(e as Error).message}`);
  process.exit(1);
});
