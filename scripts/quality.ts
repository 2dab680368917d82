// Writes the base model's quality report (issue 3) and its sample grid:
//   npm run quality -- --model public/models/base --out docs/base-model.md
// Reconstruction PSNR on held-out images; the evaluation classifier's balanced accuracy on
// generated samples against real images of the same emoji; diversity; a grid of 16 named
// prompts (docs/base-model-grid.png); parameter count, checkpoint size, sampling time on wasm.
import { parseGuidanceBands } from '../src/core/diffusion/ddim';
import { parseArgs } from './lib/args';
import { initNodeBackend } from './lib/nodeBackend';
import { ProgressBar } from './lib/progress';
import { runQuality } from './lib/quality';

const spec = {
  model: { default: 'public/models/base', help: 'checkpoint folder (config.json + model.safetensors)' },
  classifier: { default: 'public/models/classifier', help: 'evaluation classifier folder (npm run train-classifier)' },
  out: { default: 'docs/base-model.md', help: 'report path; the grid PNG goes beside it as <name>-grid.png' },
  data: { default: 'public/data', help: 'dataset folder (npm run dataset)' },
  quick: { default: false, help: 'tiny settings for CI: 1 prompt per category, 2 samples, 2 DDIM steps, 4 grid prompts' },
  'prompts-per-category': { default: -1, help: 'evaluation prompts per category (-1 = 4, or 1 with --quick)' },
  samples: { default: -1, help: 'samples per prompt (-1 = 4, or 2 with --quick)' },
  steps: { default: -1, help: 'DDIM steps (-1 = the checkpoint default, or 2 with --quick)' },
  guidance: { default: -1, help: 'guidance scale (-1 = the checkpoint default)' },
  'guidance-bands': { default: '', help: 'guidance by timestep, "from-to:factor,..." (the factor multiplies the guidance for t in [from, to)); replaces the checkpoint\'s' },
  'guidance-rescale': { default: -1, help: 'guidance rescale phi in [0, 1] (Lin et al. 2023; -1 = the checkpoint\'s)' },
  eta: { default: -1, help: 'DDIM eta, 0 = deterministic, 1 = DDPM variance (-1 = the checkpoint\'s)' },
  seed: { default: 1, help: 'noise seed' },
  'extra-seeds': { default: 'default', help: 'more noise seeds for balanced accuracy and KID, comma-separated (default: 2, none with --quick; "none" for none)' },
  batch: { default: -1, help: 'images per sampling batch (-1 = 32)' },
  backend: { default: 'wasm', help: 'wasm | cpu' },
};

async function main() {
  const argv = process.argv.slice(2);
  const args = parseArgs(argv, spec, 'npm run quality -- [options]');
  const backend = await initNodeBackend(String(args.backend));
  const pick = (key: keyof typeof spec) => (Number(args[key]) >= 0 ? Number(args[key]) : undefined);
  const overrides = Object.fromEntries(
    Object.entries({
      promptsPerCategory: pick('prompts-per-category'),
      samplesPerPrompt: pick('samples'),
      steps: pick('steps'),
      guidance: pick('guidance'),
      batch: pick('batch'),
      seed: Number(args.seed),
      extraSeeds: String(args['extra-seeds']) === 'default' ? undefined : String(args['extra-seeds']) === 'none' ? [] : String(args['extra-seeds']).split(',').map(Number),
    }).filter(([, v]) => v !== undefined),
  );
  const bars = new Map<string, ProgressBar>();
  const started = Date.now();
  const { figures: f, reportPath, gridPath } = await runQuality({
    model: String(args.model),
    classifier: String(args.classifier),
    data: String(args.data),
    out: String(args.out),
    quick: Boolean(args.quick),
    command: ['npm run quality', ...(argv.length ? ['--', ...argv] : [])].join(' '),
    backend,
    overrides,
    sampling: {
      ...(String(args['guidance-bands']) ? { guidanceBands: parseGuidanceBands(String(args['guidance-bands'])) } : {}),
      ...(Number(args['guidance-rescale']) >= 0 ? { guidanceRescale: Number(args['guidance-rescale']) } : {}),
      ...(Number(args.eta) >= 0 ? { eta: Number(args.eta) } : {}),
    },
    onProgress: (stage, done, total) => {
      if (!bars.has(stage)) bars.set(stage, new ProgressBar(stage, total));
      bars.get(stage)!.update(done);
    },
  });
  const pct = (v: number) => `${(100 * v).toFixed(1)}%`;
  console.log(`PSNR ${f.psnr.db.toFixed(2)} dB on ${f.psnr.images} held-out images`);
  console.log(`balanced accuracy: generated ${pct(f.classifier.generatedBalancedAccuracy)}, real ${pct(f.classifier.realBalancedAccuracy)}, ratio ${f.classifier.ratio.toFixed(2)} (chance ${pct(f.classifier.chance)})`);
  console.log(`  per seed: ${f.classifier.perSeed.map((x) => `${x.seed}: ${pct(x.balancedAccuracy)}`).join(', ')}`);
  console.log(`fixed denoising loss: base emoji ${f.denoising.baseEmojiMean.toFixed(4)} (${f.denoising.baseEmoji}), all ${f.denoising.mean.toFixed(4)} (${f.denoising.images}), category mean ${f.denoising.categoryMean.toFixed(4)}`);
  console.log(`KID (classifier features): generated ${f.kid.generated.toFixed(4)}, real other emoji ${f.kid.realOther.toFixed(4)}`);
  console.log(`diversity: within prompt ${f.diversity.generatedWithinPrompt.toFixed(3)} (min ${f.diversity.generatedWithinPromptMin.toFixed(3)}), noise-ignoring ${f.diversity.noiseIgnoringModel.toFixed(3)}, across prompts ${f.diversity.generatedAcrossPrompts.toFixed(3)}, real different emoji ${f.diversity.realDifferentEmoji.toFixed(3)}`);
  console.log(`${f.parameters.total} parameters; sampling ${f.speed.msPerImageBatched.toFixed(0)} ms/image at batch ${f.speed.batch}, ${f.speed.msSingleImage.toFixed(0)} ms alone (${f.speed.steps} steps)`);
  console.log(`wrote ${reportPath} and ${gridPath} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

main().catch((e) => {
  console.error(`quality failed: ${(e as Error).message}`);
  process.exit(1);
});
