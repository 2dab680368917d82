// The fixed denoising loss (src/core/eval/denoising.ts) of one or more checkpoints, side by side:
// same images, same noise, same timesteps. Per category, the mean over images and the mean over
// categories (every category alike).
//   npm run denoising-loss -- --models public/models/base,runs/base/ema [--json out/loss.json]
import { writeFileSync } from 'node:fs';
import { cutAtlas } from '../src/core/data/atlas';
import { DEFAULT_DENOISING_LOSS, fixedDenoisingLoss, type DenoisingLoss } from '../src/core/eval/denoising';
import { disposeParams } from '../src/core/model/layers';
import { parseArgs } from './lib/args';
import { loadCheckpointDir } from './lib/checkpointFs';
import { initNodeBackend } from './lib/nodeBackend';
import { loadEmojiDataset } from './lib/png';

const spec = {
  models: { default: 'public/models/base', help: 'checkpoint folders, comma-separated' },
  images: { default: 'evaluation', help: 'which images: evaluation (the 341 of the evaluation split; pretraining sees them too) | evaluation-base (its 191 base emoji, no skin-tone variants: what npm run quality reads the target on) | all' },
  draws: { default: DEFAULT_DENOISING_LOSS.draws, help: 'timesteps per image (stratified)' },
  seed: { default: DEFAULT_DENOISING_LOSS.seed, help: 'seed of the fixed noise and timesteps' },
  json: { default: '', help: 'also write the figures here' },
  data: { default: 'public/data', help: 'dataset folder' },
  backend: { default: 'wasm', help: 'wasm | cpu' },
};

async function main() {
  const args = parseArgs(process.argv.slice(2), spec, 'npm run denoising-loss -- [options]');
  await initNodeBackend(String(args.backend));
  const data = loadEmojiDataset(String(args.data));
  const m = data.manifest;
  const which = String(args.images);
  if (!['all', 'evaluation', 'evaluation-base'].includes(which)) throw new Error(`--images must be evaluation, evaluation-base or all, not ${which}`);
  const ids = which === 'all' ? m.records.map((r) => r.id) : which === 'evaluation-base' ? m.splits.evaluation.filter((id) => m.records[id].skinTone === null) : m.splits.evaluation;
  const images = cutAtlas(data.atlasRGBA, data.width, 4, m.columns, ids);
  const prompts = ids.map((id) => m.records[id].prompt);
  const groups = ids.map((id) => m.records[id].category);
  const results: { model: string; loss: DenoisingLoss }[] = [];
  for (const model of String(args.models).split(',').filter(Boolean)) {
    const ck = loadCheckpointDir(model);
    const t0 = Date.now();
    const loss = await fixedDenoisingLoss(ck, images, prompts, groups, { ...DEFAULT_DENOISING_LOSS, draws: Number(args.draws), seed: Number(args.seed), keys: ids });
    disposeParams(ck.params);
    results.push({ model, loss });
    console.log(`${model}: mean ${loss.mean.toFixed(4)}, category mean ${loss.groupMean.toFixed(4)} (${loss.images} images x ${loss.draws} draws, ${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  }
  const cats = results[0].loss.perGroup.map((g) => g.group);
  console.log(`\n| category | images | ${results.map((r) => r.model).join(' | ')} |`);
  console.log(`|---|---|${results.map(() => '---|').join('')}`);
  for (const c of cats) {
    const n = results[0].loss.perGroup.find((g) => g.group === c)!.images;
    console.log(`| ${c} | ${n} | ${results.map((r) => r.loss.perGroup.find((g) => g.group === c)!.loss.toFixed(4)).join(' | ')} |`);
  }
  console.log(`| mean over images | ${results[0].loss.images} | ${results.map((r) => r.loss.mean.toFixed(4)).join(' | ')} |`);
  console.log(`| mean over categories | | ${results.map((r) => r.loss.groupMean.toFixed(4)).join(' | ')} |`);
  if (args.json) writeFileSync(String(args.json), JSON.stringify({ images: String(args.images), draws: Number(args.draws), seed: Number(args.seed), results: results.map((r) => ({ model: r.model, mean: r.loss.mean, groupMean: r.loss.groupMean, perGroup: r.loss.perGroup })) }, null, 1));
}

main().catch((e) => {
  console.error(`denoising-loss failed: ${(e as Error).message}`);
  process.exit(1);
});
