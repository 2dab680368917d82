// Ranked pairing of self-generated candidates (architecture.md section 5, step 3): per prompt, rank the
// N candidates by implicit reward; best vs worst becomes the self-labelled pair (the paper found
// it beats random pairing); pairs whose reward margin is below a threshold are dropped.
// 'against-base' (ours): a prompt's candidates are N/2 samples of the current model and the base's
// samples from the same N/2 noises; the pair is the noise whose two images the reward tells apart
// most (either way round), so winner and loser differ in what the fine-tuning changed, not in layout.
import { hashSeed, mulberry32 } from '../random';

export type PairingMode = 'best-worst' | 'random' | 'against-base';

/** Why these settings cannot pair against the base (half of a prompt's candidates are the base's), or null. */
export function againstBaseProblem(mode: PairingMode, candidatesPerPrompt: number): string | null {
  return mode === 'against-base' && candidatesPerPrompt % 2 !== 0 ? `Pairing against the base needs an even number of candidates per prompt, not ${candidatesPerPrompt}.` : null;
}

export interface CandidatePair {
  promptIndex: number;
  winner: number; // candidate index within the prompt
  loser: number;
  /** r(winner) - r(loser) >= 0. */
  margin: number;
}

export function pairCandidates(rewards: ArrayLike<number>, promptIndex: number, mode: PairingMode, seed: number): CandidatePair | null {
  const n = rewards.length;
  if (n < 2) return null;
  let a: number;
  let b: number;
  if (mode === 'against-base') {
    // Candidates 0..h-1 are the model's, h..2h-1 the base's from the same noises.
    const h = Math.floor(n / 2);
    let best = 0;
    for (let j = 1; j < h; j++) if (Math.abs(rewards[j] - rewards[h + j]) > Math.abs(rewards[best] - rewards[h + best])) best = j;
    a = best;
    b = h + best;
  } else if (mode === 'best-worst') {
    a = 0;
    b = 0;
    for (let i = 1; i < n; i++) {
      if (rewards[i] > rewards[a]) a = i;
      if (rewards[i] < rewards[b]) b = i;
    }
    if (a === b) b = a === 0 ? 1 : 0; // all equal: any two, margin 0
  } else {
    const rand = mulberry32(hashSeed(seed, promptIndex));
    a = Math.floor(rand() * n);
    b = Math.floor(rand() * (n - 1));
    if (b >= a) b++;
  }
  const [winner, loser] = rewards[a] >= rewards[b] ? [a, b] : [b, a];
  return { promptIndex, winner, loser, margin: rewards[winner] - rewards[loser] };
}

/** Pairs for every prompt, those below `minMargin` dropped, sorted by margin (most confident first). */
export function rankedSelfPairs(rewardsPerPrompt: ArrayLike<number>[], mode: PairingMode, minMargin: number, seed: number): { kept: CandidatePair[]; dropped: CandidatePair[] } {
  const kept: CandidatePair[] = [];
  const dropped: CandidatePair[] = [];
  rewardsPerPrompt.forEach((r, i) => {
    const pair = pairCandidates(r, i, mode, seed);
    if (!pair) return;
    (pair.margin >= minMargin ? kept : dropped).push(pair);
  });
  kept.sort((x, y) => y.margin - x.margin || x.promptIndex - y.promptIndex);
  return { kept, dropped };
}
