// The evaluation classifier (issue 3): a small CNN from a 32x32 RGB emoji image in [-1, 1] to
// logits over the main emoji categories. An instrument of measurement only: SAIL never sees it.
// Like the model, it is a pure function over a flat parameter record (names `cls.*`) built from
// the same layer helpers, so it saves and loads as safetensors with the same code.
import * as tf from '@tensorflow/tfjs-core';
import { conv, groupNormSilu, initialisingParams, linear, readParams, silu, type ParamGetter, type Params } from '../model/layers';
import { paramsToRaw } from '../io/checkpoint';
import { readSafetensors, writeSafetensors } from '../io/safetensors';

/** Manifest categories the classifier does not predict: "Component" is 5 skin-tone/hair swatches. */
export const EXCLUDED_CATEGORIES: readonly string[] = ['Component'];

/** The classifier's classes, in manifest order: the manifest's categories minus "Component" (9). */
export function classifierCategories(manifest: { categories: readonly string[] }): string[] {
  return manifest.categories.filter((c) => !EXCLUDED_CATEGORIES.includes(c));
}

export interface ClassifierConfig {
  numClasses: number;
  imageSize: number;
  /** Channels at 32x32, 16x16, 8x8 and 4x4. */
  widths: [number, number, number, number];
  groups: number;
}

export function defaultClassifierConfig(numClasses = 9): ClassifierConfig {
  return { numClasses, imageSize: 32, widths: [24, 32, 64, 64], groups: 8 };
}

export interface Classifier {
  config: ClassifierConfig;
  /** Class names, index = logit position. */
  categories: string[];
  params: Params;
}

/**
 * The network. 32x32: conv; then three stride-2 stages (16x16, 8x8, 4x4), each conv + GroupNorm
 * + SiLU, the first two followed by a residual conv block; global mean pool; linear head.
 */
function network(p: ParamGetter, config: ClassifierConfig, images: tf.Tensor4D): tf.Tensor2D {
  return linear(p, 'cls.head', features(p, config, images), config.widths[3], config.numClasses) as tf.Tensor2D;
}

/** The network up to its head: the globally pooled 4x4 features [B, widths[3]]. */
function features(p: ParamGetter, config: ClassifierConfig, images: tf.Tensor4D): tf.Tensor2D {
  const [c0, c1, c2, c3] = config.widths;
  const g = (c: number) => Math.min(config.groups, c);
  const norm = (name: string, x: tf.Tensor4D, c: number) => groupNormSilu(p, name, x, c, g(c));
  let h = silu(conv(p, 'cls.stem', images, 3, c0)) as tf.Tensor4D;
  h = norm('cls.down1.norm', conv(p, 'cls.down1.conv', h, c0, c1, { stride: 2 }), c1);
  h = tf.add(h, norm('cls.block1.norm', conv(p, 'cls.block1.conv', h, c1, c1), c1)) as tf.Tensor4D;
  h = norm('cls.down2.norm', conv(p, 'cls.down2.conv', h, c1, c2, { stride: 2 }), c2);
  h = tf.add(h, norm('cls.block2.norm', conv(p, 'cls.block2.conv', h, c2, c2), c2)) as tf.Tensor4D;
  h = norm('cls.down3.norm', conv(p, 'cls.down3.conv', h, c2, c3, { stride: 2 }), c3);
  return tf.mean(h, [1, 2]) as tf.Tensor2D;
}

/** A freshly initialised classifier (seeded; same seed, same weights on every backend). */
export function initClassifier(seed: number, categories: string[] | number = 9, config?: ClassifierConfig): Classifier {
  const names = typeof categories === 'number' ? Array.from({ length: categories }, (_, i) => `class ${i}`) : categories;
  const cfg = config ?? defaultClassifierConfig(names.length);
  if (cfg.numClasses !== names.length) throw new Error(`classifier config has ${cfg.numClasses} classes but ${names.length} names`);
  const params: Params = {};
  tf.tidy(() => {
    network(initialisingParams(seed, params), cfg, tf.zeros([1, cfg.imageSize, cfg.imageSize, 3]) as tf.Tensor4D);
  });
  return { config: cfg, categories: names, params };
}

/** Logits [B, numClasses] for images [B,32,32,3] in [-1, 1]. */
export function classifierLogits(params: Params, images: tf.Tensor4D, config: ClassifierConfig = defaultClassifierConfig()): tf.Tensor2D {
  return network(readParams(params), config, images);
}

/**
 * Penultimate features (the pooled input of the head) of images [n*32*32*3] in [-1, 1]:
 * Float32Array [n * widths[3]]. What the kernel inception distance compares (eval/kid.ts).
 */
export async function classifierFeatures(params: Params, images: Float32Array, config: ClassifierConfig = defaultClassifierConfig(), batch = 128): Promise<Float32Array> {
  const s = config.imageSize;
  const per = s * s * 3;
  const n = images.length / per;
  const d = config.widths[3];
  const out = new Float32Array(n * d);
  for (let start = 0; start < n; start += batch) {
    const count = Math.min(batch, n - start);
    const f = tf.tidy(() => features(readParams(params), config, tf.tensor4d(images.subarray(start * per, (start + count) * per), [count, s, s, 3])));
    out.set(await f.data(), start * d);
    f.dispose();
  }
  return out;
}

/** Mean softmax cross-entropy against integer labels [B]. */
export function classifierLoss(params: Params, images: tf.Tensor4D, labels: tf.Tensor1D, config: ClassifierConfig = defaultClassifierConfig()): tf.Scalar {
  const logits = classifierLogits(params, images, config);
  const logp = tf.logSoftmax(logits);
  const onehot = tf.oneHot(tf.cast(labels, 'int32') as tf.Tensor1D, config.numClasses);
  return tf.neg(tf.mean(tf.sum(tf.mul(onehot, logp), 1))) as tf.Scalar;
}

/** Predicted class per image; `images` is [n*32*32*3] in [-1, 1]. Batched, read asynchronously. */
export async function predictCategories(params: Params, images: Float32Array, config: ClassifierConfig = defaultClassifierConfig(), batch = 128): Promise<Int32Array> {
  const s = config.imageSize;
  const per = s * s * 3;
  if (images.length % per !== 0) throw new Error(`predictCategories: ${images.length} values is not a whole number of ${s}x${s}x3 images`);
  const n = images.length / per;
  const out = new Int32Array(n);
  for (let start = 0; start < n; start += batch) {
    const count = Math.min(batch, n - start);
    const pred = tf.tidy(() => tf.argMax(classifierLogits(params, tf.tensor4d(images.subarray(start * per, (start + count) * per), [count, s, s, 3]), config), 1));
    out.set(await pred.data(), start);
    pred.dispose();
  }
  return out;
}

/** Per-class recall over the classes present in `truth` (NaN for absent classes). */
export function perClassRecall(pred: ArrayLike<number>, truth: ArrayLike<number>, numClasses: number): number[] {
  if (pred.length !== truth.length) throw new Error(`perClassRecall: ${pred.length} predictions for ${truth.length} labels`);
  const hits = new Array<number>(numClasses).fill(0);
  const totals = new Array<number>(numClasses).fill(0);
  for (let i = 0; i < truth.length; i++) {
    const t = truth[i];
    if (!Number.isInteger(t) || t < 0 || t >= numClasses) throw new Error(`label ${t} is outside 0..${numClasses - 1}`);
    totals[t]++;
    if (pred[i] === t) hits[t]++;
  }
  return totals.map((n, c) => (n > 0 ? hits[c] / n : NaN));
}

/** Balanced accuracy: the mean of per-class recall over the classes present in `truth`. */
export function balancedAccuracy(pred: ArrayLike<number>, truth: ArrayLike<number>, numClasses: number): number {
  const recalls = perClassRecall(pred, truth, numClasses).filter((r) => !Number.isNaN(r));
  if (recalls.length === 0) return NaN;
  return recalls.reduce((a, b) => a + b, 0) / recalls.length;
}

export function accuracy(pred: ArrayLike<number>, truth: ArrayLike<number>): number {
  if (pred.length !== truth.length) throw new Error(`accuracy: ${pred.length} predictions for ${truth.length} labels`);
  let hits = 0;
  for (let i = 0; i < truth.length; i++) if (pred[i] === truth[i]) hits++;
  return truth.length > 0 ? hits / truth.length : NaN;
}

/**
 * Diversity: the mean over all unordered pairs of images of their RMS distance,
 * sqrt(mean over pixels and channels of (a - b)^2), in the images' own units ([-1, 1] images:
 * 0 = identical, 2 = opposite). `images` holds `count` images of equal size back to back.
 * N copies of one image give exactly 0; fewer than 2 images give NaN.
 */
export function meanPairwiseDistance(images: Float32Array, count: number): number {
  if (!Number.isInteger(count) || count < 0 || images.length % Math.max(count, 1) !== 0) throw new Error(`meanPairwiseDistance: ${images.length} values do not split into ${count} images`);
  if (count < 2) return NaN;
  const per = images.length / count;
  let total = 0;
  for (let i = 0; i < count; i++) {
    for (let j = i + 1; j < count; j++) {
      let sq = 0;
      const a = i * per;
      const b = j * per;
      for (let k = 0; k < per; k++) {
        const d = images[a + k] - images[b + k];
        sq += d * d;
      }
      total += Math.sqrt(sq / per);
    }
  }
  return total / ((count * (count - 1)) / 2);
}

/**
 * Augmentation that keeps an emoji's meaning: each image shifted by an integer offset in
 * [-maxShift, maxShift] on each axis, the uncovered border filled with white (1). No flips: they
 * would mirror text, arrows and flags. `rand` gives floats in [0, 1).
 */
export function shiftImages(images: Float32Array, size: number, maxShift: number, rand: () => number): Float32Array {
  const per = size * size * 3;
  const n = images.length / per;
  const out = new Float32Array(images.length).fill(1);
  for (let i = 0; i < n; i++) {
    const dx = Math.floor(rand() * (2 * maxShift + 1)) - maxShift;
    const dy = Math.floor(rand() * (2 * maxShift + 1)) - maxShift;
    for (let y = 0; y < size; y++) {
      const sy = y - dy;
      if (sy < 0 || sy >= size) continue;
      const x0 = Math.max(0, dx);
      const x1 = Math.min(size, size + dx);
      if (x1 <= x0) continue;
      const src = i * per + (sy * size + (x0 - dx)) * 3;
      out.set(images.subarray(src, src + (x1 - x0) * 3), i * per + (y * size + x0) * 3);
    }
  }
  return out;
}

/**
 * Augmentation that keeps meaning and mimics a soft generator: with probability `prob` an image
 * is blurred by the separable 3x3 binomial filter [1 2 1]/4 (edges replicated); others pass
 * unchanged. Returns a new array.
 */
export function blurSome(images: Float32Array, size: number, prob: number, rand: () => number): Float32Array {
  const per = size * size * 3;
  const n = images.length / per;
  const out = images.slice();
  const tmp = new Float32Array(per);
  for (let i = 0; i < n; i++) {
    if (rand() >= prob) continue;
    const o = i * per;
    const at = (y: number, x: number, c: number) => (Math.min(size - 1, Math.max(0, y)) * size + Math.min(size - 1, Math.max(0, x))) * 3 + c;
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++)
        for (let c = 0; c < 3; c++) tmp[at(y, x, c)] = 0.25 * images[o + at(y, x - 1, c)] + 0.5 * images[o + at(y, x, c)] + 0.25 * images[o + at(y, x + 1, c)];
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++)
        for (let c = 0; c < 3; c++) out[o + at(y, x, c)] = 0.25 * tmp[at(y - 1, x, c)] + 0.5 * tmp[at(y, x, c)] + 0.25 * tmp[at(y + 1, x, c)];
  }
  return out;
}

export interface ClassifierFile {
  kind: 'emoji-category-classifier';
  config: ClassifierConfig;
  categories: string[];
  [extra: string]: unknown;
}

/** config.json text and model.safetensors bytes; `extra` (metrics, provenance) joins config.json. */
export async function serializeClassifier(c: Classifier, extra: Record<string, unknown> = {}): Promise<{ configJson: string; safetensors: Uint8Array }> {
  const file: ClassifierFile = { kind: 'emoji-category-classifier', config: c.config, categories: c.categories, ...extra };
  const safetensors = writeSafetensors(await paramsToRaw(c.params), { format: 'pt', producer: 'sail-studio classifier' });
  return { configJson: JSON.stringify(file, null, 2) + '\n', safetensors };
}

/** Loads a classifier, checking that the weights hold exactly the parameters its config needs. */
export function parseClassifier(configJson: string, safetensorsBytes: ArrayBuffer | Uint8Array): Classifier & { file: ClassifierFile } {
  const file = JSON.parse(configJson) as ClassifierFile;
  if (file.kind !== 'emoji-category-classifier' || !file.config || !Array.isArray(file.categories)) throw new Error('config.json is not an emoji category classifier');
  const { tensors } = readSafetensors(safetensorsBytes);
  const expected: Record<string, number[]> = {};
  tf.tidy(() => {
    const p: ParamGetter = (name, shape) => {
      expected[name] = shape;
      return tf.zeros(shape);
    };
    network(p, file.config, tf.zeros([1, file.config.imageSize, file.config.imageSize, 3]) as tf.Tensor4D);
  });
  for (const [name, shape] of Object.entries(expected)) {
    const t = tensors[name];
    if (!t) throw new Error(`classifier weights lack "${name}"`);
    if (t.shape.join(',') !== shape.join(',')) throw new Error(`classifier parameter "${name}" has shape [${t.shape}] but the config needs [${shape}]`);
  }
  const extra = Object.keys(tensors).filter((n) => !(n in expected));
  if (extra.length > 0) throw new Error(`classifier weights have unused parameter "${extra[0]}"`);
  const params: Params = {};
  for (const [name, t] of Object.entries(tensors)) params[name] = tf.tensor(t.data, t.shape, 'float32');
  return { config: file.config, categories: file.categories, params, file };
}
