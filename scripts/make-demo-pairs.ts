// Makes a seed-pairs zip (architecture.md section 6) without a person: the base model draws two images
// per prompt and a fixed synthetic taste labels them. For demos, the CLI and tests; the real
// simulated annotators with noise belong to the evaluation.
//   npm run demo-pairs -- --taste brightness --prompts 24 --out out/demo-pairs.zip
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { readFileSync } from 'node:fs';
import { writePairsZip, type PairRecord } from '../src/core/data/pairs';
import { compositeOnWhite } from '../src/core/data/image';
import { encodePng } from '../src/core/data/png';
import { generate } from '../src/core/generate';
import { hashSeed } from '../src/core/random';
import { parseArgs } from './lib/args';
import { loadCheckpointDir } from './lib/checkpointFs';
import { initNodeBackend } from './lib/nodeBackend';
import { ProgressBar } from './lib/progress';

const TASTES: Record<string, (rgb: Uint8Array) => number> = {
  /** Mean of R, G and B. */
  brightness: (rgb) => rgb.reduce((s, v) => s + v, 0) / rgb.length,
  /** Red minus blue, averaged: warm colours win. */
  warm: (rgb) => {
    let s = 0;
    for (let i = 0; i < rgb.length; i += 3) s += rgb[i] - rgb[i + 2];
    return s / (rgb.length / 3);
  },
};

const spec = {
  model: { default: 'public/models/base', help: 'checkpoint that draws the images' },
  data: { default: 'public/data', help: 'dataset folder; prompts come from its pretraining split, outside the SAIL pools and evaluation' },
  taste: { default: 'brightness', help: `synthetic preference: ${Object.keys(TASTES).join(' | ')}` },
  prompts: { default: 24, help: 'number of pairs (one per prompt)' },
  steps: { default: 20, help: 'DDIM steps' },
  seed: { default: 1, help: 'seed' },
  out: { default: 'out/demo-pairs.zip', help: 'output zip' },
  backend: { default: 'wasm', help: 'wasm | cpu' },
};

async function main() {
  const args = parseArgs(process.argv.slice(2), spec, 'npm run demo-pairs -- [options]');
  const taste = TASTES[String(args.taste)];
  if (!taste) throw new Error(`--taste must be one of ${Object.keys(TASTES).join(', ')}`);
  await initNodeBackend(String(args.backend));
  const ck = loadCheckpointDir(String(args.model));
  const manifest = JSON.parse(readFileSync(join(String(args.data), 'emoji-32.json'), 'utf8')) as { records: { prompt: string; skinTone: string | null }[]; splits: { sailPools: number[][]; evaluation: number[] } };
  const reserved = new Set([...manifest.splits.sailPools.flat(), ...manifest.splits.evaluation]);
  const candidates = manifest.records.map((r, id) => ({ ...r, id })).filter((r) => !reserved.has(r.id) && r.skinTone === null);
  const step = Math.max(1, Math.floor(candidates.length / Number(args.prompts)));
  const chosen = candidates.filter((_, i) => i % step === 0).slice(0, Number(args.prompts));
  const size = ck.config.imageSize;
  const pairs: PairRecord[] = [];
  const bar = new ProgressBar('pairs', chosen.length);
  for (const [i, r] of chosen.entries()) {
    const { images } = await generate(ck, { prompt: r.prompt, count: 2, seed: hashSeed(Number(args.seed), i), steps: Number(args.steps) });
    const [a, b] = images.map((rgba) => compositeOnWhite(rgba));
    const sa = taste(a);
    const sb = taste(b);
    pairs.push({ caption: r.prompt, image0: { width: size, height: size, data: a }, image1: { width: size, height: size, data: b }, label0: sa === sb ? 0.5 : sa > sb ? 1 : 0, source: 'seed' });
    bar.update(i + 1);
  }
  mkdirSync(dirname(String(args.out)), { recursive: true });
  writeFileSync(String(args.out), writePairsZip(pairs, encodePng));
  console.log(`${pairs.length} pairs labelled by "${args.taste}" -> ${String(args.out)}`);
}

main().catch((e) => {
  console.error(`demo-pairs failed: ${(e as Error).message}`);
  process.exit(1);
});
