import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { cutAtlas } from '../src/core/data/atlas';
import {
  DEFAULT_SPLIT_OPTIONS,
  atlasCell,
  labelFor,
  makeSplits,
  promptFor,
  promptLabels,
  tokenizeWords,
  type EmojiRecord,
} from '../src/core/data/emoji';
import { hashSeed, mulberry32 } from '../src/core/random';
import { loadEmojiDataset, readPng } from '../scripts/lib/png';

const MAIN_CATEGORIES = [
  'Smileys & Emotion',
  'People & Body',
  'Animals & Nature',
  'Food & Drink',
  'Travel & Places',
  'Activities',
  'Objects',
  'Symbols',
  'Flags',
];

describe('tokenizeWords', () => {
  it('lowercases and splits on punctuation', () => {
    expect(tokenizeWords('KEYCAP: *')).toEqual(['keycap']);
    expect(tokenizeWords('FAMILY: MAN, MAN, BOY')).toEqual(['family', 'man', 'man', 'boy']);
    expect(tokenizeWords('flag-gb heart_eyes  U.S. Virgin Islands')).toEqual(['flag', 'gb', 'heart', 'eyes', 'u', 's', 'virgin', 'islands']);
    expect(tokenizeWords('Antigua & Barbuda Flag')).toEqual(['antigua', 'barbuda', 'flag']);
    expect(tokenizeWords('KEYCAP 10')).toEqual(['keycap', '10']);
  });

  it('strips diacritics and joins apostrophes', () => {
    expect(tokenizeWords('Côte d’Ivoire Flag')).toEqual(['cote', 'divoire', 'flag']);
    expect(tokenizeWords('São Tomé & Príncipe')).toEqual(['sao', 'tome', 'principe']);
    expect(tokenizeWords("Woman's hat")).toEqual(['womans', 'hat']);
    expect(tokenizeWords('Straße Æsir Øresund')).toEqual(['strasse', 'aesir', 'oresund']);
  });

  it('drops what it does not know', () => {
    expect(tokenizeWords('')).toEqual([]);
    expect(tokenizeWords('   ,;: ')).toEqual([]);
    expect(tokenizeWords('😀 犬 dog 🐶')).toEqual(['dog']);
  });
});

describe('promptFor', () => {
  it('adds only new short-name words', () => {
    expect(promptFor('GRINNING FACE', ['grinning'])).toBe('grinning face');
    expect(promptFor('SMILING FACE WITH OPEN MOUTH', ['smiley'])).toBe('smiling face with open mouth smiley');
    expect(promptFor('KEYCAP 0', ['zero'])).toBe('keycap 0 zero');
  });

  it('keeps repeated name words and adds skin tones', () => {
    expect(promptFor('FAMILY: MAN, MAN, BOY', ['man-man-boy'])).toBe('family man man boy');
    expect(promptFor('WAVING HAND SIGN', ['wave'], '1F3FD')).toBe('waving hand sign wave medium skin tone');
    expect(promptFor('HANDSHAKE', ['handshake'], '1F3FB-1F3FF')).toBe('handshake light and dark skin tones');
    expect(promptFor('HANDSHAKE', ['handshake'], '1F3FC-1F3FC')).toBe('handshake medium light skin tone');
    expect(() => promptFor('X', [], '1F600')).toThrow(/skin tone/);
  });
});

describe('labelFor', () => {
  it('reads as the emoji name, not the model prompt', () => {
    expect(labelFor('THUMBS DOWN SIGN')).toBe('thumbs down sign');
    expect(labelFor('SQUARED CJK UNIFIED IDEOGRAPH-5408')).toBe('squared 合');
    expect(labelFor('Andorra Flag')).toBe('Andorra Flag');
    expect(labelFor('WAVING HAND SIGN', '1F3FD')).toBe('waving hand sign, medium skin tone');
    expect(labelFor('HANDSHAKE', '1F3FB-1F3FF')).toBe('handshake, light and dark skin tones');
  });

  it('maps prompts to labels and skips records without one', () => {
    expect(promptLabels([{ prompt: 'a 1 b', label: 'a' }, { prompt: 'typed' }])).toEqual({ 'a 1 b': 'a' });
  });
});

describe('random', () => {
  it('mulberry32 is deterministic and in [0, 1)', () => {
    const a = mulberry32(42);
    const b = mulberry32(42);
    const draws = Array.from({ length: 1000 }, () => a());
    expect(draws).toEqual(Array.from({ length: 1000 }, () => b()));
    expect(Math.min(...draws)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...draws)).toBeLessThan(1);
    const mean = draws.reduce((sum, x) => sum + x, 0) / draws.length;
    expect(mean).toBeGreaterThan(0.45);
    expect(mean).toBeLessThan(0.55);
    expect(mulberry32(43)()).not.toBe(mulberry32(42)());
  });

  it('hashSeed is order sensitive and gives 32-bit unsigned seeds', () => {
    expect(hashSeed(1, 2)).toBe(hashSeed(1, 2));
    expect(hashSeed(1, 2)).not.toBe(hashSeed(2, 1));
    expect(hashSeed(1)).not.toBe(hashSeed(1, 0));
    expect(hashSeed(2 ** 40)).not.toBe(hashSeed(0));
    expect(hashSeed(-1)).not.toBe(hashSeed(0xffffffff));
    for (const seed of [hashSeed(), hashSeed(0), hashSeed(-5, 7), hashSeed(Number.MAX_SAFE_INTEGER)]) {
      expect(Number.isInteger(seed) && seed >= 0 && seed < 2 ** 32).toBe(true);
    }
    expect(() => hashSeed(0.5)).toThrow();
  });
});

/** A synthetic set: 200 bases, every 5th with 5 skin-tone variants, plus 5 Component swatches. */
function syntheticRecords(): EmojiRecord[] {
  const records: EmojiRecord[] = [];
  const add = (record: Omit<EmojiRecord, 'id'>) => records.push({ id: records.length, ...record });
  for (let b = 0; b < 200; b++) {
    const base = { shortNames: [`e${b}`], category: b % 2 ? 'Objects' : 'People & Body', subcategory: 'x', baseUnified: `B${b}` };
    add({ ...base, unified: `B${b}`, prompt: `emoji ${b}`, skinTone: null });
    if (b % 5 === 0) {
      for (const tone of ['1F3FB', '1F3FC', '1F3FD', '1F3FE', '1F3FF']) {
        add({ ...base, unified: `B${b}-${tone}`, prompt: promptFor(`emoji ${b}`, [], tone), skinTone: tone });
      }
    }
  }
  for (let c = 0; c < 5; c++) {
    add({ shortNames: [], category: 'Component', subcategory: 'skin-tone', baseUnified: `C${c}`, unified: `C${c}`, prompt: `swatch ${c}`, skinTone: null });
  }
  // Two different bases with the same prompt must land in the same split.
  add({ shortNames: [], category: 'Objects', subcategory: 'x', baseUnified: 'DUP', unified: 'DUP', prompt: 'emoji 7', skinTone: null });
  return records;
}

function checkSplits(records: EmojiRecord[], splits: ReturnType<typeof makeSplits>) {
  const byId = new Map(records.map((record) => [record.id, record]));
  expect(splits.pretrain).toEqual(records.map((record) => record.id));
  const held = [splits.evaluation, ...splits.sailPools];
  const seen = new Set<number>();
  for (const part of held) {
    expect(part.length).toBeGreaterThan(0);
    for (const id of part) {
      expect(seen.has(id)).toBe(false);
      seen.add(id);
    }
  }
  // Every base lives in one part only, with all its variants.
  const partOfBase = new Map<string, number>();
  held.forEach((part, index) => {
    for (const id of part) {
      const base = byId.get(id)!.baseUnified;
      expect(partOfBase.get(base) ?? index).toBe(index);
      partOfBase.set(base, index);
    }
  });
  for (const [base, index] of partOfBase) {
    const family = records.filter((record) => record.baseUnified === base).map((record) => record.id);
    expect(family.every((id) => held[index].includes(id))).toBe(true);
  }
  // Evaluation prompts never appear in a pool.
  const evalPrompts = new Set(splits.evaluation.map((id) => byId.get(id)!.prompt));
  for (const pool of splits.sailPools) {
    for (const id of pool) expect(evalPrompts.has(byId.get(id)!.prompt)).toBe(false);
  }
  // Component swatches are pretraining-only.
  for (const part of held) for (const id of part) expect(byId.get(id)!.category).not.toBe('Component');
}

describe('makeSplits', () => {
  const records = syntheticRecords();

  it('is deterministic for a seed and differs for another seed', () => {
    const a = makeSplits(records, 7);
    expect(makeSplits(records, 7)).toEqual(a);
    const b = makeSplits(records, 8);
    expect(b.evaluation).not.toEqual(a.evaluation);
    expect(a.seed).toBe(7);
  });

  it('gives disjoint pools and evaluation, per base, and pretrain covers all', () => {
    for (const seed of [1, 2, 3]) {
      const splits = makeSplits(records, seed);
      expect(splits.sailPools).toHaveLength(DEFAULT_SPLIT_OPTIONS.sailRounds);
      checkSplits(records, splits);
    }
    const five = makeSplits(records, 1, { sailRounds: 5, sailPoolFraction: 0.15, evalFraction: 0.2 });
    expect(five.sailPools).toHaveLength(5);
    checkSplits(records, five);
  });

  it('keeps bases that share a prompt together', () => {
    for (let seed = 0; seed < 20; seed++) {
      const splits = makeSplits(records, seed);
      const dup = records.find((record) => record.unified === 'DUP')!.id;
      const same = records.find((record) => record.unified === 'B7')!.id;
      for (const part of [splits.evaluation, ...splits.sailPools]) expect(part.includes(dup)).toBe(part.includes(same));
    }
  });

  it('rejects fractions that do not fit', () => {
    expect(() => makeSplits(records, 1, { sailRounds: 3, sailPoolFraction: 0.3, evalFraction: 0.2 })).toThrow(/eligible/);
    expect(() => makeSplits(records, 1, { evalFraction: 1.5 })).toThrow();
  });
});

describe('atlasCell and cutAtlas', () => {
  it('cuts cells in row-major order and scales to [-1, 1]', () => {
    expect(atlasCell(0, 4)).toEqual({ x: 0, y: 0 });
    expect(atlasCell(5, 4)).toEqual({ x: 32, y: 32 });
    // A 2x2-cell RGB atlas where every pixel holds its cell id in R and its column in G.
    const width = 64;
    const rgb = new Uint8Array(width * 64 * 3);
    for (let y = 0; y < 64; y++) {
      for (let x = 0; x < width; x++) {
        const p = (y * width + x) * 3;
        rgb[p] = Math.floor(y / 32) * 2 + Math.floor(x / 32);
        rgb[p + 1] = x % 32;
        rgb[p + 2] = 255;
      }
    }
    const out = cutAtlas(rgb, width, 3, 2, [3, 1]);
    expect(out.length).toBe(2 * 32 * 32 * 3);
    expect(out[0]).toBeCloseTo(3 / 127.5 - 1, 6);
    expect(out[32 * 32 * 3]).toBeCloseTo(1 / 127.5 - 1, 6);
    expect(out[(5 * 32 + 7) * 3 + 1]).toBeCloseTo(7 / 127.5 - 1, 6);
    expect(out[2]).toBe(1);
    // RGBA input gives the same values.
    const rgba = new Uint8Array(width * 64 * 4);
    for (let i = 0; i < width * 64; i++) rgba.set([rgb[i * 3], rgb[i * 3 + 1], rgb[i * 3 + 2], 7], i * 4);
    expect(cutAtlas(rgba, width, 4, 2, [3, 1])).toEqual(out);
    expect(() => cutAtlas(rgb, width, 3, 2, [4])).toThrow(/outside/);
  });
});

describe('the built data set (public/data)', () => {
  const built = existsSync('public/data/emoji-32.json');
  const dataset = built ? loadEmojiDataset('public/data') : null;

  it.runIf(built)('gives every record a readable label', () => {
    const { manifest } = dataset!;
    for (const record of manifest.records) {
      expect(record.label, record.prompt).toBeTruthy();
      expect(record.label).not.toMatch(/cjk unified ideograph|\bu[0-9a-f]{4,5}\b/i);
      expect(record.skinTone === null).toBe(!/skin tones?$/.test(record.label!));
    }
    const labels = promptLabels(manifest.records);
    expect(Object.keys(labels).length).toBe(manifest.count);
  });

  it.runIf(built)('has a consistent manifest and atlas', () => {
    const { manifest, width, height, atlasRGBA } = dataset!;
    expect(manifest.version).toBe(1);
    expect(manifest.imageSize).toBe(32);
    expect(manifest.count).toBe(manifest.records.length);
    expect(manifest.records.map((record) => record.id)).toEqual(manifest.records.map((_, index) => index));
    expect(width).toBe(manifest.columns * 32);
    expect(height).toBe(Math.ceil(manifest.count / manifest.columns) * 32);
    expect(atlasRGBA.length).toBe(width * height * 4);
    // 1911 emoji and 1875 skin-tone variants in emoji-datasource-google 16.0.0, all with a Google image.
    expect(manifest.count).toBe(3786);
    const variants = manifest.records.filter((record) => record.skinTone !== null);
    expect(variants.length).toBe(1875);
    for (const variant of variants) {
      expect(manifest.records.some((record) => record.unified === variant.baseUnified && record.skinTone === null)).toBe(true);
    }
    expect(new Set(manifest.records.map((record) => record.unified)).size).toBe(manifest.count);
    expect(new Set(manifest.records.map((record) => record.prompt)).size).toBe(manifest.count);
    for (const category of MAIN_CATEGORIES) {
      expect(manifest.categories).toContain(category);
      expect(manifest.records.filter((record) => record.category === category).length).toBeGreaterThan(50);
    }
    expect(manifest.source.package).toBe('emoji-datasource-google');
    expect(manifest.source.sheet).toContain('sheets-clean');
    expect(existsSync(`public/data/${manifest.source.notice}`)).toBe(true);
    expect(readFileSync(`public/data/${manifest.source.notice}`, 'utf8')).toContain('Apache License');
    checkSplits(manifest.records, manifest.splits);
    expect(makeSplits(manifest.records, manifest.splits.seed)).toEqual(manifest.splits);
  });

  it.runIf(built)('stores the atlas as RGB on white with no empty cells', () => {
    const { manifest, atlasRGBA } = dataset!;
    // pngjs decodes to RGBA; an RGB file comes back fully opaque.
    for (let i = 3; i < atlasRGBA.length; i += 4 * 997) expect(atlasRGBA[i]).toBe(255);
    const raw = readFileSync(`public/data/${manifest.atlas}`);
    expect(raw[25]).toBe(2); // IHDR colour type 2: RGB
    expect(raw.length).toBeLessThan(5_000_000);
    const images = cutAtlas(atlasRGBA, dataset!.width, 4, manifest.columns, manifest.records.map((record) => record.id));
    const cell = 32 * 32 * 3;
    for (let n = 0; n < manifest.count; n++) {
      let notWhite = 0;
      for (let i = n * cell; i < (n + 1) * cell; i++) if (images[i] < 0.9) notWhite++;
      expect(notWhite, manifest.records[n].prompt).toBeGreaterThan(20);
    }
  });

  it.runIf(built)('cuts "grinning face" as a yellow face', () => {
    const { manifest, atlasRGBA, width } = dataset!;
    const grinning = manifest.records.find((record) => record.prompt === 'grinning face')!;
    expect(grinning.unified).toBe('1F600');
    const image = cutAtlas(atlasRGBA, width, 4, manifest.columns, [grinning.id]);
    // Mean colour of the pixels that are not background white.
    const sum = [0, 0, 0];
    let count = 0;
    for (let p = 0; p < 32 * 32; p++) {
      const [r, g, b] = [image[p * 3], image[p * 3 + 1], image[p * 3 + 2]];
      if (r > 0.95 && g > 0.95 && b > 0.95) continue;
      sum[0] += r;
      sum[1] += g;
      sum[2] += b;
      count++;
    }
    expect(count).toBeGreaterThan(400);
    const [r, g, b] = sum.map((value) => (value / count + 1) * 127.5);
    expect(r).toBeGreaterThan(180);
    expect(g).toBeGreaterThan(130);
    expect(b).toBeLessThan(100);
    expect(r - b).toBeGreaterThan(100);
    // The whole cell is not blank white either.
    expect(Math.min(...image)).toBeLessThan(-0.5);
  });
});

describe('readPng', () => {
  it.runIf(existsSync('public/data/emoji-32.png'))('reads dimensions', () => {
    const png = readPng('public/data/emoji-32.png');
    expect(png.data.length).toBe(png.width * png.height * 4);
  });
});
