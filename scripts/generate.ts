// Generates a PNG grid for a prompt from a checkpoint folder.
//   npm run generate -- --prompt "grinning face" --count 16 --seed 1 --out grid.png
import { generate, unknownWords } from '../src/core/generate';
import { parseArgs } from './lib/args';
import { loadCheckpointDir } from './lib/checkpointFs';
import { tileImages } from './lib/grid';
import { initNodeBackend } from './lib/nodeBackend';
import { writePng } from './lib/png';
import { ProgressBar } from './lib/progress';

const spec = {
  model: { default: 'public/models/base', help: 'checkpoint folder (config.json + model.safetensors)' },
  prompt: { default: 'grinning face', help: 'text prompt; several separated by "|" make one row each' },
  count: { default: 8, help: 'images per prompt' },
  seed: { default: 1, help: 'noise seed (image i uses hashSeed(seed, i))' },
  guidance: { default: -1, help: 'classifier-free guidance scale (-1 = the checkpoint default)' },
  steps: { default: -1, help: 'DDIM steps (-1 = the checkpoint default)' },
  scale: { default: 2, help: 'pixel upscale factor in the PNG' },
  out: { default: 'out/grid.png', help: 'output PNG path' },
  backend: { default: 'wasm', help: 'wasm | cpu' },
};

async function main() {
  const args = parseArgs(process.argv.slice(2), spec, 'npm run generate -- [options]');
  await initNodeBackend(String(args.backend));
  const ck = loadCheckpointDir(String(args.model));
  const prompts = String(args.prompt).split('|').map((p) => p.trim()).filter(Boolean);
  const count = Number(args.count);
  const steps = Number(args.steps) > 0 ? Number(args.steps) : ck.config.sampling.steps;
  const guidance = Number(args.guidance) >= 0 ? Number(args.guidance) : ck.config.sampling.guidance;
  const all: Uint8ClampedArray[] = [];
  const started = Date.now();
  for (const prompt of prompts) {
    const unknown = unknownWords(ck, prompt);
    if (unknown.length) console.warn(`"${prompt}": unknown words ${unknown.join(', ')} (read as <unk>)`);
    const bar = new ProgressBar(prompt.slice(0, 24), steps + 1);
    const { images } = await generate(ck, { prompt, count, seed: Number(args.seed), guidance, steps, onProgress: (d) => bar.update(d) });
    all.push(...images);
  }
  const grid = tileImages(all, ck.config.imageSize, count, Number(args.scale));
  const { mkdirSync } = await import('node:fs');
  const { dirname } = await import('node:path');
  mkdirSync(dirname(String(args.out)), { recursive: true });
  writePng(String(args.out), grid.width, grid.height, grid.rgba);
  const ms = Date.now() - started;
  console.log(`${all.length} images in ${(ms / 1000).toFixed(1)} s (${(ms / all.length).toFixed(0)} ms/image, ${steps} steps, guidance ${guidance}) -> ${String(args.out)}`);
}

main().catch((e) => {
  console.error(`generate failed: ${(e as Error).message}`);
  process.exit(1);
});
