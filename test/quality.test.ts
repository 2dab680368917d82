// The measuring instruments of issue 3: the evaluation classifier and the quality report run on
// tiny settings and give well-formed, computed (not constant) figures.
import { mkdtempSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cutAtlas } from '../src/core/data/atlas';
import {
  accuracy,
  balancedAccuracy,
  blurSome,
  classifierCategories,
  classifierLogits,
  classifierLoss,
  initClassifier,
  meanPairwiseDistance,
  parseClassifier,
  perClassRecall,
  predictCategories,
  serializeClassifier,
  shiftImages,
} from '../src/core/eval/classifier';
import { measureQuality, quickQualityOptions, renderQualityReport, selectEvalPrompts, type QualityFigures } from '../src/core/eval/quality';
import { countParams, disposeParams } from '../src/core/model/layers';
import { initParams, type Checkpoint } from '../src/core/model/ldm';
import { adamInit, adamStep, disposeAdam } from '../src/core/train';
import { loadCheckpointDir } from '../scripts/lib/checkpointFs';
import { loadEmojiDataset, readPng } from '../scripts/lib/png';
import { runQuality } from '../scripts/lib/quality';
import { writeFileAtomic } from '../scripts/lib/checkpointFs';
import { useBackend } from './helpers';

const data = loadEmojiDataset('public/data');
const categories = classifierCategories(data.manifest);
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('classifier metrics on constructed inputs', () => {
  it('the nine main categories, without Component', () => {
    expect(categories).toHaveLength(9);
    expect(categories).not.toContain('Component');
    expect(categories).toContain('People & Body');
  });

  it('balanced accuracy is the mean recall over the classes present', () => {
    const pred = [0, 0, 1, 1, 2, 0];
    const truth = [0, 0, 0, 1, 1, 2];
    // class 0: 2/3, class 1: 1/2, class 2: 0/1, class 3 absent.
    expect(perClassRecall(pred, truth, 4).slice(0, 3)).toEqual([2 / 3, 1 / 2, 0]);
    expect(perClassRecall(pred, truth, 4)[3]).toBeNaN();
    expect(balancedAccuracy(pred, truth, 4)).toBeCloseTo((2 / 3 + 1 / 2 + 0) / 3, 12);
    expect(accuracy(pred, truth)).toBe(0.5);
    // Always answering the majority class: plain accuracy 0.8, balanced accuracy 0.5.
    expect(accuracy([1, 1, 1, 1, 1], [1, 1, 1, 1, 0])).toBe(0.8);
    expect(balancedAccuracy([1, 1, 1, 1, 1], [1, 1, 1, 1, 0], 2)).toBe(0.5);
    expect(() => balancedAccuracy([0], [5], 3)).toThrow(/outside/);
  });

  it('mean pairwise distance: exact values, zero for copies', () => {
    // Three 2-value "images": d(a,b) = 1, d(a,c) = 1, d(b,c) = sqrt(2).
    const imgs = Float32Array.from([0, 0, 1, 1, -1, 1]);
    expect(meanPairwiseDistance(imgs, 3)).toBeCloseTo((2 + Math.SQRT2) / 3, 6);
    expect(meanPairwiseDistance(Float32Array.from([0.3, -0.2, 0.3, -0.2, 0.3, -0.2]), 3)).toBe(0);
    expect(meanPairwiseDistance(Float32Array.from([-1, -1, 1, 1]), 2)).toBe(2);
    expect(meanPairwiseDistance(Float32Array.from([1, 2]), 1)).toBeNaN();
    expect(() => meanPairwiseDistance(new Float32Array(5), 2)).toThrow();
  });

  it('shift augmentation moves content and fills with white, no flips', () => {
    const size = 4;
    const img = new Float32Array(size * size * 3);
    for (let i = 0; i < img.length; i++) img[i] = -1 + (i % 37) / 100;
    // rand() = 0 gives dx = dy = -1: out[y][x] = in[y+1][x+1].
    const out = shiftImages(img, size, 1, () => 0);
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        for (let c = 0; c < 3; c++) {
          const expected = y + 1 < size && x + 1 < size ? img[((y + 1) * size + x + 1) * 3 + c] : 1;
          expect(out[(y * size + x) * 3 + c]).toBe(expected);
        }
      }
    }
    // rand() just below 1/3 of the way: dx = dy = 0, identity.
    expect(Array.from(shiftImages(img, size, 1, () => 0.5))).toEqual(Array.from(img));
  });
});

describe('blur augmentation', () => {
  it('spreads an impulse by [1 2 1]/4 on each axis, keeps a constant image, skips by probability', () => {
    const size = 5;
    const img = new Float32Array(size * size * 3);
    img[(2 * size + 2) * 3 + 1] = 16; // green impulse at the centre
    const out = blurSome(img, size, 1, () => 0);
    const g = (y: number, x: number) => out[(y * size + x) * 3 + 1];
    expect([g(1, 1), g(1, 2), g(2, 2), g(2, 3), g(3, 3)]).toEqual([1, 2, 4, 2, 1]);
    expect(out[(2 * size + 2) * 3]).toBe(0); // other channels untouched
    expect(out.reduce((a, b) => a + b, 0)).toBe(16); // mass preserved away from the edges
    const flat = new Float32Array(size * size * 3).fill(0.25);
    expect(Array.from(blurSome(flat, size, 1, () => 0))).toEqual(Array.from(flat));
    expect(Array.from(blurSome(img, size, 0.5, () => 0.9))).toEqual(Array.from(img));
  });
});

describe('classifier network', () => {
  beforeAll(async () => {
    await useBackend('wasm');
  });

  it('is small, trains (loss falls on a few real images), predicts and round-trips through safetensors', async () => {
    const clf = initClassifier(3, categories);
    expect(Object.keys(clf.params).every((n) => n.startsWith('cls.'))).toBe(true);
    const n = countParams(clf.params);
    expect(n).toBeGreaterThan(50_000);
    expect(n).toBeLessThan(150_000);

    // Two real images per category.
    const ids = categories.flatMap((c) => data.manifest.records.filter((r) => r.category === c && r.skinTone === null).slice(0, 2).map((r) => r.id));
    const labels = Int32Array.from(ids, (id) => categories.indexOf(data.manifest.records[id].category));
    const images = cutAtlas(data.atlasRGBA, data.width, 4, data.manifest.columns, ids);
    const x = tf.tensor4d(images, [ids.length, 32, 32, 3]);
    const y = tf.tensor1d(labels, 'int32');

    const logits = classifierLogits(clf.params, x, clf.config);
    expect(logits.shape).toEqual([ids.length, 9]);
    logits.dispose();

    const names = Object.keys(clf.params);
    const adam = adamInit(clf.params, names);
    const losses: number[] = [];
    const before = tf.memory().numTensors;
    for (let step = 0; step < 30; step++) {
      losses.push((await adamStep(clf.params, names, adam, { lr: 3e-3, clipNorm: 1 }, (p) => classifierLoss(p, x, y, clf.config))).loss);
    }
    expect(tf.memory().numTensors).toBe(before);
    disposeAdam(adam);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[0]).toBeGreaterThan(1.5); // about ln 9 = 2.2 at the start
    expect(mean(losses.slice(-5))).toBeLessThan(0.7 * mean(losses.slice(0, 5)));

    const pred = await predictCategories(clf.params, images, clf.config, 7); // batch 7: a ragged last batch
    expect(pred).toBeInstanceOf(Int32Array);
    expect(pred.length).toBe(ids.length);
    expect(pred.every((p) => p >= 0 && p < 9)).toBe(true);
    expect(new Set(pred).size).toBeGreaterThan(1); // not one constant answer
    expect(balancedAccuracy(pred, labels, 9)).toBeGreaterThan(1 / 9);

    const { configJson, safetensors } = await serializeClassifier(clf, { heldOut: { accuracy: 0.5 } });
    const back = parseClassifier(configJson, safetensors);
    expect(back.categories).toEqual(categories);
    expect(back.file.heldOut).toEqual({ accuracy: 0.5 });
    expect(Array.from(await predictCategories(back.params, images, back.config))).toEqual(Array.from(pred));
    expect(() => parseClassifier(configJson.replace('"widths": [\n      24', '"widths": [\n      16'), safetensors)).toThrow(/shape/);
    tf.dispose([x, y]);
    disposeParams(clf.params);
    disposeParams(back.params);
  });
});

describe('quality report on tiny settings', () => {
  let tinyBase: Checkpoint;
  let untrained: Checkpoint;
  const dirs: string[] = [];
  beforeAll(async () => {
    await useBackend('wasm');
    tinyBase = loadCheckpointDir('test/fixtures/tiny-base');
    untrained = { config: tinyBase.config, params: initParams(tinyBase.config, 7) };
  });
  afterAll(() => {
    disposeParams(tinyBase.params);
    disposeParams(untrained.params);
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('evaluation prompts: equal per category, base emoji of the evaluation split, deterministic', () => {
    const prompts = selectEvalPrompts(data.manifest, 4);
    expect(prompts).toHaveLength(36);
    const evalSet = new Set(data.manifest.splits.evaluation);
    for (const c of categories) expect(prompts.filter((p) => p.category === c)).toHaveLength(4);
    for (const p of prompts) {
      expect(evalSet.has(p.id)).toBe(true);
      expect(data.manifest.records[p.id].skinTone).toBeNull();
      expect(categories[p.label]).toBe(p.category);
    }
    expect(new Set(prompts.map((p) => p.id)).size).toBe(36);
    expect(selectEvalPrompts(data.manifest, 4)).toEqual(prompts);
  });

  it('measures finite figures that depend on the model, and renders every section', async () => {
    const clf = initClassifier(1, categories);
    const opts = quickQualityOptions(tinyBase.config);
    const before = tf.memory().numTensors;
    const a = await measureQuality(tinyBase, clf, data, opts);
    const b = await measureQuality(untrained, clf, data, { ...opts, extraSeeds: [5] });
    expect(b.classifier.perSeed.map((x) => x.seed)).toEqual([1, 5]);
    expect(tf.memory().numTensors).toBe(before);

    const check = (f: QualityFigures) => {
      expect(Number.isFinite(f.psnr.db)).toBe(true);
      expect(f.psnr.images).toBe(16);
      for (const v of [f.classifier.generatedBalancedAccuracy, f.classifier.realBalancedAccuracy, f.classifier.heldOutBalancedAccuracy, f.classifier.generatedAccuracy]) {
        expect(v).toBeGreaterThanOrEqual(0);
        expect(v).toBeLessThanOrEqual(1);
      }
      expect(f.classifier.heldOutImages).toBe(data.manifest.splits.evaluation.length);
      expect(f.prompts).toHaveLength(9);
      expect(f.prompts.every((p) => p.predicted.length === 2)).toBe(true);
      expect(f.diversity.noiseIgnoringModel).toBe(0);
      expect(f.diversity.generatedWithinPrompt).toBeGreaterThan(0);
      expect(f.diversity.generatedWithinPromptMin).toBeLessThanOrEqual(f.diversity.generatedWithinPrompt + 1e-12); // equal when every prompt is as diverse (the mean rounds)
      expect(f.diversity.realDifferentEmoji).toBeGreaterThan(0.1);
      expect(f.speed.msPerImageBatched).toBeGreaterThan(0);
      expect(f.speed.msSingleImage).toBeGreaterThan(0);
      expect(f.parameters.total).toBe(f.parameters.ae + f.parameters.text + f.parameters.unet);
      expect(f.grid.rows).toHaveLength(4);
      expect(f.denoising.images).toBe(16);
      expect(f.denoising.mean).toBeGreaterThan(0);
      expect(f.denoising.baseEmoji).toBe(data.manifest.splits.evaluation.slice(0, 16).filter((id) => data.manifest.records[id].skinTone === null).length);
      expect(f.denoising.perCategory.reduce((n, c) => n + c.images, 0)).toBe(16);
      expect(f.kid.generatedImages).toBe(9 * 2 * f.classifier.perSeed.length);
      expect(Number.isFinite(f.kid.generated) && Number.isFinite(f.kid.realOther)).toBe(true);
      const seedMean = f.classifier.perSeed.reduce((s2, x) => s2 + x.balancedAccuracy, 0) / f.classifier.perSeed.length;
      expect(f.classifier.generatedBalancedAccuracy).toBeCloseTo(seedMean, 12);
      for (const r of f.grid.rows) {
        expect(r.real).not.toBeNull();
        expect(r.samples).toHaveLength(2);
        expect(r.samples[0].length).toBe(32 * 32 * 4);
      }
    };
    check(a);
    check(b);
    // Computed, not constant: the trained fixture and an untrained model of the same shape differ.
    expect(a.psnr.db).toBeGreaterThan(b.psnr.db + 1);
    expect(a.diversity.generatedWithinPrompt).not.toBe(b.diversity.generatedWithinPrompt);
    expect(a.parameters.total).toBe(b.parameters.total);
    // The trained fixture denoises real images better than an untrained model; KID follows.
    expect(a.denoising.mean).toBeLessThan(b.denoising.mean);
    expect(a.kid.realOther).toBe(b.kid.realOther);
    // The real-image figures do not depend on the model.
    expect(a.classifier.realBalancedAccuracy).toBe(b.classifier.realBalancedAccuracy);
    expect(a.diversity.realDifferentEmoji).toBe(b.diversity.realDifferentEmoji);

    const md = renderQualityReport(a, {
      command: 'test',
      date: '2026-01-01T00:00:00Z',
      modelPath: 'test/fixtures/tiny-base',
      classifierPath: '(fresh)',
      checkpointBytes: 1234,
      configBytes: 56,
      gridFile: 'grid.png',
      backend: 'wasm',
      provenance: tinyBase.config.provenance,
    });
    for (const h of ['# Base model quality report', '## Summary', '## Model', '## Autoencoder reconstruction', '## Category recognisability', '## Fixed denoising loss', '## Kernel inception distance', '## Diversity', '## Sample grid', '## Evaluation prompts']) {
      expect(md).toContain(h);
    }
    expect(md).toContain(`${a.psnr.db.toFixed(2)} dB`);
    expect(md).toContain('![Samples for 4 prompts](grid.png)');
    expect(md).toContain('1,234 bytes');
    expect(md).not.toMatch(/NaN|undefined|Infinity/);
    disposeParams(clf.params);
  });

  it('runQuality (the CLI minus argument parsing) writes the report and its grid PNG', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'quality-'));
    dirs.push(dir);
    const clf = initClassifier(2, categories);
    const { configJson, safetensors } = await serializeClassifier(clf, { command: 'fresh for a test' });
    disposeParams(clf.params);
    writeFileAtomic(join(dir, 'config.json'), configJson);
    writeFileAtomic(join(dir, 'model.safetensors'), safetensors);
    const before = tf.memory().numTensors;
    const { markdown, reportPath, gridPath, figures } = await runQuality({
      model: 'test/fixtures/tiny-base',
      classifier: dir,
      data: 'public/data',
      out: join(dir, 'docs', 'report.md'),
      quick: true,
      command: 'npm run quality -- --quick',
      backend: 'wasm',
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(reportPath).toBe(join(dir, 'docs', 'report.md'));
    expect(gridPath).toBe(join(dir, 'docs', 'report-grid.png'));
    expect(readFileSync(reportPath, 'utf8')).toBe(markdown);
    expect(markdown).toContain('npm run quality -- --quick');
    expect(markdown).toContain('![Samples for 4 prompts](report-grid.png)');
    expect(existsSync(gridPath)).toBe(true);
    const png = readPng(gridPath);
    // 4 rows of (real + 2 samples), 32 px at scale 2 with 2 px gaps.
    expect(png.width).toBe(3 * 64 + 4 * 2);
    expect(png.height).toBe(4 * 64 + 5 * 2);
    expect(figures.settings.steps).toBe(2);
  });
});
