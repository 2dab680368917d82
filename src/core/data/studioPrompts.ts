// The prompt sets the studio and the CLIs draw from, computed once from the dataset manifest
// (public/data/emoji-32.json) instead of in every reader: the seed prompts a user labels, the
// fresh prompt pool of each SAIL round, the held-out evaluation prompts (one per emoji, with
// their categories) and every prompt's readable label.

import { promptLabels, type EmojiManifest, type EmojiRecord } from './emoji';
import { onePerEmoji, type SpreadPrompt } from './promptSpread';

export type PromptManifest = Pick<EmojiManifest, 'records' | 'splits'>;

export interface StudioPrompts {
  /**
   * Prompts for seed pairs: outside the held-out evaluation split and the SAIL round pools
   * (rounds must see fresh prompts, as in the paper), without skin-tone variants (they differ
   * from the base emoji only in colour, which a 32x32 model barely separates).
   */
  seed: string[];
  /** The fresh prompts of round k at index k - 1 (distinct within a pool). */
  sailPools: string[][];
  /** Held-out prompts, one per emoji (at most one skin-tone variant), with their categories. */
  evaluation: SpreadPrompt[];
  /** Prompt -> the readable name the page shows. */
  labels: Record<string, string>;
  /** When the base model's drawable list narrowed the prompts: how many seed prompts remain of how many. */
  drawable: { seed: number; of: number } | null;
}

/**
 * The base model's drawable list (npm run drawable-prompts, shipped as models/base/drawable.json):
 * per prompt, how many of its samples the model drew recognisably.
 */
export interface DrawableList {
  samples: number;
  prompts: Record<string, number>;
}

/** At least this many seed prompts (and held-out prompts, and prompts per round pool) must remain, or the list is not applied to that set. */
export const MIN_DRAWABLE = { seed: 48, evaluation: 24, pool: 32 };

/** The drawable list in a file, checked; `source` names it in errors. */
export function checkDrawableList(json: unknown, source = 'the drawable list'): DrawableList {
  const d = json as { format?: unknown; version?: unknown; samples?: unknown; prompts?: unknown } | null;
  if (!d || typeof d !== 'object' || d.format !== 'sail-studio-drawable') throw new Error(`${source} is not a drawable-prompts file.`);
  if (d.version !== 1) throw new Error(`${source} has version ${String(d.version)}; this studio reads version 1.`);
  if (!Number.isInteger(d.samples) || (d.samples as number) < 1) throw new Error(`${source} has no sample count.`);
  const prompts = d.prompts as Record<string, unknown> | undefined;
  if (!prompts || typeof prompts !== 'object' || Array.isArray(prompts)) throw new Error(`${source} has no prompts.`);
  for (const [p, v] of Object.entries(prompts)) {
    if (!Number.isInteger(v) || (v as number) < 0 || (v as number) > (d.samples as number)) throw new Error(`${source}: "${p}" has ${String(v)} recognisable samples of ${String(d.samples)}.`);
  }
  return { samples: d.samples as number, prompts: prompts as Record<string, number> };
}

/** The items the model drew recognisably at least once, when at least `min` (or all, if fewer) remain; else all. */
function preferDrawable<T>(items: T[], promptOf: (t: T) => string, drawable: DrawableList | undefined, min: number): T[] {
  if (!drawable) return items;
  const kept = items.filter((t) => (drawable.prompts[promptOf(t)] ?? 0) > 0);
  return kept.length >= Math.min(min, items.length) ? kept : items;
}

const isIdList = (x: unknown): x is number[] => Array.isArray(x) && x.every((id) => Number.isInteger(id));

/** The manifest's records and splits, checked for what the prompt sets need; `source` names it in errors. */
export function checkPromptManifest(json: unknown, source = 'the dataset manifest'): PromptManifest {
  const m = json as Partial<PromptManifest> | null;
  if (!m || typeof m !== 'object' || !Array.isArray(m.records)) throw new Error(`${source} has no records.`);
  for (const [i, r] of m.records.entries()) {
    if (!r || typeof r.prompt !== 'string' || r.id !== i) throw new Error(`${source}: record ${i} has no prompt or a wrong id.`);
  }
  const splits = m.splits as Partial<EmojiManifest['splits']> | undefined;
  if (!splits || !isIdList(splits.evaluation)) throw new Error(`${source} has no evaluation split.`);
  if (!Array.isArray(splits.sailPools) || splits.sailPools.length === 0 || !splits.sailPools.every(isIdList)) {
    throw new Error(`${source} has no SAIL round pools (splits.sailPools).`);
  }
  return m as PromptManifest;
}

const promptsOf = (records: readonly EmojiRecord[], ids: readonly number[]) =>
  [...new Set(ids.map((id) => records[id]?.prompt).filter((p): p is string => typeof p === 'string'))];

/**
 * The prompt sets. With the base model's drawable list, each set keeps the prompts the model drew
 * recognisably (a user labels drawings, not blobs; a round's self pairs compare drawings), as long
 * as enough remain (MIN_DRAWABLE); the held-out prompts stay disjoint from the rest either way.
 */
export function studioPrompts(manifest: PromptManifest, drawable?: DrawableList): StudioPrompts {
  const { records, splits } = manifest;
  const excluded = new Set([...splits.evaluation, ...splits.sailPools.flat()]);
  const allSeed = [...new Set(records.filter((r) => !r.skinTone && !excluded.has(r.id)).map((r) => r.prompt))];
  if (allSeed.length === 0) throw new Error('The dataset manifest has no prompts for seed pairs.');
  const same = (p: string) => p;
  const seed = preferDrawable(allSeed, same, drawable, MIN_DRAWABLE.seed);
  return {
    seed,
    sailPools: splits.sailPools.map((pool) => preferDrawable(promptsOf(records, pool), same, drawable, MIN_DRAWABLE.pool)),
    evaluation: preferDrawable(onePerEmoji(records, splits.evaluation), (p) => p.prompt, drawable, MIN_DRAWABLE.evaluation),
    labels: promptLabels(records),
    drawable: drawable && seed.length < allSeed.length ? { seed: seed.length, of: allSeed.length } : null,
  };
}

/** The pools of rounds 1..`rounds`: a run with more rounds than pools reuses them in turn. */
export function roundPools(pools: readonly string[][], rounds: number): string[][] {
  if (pools.length === 0) throw new Error('There are no SAIL round pools.');
  return Array.from({ length: rounds }, (_, k) => pools[k % pools.length]);
}
