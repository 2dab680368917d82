// `npm run eval -- --quick` end to end on the tiny checkpoint (what CI runs), and the evaluation
// engine in-process: it frees every tensor it makes, also when cancelled mid-run.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { CancelledError } from '../src/core/generate';
import { runEvaluation, type EvalInputs } from '../src/core/eval/arms';
import { parseClassifier } from '../src/core/eval/classifier';
import { evalPromptSets } from '../src/core/eval/prompts';
import { ARMS, METRICS, QUICK_EVAL_SETTINGS, quickTable } from '../src/core/eval/summary';
import { parseCheckpoint } from '../src/core/io/checkpoint';
import { DEFAULT_SAIL_SETTINGS } from '../src/core/sail/settings';
import { useBackend } from './helpers';

const TINY = 'test/fixtures/tiny-base';

function runCli(out: string, extra: string[] = []): string {
  return execFileSync('node', ['--import', './scripts/lib/node-tfjs.mjs', '--import', 'tsx', 'scripts/eval.ts', '--quick', '--model', TINY, '--out', out, ...extra], { encoding: 'utf8', timeout: 180_000 });
}

/** The main table's rows from a report: arm label -> cells. */
function tableRows(md: string): Map<string, string[]> {
  const start = md.indexOf('| Arm | Win rate vs base');
  const rows = md.slice(start).split('\n\n')[0].split('\n').slice(2);
  return new Map(rows.map((row) => {
    const cells = row.split('|').slice(1, -1).map((c) => c.trim());
    return [cells[0], cells.slice(1)];
  }));
}

describe('npm run eval -- --quick', () => {
  it('writes a well-formed report whose numbers are computed from the run', () => {
    const dir = mkdtempSync(join(tmpdir(), 'eval-quick-'));
    runCli(join(dir, 'a.md'));
    const a = readFileSync(join(dir, 'a.md'), 'utf8');
    const rows = tableRows(a);
    expect([...rows.keys()]).toEqual(ARMS.map((arm) => arm.label.replace('{m}', String(QUICK_EVAL_SETTINGS.multiplier))));
    const figure = /^(-?\d+\.\d+%?( \[-?\d+\.\d+, -?\d+\.\d+\])?|reference|-)$/;
    for (const cells of rows.values()) {
      expect(cells).toHaveLength(METRICS.length);
      for (const c of cells) expect(c).toMatch(figure);
    }
    // Computed, not constant: the arms differ (another seed differs too: see below).
    const rewards = [...rows.values()].map((cells) => cells[1]);
    expect(new Set(rewards).size).toBeGreaterThan(1);
    expect(a).toContain('Command: `npm run eval -- --quick');
    expect(a).toMatch(/### Wall time per arm/);
    const json = JSON.parse(readFileSync(join(dir, 'a.json'), 'utf8'));
    expect(json.runs[0].result.settings.rounds).toBe(QUICK_EVAL_SETTINGS.rounds);
    const pngs = readdirSync(dir).filter((f) => f.startsWith('a-') && f.endsWith('.png'));
    expect(pngs.length).toBe(METRICS.length);
    for (const f of pngs) expect(statSync(join(dir, f)).size).toBeLessThan(100_000);
    // --merge rebuilds the same report from the JSON.
    execFileSync('node', ['--import', './scripts/lib/node-tfjs.mjs', '--import', 'tsx', 'scripts/eval.ts', '--merge', join(dir, 'a.json'), '--out', join(dir, 'c.md')], { encoding: 'utf8' });
    expect(readFileSync(join(dir, 'c.md'), 'utf8').replaceAll('](c-', '](a-')).toBe(a);
  });
});

describe('npm run eval -- --studio', () => {
  const settings = (extra: string[]) =>
    JSON.parse(execFileSync('node', ['--import', './scripts/lib/node-tfjs.mjs', '--import', 'tsx', 'scripts/eval.ts', '--oracle', 'warm', '--print-settings', ...extra], { encoding: 'utf8', timeout: 60_000 }).trim());

  it("pairs at the studio's candidate guidance unless --pair-guidance says otherwise", () => {
    expect(settings(['--studio']).pairGuidance).toBe(DEFAULT_SAIL_SETTINGS.candidateGuidance);
    expect(settings(['--studio']).guidance).toBe(DEFAULT_SAIL_SETTINGS.guidance);
    expect(settings(['--studio', '--pair-guidance', '3']).pairGuidance).toBe(3);
    expect(settings([]).pairGuidance).toBeUndefined();
  });

  it("records the engine's defaults it trains with, so runs before and after a default changed never merge", () => {
    expect(settings(['--studio']).engine).toEqual(JSON.parse(JSON.stringify(DEFAULT_SAIL_SETTINGS)));
  });

  it('passes the pairing and the later rounds\' prior weight to SAIL, and refuses an unknown pairing', () => {
    expect(settings(['--studio', '--pairing', 'against-base', '--later-prior-weight', '0']).sail).toEqual({ pairing: 'against-base', laterPriorWeight: 0 });
    expect(settings(['--studio']).sail).toEqual({});
    expect(() => settings(['--pairing', 'closest'])).toThrow(/--pairing is best-worst, random or against-base, not "closest"/);
    expect(settings(['--studio', '--later-start', 'base', '--drift-budget', 'per-round']).sail).toEqual({ laterStart: 'base', driftBudget: 'per-round' });
    expect(() => settings(['--drift-budget', 'half'])).toThrow(/--drift-budget is whole or per-round, not "half"/);
  });
});

describe('runEvaluation', () => {
  async function inputs(): Promise<EvalInputs> {
    await useBackend('wasm');
    const base = parseCheckpoint(readFileSync(`${TINY}/config.json`, 'utf8'), readFileSync(`${TINY}/model.safetensors`));
    const classifier = parseClassifier(readFileSync('public/models/classifier/config.json', 'utf8'), readFileSync('public/models/classifier/model.safetensors'));
    const manifest = JSON.parse(readFileSync('public/data/emoji-32.json', 'utf8'));
    return { base, classifier, prompts: evalPromptSets(manifest, classifier.categories) };
  }

  it('pair guidance changes the seed pairs and the candidates, never the evaluation images', async () => {
    const inp = await inputs();
    const settings = { ...QUICK_EVAL_SETTINGS, arms: ['dpo-n', 'sail'] };
    const plain = await runEvaluation(inp, settings, { backend: 'wasm' });
    const paired = await runEvaluation(inp, { ...settings, pairGuidance: 9 }, { backend: 'wasm' });
    const points = (r: typeof plain, arm: string) => JSON.stringify(r.arms.find((a) => a.arm === arm)!.points);
    expect(points(paired, 'base')).toBe(points(plain, 'base'));
    expect(points(paired, 'dpo-n')).not.toBe(points(plain, 'dpo-n'));
    expect(points(paired, 'sail')).not.toBe(points(plain, 'sail'));
    // Every kept check carries its drift from the base (what a rule on round 1's room would read).
    const kept = plain.arms.flatMap((a) => a.kept ?? []).filter((k) => k.step !== null);
    expect(kept.length).toBeGreaterThan(0);
    for (const k of kept) expect(Number.isFinite(k.drift)).toBe(true);
  });

  it('replays exactly, frees its tensors, and stops at the next step when cancelled', async () => {
    const inp = await inputs();
    const before = tf.memory().numTensors;
    const settings = { ...QUICK_EVAL_SETTINGS, arms: ['dpo-n', 'sail', 'sail-round0-judge'] };
    const events: string[] = [];
    const first = await runEvaluation(inp, settings, { backend: 'wasm', onProgress: (e) => events.push(e.stage) });
    expect(tf.memory().numTensors).toBe(before);
    const again = await runEvaluation(inp, settings, { backend: 'wasm' });
    expect(quickTable(again)).toBe(quickTable(first));
    // Another seed and a plug-in oracle give other figures.
    const { score } = await import('./fixtures/oracle-greenness.mjs');
    const green = 'test/fixtures/oracle-greenness.mjs';
    const other = await runEvaluation({ ...inp, plugins: { [green]: score } }, { ...settings, seed: 2, oracle: green }, { backend: 'wasm' });
    expect(quickTable(other)).not.toBe(quickTable(first));
    expect(quickTable(other)).toContain(`(${green})`);
    expect(events.some((s) => s.includes('round 2: train step'))).toBe(true);
    // Self-annotation accuracy exists for rounds 1..R of SAIL only.
    const sail = first.arms.find((a) => a.arm === 'sail')!;
    expect(sail.points).toHaveLength(settings.rounds + 1);
    expect(sail.points[0][0].selfAccuracy).toBeUndefined();
    expect(sail.points[1][0].selfAccuracy!.length).toBeGreaterThan(0);

    // Cancel in the middle of a training round: it stops within a step and leaks nothing.
    let stepsAfterCancel = 0;
    let cancel = false;
    const run = runEvaluation(inp, settings, {
      backend: 'wasm',
      isCancelled: () => cancel,
      onProgress: (e) => {
        if (cancel && e.stage.includes('step')) stepsAfterCancel++;
        if (e.stage.includes('SAIL round 0 on the seed pairs: step 1/')) cancel = true;
      },
    });
    await expect(run).rejects.toBeInstanceOf(CancelledError);
    expect(stepsAfterCancel).toBeLessThanOrEqual(1);
    expect(tf.memory().numTensors).toBe(before);
  });
});
