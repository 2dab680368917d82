// Which prompts a checkpoint draws recognisably (src/core/eval/recognisable.ts): every base emoji
// is sampled and each sample ranked against the real images of all base emoji. Writes the list the
// studio draws its Label-tab prompts and suggestions from (drawable.json beside the model) and
// prints the share per category and the 16 grid prompts.
//   npm run drawable-prompts -- --model public/models/base
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cutAtlas } from '../src/core/data/atlas';
import { GRID_PROMPTS } from '../src/core/eval/quality';
import { measureDrawable } from '../src/core/eval/recognisable';
import { disposeParams } from '../src/core/model/layers';
import { parseArgs } from './lib/args';
import { loadCheckpointDir } from './lib/checkpointFs';
import { initNodeBackend } from './lib/nodeBackend';
import { loadEmojiDataset } from './lib/png';
import { ProgressBar } from './lib/progress';

const spec = {
  model: { default: 'public/models/base', help: 'checkpoint folder; drawable.json is written into it' },
  samples: { default: 2, help: 'samples per prompt' },
  k: { default: 10, help: 'a sample is recognisable when its own emoji is among the k nearest real base emoji' },
  seed: { default: 1, help: 'noise seed' },
  limit: { default: 0, help: 'only the first N base emoji (0 = all); for tests' },
  out: { default: '', help: 'where to write the list (default: <model>/drawable.json)' },
  data: { default: 'public/data', help: 'dataset folder' },
  backend: { default: 'wasm', help: 'wasm | cpu' },
};

async function main() {
  const argv = process.argv.slice(2);
  const args = parseArgs(argv, spec, 'npm run drawable-prompts -- [options]');
  await initNodeBackend(String(args.backend));
  const data = loadEmojiDataset(String(args.data));
  const m = data.manifest;
  const bases = m.records.filter((r) => r.skinTone === null && r.category !== 'Component');
  const gallery = cutAtlas(data.atlasRGBA, data.width, 4, m.columns, bases.map((r) => r.id));
  const all = bases.map((r, i) => ({ prompt: r.prompt, category: r.category, galleryIndex: i }));
  const items = Number(args.limit) > 0 ? all.slice(0, Number(args.limit)) : all;
  const ck = loadCheckpointDir(String(args.model));
  const started = Date.now();
  const bar = new ProgressBar('prompts', items.length);
  const results = await measureDrawable(ck, items, gallery, {
    samples: Number(args.samples),
    k: Number(args.k),
    seed: Number(args.seed),
    steps: ck.config.sampling.steps,
    guidance: ck.config.sampling.guidance,
    batch: 32,
    onProgress: (d) => bar.update(d),
  });
  disposeParams(ck.params);
  const S = Number(args.samples);
  const byCat = new Map<string, { n: number; hits: number; any: number }>();
  for (const r of results) {
    const c = byCat.get(r.category) ?? { n: 0, hits: 0, any: 0 };
    c.n++;
    c.hits += r.hits;
    c.any += r.hits > 0 ? 1 : 0;
    byCat.set(r.category, c);
  }
  console.log(`\n| category | prompts | samples recognisable | prompts with one |`);
  console.log('|---|---|---|---|');
  for (const [cat, c] of byCat) console.log(`| ${cat} | ${c.n} | ${((100 * c.hits) / (c.n * S)).toFixed(1)}% | ${((100 * c.any) / c.n).toFixed(1)}% |`);
  const hits = results.reduce((a, r) => a + r.hits, 0);
  const any = results.filter((r) => r.hits > 0).length;
  console.log(`| all | ${results.length} | ${((100 * hits) / (results.length * S)).toFixed(1)}% | ${((100 * any) / results.length).toFixed(1)}% |`);
  const byPrompt = new Map(results.map((r) => [r.prompt, r]));
  console.log(`\ngrid prompts (hits of ${S}, best rank of ${gallery.length / 3072}): ${GRID_PROMPTS.map((p) => `${p}: ${byPrompt.get(p)?.hits ?? '-'} (${byPrompt.get(p)?.bestRank ?? '-'})`).join('; ')}`);
  const out = String(args.out) || join(String(args.model), 'drawable.json');
  writeFileSync(
    out,
    JSON.stringify(
      {
        format: 'sail-studio-drawable',
        version: 1,
        command: ['npm run drawable-prompts', ...(argv.length ? ['--', ...argv] : [])].join(' '),
        measuredAt: new Date().toISOString(),
        modelSavedAt: (ck.config.provenance as { savedAt?: string } | undefined)?.savedAt ?? null,
        rule: `a sample is recognisable when its own emoji is among the ${Number(args.k)} nearest of ${gallery.length / 3072} real base emoji by pixel distance`,
        samples: S,
        k: Number(args.k),
        seed: Number(args.seed),
        prompts: Object.fromEntries(results.map((r) => [r.prompt, r.hits])),
      },
      null,
      0,
    ) + '\n',
  );
  console.log(`wrote ${out} (${results.length} prompts, ${any} with a recognisable sample) in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

main().catch((e) => {
  console.error(`drawable-prompts failed: ${(e as Error).message}`);
  process.exit(1);
});
