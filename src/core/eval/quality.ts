// The base model's quality report (issue 3): reconstruction PSNR, category recognisability of
// generated samples by the evaluation classifier against real images, diversity, a sample grid,
// size and speed. Pure TF.js + data in, figures and markdown out: the CLI (scripts/quality.ts)
// does the files, tests call measureQuality directly.
import * as tf from '@tensorflow/tfjs-core';
import { cutAtlas } from '../data/atlas';
import type { EmojiManifest } from '../data/emoji';
import { describeGuidance } from '../diffusion/ddim';
import { generate, initialNoise, sampleLatents, toRgba } from '../generate';
import { countParams } from '../model/layers';
import { decodeLatents, type Checkpoint } from '../model/ldm';
import { reconstructionPsnr } from '../pretrain';
import { DEFAULT_DENOISING_LOSS, fixedDenoisingLoss } from './denoising';
import { kernelInceptionDistance } from './kid';
import { accuracy, balancedAccuracy, classifierCategories, classifierFeatures, meanPairwiseDistance, perClassRecall, predictCategories, type Classifier } from './classifier';

/** The decoded dataset: manifest plus the atlas as RGBA bytes (scripts/lib/png loadEmojiDataset). */
export interface QualityDataset {
  manifest: EmojiManifest;
  atlasRGBA: Uint8Array | Uint8ClampedArray;
  width: number;
}

/** The 16 named prompts of the sample grid: well-known emoji across the 9 categories. */
export const GRID_PROMPTS: readonly string[] = [
  'grinning face',
  'heavy black heart',
  'ghost',
  'thumbs up sign 1 thumbsup',
  'baby',
  'dog face',
  'frog face',
  'evergreen tree',
  'red apple',
  'banana',
  'rocket',
  'automobile car red',
  'soccer ball',
  'electric light bulb',
  'warning sign',
  'united states flag us',
];

export interface QualityOptions {
  /** Evaluation prompts per category (base emoji of the evaluation split). */
  promptsPerCategory: number;
  samplesPerPrompt: number;
  steps: number;
  guidance: number;
  /** Sample j of every prompt starts from the noise of image j of this seed (shared noise). */
  seed: number;
  /** More noise seeds for the balanced accuracy and KID (their mean is the figure); the rest of the report uses `seed`. */
  extraSeeds: number[];
  /** Images of the evaluation split for the fixed denoising loss (0 = all) and its draws per image. */
  lossImages: number;
  lossDraws: number;
  /** Held-out images for the PSNR (0 = the whole evaluation split). */
  psnrImages: number;
  gridPrompts: readonly string[];
  gridSamples: number;
  /** Images per sampling batch. */
  batch: number;
  onProgress?: (stage: string, done: number, total: number) => void;
}

export function defaultQualityOptions(config: { sampling: { steps: number; guidance: number } }): QualityOptions {
  return {
    promptsPerCategory: 8,
    samplesPerPrompt: 4,
    steps: config.sampling.steps,
    guidance: config.sampling.guidance,
    seed: 1,
    extraSeeds: [2],
    lossImages: 0,
    lossDraws: DEFAULT_DENOISING_LOSS.draws,
    psnrImages: 0,
    gridPrompts: GRID_PROMPTS,
    gridSamples: 4,
    batch: 32,
  };
}

/** Tiny settings for CI: one prompt per category, two samples, two DDIM steps. */
export function quickQualityOptions(config: { sampling: { steps: number; guidance: number } }): QualityOptions {
  return { ...defaultQualityOptions(config), promptsPerCategory: 1, samplesPerPrompt: 2, steps: 2, extraSeeds: [], lossImages: 16, lossDraws: 1, psnrImages: 16, gridPrompts: GRID_PROMPTS.slice(0, 4), gridSamples: 2, batch: 18 };
}

export interface EvalPrompt {
  id: number;
  prompt: string;
  category: string;
  label: number;
}

/**
 * `perCategory` base emoji (no skin-tone variants) of each category from the evaluation split,
 * evenly spaced through the category's list in manifest order (so they span its subcategories).
 * Deterministic: depends only on the manifest.
 */
export function selectEvalPrompts(manifest: EmojiManifest, perCategory: number): EvalPrompt[] {
  const categories = classifierCategories(manifest);
  const out: EvalPrompt[] = [];
  categories.forEach((category, label) => {
    const bases = manifest.splits.evaluation.map((id) => manifest.records[id]).filter((r) => r.skinTone === null && r.category === category);
    const k = Math.min(perCategory, bases.length);
    for (let i = 0; i < k; i++) {
      const r = bases[Math.floor(((i + 0.5) * bases.length) / k)];
      out.push({ id: r.id, prompt: r.prompt, category, label });
    }
  });
  return out;
}

export interface QualityFigures {
  parameters: { total: number; ae: number; text: number; unet: number };
  psnr: { db: number; images: number };
  classifier: {
    categories: string[];
    /** On the whole held-out split (the instrument's own accuracy). */
    heldOutBalancedAccuracy: number;
    heldOutAccuracy: number;
    heldOutImages: number;
    generatedBalancedAccuracy: number;
    generatedAccuracy: number;
    realBalancedAccuracy: number;
    realAccuracy: number;
    /** generated / real balanced accuracy (target at least 0.6). */
    ratio: number;
    chance: number;
    perCategory: { category: string; prompts: number; generatedRecall: number; realRecall: number }[];
    /** Generated balanced accuracy per noise seed (`seed`, then `extraSeeds`); generatedBalancedAccuracy is their mean. */
    perSeed: { seed: number; balancedAccuracy: number }[];
  };
  /** Fixed denoising loss on real images of the evaluation split (same noise and timesteps for every checkpoint). */
  denoising: { images: number; draws: number; mean: number; categoryMean: number; baseEmojiMean: number; baseEmoji: number; perCategory: { category: string; images: number; loss: number }[] };
  /** KID on the classifier's penultimate features: generated samples (all seeds) against real images of the evaluation prompts. */
  kid: { generated: number; realOther: number; generatedImages: number; realImages: number; otherImages: number };
  diversity: {
    /** Mean over prompts of the mean pairwise RMS distance of that prompt's samples. */
    generatedWithinPrompt: number;
    /** The prompt with the least diverse samples. */
    generatedWithinPromptMin: number;
    /** Same computation on N copies of one sample: a model that ignores its noise. */
    noiseIgnoringModel: number;
    /** Same noise, different prompts: mean pairwise distance across prompts per noise index. */
    generatedAcrossPrompts: number;
    /** Real images of the evaluation prompts (all different emoji). */
    realDifferentEmoji: number;
  };
  speed: { msPerImageBatched: number; batch: number; msSingleImage: number; steps: number; guidance: number };
  prompts: (EvalPrompt & { predicted: string[]; realPredicted: string; diversity: number })[];
  grid: { prompts: string[]; samples: number; size: number; /** Per prompt: the real emoji (or null) then the samples, RGBA. */ rows: { real: Uint8ClampedArray | null; samples: Uint8ClampedArray[] }[] };
  settings: Omit<QualityOptions, 'onProgress' | 'gridPrompts'>;
}

/** Samples `perPrompt` images per prompt, sample j from the noise of image j of `seed`; images in [-1, 1]. */
export async function sampleImages(
  ck: Checkpoint,
  prompts: string[],
  perPrompt: number,
  opts: { seed: number; steps: number; guidance: number; batch: number },
  onBatch?: (done: number, total: number) => void,
): Promise<{ data: Float32Array; ms: number }> {
  const size = ck.config.imageSize;
  const per = size * size * 3;
  const jobs = prompts.flatMap((prompt) => Array.from({ length: perPrompt }, (_, j) => ({ prompt, j })));
  const data = new Float32Array(jobs.length * per);
  let ms = 0;
  onBatch?.(0, jobs.length);
  for (let start = 0; start < jobs.length; start += opts.batch) {
    const chunk = jobs.slice(start, start + opts.batch);
    const t0 = performance.now();
    const noise = tf.tidy(() => tf.concat(chunk.map(({ j }) => initialNoise(ck, opts.seed, 1, j)), 0) as tf.Tensor4D);
    const latents = await sampleLatents(
      ck,
      chunk.map((c) => c.prompt),
      noise,
      { guidance: opts.guidance, steps: opts.steps },
    );
    noise.dispose();
    const images = decodeLatents(ck, latents);
    latents.dispose();
    data.set(await images.data(), start * per);
    images.dispose();
    ms += performance.now() - t0;
    onBatch?.(Math.min(start + opts.batch, jobs.length), jobs.length);
  }
  return { data, ms };
}

async function toRgbaImages(data: Float32Array, size: number): Promise<Uint8ClampedArray[]> {
  const n = data.length / (size * size * 3);
  const t = tf.tensor4d(data, [n, size, size, 3]);
  const out = await toRgba(t);
  t.dispose();
  return out;
}

/** PSNR over many images, in chunks, from the pooled MSE (not the mean of per-chunk PSNRs). */
async function pooledPsnr(ck: Checkpoint, images: Float32Array, chunkImages = 64): Promise<number> {
  const per = ck.config.imageSize * ck.config.imageSize * 3;
  const n = images.length / per;
  let sse = 0;
  for (let start = 0; start < n; start += chunkImages) {
    const count = Math.min(chunkImages, n - start);
    const db = await reconstructionPsnr(ck, images.subarray(start * per, (start + count) * per));
    sse += (4 / 10 ** (db / 10)) * count;
  }
  return 10 * Math.log10(4 / (sse / n));
}

export async function measureQuality(ck: Checkpoint, classifier: Classifier, dataset: QualityDataset, opts: QualityOptions): Promise<QualityFigures> {
  const { manifest } = dataset;
  const size = ck.config.imageSize;
  const per = size * size * 3;
  const cut = (ids: number[]) => cutAtlas(dataset.atlasRGBA, dataset.width, 4, manifest.columns, ids);
  const categories = classifierCategories(manifest);
  if (categories.join('|') !== classifier.categories.join('|')) throw new Error(`the classifier's categories (${classifier.categories.join(', ')}) are not the manifest's (${categories.join(', ')})`);
  const numClasses = categories.length;
  const labelOf = new Map(categories.map((c, i) => [c, i]));
  const progress = opts.onProgress ?? (() => {});

  // Size.
  const group = (g: string) => Object.entries(ck.params).filter(([n]) => n.startsWith(`${g}.`)).reduce((s, [, t]) => s + t.size, 0);
  const parameters = { total: countParams(ck.params), ae: group('ae'), text: group('text'), unet: group('unet') };

  // Reconstruction on held-out images.
  const evalIds = manifest.splits.evaluation.filter((id) => labelOf.has(manifest.records[id].category));
  const psnrIds = opts.psnrImages > 0 ? evalIds.slice(0, opts.psnrImages) : evalIds;
  progress('reconstruction', 0, 1);
  const psnr = { db: await pooledPsnr(ck, cut(psnrIds)), images: psnrIds.length };
  progress('reconstruction', 1, 1);

  // The classifier on the whole held-out split (checks the loaded instrument).
  const evalImages = cut(evalIds);
  const evalTruth = Int32Array.from(evalIds, (id) => labelOf.get(manifest.records[id].category)!);
  const evalPred = await predictCategories(classifier.params, evalImages, classifier.config);

  // Generated vs real on the evaluation prompts.
  const prompts = selectEvalPrompts(manifest, opts.promptsPerCategory);
  const S = opts.samplesPerPrompt;
  const realImages = cut(prompts.map((p) => p.id));
  const realTruth = Int32Array.from(prompts, (p) => p.label);
  const realPred = await predictCategories(classifier.params, realImages, classifier.config);
  const gen = await sampleImages(ck, prompts.map((p) => p.prompt), S, opts, (d, t) => progress('samples', d, t));
  const genTruth = Int32Array.from({ length: prompts.length * S }, (_, i) => prompts[Math.floor(i / S)].label);
  const genPred = await predictCategories(classifier.params, gen.data, classifier.config);
  const genRecall = perClassRecall(genPred, genTruth, numClasses);
  const realRecall = perClassRecall(realPred, realTruth, numClasses);
  const perSeed = [{ seed: opts.seed, balancedAccuracy: balancedAccuracy(genPred, genTruth, numClasses) }];
  const genAll = [gen.data];
  for (const seed of opts.extraSeeds) {
    const more = await sampleImages(ck, prompts.map((p) => p.prompt), S, { ...opts, seed }, (d, t) => progress(`samples, seed ${seed}`, d, t));
    genAll.push(more.data);
    perSeed.push({ seed, balancedAccuracy: balancedAccuracy(await predictCategories(classifier.params, more.data, classifier.config), genTruth, numClasses) });
  }
  const generatedBalancedAccuracy = perSeed.reduce((a, b) => a + b.balancedAccuracy, 0) / perSeed.length;
  const realBalancedAccuracy = balancedAccuracy(realPred, realTruth, numClasses);

  // KID: every generated sample against the real images of the prompts; the reference is other
  // real emoji of the evaluation split (base emoji not among the prompts) against the same.
  const d = classifier.config.widths[3];
  const genFeatures = new Float32Array(genAll.length * prompts.length * S * d);
  for (let k = 0; k < genAll.length; k++) genFeatures.set(await classifierFeatures(classifier.params, genAll[k], classifier.config), k * prompts.length * S * d);
  const realFeatures = await classifierFeatures(classifier.params, realImages, classifier.config);
  const promptIds = new Set(prompts.map((p) => p.id));
  const otherIds = evalIds.filter((id) => manifest.records[id].skinTone === null && !promptIds.has(id));
  const otherFeatures = await classifierFeatures(classifier.params, cut(otherIds), classifier.config);
  const kid = {
    generated: kernelInceptionDistance(genFeatures, realFeatures, d),
    realOther: otherIds.length >= 2 ? kernelInceptionDistance(otherFeatures, realFeatures, d) : NaN,
    generatedImages: genFeatures.length / d,
    realImages: prompts.length,
    otherImages: otherIds.length,
  };

  // The fixed denoising loss on real images.
  progress('denoising loss', 0, 1);
  const lossIds = opts.lossImages > 0 ? manifest.splits.evaluation.slice(0, opts.lossImages) : manifest.splits.evaluation;
  const loss = await fixedDenoisingLoss(ck, cut(lossIds), lossIds.map((id) => manifest.records[id].prompt), lossIds.map((id) => manifest.records[id].category), { ...DEFAULT_DENOISING_LOSS, draws: opts.lossDraws, keys: lossIds });
  progress('denoising loss', 1, 1);
  const baseIdx = lossIds.map((id, i) => (manifest.records[id].skinTone === null ? i : -1)).filter((i) => i >= 0);
  const denoising = {
    images: loss.images,
    draws: loss.draws,
    mean: loss.mean,
    categoryMean: loss.groupMean,
    baseEmojiMean: baseIdx.reduce((a, i) => a + loss.perImage[i], 0) / baseIdx.length,
    baseEmoji: baseIdx.length,
    perCategory: loss.perGroup.map((g) => ({ category: g.group, images: g.images, loss: g.loss })),
  };

  // Diversity.
  const within = prompts.map((_, i) => meanPairwiseDistance(gen.data.subarray(i * S * per, (i + 1) * S * per), S));
  const copies = new Float32Array(S * per);
  for (let j = 0; j < S; j++) copies.set(gen.data.subarray(0, per), j * per);
  const across: number[] = [];
  for (let j = 0; j < S; j++) {
    const sameNoise = new Float32Array(prompts.length * per);
    prompts.forEach((_, i) => sameNoise.set(gen.data.subarray((i * S + j) * per, (i * S + j + 1) * per), i * per));
    across.push(meanPairwiseDistance(sameNoise, prompts.length));
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const diversity = {
    generatedWithinPrompt: mean(within),
    generatedWithinPromptMin: Math.min(...within),
    noiseIgnoringModel: meanPairwiseDistance(copies, S),
    generatedAcrossPrompts: mean(across),
    realDifferentEmoji: meanPairwiseDistance(realImages, prompts.length),
  };

  // Speed: the batched figure from the evaluation samples, plus one single-image request.
  const t0 = performance.now();
  await generate(ck, { prompt: prompts[0].prompt, count: 1, seed: opts.seed, steps: opts.steps, guidance: opts.guidance });
  const msSingleImage = performance.now() - t0;
  const speed = { msPerImageBatched: gen.ms / (prompts.length * S), batch: Math.min(opts.batch, prompts.length * S), msSingleImage, steps: opts.steps, guidance: opts.guidance };

  // The grid: per named prompt, the real emoji (when the prompt is one) then the samples.
  const gridPrompts = [...opts.gridPrompts];
  const gridGen = await sampleImages(ck, gridPrompts, opts.gridSamples, opts, (d, t) => progress('grid', d, t));
  const gridRgba = await toRgbaImages(gridGen.data, size);
  const idOfPrompt = new Map<string, number>();
  for (const r of manifest.records) if (r.skinTone === null && !idOfPrompt.has(r.prompt)) idOfPrompt.set(r.prompt, r.id);
  const gridRealIds = gridPrompts.map((p) => idOfPrompt.get(p));
  const knownReal = gridRealIds.filter((id): id is number => id !== undefined);
  const realRgba = knownReal.length ? await toRgbaImages(cut(knownReal), size) : [];
  let k = 0;
  const rows = gridPrompts.map((_, i) => ({
    real: gridRealIds[i] !== undefined ? realRgba[k++] : null,
    samples: gridRgba.slice(i * opts.gridSamples, (i + 1) * opts.gridSamples),
  }));

  const { onProgress: _ignored, gridPrompts: _grid, ...settings } = opts;
  void _ignored;
  void _grid;
  return {
    parameters,
    psnr,
    classifier: {
      categories,
      heldOutBalancedAccuracy: balancedAccuracy(evalPred, evalTruth, numClasses),
      heldOutAccuracy: accuracy(evalPred, evalTruth),
      heldOutImages: evalIds.length,
      generatedBalancedAccuracy,
      generatedAccuracy: accuracy(genPred, genTruth),
      realBalancedAccuracy,
      realAccuracy: accuracy(realPred, realTruth),
      ratio: generatedBalancedAccuracy / realBalancedAccuracy,
      chance: 1 / numClasses,
      perCategory: categories.map((category, c) => ({ category, prompts: prompts.filter((p) => p.label === c).length, generatedRecall: genRecall[c], realRecall: realRecall[c] })),
      perSeed,
    },
    denoising,
    kid,
    diversity,
    speed,
    prompts: prompts.map((p, i) => ({
      ...p,
      predicted: Array.from(genPred.subarray(i * S, (i + 1) * S), (c) => categories[c]),
      realPredicted: categories[realPred[i]],
      diversity: within[i],
    })),
    grid: { prompts: gridPrompts, samples: opts.gridSamples, size, rows },
    settings,
  };
}

export interface ReportMeta {
  command: string;
  date: string;
  modelPath: string;
  classifierPath: string;
  /** Bytes of model.safetensors (and config.json). */
  checkpointBytes: number;
  configBytes: number;
  /** File name of the grid PNG, relative to the report. */
  gridFile: string;
  backend: string;
  /** The model's provenance (config.json), for the record. */
  provenance: Record<string, unknown>;
  /** The classifier's recorded training figures, if any. */
  classifierInfo?: Record<string, unknown>;
  /** The sampler's guidance bands and rescale, when the checkpoint (or the command) sets them. */
  sampling?: { guidanceBands?: { from: number; to: number; factor: number }[]; guidanceRescale?: number; eta?: number };
}

const pct = (v: number) => (Number.isFinite(v) ? `${(100 * v).toFixed(1)}%` : 'n/a');
const num = (v: number, d = 3) => (Number.isFinite(v) ? v.toFixed(d) : 'n/a');
const esc = (s: string) => s.replace(/\|/g, '\\|');

/** Issue 12's target for the mean within-prompt distance (the base of step 16800 had 0.250). */
export const DIVERSITY_TARGET = 0.25;

export function renderQualityReport(f: QualityFigures, meta: ReportMeta): string {
  const c = f.classifier;
  const d = f.diversity;
  const met = (ok: boolean) => (ok ? 'yes' : 'no');
  const prov = meta.provenance;
  const lines: string[] = [];
  lines.push('# Base model quality report', '');
  lines.push(`Measured on ${meta.date} by:`, '', '```', meta.command, '```', '');
  lines.push(`- Model: \`${meta.modelPath}\`${prov.command ? `, made by \`${String(prov.command)}\`` : ''}${prov.savedAt ? ` (saved ${String(prov.savedAt)})` : ''}.`);
  const clfHeld = meta.classifierInfo?.heldOut as { accuracy?: number; balancedAccuracy?: number } | undefined;
  lines.push(
    `- Evaluation classifier: \`${meta.classifierPath}\`${meta.classifierInfo?.command ? `, made by \`${String(meta.classifierInfo.command)}\`` : ''}. ` +
      `On all ${c.heldOutImages} held-out real images (the evaluation split) it scores accuracy ${pct(c.heldOutAccuracy)}, balanced accuracy ${pct(c.heldOutBalancedAccuracy)} (chance ${pct(c.chance)})` +
      (clfHeld?.balancedAccuracy !== undefined ? `; recorded at training: ${pct(clfHeld.accuracy ?? NaN)} / ${pct(clfHeld.balancedAccuracy)}.` : '.'),
  );
  lines.push(`- Backend: ${meta.backend}. Sampling: DDIM ${f.settings.steps} steps, ${describeGuidance(f.settings.guidance, meta.sampling ?? {})}, sample j of every prompt from the noise of image j of seed ${f.settings.seed}.`, '');

  lines.push('## Summary', '');
  lines.push('| Figure | Measured | Target | Met |', '|---|---|---|---|');
  lines.push(`| Reconstruction PSNR (${f.psnr.images} held-out images) | ${num(f.psnr.db, 2)} dB | at least 25 dB | ${met(f.psnr.db >= 25)} |`);
  const seedsNote = c.perSeed.length > 1 ? ` (mean of seeds ${c.perSeed.map((x) => `${x.seed}: ${pct(x.balancedAccuracy)}`).join(', ')})` : '';
  lines.push(`| Classifier balanced accuracy, generated samples${seedsNote} | ${pct(c.generatedBalancedAccuracy)} | at least 90% of real (${pct(0.9 * c.realBalancedAccuracy)}) | ${met(c.ratio >= 0.9)} |`);
  lines.push(`| Classifier balanced accuracy, real images of the same emoji | ${pct(c.realBalancedAccuracy)} | (reference; chance ${pct(c.chance)}) | |`);
  lines.push(`| Generated / real | ${num(c.ratio, 2)} | at least 0.90 | ${met(c.ratio >= 0.9)} |`);
  const dn = f.denoising;
  lines.push(`| Fixed denoising loss, ${dn.baseEmoji} base emoji of the evaluation split (${dn.draws} fixed draws each) | ${num(dn.baseEmojiMean, 4)} | at most 0.105 | ${met(dn.baseEmojiMean <= 0.105)} |`);
  lines.push(`| Fixed denoising loss, all ${dn.images} images / mean over categories | ${num(dn.mean, 4)} / ${num(dn.categoryMean, 4)} | (reference) | |`);
  lines.push(`| KID, classifier features: generated vs real (${f.kid.generatedImages} vs ${f.kid.realImages}) | ${num(f.kid.generated, 4)} | towards real vs other real emoji (${num(f.kid.realOther, 4)}) | |`);
  lines.push(
    `| Diversity: samples of one prompt (mean pairwise RMS distance) | ${num(d.generatedWithinPrompt)} | at least ${DIVERSITY_TARGET} (issue 12; the noise-ignoring model: ${num(d.noiseIgnoringModel)}) | ${met(d.generatedWithinPrompt >= DIVERSITY_TARGET)} |`,
  );
  lines.push(`| Parameters | ${f.parameters.total.toLocaleString('en-US')} | | |`);
  lines.push(`| Checkpoint size (model.safetensors) | ${meta.checkpointBytes.toLocaleString('en-US')} bytes | | |`);
  lines.push(`| Sampling time per image (wasm, batch ${f.speed.batch}) | ${f.speed.msPerImageBatched.toFixed(0)} ms | | |`);
  lines.push('');

  lines.push('## Model', '');
  lines.push(`- Parameters: ${f.parameters.total.toLocaleString('en-US')} (autoencoder ${f.parameters.ae.toLocaleString('en-US')}, text encoder ${f.parameters.text.toLocaleString('en-US')}, UNet ${f.parameters.unet.toLocaleString('en-US')}).`);
  lines.push(`- Checkpoint: model.safetensors ${meta.checkpointBytes.toLocaleString('en-US')} bytes, config.json ${meta.configBytes.toLocaleString('en-US')} bytes.`);
  lines.push(
    `- Sampling on ${meta.backend}, DDIM ${f.speed.steps} steps with guidance ${f.speed.guidance} (each step runs the conditional and the null prompt), including the decode: ` +
      `${f.speed.msPerImageBatched.toFixed(0)} ms per image in batches of ${f.speed.batch}; one image alone: ${f.speed.msSingleImage.toFixed(0)} ms.`,
  );
  if (prov.trainSeconds !== undefined || prov.unetStepsDone !== undefined) {
    lines.push(`- Training recorded in config.json: autoencoder ${String(prov.aeSteps ?? '?')} steps, UNet ${String(prov.unetStepsDone ?? '?')} of ${String(prov.unetSteps ?? '?')} steps, ${String(prov.trainSeconds ?? '?')} s, backend ${String(prov.backend ?? '?')}.`);
  }
  lines.push('');

  lines.push('## Autoencoder reconstruction', '');
  lines.push(`PSNR of decode(encode(x)) against x over ${f.psnr.images} held-out images (evaluation split, images in [-1, 1], peak-to-peak 2, from the pooled MSE): **${num(f.psnr.db, 2)} dB**.`, '');

  lines.push('## Category recognisability', '');
  lines.push(
    `${f.prompts.length} prompts, ${f.settings.promptsPerCategory} per category, base emoji of the evaluation split (never used for SAIL pairs), evenly spaced through each category in manifest order; ` +
      `${f.settings.samplesPerPrompt} samples per prompt. The classifier labels each sample; the truth is the prompt's category. ` +
      `Balanced accuracy is the mean of per-category recall (plain accuracy would reward always answering People & Body).`,
    '',
  );
  lines.push(`- Generated: balanced accuracy **${pct(c.generatedBalancedAccuracy)}**, accuracy ${pct(c.generatedAccuracy)} (${f.prompts.length * f.settings.samplesPerPrompt} samples).`);
  lines.push(`- Real images of the same emoji: balanced accuracy **${pct(c.realBalancedAccuracy)}**, accuracy ${pct(c.realAccuracy)} (${f.prompts.length} images).`);
  lines.push(`- Ratio generated / real: **${num(c.ratio, 2)}** (target at least 0.90; chance is ${pct(c.chance)}).`, '');
  lines.push('| Category | Prompts | Recall, generated | Recall, real |', '|---|---|---|---|');
  for (const r of c.perCategory) lines.push(`| ${esc(r.category)} | ${r.prompts} | ${pct(r.generatedRecall)} | ${pct(r.realRecall)} |`);
  lines.push('');

  lines.push('## Fixed denoising loss', '');
  lines.push(
    `The noise-prediction MSE on real images of the evaluation split (they are in the pretraining set too: pretraining sees every image; the split keeps them out of SAIL's pairs), ` +
      `${dn.draws} draws per image with timesteps stratified over [0, T) and noise fixed by seed, the same for every checkpoint (\`npm run denoising-loss\` compares checkpoints side by side). ` +
      `Skin-tone variants are near-copies of their base emoji and score far lower, so the target is read on base emoji only.`,
    '',
  );
  lines.push('| Category | Images | Loss |', '|---|---|---|');
  for (const r of dn.perCategory) lines.push(`| ${esc(r.category)} | ${r.images} | ${num(r.loss, 4)} |`);
  lines.push(`| All images | ${dn.images} | ${num(dn.mean, 4)} |`, `| Mean over categories | | ${num(dn.categoryMean, 4)} |`, `| Base emoji only | ${dn.baseEmoji} | **${num(dn.baseEmojiMean, 4)}** |`, '');

  lines.push('## Kernel inception distance', '');
  lines.push(
    `Unbiased squared MMD with the cubic polynomial kernel (Binkowski et al. 2018) on the evaluation classifier's ${'penultimate'} features (Inception cannot be downloaded here; ours knows emoji): ` +
      `all ${f.kid.generatedImages} generated samples (every seed) against the ${f.kid.realImages} real images of the evaluation prompts: **${num(f.kid.generated, 4)}**. ` +
      `Reference: ${f.kid.otherImages} other real base emoji of the evaluation split against the same ${f.kid.realImages}: ${num(f.kid.realOther, 4)} (different emoji of similar categories; a generator that draws its prompts well approaches it). Lower is closer; the estimator is unbiased, so it can be slightly negative.`,
    '',
  );

  lines.push('## Diversity', '');
  lines.push(
    'Mean pairwise RMS distance between images in [-1, 1] (sqrt of the mean squared pixel difference; 0 = identical, 2 = opposite):',
    '',
    '| Set | Distance |',
    '|---|---|',
    `| Samples of one prompt, different noise (mean over prompts) | **${num(d.generatedWithinPrompt)}** |`,
    `| Samples of one prompt, the least diverse prompt | ${num(d.generatedWithinPromptMin)} |`,
    `| A model that ignores its noise (${f.settings.samplesPerPrompt} copies of one sample) | ${num(d.noiseIgnoringModel)} |`,
    `| Samples of different prompts, same noise | ${num(d.generatedAcrossPrompts)} |`,
    `| Real images of the ${f.prompts.length} evaluation emoji (all different) | ${num(d.realDifferentEmoji)} |`,
    '',
    'A model that ignores its noise (collapsed) shows as within-prompt distance near 0. A model that ignores its prompt shows as different-prompt distance (same noise) near 0; one that follows its prompt puts it well above 0, towards the distance between real images of different emoji.',
    '',
  );

  lines.push('## Sample grid', '');
  lines.push(`![Samples for ${f.grid.prompts.length} prompts](${meta.gridFile})`, '');
  lines.push(`One row per prompt, top to bottom: the real emoji (first column, blank if the prompt names none), then ${f.grid.samples} samples (noise images 0..${f.grid.samples - 1} of seed ${f.settings.seed}).`, '');
  f.grid.prompts.forEach((p, i) => lines.push(`${i + 1}. ${p}`));
  lines.push('');

  lines.push('## Evaluation prompts', '');
  lines.push('| Prompt | Category | Classifier on the real image | Classifier on the samples | Diversity |', '|---|---|---|---|---|');
  for (const p of f.prompts) lines.push(`| ${esc(p.prompt)} | ${esc(p.category)} | ${esc(p.realPredicted)} | ${p.predicted.map(esc).join(', ')} | ${num(p.diversity)} |`);
  lines.push('');
  lines.push('## Settings', '', '```json', JSON.stringify(f.settings, null, 1), '```', '');
  return lines.join('\n');
}
