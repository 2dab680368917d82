// A simulated annotator, in the style of B-Pref (Lee et al. 2021, "B-Pref: Benchmarking
// preference-based reinforcement learning"): a person who mostly follows a hidden taste r* but
// is not a perfect judge.
//   1. Near-ties are skipped: |r*(A) - r*(B)| < skipMargin ("equally preferable", no label).
//   2. Otherwise A is preferred with probability sigmoid(sharpness * (r*(A) - r*(B)))
//      (Bradley-Terry; sharpness -> infinity is a perfect judge, 0 a coin).
//   3. Then the answer is flipped with probability flipRate (a mis-click).
// Every click is a pure function of (seed, index), so a run replays exactly in Node and in the
// browser.
import { hashSeed, mulberry32 } from '../random';

export interface ClickerSettings {
  /** Bradley-Terry sharpness s on the oracle's scale. */
  sharpness: number;
  /** Fraction of answers flipped after the choice. */
  flipRate: number;
  /** Reward differences below this are skipped as ties. */
  skipMargin: number;
}

export const DEFAULT_CLICKER: ClickerSettings = { sharpness: 30, flipRate: 0.1, skipMargin: 0.005 };

export interface Click {
  /** 'A' or 'B' preferred, or 'skip' for a near-tie. */
  choice: 'A' | 'B' | 'skip';
  /** Whether the choice was flipped from the Bradley-Terry draw (never for a skip). */
  flipped: boolean;
}

export const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

export function checkClicker(c: ClickerSettings): void {
  if (!(c.sharpness >= 0) || !Number.isFinite(c.sharpness)) throw new Error(`clicker sharpness must be a number >= 0, got ${c.sharpness}`);
  if (!(c.flipRate >= 0 && c.flipRate <= 0.5)) throw new Error(`clicker flip rate must be in [0, 0.5], got ${c.flipRate}`);
  if (!(c.skipMargin >= 0)) throw new Error(`clicker skip margin must be >= 0, got ${c.skipMargin}`);
}

/** The simulated annotator's answer for pair `index` whose oracle rewards are rA and rB. */
export function simulateClick(rA: number, rB: number, settings: ClickerSettings, seed: number, index: number): Click {
  const diff = rA - rB;
  if (!Number.isFinite(diff)) throw new Error(`oracle reward is not a number (${rA}, ${rB})`);
  if (Math.abs(diff) < settings.skipMargin) return { choice: 'skip', flipped: false };
  const rand = mulberry32(hashSeed(seed, index));
  const prefersA = rand() < sigmoid(settings.sharpness * diff);
  const flipped = rand() < settings.flipRate;
  return { choice: prefersA !== flipped ? 'A' : 'B', flipped };
}
