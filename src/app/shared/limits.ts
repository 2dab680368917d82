// Ranges of the generation controls. The worker passes values through to src/core, which has
// the last word; these keep the form from sending what cannot work.

export const LIMITS = {
  count: { min: 1, max: 16, step: 1 },
  seed: { min: 0, max: 2 ** 31 - 1, step: 1 },
  guidance: { min: 0, max: 20, step: 0.5 },
  steps: { min: 1, max: 200, step: 1 },
} as const;

export type LimitName = keyof typeof LIMITS;

/** Clamps into range and, for integer fields, rounds. */
export function clampTo(name: LimitName, value: number): number {
  const { min, max, step } = LIMITS[name];
  const clamped = Math.min(max, Math.max(min, value));
  return step === 1 ? Math.round(clamped) : clamped;
}
