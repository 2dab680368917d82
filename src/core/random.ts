// Small seeded randomness for everything that must replay exactly: dataset splits, batch order,
// noise seeds handed to TF.js. Math.random cannot be seeded, and a run that resumes after a
// closed tab has to draw the same numbers it would have drawn without the interruption.

/**
 * mulberry32: a 32-bit state PRNG returning floats in [0, 1). Tiny, fast and good enough for
 * shuffles and sampling (not for cryptography). The same seed always gives the same sequence
 * in every JS engine because it uses only 32-bit integer arithmetic (Math.imul, >>>).
 */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Mixes one 32-bit word into a running hash (the murmur3 finaliser's constants). */
function mix(hash: number, word: number): number {
  let h = Math.imul(hash ^ (word >>> 0), 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Derives one 32-bit seed from several integers, e.g. hashSeed(runSeed, round, step), so that
 * independent streams (per round, per prompt, per step) need no shared PRNG state and can be
 * recomputed on resume. Order matters: hashSeed(1, 2) !== hashSeed(2, 1). Integers up to
 * Number.MAX_SAFE_INTEGER (and negative ones) are mixed in full, as two 32-bit words.
 */
export function hashSeed(...values: number[]): number {
  let h = (0x9e3779b9 ^ values.length) >>> 0;
  for (const value of values) {
    if (!Number.isSafeInteger(value)) throw new Error(`hashSeed takes safe integers, got ${value}`);
    const low = value >>> 0; // two's complement low word, also right for negatives
    const high = Math.floor(value / 4294967296) >>> 0;
    h = mix(mix(h, low), high);
  }
  return h;
}
