// The emoji training set: record and manifest types plus the pure helpers that both the Node
// build script (scripts/build-dataset.ts) and the browser use. No Node, DOM or TF.js here, so
// that the same prompt text and the same splits come out everywhere.

import { mulberry32 } from '../random';

/** Side of one emoji image in pixels; the atlas is a grid of such cells with no border. */
export const EMOJI_SIZE = 32;

/** One image of the data set: a base emoji or one of its skin-tone variants. */
export interface EmojiRecord {
  /** Index in the manifest and cell index in the atlas (0..count-1). */
  id: number;
  /** Code points, e.g. "1F44B-1F3FD" (emoji-data's `unified`). */
  unified: string;
  /** The caption the model is trained on, lowercase words joined by single spaces. */
  prompt: string;
  /** emoji-data short names of the base emoji (variants have none of their own). */
  shortNames: string[];
  category: string;
  subcategory: string;
  /** Skin-tone modifier key for a variant ("1F3FD", or "1F3FB-1F3FF" for two people); null for a base. */
  skinTone: string | null;
  /** `unified` of the base emoji; equal to `unified` for a base. Splits are made per base. */
  baseUnified: string;
  /** What the page shows for the prompt: the emoji's name, readable ("squared 合", not "squared cjk unified ideograph 5408 u5408"). */
  label?: string;
}

/** Record ids per use. Pools and evaluation are disjoint; pretrain is every record. */
export interface EmojiSplits {
  seed: number;
  pretrain: number[];
  /** One fresh prompt pool per SAIL round (round 1, 2, ...), as in the paper. */
  sailPools: number[][];
  /** Held-out prompts: never used to make training pairs. */
  evaluation: number[];
}

export interface EmojiSource {
  /** npm package the images and names come from. */
  package: string;
  version: string;
  /** Path of the sprite sheet inside the package. */
  sheet: string;
  homepage: string;
  /** Licence of the images (Google Noto Emoji). */
  imageLicence: string;
  /** Licence of the package's data and code (emoji-data). */
  packageLicence: string;
  /** File next to the manifest with the attribution text. */
  notice: string;
}

export interface EmojiManifest {
  version: 1;
  imageSize: 32;
  count: number;
  /** Cells per atlas row. */
  columns: number;
  /** File name of the atlas PNG, relative to the manifest. */
  atlas: string;
  records: EmojiRecord[];
  splits: EmojiSplits;
  /** Categories in emoji order (the order of first appearance in `records`). */
  categories: string[];
  source: EmojiSource;
}

/** Words for the Fitzpatrick modifiers, as in the CLDR names ("waving hand: medium skin tone"). */
export const SKIN_TONE_WORDS: Readonly<Record<string, string>> = {
  '1F3FB': 'light',
  '1F3FC': 'medium light',
  '1F3FD': 'medium',
  '1F3FE': 'medium dark',
  '1F3FF': 'dark',
};

// Letters that NFD does not decompose into base letter + combining mark.
const FOLDED_LETTERS: Readonly<Record<string, string>> = {
  ß: 'ss',
  æ: 'ae',
  œ: 'oe',
  ø: 'o',
  ł: 'l',
  đ: 'd',
  ð: 'd',
  þ: 'th',
  ı: 'i',
};

/**
 * Lowercase words of a caption: diacritics stripped ("Côte" -> "cote"), apostrophes removed
 * inside words (so a user's "woman's hat" matches the Unicode name "WOMANS HAT"), and anything
 * else outside [a-z0-9] (punctuation, emoji, other scripts) treated as a separator.
 */
export function tokenizeWords(text: string): string[] {
  const folded = text
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[ßæœøłđðþı]/g, (letter) => FOLDED_LETTERS[letter] ?? letter)
    .replace(/['’ʼ‘`]/g, '');
  return folded.split(/[^a-z0-9]+/).filter((word) => word.length > 0);
}

/** "medium skin tone", or "light and dark skin tones" for a two-person variant. */
export function skinToneWords(skinTone: string): string {
  const tones = skinTone.split('-').map((code) => {
    const words = SKIN_TONE_WORDS[code.toUpperCase()];
    if (words === undefined) throw new Error(`unknown skin tone modifier ${code} in ${skinTone}`);
    return words;
  });
  const distinct = [...new Set(tones)];
  return distinct.length === 1 ? `${distinct[0]} skin tone` : `${distinct.join(' and ')} skin tones`;
}

/**
 * The prompt of an emoji: the words of its name, then any short-name word the name lacks
 * ("smiling face with open mouth" + "smiley"; "keycap 0" + "zero"), then the skin tone for a
 * variant ("waving hand sign wave medium skin tone"). Name words keep their order and
 * repeats ("family man man boy" is not "family man boy"); short names only add new words,
 * since they mostly repeat the name ("grinning face" / "grinning").
 */
export function promptFor(name: string, shortNames: readonly string[], skinTone: string | null = null): string {
  const words = tokenizeWords(name);
  const seen = new Set(words);
  for (const shortName of shortNames) {
    for (const word of tokenizeWords(shortName)) {
      if (!seen.has(word)) {
        seen.add(word);
        words.push(word);
      }
    }
  }
  if (skinTone !== null) words.push(skinToneWords(skinTone));
  return words.join(' ');
}

/**
 * A readable name for an emoji, for the page (the model still reads `prompt`): emoji-data's name
 * in lower case unless it is already mixed case ("Andorra Flag"), a CJK ideograph's code as the
 * character itself, then the skin tone of a variant.
 */
export function labelFor(name: string, skinTone: string | null = null): string {
  let label = name === name.toUpperCase() ? name.toLowerCase() : name;
  label = label.replace(/cjk unified ideograph-([0-9a-f]{4,5})/gi, (_, hex: string) => String.fromCodePoint(parseInt(hex, 16)));
  label = label.replace(/\s+/g, ' ').trim();
  return skinTone === null ? label : `${label}, ${skinToneWords(skinTone)}`;
}

/** Prompt -> label for every record that has one. */
export function promptLabels(records: readonly Pick<EmojiRecord, 'prompt' | 'label'>[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const r of records) if (r.label) out[r.prompt] = r.label;
  return out;
}

/** Top-left pixel of a record's cell in an atlas of `columns` cells per row. */
export function atlasCell(id: number, columns: number): { x: number; y: number } {
  return { x: (id % columns) * EMOJI_SIZE, y: Math.floor(id / columns) * EMOJI_SIZE };
}

export interface SplitOptions {
  /** Number of SAIL rounds that draw fresh prompts (rounds 1..k; round 0 uses the seed pairs). */
  sailRounds?: number;
  /** Share of the eligible base emoji in each round's pool. */
  sailPoolFraction?: number;
  /** Share of the eligible base emoji held out for evaluation. */
  evalFraction?: number;
  /**
   * Categories that go to pretraining only. "Component" holds the five bare skin-tone swatches
   * (plain coloured squares named "emoji modifier fitzpatrick type 3"): no one would judge
   * those, so they make poor SAIL or evaluation prompts.
   */
  pretrainOnlyCategories?: readonly string[];
}

export const DEFAULT_SPLIT_SEED = 1;

export const DEFAULT_SPLIT_OPTIONS: Required<SplitOptions> = {
  sailRounds: 3,
  sailPoolFraction: 0.1,
  evalFraction: 0.1,
  pretrainOnlyCategories: ['Component'],
};

type SplitRecord = Pick<EmojiRecord, 'id' | 'prompt' | 'category' | 'baseUnified'>;

/**
 * Splits the records once, seeded and deterministically, into pretraining (all), one disjoint
 * prompt pool per SAIL round and held-out evaluation prompts.
 *
 * The unit of the split is a base emoji with all its skin-tone variants: "waving hand light skin
 * tone" in evaluation while "waving hand dark skin tone" trains SAIL would leak the held-out
 * prompt. For the same reason records that share a prompt text are kept together, so an
 * evaluation prompt can never appear in a pool. Fractions count these groups, not records
 * (a couple emoji has 25 variants; counting records would let a few of them fill a pool).
 */
export function makeSplits(records: readonly SplitRecord[], seed: number, options: SplitOptions = {}): EmojiSplits {
  const { sailRounds, sailPoolFraction, evalFraction, pretrainOnlyCategories } = { ...DEFAULT_SPLIT_OPTIONS, ...options };
  if (!Number.isInteger(sailRounds) || sailRounds < 0) throw new Error(`sailRounds must be a non-negative integer, got ${sailRounds}`);
  for (const [label, fraction] of [['sailPoolFraction', sailPoolFraction], ['evalFraction', evalFraction]] as const) {
    if (!(fraction >= 0 && fraction <= 1)) throw new Error(`${label} must be in [0, 1], got ${fraction}`);
  }

  // Union-find over record indices: join by base emoji and by identical prompt.
  const parent = records.map((_, index) => index);
  const find = (index: number): number => {
    while (parent[index] !== index) {
      parent[index] = parent[parent[index]];
      index = parent[index];
    }
    return index;
  };
  const union = (a: number, b: number) => {
    const rootA = find(a);
    const rootB = find(b);
    if (rootA !== rootB) parent[Math.max(rootA, rootB)] = Math.min(rootA, rootB);
  };
  const firstByKey = new Map<string, number>();
  records.forEach((record, index) => {
    for (const key of [`base:${record.baseUnified}`, `prompt:${record.prompt}`]) {
      const first = firstByKey.get(key);
      if (first === undefined) firstByKey.set(key, index);
      else union(first, index);
    }
  });

  // Groups in record order (keyed by their first index), so the shuffle input is canonical.
  const groups = new Map<number, number[]>();
  records.forEach((_, index) => {
    const root = find(index);
    const group = groups.get(root);
    if (group) group.push(index);
    else groups.set(root, [index]);
  });
  const excluded = new Set(pretrainOnlyCategories);
  const eligible = [...groups.entries()]
    .sort(([a], [b]) => a - b)
    .map(([, members]) => members)
    .filter((members) => members.every((index) => !excluded.has(records[index].category)));

  // Fisher-Yates with the seeded PRNG.
  const random = mulberry32(seed);
  for (let i = eligible.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [eligible[i], eligible[j]] = [eligible[j], eligible[i]];
  }

  const evalCount = Math.round(eligible.length * evalFraction);
  const poolCount = Math.round(eligible.length * sailPoolFraction);
  if (evalCount + sailRounds * poolCount > eligible.length) {
    throw new Error(
      `splits need ${evalCount} + ${sailRounds} x ${poolCount} groups but only ${eligible.length} are eligible`,
    );
  }
  const idsOf = (chosen: number[][]) => chosen.flat().map((index) => records[index].id).sort((a, b) => a - b);
  const evaluation = idsOf(eligible.slice(0, evalCount));
  const sailPools: number[][] = [];
  for (let round = 0; round < sailRounds; round++) {
    const start = evalCount + round * poolCount;
    sailPools.push(idsOf(eligible.slice(start, start + poolCount)));
  }
  const pretrain = records.map((record) => record.id).sort((a, b) => a - b);
  return { seed, pretrain, sailPools, evaluation };
}
