import { describe, expect, it } from 'vitest';
import { countJudgement, creditOf } from '../src/app/compare/blindCredit';
import { mulberry32 } from '../src/core/random';

describe('blind A/B credit', () => {
  it('credits the checkpoint that drew the picked image, whichever side it was shown on', () => {
    expect(creditOf('left', true)).toBe('b');
    expect(creditOf('right', true)).toBe('a');
    expect(creditOf('left', false)).toBe('a');
    expect(creditOf('right', false)).toBe('b');
    expect(creditOf('tie', true)).toBe('ties');
    expect(creditOf('tie', false)).toBe('ties');
  });

  it('a judge who always prefers B gets B every win under a random order; one who always picks left gets about half', () => {
    const rand = mulberry32(3);
    let alwaysB = { a: 0, b: 0, ties: 0 };
    let alwaysLeft = { a: 0, b: 0, ties: 0 };
    for (let i = 0; i < 400; i++) {
      const bOnLeft = rand() < 0.5;
      alwaysB = countJudgement(alwaysB, bOnLeft ? 'left' : 'right', bOnLeft);
      alwaysLeft = countJudgement(alwaysLeft, 'left', bOnLeft);
    }
    expect(alwaysB).toEqual({ a: 0, b: 400, ties: 0 });
    expect(alwaysLeft.a + alwaysLeft.b).toBe(400);
    expect(Math.abs(alwaysLeft.b - 200)).toBeLessThan(40); // 4 standard deviations of a fair coin
  });
});
