// The Run tab's progress estimate: fed the event stream a real run emits (the order of
// src/core/sail/loop.ts and the worker), with time passing in proportion to the work, it rises
// steadily from 0 to 1 and its time left comes out right.
import { describe, expect, it } from 'vitest';
import type { SailEvent, SailSettings } from '../src/core/sail/loop';
import { DEFAULT_SAIL_SETTINGS } from '../src/core/sail/settings';
import { describePosition, estimateRunMs, FALLBACK_MS_PER_PASS, formatDuration, msPerPassFrom, round0OnlyMs, roundWork, RunProgress, runPasses, TWO_WORKER_SPEEDUP } from '../src/app/run/runProgress';
import { presetOf, presetSettings, RUN_PRESETS, settingsProblems, withDefaults } from '../src/app/run/runSettings';

type Tick = { event: SailEvent } | { saved: number };

/** The stream of one run, each item with the work (UNet evaluations) done just before it. */
function stream(s: SailSettings, gridCells: number, fromRound: number): { tick: Tick; work: number }[] {
  const out: { tick: Tick; work: number }[] = [];
  for (let round = fromRound; round <= s.rounds; round++) {
    const w = roundWork(s, round, gridCells);
    if (round > 0) {
      out.push({ tick: { event: { type: 'phase', round, phase: 'generate' } }, work: 0 });
      for (let p = 1; p <= s.promptsPerRound; p++) out.push({ tick: { event: { type: 'progress', round, phase: 'generate', done: p, total: s.promptsPerRound } }, work: w.generate / s.promptsPerRound });
      for (let p = 1; p <= s.promptsPerRound; p++) {
        if (p === 1) out.push({ tick: { event: { type: 'phase', round, phase: 'score' } }, work: w.score / s.promptsPerRound });
        out.push({ tick: { event: { type: 'progress', round, phase: 'score', done: p, total: s.promptsPerRound } }, work: p === 1 ? 0 : w.score / s.promptsPerRound });
      }
    }
    out.push({ tick: { event: { type: 'phase', round, phase: 'train' } }, work: 0 });
    for (let step = 1; step <= s.stepsPerRound; step++) {
      out.push({ tick: { event: { type: 'step', round, total: s.stepsPerRound, step, loss: 0.69, implicitAccuracy: 0.5, rewardMargin: 0 } }, work: w.train / s.stepsPerRound });
      // The held-out and drift checks between steps (checksPerRound of them).
      if (step % Math.max(1, Math.round(s.stepsPerRound / s.checksPerRound)) === 0) out.push({ tick: { event: { type: 'check', round, step, heldOutAccuracy: 0.5, heldOutLoss: 0.69, drift: 0.01 } }, work: 0 });
    }
    // The worker renders the grid and posts the round before the engine's round-done event.
    out.push({ tick: { saved: round }, work: w.save });
    out.push({ tick: { event: { type: 'round-done', round, record: {} as never } }, work: 0 });
  }
  return out;
}

function replay(s: SailSettings, gridCells: number, fromRound: number, msPerUnit = 1) {
  let now = 0;
  const progress = new RunProgress(s, gridCells, fromRound, () => now);
  const fractions = [progress.fraction()];
  const estimates: { left: number | null; actual: number }[] = [];
  const items = stream(s, gridCells, fromRound);
  const totalMs = items.reduce((t, i) => t + i.work * msPerUnit, 0);
  for (const { tick, work } of items) {
    now += work * msPerUnit;
    if ('saved' in tick) progress.onRoundSaved(tick.saved);
    else progress.onEvent(tick.event);
    fractions.push(progress.fraction());
    estimates.push({ left: progress.timeLeftMs(), actual: totalMs - now });
  }
  return { fractions, estimates, progress };
}

describe('RunProgress', () => {
  const settings = { ...DEFAULT_SAIL_SETTINGS, rounds: 2, promptsPerRound: 6, stepsPerRound: 10 };

  it('rises steadily from 0 to 1 over a whole run', () => {
    const { fractions } = replay(settings, 8, 0);
    expect(fractions[0]).toBe(0);
    expect(fractions.at(-1)).toBe(1);
    for (let i = 1; i < fractions.length; i++) expect(fractions[i]).toBeGreaterThanOrEqual(fractions[i - 1]);
    // No event moves the bar by more than the largest single unit of work (one generated prompt).
    const biggest = Math.max(...fractions.slice(1).map((f, i) => f - fractions[i]));
    const perPrompt = roundWork(settings, 1, 8).generate / settings.promptsPerRound;
    const total = [0, 1, 2].reduce((t, r) => { const w = roundWork(settings, r, 8); return t + w.generate + w.score + w.train + w.save; }, 0);
    expect(biggest).toBeLessThanOrEqual(perPrompt / total + 1e-12);
  });

  it('tracks the work done, not the count of events', () => {
    const { fractions } = replay(settings, 8, 0);
    const items = stream(settings, 8, 0);
    const total = items.reduce((t, i) => t + i.work, 0);
    let done = 0;
    items.forEach((item, i) => {
      done += item.work;
      // Off by at most the work between two events (the bar moves when an event says so).
      expect(Math.abs(fractions[i + 1] - done / total)).toBeLessThan(0.07);
    });
  });

  it('estimates the time left from the pace so far', () => {
    const { estimates } = replay(settings, 8, 0);
    expect(estimates[0].left).toBeNull();
    const later = estimates.slice(Math.floor(estimates.length / 3), -1).filter((e) => e.left !== null);
    expect(later.length).toBeGreaterThan(10);
    for (const e of later) expect(Math.abs(e.left! - e.actual)).toBeLessThan(0.35 * (e.actual + 2000));
    expect(estimates.at(-1)!.left).toBe(0);
  });

  it('counts no candidates for a later round with alpha 0 (it trains on the seed pairs alone)', () => {
    const w = roundWork({ ...settings, alpha: 0 }, 1, 8);
    expect(w.generate).toBe(0);
    expect(w.score).toBe(0);
    expect(w.train).toBe(roundWork(settings, 1, 8).train);
  });

  it('starts a resumed run where the finished rounds left it and ignores stale events', () => {
    const { fractions, progress } = replay(settings, 8, 1);
    const r0 = roundWork(settings, 0, 8);
    const all = [0, 1, 2].map((r) => roundWork(settings, r, 8)).reduce((t, w) => t + w.generate + w.score + w.train + w.save, 0);
    expect(fractions[0]).toBeCloseTo((r0.train + r0.save) / all, 12);
    expect(fractions.at(-1)).toBe(1);
    progress.onEvent({ type: 'step', round: 0, total: 10, step: 3, loss: 1, implicitAccuracy: 0, rewardMargin: 0 });
    expect(progress.fraction()).toBe(1);
  });

  it('words the position and durations for the page', () => {
    expect(describePosition({ round: 0, phase: 'train', done: 3, total: 30 }, 3)).toBe('Round 0 (seed pairs): Diffusion-DPO, step 3 of 30');
    expect(describePosition({ round: 2, phase: 'generate', done: 5, total: 32 }, 3)).toBe('Round 2 of 3: generating candidates, prompt 5 of 32');
    expect(formatDuration(200)).toBe('under a second');
    expect(formatDuration(45_400)).toBe('45 s');
    expect(formatDuration(200_000)).toBe('3 min 20 s');
  });
});

describe('the estimate before Start and the presets', () => {
  const d = DEFAULT_SAIL_SETTINGS;

  it('counts every round of the run, by hand', () => {
    const round0 = d.stepsPerRound * d.batchSize * 2 * 6 + 8 * d.ddimSteps * 2;
    const candidates = d.promptsPerRound * d.candidatesPerPrompt;
    const later = candidates * d.ddimSteps * 2 + candidates * d.rewardDraws * 2 + round0;
    expect(runPasses(d, 8)).toBe(round0 + d.rounds * later);
    expect(estimateRunMs(d, 8, 2)).toBe(2 * runPasses(d, 8));
    // A second worker (the helper on another core) takes the measured share off.
    expect(estimateRunMs(d, 8, 2, 2)).toBeCloseTo((2 * runPasses(d, 8)) / TWO_WORKER_SPEEDUP, 6);
    expect(TWO_WORKER_SPEEDUP).toBeGreaterThan(1);
    // The fallback pace is the measured default run: on two workers its passes take its 37.9 s.
    expect(estimateRunMs({ ...d, rounds: 1 }, 8, FALLBACK_MS_PER_PASS, 2)).toBeCloseTo(37_900, 0);
    expect(msPerPassFrom(4000, 4, 25)).toBe(20);
    expect(msPerPassFrom(0, 4, 25)).toBeNull();
  });

  it('gives the shorter time of a run that ends after round 0 where a later round needs room in the drift bound', () => {
    const round0 = d.stepsPerRound * d.batchSize * 2 * 6 + 8 * d.ddimSteps * 2;
    expect(d.laterRoundRoom).toBeGreaterThan(0);
    expect(round0OnlyMs(d, 8, 2)).toBe(2 * round0);
    expect(round0OnlyMs(d, 8, 2, 2)).toBeCloseTo((2 * round0) / TWO_WORKER_SPEEDUP, 6);
    expect(round0OnlyMs(d, 8, 2)!).toBeLessThan(estimateRunMs(d, 8, 2) / 2);
    // Every round runs: no room rule, no later round, or later rounds that start from the base.
    expect(round0OnlyMs({ ...d, laterRoundRoom: 0 }, 8, 2)).toBeNull();
    expect(round0OnlyMs({ ...d, rounds: 0 }, 8, 2)).toBeNull();
    expect(round0OnlyMs({ ...d, laterStart: 'base' }, 8, 2)).toBeNull();
  });

  it('knows its presets, keeps the seed, and calls anything else custom', () => {
    const mine = { ...d, seed: 7 };
    expect(presetOf(mine)?.id).toBe('measured');
    for (const p of RUN_PRESETS) {
      const s = presetSettings(p, mine);
      expect(s.seed).toBe(7);
      expect(presetOf(s)?.id).toBe(p.id);
    }
    expect(presetOf({ ...d, learningRate: 1e-5 })).toBeNull();
    const quick = presetSettings(RUN_PRESETS.find((p) => p.id === 'quick')!, d);
    expect(runPasses(quick, 8)).toBeLessThan(runPasses(d, 8));
    // Round 0 alone: no candidates to sample and score, one round of training.
    const pairsOnly = presetSettings(RUN_PRESETS.find((p) => p.id === 'pairs-only')!, d);
    expect(pairsOnly.rounds).toBe(0);
    expect(settingsProblems(pairsOnly)).toEqual([]);
    expect(runPasses(pairsOnly, 8)).toBeLessThan(runPasses(d, 8) / 4);
    const three = presetSettings(RUN_PRESETS.find((p) => p.id === 'three')!, d);
    expect(runPasses(three, 8)).toBeGreaterThan(2 * runPasses(d, 8));
  });
});

describe('saved settings', () => {
  it('new settings get the pair guidance; settings saved before it keep sampling candidates at their guidance', () => {
    expect(withDefaults(null).candidateGuidance).toBe(6);
    expect(withDefaults({ ...DEFAULT_SAIL_SETTINGS }).candidateGuidance).toBe(6);
    const { candidateGuidance: _dropped, ...old } = { ...DEFAULT_SAIL_SETTINGS, guidance: 3 };
    void _dropped;
    const filled = withDefaults(old);
    expect(filled.candidateGuidance).toBe(3);
    expect(filled.guidance).toBe(3);
    expect(settingsProblems(filled)).toEqual([]);
    expect(settingsProblems({ ...DEFAULT_SAIL_SETTINGS, candidateGuidance: undefined })).toEqual([]);
    expect(settingsProblems({ ...DEFAULT_SAIL_SETTINGS, candidateGuidance: 40 })).toEqual(['Candidate guidance must be between 1 and 20.']);
    expect(settingsProblems({ ...DEFAULT_SAIL_SETTINGS, pairing: 'against-base' })).toEqual([]);
    expect(settingsProblems({ ...DEFAULT_SAIL_SETTINGS, pairing: 'against-base', candidatesPerPrompt: 7 })).toEqual([expect.stringMatching(/even number of candidates/)]);
  });
});
