import { describe, expect, it } from 'vitest';
import { blindPrompt, countJudgement, creditOf } from '../src/app/compare/blindCredit';
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

  it('draws only held-out prompts, across categories, and refuses to draw without them', () => {
    const held = [
      ...['waving hand', 'waving hand tone1', 'waving hand tone2', 'waving hand tone3', 'waving hand tone4', 'waving hand tone5'].map((prompt) => ({ prompt, category: 'People & Body' })),
      { prompt: 'ghost', category: 'Smileys & Emotion' },
      { prompt: 'rocket', category: 'Travel & Places' },
    ];
    const rand = mulberry32(11);
    const drawn = Array.from({ length: 600 }, () => blindPrompt(held, rand));
    expect(drawn.every((p) => held.some((h) => h.prompt === p))).toBe(true);
    // Categories first: the six skin tones of one hand share a third of the draws, not three quarters.
    const hands = drawn.filter((p) => p.startsWith('waving hand')).length / drawn.length;
    expect(Math.abs(hands - 1 / 3)).toBeLessThan(0.08);
    expect(() => blindPrompt([], rand)).toThrow(/held-out prompts could not be loaded/);
  });
});
