// Ranked preference mixup (architecture.md section 5, step 4): every training batch takes a fraction
// alpha of self pairs and 1 - alpha of human seed pairs (paper: alpha = 0.25, never tuned).
// Self pairs come in rank order (largest margin first) and cycle; seed pairs are drawn in a
// seeded shuffle per pass. Choices the paper leaves open, written down:
// - the self count per batch is round(alpha * B), at least 1 when alpha > 0 and self pairs exist;
// - with no self pairs, or alpha = 0, batches are all seed; with no seed pairs, all self.
import { hashSeed, mulberry32 } from '../random';

export interface BatchPlan {
  /** Indices into the self pairs (ranked) and into the seed pairs, for each step. */
  self: number[];
  seed: number[];
}

function shuffled(n: number, seed: number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  const rand = mulberry32(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

export function selfCountPerBatch(batchSize: number, alpha: number, selfPairs: number, seedPairs: number): number {
  if (selfPairs === 0 || alpha <= 0) return 0;
  if (seedPairs === 0 || alpha >= 1) return batchSize;
  return Math.min(batchSize - 1, Math.max(1, Math.round(alpha * batchSize)));
}

/** The composition of each of `steps` batches of size `batchSize`. */
export function rankedMixup(opts: { selfPairs: number; seedPairs: number; alpha: number; batchSize: number; steps: number; seed: number }): BatchPlan[] {
  const { selfPairs, seedPairs, alpha, batchSize, steps, seed } = opts;
  if (selfPairs + seedPairs === 0) throw new Error('No pairs to train on: add seed pairs or generate self pairs first');
  if (alpha < 0 || alpha > 1) throw new Error(`alpha must be in [0, 1], got ${alpha}`);
  const nSelf = seedPairs === 0 ? batchSize : selfCountPerBatch(batchSize, alpha, selfPairs, seedPairs);
  const nSeed = batchSize - nSelf;
  const plans: BatchPlan[] = [];
  let selfCursor = 0;
  let seedOrder: number[] = [];
  let seedPass = 0;
  let seedCursor = 0;
  for (let step = 0; step < steps; step++) {
    const self: number[] = [];
    for (let i = 0; i < nSelf; i++) self.push(selfCursor++ % selfPairs);
    const seedIdx: number[] = [];
    for (let i = 0; i < nSeed; i++) {
      if (seedCursor >= seedOrder.length) {
        seedOrder = shuffled(seedPairs, hashSeed(seed, seedPass++));
        seedCursor = 0;
      }
      seedIdx.push(seedOrder[seedCursor++]);
    }
    plans.push({ self, seed: seedIdx });
  }
  return plans;
}
