// 95% confidence intervals for the evaluation's figures. No TF.js: the app's table code uses it.
//  - Over repeats (the main case, >= 2 seeds): Student-t, mean +- t_{0.975, n-1} * sd / sqrt(n),
//    clipped to [0, 1] for shares.
//    With 3 repeats t = 4.303, so the intervals are wide: that is what 3 seeds can say.
//  - One repeat of a proportion (a win rate): the Wilson score interval over its comparisons
//    (src/core/stats.ts), which stays inside [0, 1] and is sane near 0 and 1.
//  - One repeat of any other mean: a percentile bootstrap over its items, seeded.
import { mulberry32 } from '../random';
import { wilsonInterval } from '../stats';

export interface Interval {
  mean: number;
  low: number;
  high: number;
  /** How the interval was made, for the report's footnote. */
  method: 't' | 'wilson' | 'bootstrap' | 'none';
  /** Repeats (t) or items (wilson, bootstrap) behind it. */
  n: number;
}

/** Two-sided 97.5% quantiles of Student's t for 1..30 degrees of freedom. */
const T_975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042];

export function tQuantile975(df: number): number {
  if (!Number.isInteger(df) || df < 1) throw new Error(`degrees of freedom must be a positive integer, got ${df}`);
  return df <= 30 ? T_975[df - 1] : 1.96;
}

export function mean(xs: readonly number[]): number {
  return xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** Student-t interval of the mean of `xs` (the per-repeat figures). */
export function tInterval(xs: readonly number[]): Interval {
  const n = xs.length;
  const m = mean(xs);
  if (n < 2) return { mean: m, low: NaN, high: NaN, method: 'none', n };
  const sd = Math.sqrt(xs.reduce((s, x) => s + (x - m) ** 2, 0) / (n - 1));
  const half = (tQuantile975(n - 1) * sd) / Math.sqrt(n);
  return { mean: m, low: m - half, high: m + half, method: 't', n };
}

/** Percentile bootstrap interval of the mean of `items` (seeded, so reruns print the same). */
export function bootstrapInterval(items: readonly number[], resamples = 1000, seed = 1): Interval {
  const n = items.length;
  const m = mean(items);
  if (n < 2) return { mean: m, low: NaN, high: NaN, method: 'none', n };
  const rand = mulberry32(seed);
  const means = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += items[Math.floor(rand() * n)];
    means[r] = s / n;
  }
  means.sort();
  return { mean: m, low: means[Math.floor(0.025 * resamples)], high: means[Math.ceil(0.975 * resamples) - 1], method: 'bootstrap', n };
}

/**
 * The interval of one figure from its per-repeat item values (item = one comparison, image,
 * prompt or pair). Several repeats: t over the repeat means. One: Wilson for proportions, else
 * bootstrap over the items.
 */
export function figureInterval(itemsPerRepeat: readonly (readonly number[])[], proportion: boolean): Interval {
  const repeats = itemsPerRepeat.filter((xs) => xs.length > 0);
  if (repeats.length >= 2) {
    const t = tInterval(repeats.map((xs) => mean(xs)));
    // A share cannot leave [0, 1]; with 3 repeats the t half-width often would.
    return proportion ? { ...t, low: Math.max(0, t.low), high: Math.min(1, t.high) } : t;
  }
  if (repeats.length === 0) return { mean: NaN, low: NaN, high: NaN, method: 'none', n: 0 };
  const items = repeats[0];
  if (proportion) {
    const wins = items.reduce((a, b) => a + b, 0);
    const { low, high } = wilsonInterval(wins, items.length);
    return { mean: wins / items.length, low, high, method: 'wilson', n: items.length };
  }
  return bootstrapInterval(items);
}
