// Trains the evaluation classifier (issue 3): emoji image -> one of the 9 main categories. It is
// an instrument for the quality report only; SAIL never sees it.
//   npm run train-classifier -- --out public/models/classifier
// Training images: every record outside the manifest's evaluation split (skin-tone variants
// included), drawn class-balanced (a category uniformly, then an image of it) because People &
// Body with its skin tones is over half the data; augmented by small shifts only (no flips: text,
// arrows and flags would change meaning). Held out: the evaluation split.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { cutAtlas } from '../src/core/data/atlas';
import {
  accuracy,
  balancedAccuracy,
  blurSome,
  classifierCategories,
  classifierLoss,
  defaultClassifierConfig,
  initClassifier,
  perClassRecall,
  predictCategories,
  serializeClassifier,
  shiftImages,
} from '../src/core/eval/classifier';
import { countParams } from '../src/core/model/layers';
import { hashSeed, mulberry32 } from '../src/core/random';
import { adamInit, adamStep, disposeAdam } from '../src/core/train';
import { parseArgs } from './lib/args';
import { writeFileAtomic } from './lib/checkpointFs';
import { initNodeBackend } from './lib/nodeBackend';
import { loadEmojiDataset } from './lib/png';
import { ProgressBar } from './lib/progress';

const spec = {
  out: { default: 'public/models/classifier', help: 'output folder (config.json + model.safetensors)' },
  seed: { default: 1, help: 'seed of initialisation, batches and augmentation' },
  steps: { default: 1200, help: 'optimiser steps' },
  batch: { default: 64, help: 'batch size' },
  lr: { default: 3e-3, help: 'peak learning rate (Adam; linear warm-up, cosine decay)' },
  shift: { default: 2, help: 'largest shift in pixels of the augmentation (0 = none)' },
  blur: { default: 0.5, help: 'fraction of training images softened by a 3x3 binomial blur (as generated samples are soft)' },
  backend: { default: 'wasm', help: 'wasm | cpu' },
  data: { default: 'public/data', help: 'dataset folder (npm run dataset)' },
};

async function main() {
  const args = parseArgs(process.argv.slice(2), spec, 'npm run train-classifier -- [options]');
  const backend = await initNodeBackend(String(args.backend));
  const seed = Number(args.seed);
  const steps = Number(args.steps);
  const batch = Number(args.batch);
  const peakLr = Number(args.lr);
  const maxShift = Number(args.shift);
  const blurProb = Number(args.blur);
  const out = String(args.out);

  const data = loadEmojiDataset(String(args.data));
  const { manifest } = data;
  const categories = classifierCategories(manifest);
  const labelOf = new Map(categories.map((c, i) => [c, i]));
  const held = new Set(manifest.splits.evaluation);
  const usable = manifest.records.filter((r) => labelOf.has(r.category));
  const trainIds = usable.filter((r) => !held.has(r.id)).map((r) => r.id);
  const evalIds = usable.filter((r) => held.has(r.id)).map((r) => r.id);
  const cut = (ids: number[]) => cutAtlas(data.atlasRGBA, data.width, 4, manifest.columns, ids);
  const trainImages = cut(trainIds);
  const evalImages = cut(evalIds);
  const trainLabels = Int32Array.from(trainIds, (id) => labelOf.get(manifest.records[id].category)!);
  const evalLabels = Int32Array.from(evalIds, (id) => labelOf.get(manifest.records[id].category)!);
  const byClass: number[][] = categories.map(() => []);
  trainLabels.forEach((l, i) => byClass[l].push(i));
  const empty = categories.filter((_, c) => byClass[c].length === 0);
  if (empty.length) throw new Error(`no training images for ${empty.join(', ')}`);

  const config = defaultClassifierConfig(categories.length);
  const clf = initClassifier(seed, categories, config);
  const names = Object.keys(clf.params);
  const adam = adamInit(clf.params, names);
  console.log(`backend ${backend}; ${trainIds.length} training images, ${evalIds.length} held out; ${countParams(clf.params)} parameters; ${steps} steps at batch ${batch}`);
  console.log(`training images per class: ${categories.map((c, i) => `${c} ${byClass[i].length}`).join(', ')}`);

  const size = config.imageSize;
  const per = size * size * 3;
  const warmup = Math.min(100, Math.floor(steps / 10));
  const lrAt = (s: number) => (s < warmup ? (peakLr * (s + 1)) / warmup : 0.5 * peakLr * (1 + Math.cos((Math.PI * (s - warmup)) / Math.max(1, steps - warmup))));
  const bar = new ProgressBar('classifier', steps);
  const started = Date.now();
  let ema = NaN;
  const history: { step: number; loss: number }[] = [];
  for (let step = 0; step < steps; step++) {
    const rand = mulberry32(hashSeed(seed, step));
    const pick = new Float32Array(batch * per);
    const labels = new Int32Array(batch);
    for (let i = 0; i < batch; i++) {
      const c = Math.floor(rand() * categories.length);
      const idx = byClass[c][Math.floor(rand() * byClass[c].length)];
      pick.set(trainImages.subarray(idx * per, (idx + 1) * per), i * per);
      labels[i] = c;
    }
    const shifted = maxShift > 0 ? shiftImages(pick, size, maxShift, rand) : pick;
    const x = tf.tensor4d(blurProb > 0 ? blurSome(shifted, size, blurProb, rand) : shifted, [batch, size, size, 3]);
    const y = tf.tensor1d(labels, 'int32');
    const r = await adamStep(clf.params, names, adam, { lr: lrAt(step), clipNorm: 1 }, (p) => classifierLoss(p, x, y, config));
    tf.dispose([x, y]);
    if (!Number.isFinite(r.loss)) throw new Error(`loss became ${r.loss} at step ${step}`);
    ema = Number.isNaN(ema) ? r.loss : 0.98 * ema + 0.02 * r.loss;
    if ((step + 1) % 50 === 0) history.push({ step: step + 1, loss: Number(ema.toFixed(4)) });
    bar.update(step + 1, `loss ${ema.toFixed(3)}`);
  }
  const trainSeconds = (Date.now() - started) / 1000;
  disposeAdam(adam);

  const evalPred = await predictCategories(clf.params, evalImages, config);
  const heldOut = {
    images: evalIds.length,
    accuracy: accuracy(evalPred, evalLabels),
    balancedAccuracy: balancedAccuracy(evalPred, evalLabels, categories.length),
    chance: 1 / categories.length,
    majorityClassAccuracy: Math.max(...categories.map((_, c) => evalLabels.filter((l) => l === c).length)) / evalIds.length,
    perClassRecall: Object.fromEntries(categories.map((c, i) => [c, perClassRecall(evalPred, evalLabels, categories.length)[i]])),
    perClassCount: Object.fromEntries(categories.map((c, i) => [c, evalLabels.filter((l) => l === i).length])),
  };
  const trainPred = await predictCategories(clf.params, trainImages, config);
  const train = { accuracy: accuracy(trainPred, trainLabels), balancedAccuracy: balancedAccuracy(trainPred, trainLabels, categories.length) };

  const extra = {
    heldOut,
    train,
    parameters: countParams(clf.params),
    training: { seed, steps, batch, peakLr, warmup, schedule: 'linear warm-up, cosine decay', clipNorm: 1, maxShift, blurProb, sampling: 'class-balanced', trainImages: trainIds.length, backend, trainSeconds: Math.round(trainSeconds), lossHistory: history },
    command: ['npm run train-classifier', ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : [])].join(' '),
    savedAt: new Date().toISOString(),
  };
  const { configJson, safetensors } = await serializeClassifier(clf, extra);
  mkdirSync(out, { recursive: true });
  writeFileAtomic(join(out, 'model.safetensors'), safetensors);
  writeFileAtomic(join(out, 'config.json'), configJson);
  const pct = (v: number) => `${(100 * v).toFixed(1)}%`;
  console.log(`trained in ${trainSeconds.toFixed(0)} s`);
  console.log(`held-out (${evalIds.length} images): accuracy ${pct(heldOut.accuracy)}, balanced accuracy ${pct(heldOut.balancedAccuracy)} (chance ${pct(heldOut.chance)}, majority class ${pct(heldOut.majorityClassAccuracy)})`);
  console.log(`per class: ${categories.map((c) => `${c} ${pct(heldOut.perClassRecall[c])} of ${heldOut.perClassCount[c]}`).join('; ')}`);
  console.log(`training set: accuracy ${pct(train.accuracy)}, balanced accuracy ${pct(train.balancedAccuracy)}`);
  console.log(`saved ${out}`);
}

main().catch((e) => {
  console.error(`train-classifier failed: ${(e as Error).message}`);
  process.exit(1);
});
