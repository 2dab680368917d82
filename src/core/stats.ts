// Small statistics for the studio's judgements. No TF.js: the app and the evaluation both use it.

/** z for a two-sided 95% interval: the 0.975 quantile of the standard normal. */
const Z95 = 1.959963984540054;

export interface WinRate {
  /** wins / n, NaN when n is 0. */
  rate: number;
  /** Wilson score interval at 95%; [0, 1] when n is 0 (nothing is known). */
  low: number;
  high: number;
  wins: number;
  n: number;
}

/**
 * The Wilson score interval for a binomial proportion (Wilson 1927; Agresti & Coull 1998):
 *   centre = (p + z^2 / 2n) / (1 + z^2 / n)
 *   half   = z / (1 + z^2 / n) * sqrt(p (1 - p) / n + z^2 / 4n^2)
 * Unlike the normal approximation it stays inside [0, 1] and is honest at 0 or n wins with few
 * trials, which is what a person's dozen blind A/B picks give. `wins` may be fractional (a tie
 * counted as half a win).
 */
export function wilsonInterval(wins: number, n: number): WinRate {
  if (!Number.isFinite(wins) || !Number.isFinite(n) || n < 0 || wins < 0 || wins > n) {
    throw new Error(`wilsonInterval needs 0 <= wins <= n, got wins ${wins}, n ${n}`);
  }
  if (n === 0) return { rate: NaN, low: 0, high: 1, wins, n };
  const p = wins / n;
  const z2 = Z95 * Z95;
  const denominator = 1 + z2 / n;
  const centre = (p + z2 / (2 * n)) / denominator;
  const half = (Z95 / denominator) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  return { rate: p, low: Math.max(0, centre - half), high: Math.min(1, centre + half), wins, n };
}
