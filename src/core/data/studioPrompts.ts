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

export function studioPrompts(manifest: PromptManifest): StudioPrompts {
  const { records, splits } = manifest;
  const excluded = new Set([...splits.evaluation, ...splits.sailPools.flat()]);
  const seed = [...new Set(records.filter((r) => !r.skinTone && !excluded.has(r.id)).map((r) => r.prompt))];
  if (seed.length === 0) throw new Error('The dataset manifest has no prompts for seed pairs.');
  return {
    seed,
    sailPools: splits.sailPools.map((pool) => promptsOf(records, pool)),
    evaluation: onePerEmoji(records, splits.evaluation),
    labels: promptLabels(records),
  };
}

/** The pools of rounds 1..`rounds`: a run with more rounds than pools reuses them in turn. */
export function roundPools(pools: readonly string[][], rounds: number): string[][] {
  if (pools.length === 0) throw new Error('There are no SAIL round pools.');
  return Array.from({ length: rounds }, (_, k) => pools[k % pools.length]);
}
