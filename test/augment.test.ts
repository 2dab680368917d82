// Pretraining's augmented renderings (src/core/data/augment.ts) and how UNet batches draw them.
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { augmentDataset, augmentImage, backgroundMask, DEFAULT_AUGMENT_RANGES, drawAugmentation, IDENTITY_AUGMENTATION, secondRenderingVariants } from '../src/core/data/augment';
import { makeConfig } from '../src/core/model/config';
import { buildVocab, diffusionBatch, disposeBatch } from '../src/core/pretrain';
import { useBackend } from './helpers';

const S = 8;

/** White 8x8 with a red 4x4 square at (2..5, 2..5) whose centre pixel (3, 3) is white. */
function square(): Float32Array {
  const img = new Float32Array(S * S * 3).fill(1);
  for (let y = 2; y < 6; y++) {
    for (let x = 2; x < 6; x++) {
      const p = 3 * (y * S + x);
      img.set(x === 3 && y === 3 ? [1, 1, 1] : [0.6, -0.8, -0.6], p);
    }
  }
  return img;
}
const px = (img: Float32Array, x: number, y: number) => Array.from(img.subarray(3 * (y * S + x), 3 * (y * S + x) + 3));

describe('augmented renderings', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  it('the background is the white connected to the border; white inside the emoji is not', () => {
    const mask = backgroundMask(square(), S);
    expect(mask[0]).toBe(1);
    expect(mask[2 * S + 2]).toBe(0);
    expect(mask[3 * S + 3]).toBe(0); // enclosed white
    expect(Array.from(mask).reduce((a, b) => a + b, 0)).toBe(S * S - 16);
  });

  it('the identity changes nothing', () => {
    const img = square();
    expect(Array.from(augmentImage(img, S, IDENTITY_AUGMENTATION))).toEqual(Array.from(img));
  });

  it('colour changes touch the emoji only, as computed by hand', () => {
    const img = square();
    // Warmth alone: red +w, blue -w, green unchanged (clamped at 1 for the enclosed white).
    const warm = augmentImage(img, S, { ...IDENTITY_AUGMENTATION, warmth: 0.1 });
    const [r, g, b] = px(warm, 2, 2);
    expect(r).toBeCloseTo(0.7, 6);
    expect(g).toBeCloseTo(-0.8, 6);
    expect(b).toBeCloseTo(-0.7, 6);
    expect(px(warm, 3, 3)).toEqual([1, 1, 0.9].map((v) => Math.fround(v)));
    expect(px(warm, 0, 0)).toEqual([1, 1, 1]);
    // Brightness alone: +b on every channel of the emoji.
    const bright = augmentImage(img, S, { ...IDENTITY_AUGMENTATION, brightness: -0.2 });
    px(bright, 4, 4).forEach((v, c) => expect(v).toBeCloseTo([0.6, -0.8, -0.6][c] - 0.2, 6));
    expect(px(bright, 7, 7)).toEqual([1, 1, 1]);
    // Saturation 0: every emoji pixel becomes its grey.
    const grey = augmentImage(img, S, { ...IDENTITY_AUGMENTATION, saturation: 0 });
    const expected = 0.299 * 0.6 + 0.587 * -0.8 + 0.114 * -0.6;
    px(grey, 2, 5).forEach((v) => expect(v).toBeCloseTo(expected, 6));
    // Contrast 2 about the emoji's mean.
    const values = [0.6, -0.8, -0.6];
    const mean = (15 * values.reduce((a, v) => a + v, 0) + 3) / 48;
    const contrast = augmentImage(img, S, { ...IDENTITY_AUGMENTATION, contrast: 2 });
    px(contrast, 5, 2).forEach((v, c) => expect(v).toBeCloseTo(Math.max(-1, Math.min(1, (values[c] - mean) * 2 + mean)), 5));
  });

  it('a whole-pixel shift moves the image and fills with white', () => {
    const img = square();
    const shifted = augmentImage(img, S, { ...IDENTITY_AUGMENTATION, dx: 1, dy: -1 });
    for (let y = 0; y < S; y++) {
      for (let x = 0; x < S; x++) {
        const sx = x - 1;
        const sy = y + 1;
        const want = sx < 0 || sy >= S ? [1, 1, 1] : px(img, sx, sy);
        px(shifted, x, y).forEach((v, c) => expect(v).toBeCloseTo(want[c], 6));
      }
    }
  });

  it('draws are a pure function of (seed, image, variant) and stay in range', () => {
    expect(drawAugmentation(3, 10, 2)).toEqual(drawAugmentation(3, 10, 2));
    expect(drawAugmentation(3, 10, 2)).not.toEqual(drawAugmentation(3, 10, 3));
    const r = DEFAULT_AUGMENT_RANGES;
    for (let v = 0; v < 50; v++) {
      const a = drawAugmentation(1, v, 1);
      expect(Math.abs(a.scale - 1)).toBeLessThanOrEqual(r.scale);
      expect(Math.abs(a.dx)).toBeLessThanOrEqual(r.shift);
      expect(Math.abs(a.warmth)).toBeLessThanOrEqual(r.warmth);
      expect(Math.abs(a.saturation - 1)).toBeLessThanOrEqual(r.saturation);
    }
  });

  it('the dataset copies: copy 0 is the images, the others differ, all in [-1, 1]', () => {
    const two = new Float32Array([...square(), ...square().map((v) => -v)]);
    const all = augmentDataset(two, S, 3, 1);
    expect(all.length).toBe(3 * two.length);
    expect(Array.from(all.subarray(0, two.length))).toEqual(Array.from(two));
    expect(Array.from(all.subarray(two.length, 2 * two.length))).not.toEqual(Array.from(two));
    expect(all.every((v) => v >= -1 && v <= 1)).toBe(true);
  });

  it('a UNet batch takes one rendering per example and keeps the run without copies otherwise alike', async () => {
    const prompts = ['red heart', 'blue heart', 'grinning face'];
    const config = makeConfig(buildVocab(prompts), 'tiny');
    const per = config.latentSize * config.latentSize * config.autoencoder.latentChannels;
    // Latent row r holds the value r everywhere: copy v of example i is row v*3 + i.
    const latents = new Float32Array(2 * 3 * per);
    for (let r = 0; r < 6; r++) latents.fill(r, r * per, (r + 1) * per);
    const plain = diffusionBatch(latents.subarray(0, 3 * per), prompts, config, { batch: 16, seed: 4, step: 9, cfgDropout: 0 });
    const both = diffusionBatch(latents, prompts, config, { batch: 16, seed: 4, step: 9, cfgDropout: 0, variants: 2 });
    const rowsPlain = Array.from(await plain.x0.data()).filter((_, k) => k % per === 0);
    const rowsBoth = Array.from(await both.x0.data()).filter((_, k) => k % per === 0);
    expect(Array.from(both.timesteps)).toEqual(Array.from(plain.timesteps));
    expect(Array.from(await both.ids.data())).toEqual(Array.from(await plain.ids.data()));
    rowsBoth.forEach((row, k) => expect(row % 3).toBe(rowsPlain[k]));
    expect(new Set(rowsBoth.map((row) => Math.floor(row / 3))).size).toBe(2);
    disposeBatch(plain);
    disposeBatch(both);
    expect(() => diffusionBatch(latents, prompts, config, { batch: 4, seed: 1, step: 0, cfgDropout: 0, variants: 3 })).toThrow(/variants/);
    expect(tf.memory().numTensors).toBe(0);
  });

  it('a second rendering at one example in K: K-1 copies of the dataset, the twin last, drawn about 1/K of the time', async () => {
    const own = Float32Array.of(1, 2, 3, 4);
    const twin = Float32Array.of(-1, -2, -3, -4);
    expect(Array.from(secondRenderingVariants(own, twin, 3))).toEqual([1, 2, 3, 4, 1, 2, 3, 4, -1, -2, -3, -4]);
    expect(Array.from(secondRenderingVariants(own, twin, 2))).toEqual([1, 2, 3, 4, -1, -2, -3, -4]);
    expect(() => secondRenderingVariants(own, twin, 1)).toThrow(/at least 2/);
    expect(() => secondRenderingVariants(own, twin.subarray(0, 2), 3)).toThrow(/2 values, the dataset's 4/);
    // Through a UNet batch: the share of examples that come from the twin.
    const prompts = ['red heart', 'blue heart'];
    const config = makeConfig(buildVocab(prompts), 'tiny');
    const per = config.latentSize * config.latentSize * config.autoencoder.latentChannels;
    const latents = secondRenderingVariants(new Float32Array(2 * per).fill(1), new Float32Array(2 * per).fill(-1), 4);
    let twins = 0;
    let examples = 0;
    for (let step = 0; step < 60; step++) {
      const b = diffusionBatch(latents, prompts, config, { batch: 32, seed: 2, step, cfgDropout: 0, variants: 4 });
      const rows = Array.from(await b.x0.data()).filter((_, k) => k % per === 0);
      twins += rows.filter((v) => v === -1).length;
      examples += rows.length;
      disposeBatch(b);
    }
    // 1,920 draws at p = 1/4: sd 0.0099, so [0.22, 0.28] (3 sd) holds; a share of 1/3 or 1/2 sits 5 sd or more outside it.
    expect(twins / examples).toBeGreaterThan(0.22);
    expect(twins / examples).toBeLessThan(0.28);
    expect(tf.memory().numTensors).toBe(0);
  });
});
