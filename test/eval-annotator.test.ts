// The simulated annotator of issue 6: the taste oracles and the B-Pref-style clicker. Both must
// be deterministic for a seed, and the clicker's noise must be what its settings claim.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CLICKER, checkClicker, sigmoid, simulateClick } from '../src/core/eval/clicker';
import { classifierCategories, parseClassifier } from '../src/core/eval/classifier';
import { BUILT_IN_ORACLES, makeOracle, parseOracleSpec, PIXEL_ORACLES, type PixelScore } from '../src/core/eval/oracles';
import { evalPromptSets } from '../src/core/eval/prompts';
import { mulberry32 } from '../src/core/random';
import { useBackend } from './helpers';

const size = 32;
/** A flat image of one colour, RGB bytes. */
const flat = (r: number, g: number, b: number) => Uint8Array.from({ length: size * size * 3 }, (_, i) => [r, g, b][i % 3]);
/** Random bytes, seeded. */
const noisy = (seed: number) => {
  const rand = mulberry32(seed);
  return Uint8Array.from({ length: size * size * 3 }, () => Math.floor(rand() * 256));
};

describe('taste oracles', () => {
  it('score constructed images as their definitions say', async () => {
    const red = flat(255, 0, 0);
    const blue = flat(0, 0, 255);
    const white = flat(255, 255, 255);
    const black = flat(0, 0, 0);
    expect(PIXEL_ORACLES.warm(red, size, '')).toBeCloseTo(1);
    expect(PIXEL_ORACLES.warm(blue, size, '')).toBeCloseTo(-1);
    expect(PIXEL_ORACLES.cool(blue, size, '')).toBeCloseTo(1);
    expect(PIXEL_ORACLES.bright(white, size, '')).toBeCloseTo(1);
    expect(PIXEL_ORACLES.dark(black, size, '')).toBeCloseTo(1);
    expect(PIXEL_ORACLES.contrast(white, size, '')).toBeCloseTo(0);
    // Half black, half white: luminance sd = 127.5 -> contrast 1.
    const half = Uint8Array.from({ length: size * size * 3 }, (_, i) => (i < (size * size * 3) / 2 ? 0 : 255));
    expect(PIXEL_ORACLES.contrast(half, size, '')).toBeCloseTo(1);
    // Bold: the share of the tile darker than the background; half black covers half of it.
    expect(PIXEL_ORACLES.bold(white, size, '')).toBe(0);
    expect(PIXEL_ORACLES.bold(black, size, '')).toBe(1);
    expect(PIXEL_ORACLES.bold(half, size, '')).toBeCloseTo(0.5);
  });

  it('parses weighted sums and combines the terms', async () => {
    expect(parseOracleSpec('0.5*bright+contrast')).toEqual([{ weight: 0.5, name: 'bright' }, { weight: 1, name: 'contrast' }]);
    expect(parseOracleSpec('warm + 2e-1 * dark')).toEqual([{ weight: 1, name: 'warm' }, { weight: 0.2, name: 'dark' }]);
    const img = noisy(3);
    const [combined] = await makeOracle('0.5*bright+contrast').score([img], ['x'], size);
    expect(combined).toBeCloseTo(0.5 * PIXEL_ORACLES.bright(img, size, 'x') + PIXEL_ORACLES.contrast(img, size, 'x'), 10);
    expect(() => makeOracle('warm+')).toThrow(/empty term/);
    expect(() => makeOracle('tasty')).toThrow(/Unknown oracle "tasty"/);
    expect(() => makeOracle('fidelity')).toThrow(/needs the evaluation classifier/);
    // The list the app offers (summary.ts, no TF.js) is exactly what oracles.ts computes.
    expect([...BUILT_IN_ORACLES].sort()).toEqual([...Object.keys(PIXEL_ORACLES), 'fidelity'].sort());
  });

  it('is deterministic and rejects a score that is not a number', async () => {
    const imgs = [noisy(1), noisy(2), noisy(3)];
    const o = makeOracle('warm+0.3*contrast');
    expect(await o.score(imgs, ['a', 'b', 'c'], size)).toEqual(await o.score(imgs, ['a', 'b', 'c'], size));
    const broken = makeOracle('nan', { plugins: { nan: () => NaN } });
    await expect(broken.score([imgs[0]], ['a'], size)).rejects.toThrow(/finite number/);
  });

  it('loads the example plug-in oracle (greenness) and uses it in a sum', async () => {
    const mod = (await import('./fixtures/oracle-greenness.mjs')) as { score: PixelScore };
    const plugins = { 'test/fixtures/oracle-greenness.mjs': mod.score };
    const o = makeOracle('test/fixtures/oracle-greenness.mjs+0*warm', { plugins });
    const [green, red] = await o.score([flat(0, 255, 0), flat(255, 0, 0)], ['leaf', 'leaf'], size);
    expect(green).toBeCloseTo(1);
    expect(red).toBeCloseTo(-0.5);
  });

  it('the edges plug-in (scripts/oracles/edges.mjs) prefers outline and detail to flat areas, whatever the colour', async () => {
    const { score } = await import('../scripts/oracles/edges.mjs');
    // A one-pixel checkerboard of black and white: every neighbour step is 255 (right and down,
    // except at the last column and row), so the score is 2 * (size - 1) / size.
    const checker = new Uint8Array(size * size * 3);
    for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) checker.fill((x + y) % 2 ? 255 : 0, 3 * (y * size + x), 3 * (y * size + x) + 3);
    expect(score(checker, size, 'a')).toBeCloseTo((2 * (size - 1)) / size, 10);
    // Flat tiles of any colour score 0; a sharp edge beats the same edge blurred.
    expect(score(flat(255, 255, 255), size, 'a')).toBe(0);
    expect(score(flat(200, 30, 30), size, 'a')).toBe(0);
    // A one-pixel black line on white beats the same line blurred to grey over three columns (its
    // contrast with the background falls), and a second line adds as much again.
    const lines = (columns: number[], grey: number) => {
      const img = new Uint8Array(size * size * 3).fill(255);
      for (let y = 0; y < size; y++) for (const x of columns) img.fill(grey, 3 * (y * size + x), 3 * (y * size + x) + 3);
      return img;
    };
    const sharp = score(lines([10], 0), size, 'a');
    expect(sharp).toBeCloseTo((2 * 255 * size) / (size * size) / 255, 10);
    expect(score(lines([9, 10, 11], 170), size, 'a')).toBeLessThan(sharp);
    expect(score(lines([10, 20], 0), size, 'a')).toBeCloseTo(2 * sharp, 10);
  });

  it('fidelity is the shipped classifier\'s probability of the prompt\'s category', async () => {
    await useBackend('wasm');
    const dir = 'public/models/classifier';
    const classifier = parseClassifier(readFileSync(`${dir}/config.json`, 'utf8'), readFileSync(`${dir}/model.safetensors`));
    const manifest = JSON.parse(readFileSync('public/data/emoji-32.json', 'utf8'));
    expect(classifier.categories).toEqual(classifierCategories(manifest));
    const sets = evalPromptSets(manifest, classifier.categories);
    const prompts = sets.evaluation.slice(0, 3).map((p) => p.prompt);
    const o = makeOracle('fidelity', { classifier, labelOf: (p) => sets.labels[p] });
    const imgs = [noisy(1), noisy(2), flat(255, 255, 255)];
    const probs = await o.score(imgs, prompts, size);
    for (const p of probs) expect(p).toBeGreaterThan(0), expect(p).toBeLessThan(1);
    expect(await o.score(imgs, prompts, size)).toEqual(probs);
    // The same image under prompts of different categories gets different probabilities.
    const [a, b] = await o.score([imgs[0], imgs[0]], [sets.evaluation[0].prompt, sets.evaluation[1].prompt], size);
    expect(sets.evaluation[0].label).not.toBe(sets.evaluation[1].label);
    expect(a).not.toBe(b);
    await expect(o.score([imgs[0]], ['no such emoji'], size)).rejects.toThrow(/knows no category/);
  });
});

describe('prompt sets', () => {
  it('keep the evaluation prompts out of every pair-making set', () => {
    const manifest = JSON.parse(readFileSync('public/data/emoji-32.json', 'utf8'));
    const sets = evalPromptSets(manifest, classifierCategories(manifest));
    const held = new Set(sets.evaluation.map((p) => p.prompt));
    for (const p of [...sets.seed, ...sets.pools.flat()]) expect(held.has(p)).toBe(false);
    // Round-robin over the categories: the first 9 prompts cover 9 different categories.
    expect(new Set(sets.evaluation.slice(0, 9).map((p) => p.label)).size).toBe(9);
    expect(sets.seed.length).toBeGreaterThan(500);
  });
});

describe('simulated clicker', () => {
  const draws = 20_000;

  it('is deterministic per (seed, index) and differs across seeds', () => {
    const a = Array.from({ length: 200 }, (_, i) => simulateClick(0.02, 0, DEFAULT_CLICKER, 7, i).choice);
    const b = Array.from({ length: 200 }, (_, i) => simulateClick(0.02, 0, DEFAULT_CLICKER, 7, i).choice);
    const c = Array.from({ length: 200 }, (_, i) => simulateClick(0.02, 0, DEFAULT_CLICKER, 8, i).choice);
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });

  it('flips 20% of answers when told to', () => {
    const settings = { sharpness: 1e6, flipRate: 0.2, skipMargin: 0 };
    let flipped = 0;
    let wrong = 0;
    for (let i = 0; i < draws; i++) {
      const c = simulateClick(1, 0, settings, 1, i); // a perfect judge would always say A
      if (c.flipped) flipped++;
      if (c.choice === 'B') wrong++;
    }
    // Binomial sd at p = 0.2, n = 20k: 0.0028; 4 sd.
    expect(Math.abs(flipped / draws - 0.2)).toBeLessThan(0.012);
    expect(wrong).toBe(flipped);
  });

  it('skips 5% of pairs when 5% of the differences are near-ties', () => {
    const settings = { sharpness: 10, flipRate: 0, skipMargin: 0.05 };
    const rand = mulberry32(99);
    let skipped = 0;
    for (let i = 0; i < draws; i++) {
      const diff = 2 * rand() - 1; // uniform on [-1, 1]: P(|diff| < 0.05) = 0.05
      const c = simulateClick(diff, 0, settings, 2, i);
      if (c.choice === 'skip') {
        skipped++;
        expect(Math.abs(diff)).toBeLessThan(0.05);
        expect(c.flipped).toBe(false);
      }
    }
    expect(Math.abs(skipped / draws - 0.05)).toBeLessThan(0.007);
  });

  it('prefers A with probability sigmoid(s * (rA - rB)), before and after flips', () => {
    for (const [diff, flipRate] of [[0.05, 0], [-0.03, 0], [0.05, 0.2], [0, 0]] as const) {
      const settings = { sharpness: 20, flipRate, skipMargin: 0 };
      let a = 0;
      for (let i = 0; i < draws; i++) if (simulateClick(diff, 0, settings, 3, i).choice === 'A') a++;
      const p = sigmoid(20 * diff);
      const expected = flipRate + (1 - 2 * flipRate) * p;
      const sd = Math.sqrt((expected * (1 - expected)) / draws);
      expect(Math.abs(a / draws - expected)).toBeLessThan(4 * sd);
    }
  });

  it('rejects settings a user could mistype', () => {
    expect(() => checkClicker({ sharpness: -1, flipRate: 0, skipMargin: 0 })).toThrow(/sharpness/);
    expect(() => checkClicker({ sharpness: 1, flipRate: 0.7, skipMargin: 0 })).toThrow(/flip rate/);
    expect(() => simulateClick(NaN, 0, DEFAULT_CLICKER, 1, 0)).toThrow(/not a number/);
  });
});
