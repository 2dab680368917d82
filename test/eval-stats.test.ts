// Win rates and their 95% intervals on constructed inputs (issue 6), and the tables built from them.
import { describe, expect, it } from 'vitest';
import { bootstrapInterval, figureInterval, tInterval, tQuantile975 } from '../src/core/eval/interval';
import { wilsonInterval } from '../src/core/stats';
import { plotRounds } from '../src/core/eval/plot';
import { dpoArmSettings, sailSettingsFor } from '../src/core/eval/arms';
import { DEFAULT_SAIL_SETTINGS } from '../src/core/sail/settings';
import { ARMS, DEFAULT_EVAL_SETTINGS, armById, armsKey, cell, comparisonTable, joinArms, mergeRepeats, pairedDifference, repeatsKey, resultsTable, roundsTable, seriesFor, type ArmResult, type EvalResult } from '../src/core/eval/summary';

describe('intervals', () => {
  it('Student-t over repeats', () => {
    expect(tQuantile975(2)).toBe(4.303);
    // 0.6, 0.7, 0.8: mean 0.7, sd 0.1, half = 4.303 * 0.1 / sqrt(3) = 0.24843.
    const t = tInterval([0.6, 0.7, 0.8]);
    expect(t.mean).toBeCloseTo(0.7, 12);
    expect(t.high - t.mean).toBeCloseTo(0.24843, 4);
    expect(t.method).toBe('t');
    expect(tInterval([0.5]).method).toBe('none');
  });

  it('bootstrap covers the mean, is seeded, and shrinks with more items', () => {
    const items = Array.from({ length: 40 }, (_, i) => (i % 4 === 0 ? 1 : 0));
    const a = bootstrapInterval(items);
    expect(a).toEqual(bootstrapInterval(items));
    expect(a.low).toBeLessThan(0.25);
    expect(a.high).toBeGreaterThan(0.25);
    const b = bootstrapInterval([...items, ...items, ...items, ...items]);
    expect(b.high - b.low).toBeLessThan(a.high - a.low);
  });

  it('a figure uses t over repeats, else Wilson for proportions', () => {
    const perRepeat = [[1, 1, 0, 0.5], [1, 0, 0, 0], [1, 1, 1, 0]];
    const f = figureInterval(perRepeat, true);
    expect(f.method).toBe('t');
    expect(f.mean).toBeCloseTo((0.625 + 0.25 + 0.75) / 3, 12);
    const one = figureInterval([[1, 1, 1, 0, 0.5]], true);
    expect(one.method).toBe('wilson');
    expect(one.mean).toBeCloseTo(0.7, 12);
    expect(one.low).toBeCloseTo(wilsonInterval(3.5, 5).low, 12);
  });
});

/** A constructed result: arm -> per-repeat win items at its final point. */
function constructed(wins: Record<string, number[][]>): EvalResult {
  const settings = { ...DEFAULT_EVAL_SETTINGS, rounds: 1, repeats: wins.base.length };
  const arms: ArmResult[] = ARMS.filter((a) => a.id in wins).map((a) => {
    const last = wins[a.id].map((w) => ({ winRate: w, fidelity: w.map(() => 1) }));
    const points = a.kind === 'sail' ? [wins[a.id].map((w) => ({ winRate: w.map(() => 0.5) })), last] : [last];
    return { arm: a.id, points, trainMs: [60000], evalMs: [30000] };
  });
  return { settings, arms, seedPairs: [{ labelled: 8, skipped: 1, flipped: 1, agreement: 0.875, ms: 1000 }], backend: 'wasm', totalMs: 1 };
}

describe('win-rate tables', () => {
  const r = constructed({
    base: [[0.5, 0.5, 0.5, 0.5], [0.5, 0.5, 0.5, 0.5], [0.5, 0.5, 0.5, 0.5]],
    'dpo-many': [[1, 1, 1, 0], [1, 1, 0, 0], [1, 0, 0, 0]],
    sail: [[1, 1, 1, 1], [1, 1, 1, 0], [1, 1, 0, 0]],
  });

  it('win rate per arm is the mean over repeats of the per-repeat win share', () => {
    const sail = cell(r.arms.find((a) => a.arm === 'sail')!, 'winRate');
    expect(sail.mean).toBeCloseTo(0.75, 12);
    expect(sail.low).toBeCloseTo(0.75 - (4.303 * 0.25) / Math.sqrt(3), 4);
    expect(sail.high).toBe(1);
    const table = resultsTable(r);
    // t over 3 repeats: 0.75 +- 4.303 * 0.25 / sqrt(3) = [0.129, 1.371], clipped to 1 for a share.
    expect(table).toContain('| SAIL | 75.0% [12.9, 100.0]');
    expect(table).toContain('| Diffusion-DPO, 16n pairs | 50.0% [');
    expect(table).toContain('| Base model | reference |');
  });

  it('paired differences are per-repeat differences', () => {
    const d = pairedDifference(r, 'sail', 'dpo-many', 'winRate');
    // per repeat: 1 - 0.75, 0.75 - 0.5, 0.5 - 0.25 = 0.25 each: zero spread.
    expect(d.mean).toBeCloseTo(0.25, 12);
    expect(d.high - d.low).toBeCloseTo(0, 12);
    expect(comparisonTable(r)).toContain('| SAIL on n vs Diffusion-DPO on 16n | +25.0 pp [25.0, 25.0]');
  });

  it('per-round tables and plots place SAIL by round and the others at the last round', () => {
    const t = roundsTable(r, 'winRate');
    expect(t).toContain('| SAIL | 50.0% [50.0, 50.0] | 75.0%');
    expect(t).toMatch(/\| Diffusion-DPO, 16n pairs \| - \| 50\.0%/);
    const series = seriesFor(r, 'winRate');
    expect(series.map((s) => s.horizontal)).toEqual([true, true, false]);
    const png = plotRounds(series, 2, { percent: true });
    expect(png.data.length).toBe(png.width * png.height * 4);
    expect(png.data.some((v) => v !== 255)).toBe(true);
  });
});

describe('repeats from two runs', () => {
  const wins = {
    base: [[0.5, 0.5], [0.5, 0.5], [0.5, 0.5], [0.5, 0.5]],
    'dpo-n': [[1, 0], [0, 0], [1, 1], [1, 0]],
    sail: [[1, 1], [1, 0], [1, 1], [0, 0]],
  };
  const whole = constructed(wins);
  const part = (from: number, count: number): EvalResult => {
    const r = constructed(Object.fromEntries(Object.entries(wins).map(([k, v]) => [k, v.slice(from, from + count)])));
    return { ...r, settings: { ...r.settings, repeats: count, ...(from ? { firstRepeat: from } : {}) }, seedPairs: r.seedPairs.map((p) => ({ ...p, ms: from })) };
  };

  it('one run of repeats 1-2 and one of 3-4 merge into the intervals of all four', () => {
    const merged = mergeRepeats([part(2, 2), part(0, 2)]);
    expect(merged.settings.repeats).toBe(4);
    expect(merged.seedPairs.map((p) => p.ms)).toEqual([0, 2]);
    for (const arm of ['dpo-n', 'sail']) {
      const a = cell(merged.arms.find((x) => x.arm === arm)!, 'winRate');
      const b = cell(whole.arms.find((x) => x.arm === arm)!, 'winRate');
      expect([a.mean, a.low, a.high]).toEqual([b.mean, b.low, b.high]);
    }
    expect(pairedDifference(merged, 'sail', 'dpo-n', 'winRate')).toEqual(pairedDifference(whole, 'sail', 'dpo-n', 'winRate'));
  });

  it('the settings key ignores the repeats and where firstRepeat sits in the object (the CLI writes it after repeats)', () => {
    const { repeats, ...rest } = whole.settings;
    expect(repeatsKey({ repeats: 2, firstRepeat: 4, ...rest })).toBe(repeatsKey(whole.settings));
    expect(repeatsKey({ ...whole.settings, beta: 1 })).not.toBe(repeatsKey(whole.settings));
    expect(repeats).toBe(4);
  });

  it('runs made with other engine defaults never share a key, and the recorded defaults are what the arms train with', () => {
    const engine = { ...DEFAULT_SAIL_SETTINGS, laterRoundRoom: 0.6 };
    const recorded = { ...whole.settings, engine };
    expect(repeatsKey(recorded)).not.toBe(repeatsKey(whole.settings));
    expect(repeatsKey({ ...whole.settings, engine: { ...engine, laterRoundRoom: 0 } })).not.toBe(repeatsKey(recorded));
    expect(armsKey({ ...whole.settings, engine: { ...engine, laterRoundRoom: 0 } })).not.toBe(armsKey(recorded));
    const other = part(2, 2);
    expect(() => mergeRepeats([{ ...part(0, 2), settings: { ...part(0, 2).settings, engine } }, other])).toThrow(/different settings/);
    expect(sailSettingsFor({ ...recorded, engine: { ...engine, laterRoundRoom: 0.3, driftBound: 0.2 } }, 1)).toMatchObject({ laterRoundRoom: 0.3, driftBound: 0.2 });
    expect(sailSettingsFor({ ...recorded, engine: { ...engine, driftBound: 0.2 }, sail: { driftBound: 0.05 } }, 1).driftBound).toBe(0.05);
  });

  it('refuses runs of other settings, overlapping repeats or a gap', () => {
    const other = part(2, 2);
    expect(() => mergeRepeats([part(0, 2), { ...other, settings: { ...other.settings, learningRate: 1 } }])).toThrow(/different settings/);
    expect(() => mergeRepeats([part(0, 2), part(1, 2)])).toThrow(/do not follow on/);
    expect(() => mergeRepeats([part(0, 1), part(2, 2)])).toThrow(/do not follow on/);
  });
});


describe('arms from two runs of the same repeats', () => {
  const wins = {
    base: [[0.5, 0.5], [0.5, 0.5], [0.5, 0.5]],
    'dpo-n': [[1, 0], [0, 0], [1, 1]],
    'dpo-many': [[1, 1], [0, 1], [1, 1]],
    'dpo-n-fine': [[1, 1], [1, 0], [0, 1]],
    sail: [[1, 1], [1, 0], [1, 1]],
  };
  const whole = constructed(wins);
  const pick = (ids: string[]) => {
    const r = constructed(Object.fromEntries(Object.entries(wins).filter(([k]) => ids.includes(k))));
    return { ...r, settings: { ...r.settings, arms: ids.filter((id) => id !== 'base') } };
  };

  it('joins a page run and a later run of other arms into every arm, paired by repeat as one run would', () => {
    const joined = joinArms([pick(['base', 'dpo-n', 'dpo-many', 'sail']), pick(['base', 'dpo-many', 'dpo-n-fine'])]);
    expect(joined.arms.map((a) => a.arm)).toEqual(['base', 'dpo-n', 'dpo-many', 'sail', 'dpo-n-fine']);
    expect(joined.settings.arms).toEqual(['dpo-n', 'dpo-many', 'sail', 'dpo-n-fine']);
    expect(joined.totalMs).toBe(2);
    expect(pairedDifference(joined, 'sail', 'dpo-n-fine', 'winRate')).toEqual(pairedDifference(whole, 'sail', 'dpo-n-fine', 'winRate'));
    expect(comparisonTable(joined)).toContain('checked as often');
  });

  it('repeats 1-2 run as two arm sets join repeats 3 run with every arm in another order', () => {
    const slice = (r: EvalResult, from: number, count: number, order: string[]): EvalResult => ({
      ...r,
      settings: { ...r.settings, arms: order, repeats: count, ...(from ? { firstRepeat: from } : {}) },
      arms: r.arms.map((a) => ({ ...a, points: a.points.map((p) => p.slice(from, from + count)) })),
    });
    const early = joinArms([slice(pick(['base', 'dpo-n', 'dpo-many', 'sail']), 0, 2, ['dpo-n', 'dpo-many', 'sail']), slice(pick(['base', 'dpo-many', 'dpo-n-fine']), 0, 2, ['dpo-many', 'dpo-n-fine'])]);
    const late = slice({ ...whole, arms: [...whole.arms].reverse() }, 2, 1, ['dpo-n', 'dpo-n-fine', 'dpo-many', 'sail']);
    expect(repeatsKey(late.settings)).toBe(repeatsKey(early.settings));
    const merged = mergeRepeats([early, late]);
    expect(merged.settings.repeats).toBe(3);
    for (const arm of ['dpo-n', 'dpo-n-fine', 'sail']) {
      const a = cell(merged.arms.find((x) => x.arm === arm)!, 'winRate');
      const b = cell(whole.arms.find((x) => x.arm === arm)!, 'winRate');
      expect([a.mean, a.low, a.high]).toEqual([b.mean, b.low, b.high]);
    }
  });

  it('refuses runs whose shared arm, seed pairs or settings differ', () => {
    const other = pick(['base', 'dpo-many', 'dpo-n-fine']);
    const shifted = { ...other, arms: other.arms.map((a) => (a.arm === 'dpo-many' ? { ...a, points: [a.points[0].map((p) => ({ ...p, winRate: [0, 0] }))] } : a)) };
    expect(() => joinArms([pick(['base', 'dpo-many', 'sail']), shifted])).toThrow(/dpo-many came out differently/);
    const seeds = { ...other, seedPairs: other.seedPairs.map((p) => ({ ...p, flipped: 2 })) };
    expect(() => joinArms([pick(['base', 'dpo-many', 'sail']), seeds])).toThrow(/seed pairs differ/);
    const later = { ...other, settings: { ...other.settings, firstRepeat: 3 } };
    expect(() => joinArms([pick(['base', 'dpo-many', 'sail']), later])).toThrow(/different settings or repeats/);
    // Nor is a kept check's drift, which runs before it was recorded lack.
    const withDrift = { ...other, arms: other.arms.map((a) => ({ ...a, kept: [{ repeat: 0, round: 0, step: 5, of: 60, drift: 0.05 }] })) };
    const withoutDrift = pick(['base', 'dpo-many', 'sail']);
    const plain = { ...withoutDrift, arms: withoutDrift.arms.map((a) => ({ ...a, kept: [{ repeat: 0, round: 0, step: 5, of: 60 }] })) };
    expect(joinArms([plain, withDrift]).arms).toHaveLength(4);
    // The timing of the seed pairs is not part of the check.
    const slower = { ...other, seedPairs: other.seedPairs.map((p) => ({ ...p, ms: 99 })) };
    expect(joinArms([pick(['base', 'dpo-many', 'sail']), slower]).arms).toHaveLength(4);
  });
});

describe("the Diffusion-DPO arms' schedule", () => {
  // The interval trainDpoRound checks at (src/core/sail/loop.ts).
  const interval = (s: { stepsPerRound: number; checksPerRound: number }) => Math.max(1, Math.round(s.stepsPerRound / Math.max(1, s.checksPerRound)));

  it("spend a whole SAIL run's budget; dpo-n-fine is checked as often as a SAIL round, dpo-n as often as a run", () => {
    const sail = { ...DEFAULT_SAIL_SETTINGS, stepsPerRound: 30, checksPerRound: 6 };
    for (const rounds of [1, 2]) {
      const coarse = dpoArmSettings(armById('dpo-n'), sail, rounds);
      const fine = dpoArmSettings(armById('dpo-n-fine'), sail, rounds);
      for (const s of [coarse, fine]) {
        expect(s.stepsPerRound).toBe(30 * (rounds + 1));
        expect(s.rounds).toBe(0);
        expect({ ...s, stepsPerRound: sail.stepsPerRound, rounds: sail.rounds, checksPerRound: sail.checksPerRound }).toEqual(sail);
      }
      expect(interval(fine)).toBe(interval(sail));
      expect(interval(coarse)).toBe(interval(sail) * (rounds + 1));
    }
    expect(armById('dpo-n-fine').pairs).toBe('n');
    expect(ARMS.filter((a) => a.fineChecks).map((a) => a.id)).toEqual(['dpo-n-fine']);
  });
});
