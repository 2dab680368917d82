import { describe, expect, it } from 'vitest';
import { wilsonInterval } from '../src/core/stats';

describe('wilsonInterval', () => {
  it('matches published values', () => {
    // Newcombe (1998), Statistics in Medicine 17:857, Table I: 81/263 -> 0.2553 to 0.3662.
    const a = wilsonInterval(81, 263);
    expect(a.rate).toBeCloseTo(81 / 263, 10);
    expect(a.low).toBeCloseTo(0.2553, 4);
    expect(a.high).toBeCloseTo(0.3662, 4);
    // Same table: 15/148 -> 0.0624 to 0.1605, and 0/20 -> 0 to 0.1611.
    const b = wilsonInterval(15, 148);
    expect(b.low).toBeCloseTo(0.0624, 4);
    expect(b.high).toBeCloseTo(0.1605, 4);
    const c = wilsonInterval(0, 20);
    expect(c.low).toBe(0);
    expect(c.high).toBeCloseTo(0.1611, 4);
  });

  it('is symmetric, stays inside [0, 1] and narrows with more trials', () => {
    const few = wilsonInterval(3, 4);
    const mirrored = wilsonInterval(1, 4);
    expect(few.low).toBeCloseTo(1 - mirrored.high, 12);
    expect(few.high).toBeCloseTo(1 - mirrored.low, 12);
    const all = wilsonInterval(10, 10);
    expect(all.high).toBeCloseTo(1, 12);
    expect(all.low).toBeGreaterThan(0.6);
    const many = wilsonInterval(300, 400);
    expect(many.high - many.low).toBeLessThan(few.high - few.low);
    expect(many.low).toBeLessThan(0.75);
    expect(many.high).toBeGreaterThan(0.75);
  });

  it('takes half wins (ties) and says nothing is known at n = 0', () => {
    const tie = wilsonInterval(2.5, 5);
    expect(tie.rate).toBe(0.5);
    expect(tie.low).toBeCloseTo(1 - tie.high, 12);
    const none = wilsonInterval(0, 0);
    expect(none.rate).toBeNaN();
    expect([none.low, none.high]).toEqual([0, 1]);
  });

  it('refuses impossible counts', () => {
    expect(() => wilsonInterval(5, 4)).toThrow(/wins/);
    expect(() => wilsonInterval(-1, 4)).toThrow(/wins/);
    expect(() => wilsonInterval(Number.NaN, 4)).toThrow(/wins/);
  });
});
