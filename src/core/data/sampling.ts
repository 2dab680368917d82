// How pretraining draws its images. Uniform over images lets People & Body (2,261 of 3,786
// images, 386 of 1,911 base emoji: skin-tone variants are near-duplicates) take 60% of every
// batch. Balanced sampling gives each category a share that grows with its number of base emoji
// as count^power (power 1: uniform over base emoji; 0: every category alike), splits a
// category's share equally over its base emoji, and a base emoji's over its skin-tone variants.
import type { EmojiRecord } from './emoji';

export type Sampling = 'uniform' | 'balanced';

/** Default exponent of the category share: between uniform over base emoji (1) and equal categories (0). */
export const CATEGORY_POWER = 0.5;

type Rec = Pick<EmojiRecord, 'category' | 'baseUnified'>;

/** Sampling weight of each of `records` (they sum to 1). */
export function balancedWeights(records: readonly Rec[], power = CATEGORY_POWER): Float64Array {
  const variants = new Map<string, number>();
  const basesOf = new Map<string, Set<string>>();
  for (const r of records) {
    const key = `${r.category}\u0000${r.baseUnified}`;
    variants.set(key, (variants.get(key) ?? 0) + 1);
    if (!basesOf.has(r.category)) basesOf.set(r.category, new Set());
    basesOf.get(r.category)!.add(key);
  }
  const share = new Map<string, number>();
  let total = 0;
  for (const [c, bases] of basesOf) {
    const s = bases.size ** power;
    share.set(c, s);
    total += s;
  }
  return Float64Array.from(records, (r) => {
    const bases = basesOf.get(r.category)!.size;
    return share.get(r.category)! / total / bases / variants.get(`${r.category}\u0000${r.baseUnified}`)!;
  });
}

/** Cumulative sums of `weights`, normalised to end at 1: the table `drawWeighted` searches. */
export function cumulative(weights: ArrayLike<number>): Float64Array {
  const out = new Float64Array(weights.length);
  let s = 0;
  for (let i = 0; i < weights.length; i++) {
    if (!(weights[i] >= 0)) throw new Error(`sampling weight ${i} is ${weights[i]}`);
    s += weights[i];
    out[i] = s;
  }
  if (!(s > 0)) throw new Error('sampling weights sum to zero');
  for (let i = 0; i < out.length; i++) out[i] /= s;
  return out;
}

/** The index whose cumulative interval holds u in [0, 1): a binary search of `cdf`. */
export function drawWeighted(cdf: Float64Array, u: number): number {
  let lo = 0;
  let hi = cdf.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cdf[mid] > u) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** Share of each category under `weights` (for the run's provenance and the report). */
export function categoryShares(records: readonly Rec[], weights: ArrayLike<number>): Record<string, number> {
  const out: Record<string, number> = {};
  let total = 0;
  records.forEach((r, i) => {
    out[r.category] = (out[r.category] ?? 0) + weights[i];
    total += weights[i];
  });
  for (const k of Object.keys(out)) out[k] /= total;
  return out;
}
