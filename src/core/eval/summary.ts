// The evaluation's vocabulary and its tables, without TF.js (the app renders the same tables the
// CLI writes): the arms (defined once; everything else derives from this list), the metrics, the
// settings and the raw results, and the markdown that summarises them with 95% intervals.
import type { SailSettings } from '../sail/loop';
import type { ClickerSettings } from './clicker';
import { DEFAULT_CLICKER, checkClicker } from './clicker';
import { figureInterval, tInterval, type Interval } from './interval';
import { PLOT_COLOURS, type PlotSeries } from './plot';

/** The built-in taste oracles (oracles.ts computes them). */
export const BUILT_IN_ORACLES: readonly string[] = ['warm', 'cool', 'bright', 'dark', 'contrast', 'symmetric', 'bold', 'fidelity'];

export interface OracleTerm {
  weight: number;
  /** A built-in name, or a plug-in key (e.g. the module path the CLI loaded). */
  name: string;
}

/** "0.5*bright+contrast" -> [{0.5, bright}, {1, contrast}]. */
export function parseOracleSpec(spec: string): OracleTerm[] {
  const terms = spec.split('+').map((t) => t.trim());
  if (terms.some((t) => t === '')) throw new Error(`Oracle "${spec}" has an empty term; write e.g. "warm+fidelity" or "0.5*bright+contrast"`);
  return terms.map((t) => {
    const m = /^(?:([-+]?[0-9]*\.?[0-9]+(?:e[-+]?[0-9]+)?)\s*\*\s*)?(.+)$/i.exec(t)!;
    const weight = m[1] === undefined ? 1 : Number(m[1]);
    return { weight, name: m[2].trim() };
  });
}

/** Settings a user typed, checked with messages they can act on; `plugins`: extra oracle names. */
export function checkEvalSettings(s: EvalSettings, plugins: readonly string[] = []): void {
  for (const spec of [s.oracle, s.heldOutOracle]) {
    for (const t of parseOracleSpec(spec)) {
      if (!Number.isFinite(t.weight)) throw new Error(`Oracle "${spec}": the weight of "${t.name}" is not a number`);
      if (!BUILT_IN_ORACLES.includes(t.name) && !plugins.includes(t.name)) throw new Error(`Unknown oracle "${t.name}": use ${BUILT_IN_ORACLES.join(', ')} or a weighted sum such as "0.5*bright+contrast"`);
    }
  }
  const ints: [string, number, number][] = [
    ['seedPairs', s.seedPairs, 1],
    ['multiplier', s.multiplier, 1],
    ['rounds', s.rounds, 1],
    ['repeats', s.repeats, 1],
    ['firstRepeat', s.firstRepeat ?? 0, 0],
    ['evalPrompts', s.evalPrompts, 1],
    ['samples', s.samples, 2],
    ['ddimSteps', s.ddimSteps, 1],
    ['promptsPerRound', s.promptsPerRound, 1],
    ['candidates', s.candidates, 2],
    ['draws', s.draws, 1],
    ['stepsPerRound', s.stepsPerRound, 1],
    ['batchSize', s.batchSize, 1],
  ];
  for (const [name, v, min] of ints) if (!Number.isInteger(v) || v < min) throw new Error(`${name} must be a whole number >= ${min}, got ${v}`);
  for (const [name, v] of [['learningRate', s.learningRate], ['beta', s.beta], ['guidance', s.guidance], ['pairGuidance', s.pairGuidance ?? s.guidance]] as const) {
    if (!(v > 0) || !Number.isFinite(v)) throw new Error(`${name} must be a positive number, got ${v}`);
  }
  if (!(s.alpha >= 0 && s.alpha <= 1)) throw new Error(`alpha must be in [0, 1], got ${s.alpha}`);
  checkClicker(s.clicker);
  for (const id of s.arms) armById(id);
}

export type ArmKind = 'base' | 'dpo' | 'sail';

export interface ArmDefinition {
  id: string;
  label: string;
  kind: ArmKind;
  /** dpo: which seed set it trains on: the n seed pairs, or `multiplier` x n simulated pairs. */
  pairs?: 'n' | 'many';
  /**
   * dpo: checked as often as a SAIL round is (every stepsPerRound / checksPerRound steps, so
   * checksPerRound x (rounds + 1) checks over the whole budget) instead of checksPerRound times over
   * it: the early-stopping granularity of SAIL's round 0.
   */
  fineChecks?: boolean;
  /** sail: how it differs from SAIL as shipped. */
  variant?: { alpha?: number; pairing?: SailSettings['pairing']; judge?: 'current' | 'round0' };
  /** One line on what the arm tests. */
  why: string;
}

export const ARMS: readonly ArmDefinition[] = [
  { id: 'base', label: 'Base model', kind: 'base', why: 'the reference every win rate is against' },
  { id: 'dpo-n', label: 'Diffusion-DPO, n seed pairs', kind: 'dpo', pairs: 'n', why: 'the seed-only control the reviewers asked for' },
  { id: 'dpo-many', label: 'Diffusion-DPO, {m}n pairs', kind: 'dpo', pairs: 'many', why: 'the paper\'s comparison: DPO on about 16x more labelled pairs' },
  { id: 'sail', label: 'SAIL', kind: 'sail', variant: {}, why: 'SAIL on the n seed pairs' },
  {
    id: 'dpo-n-fine',
    label: 'Diffusion-DPO, n seed pairs, checked as often as a SAIL round',
    kind: 'dpo',
    pairs: 'n',
    fineChecks: true,
    why: "the seed-only control with round 0's check interval: whether SAIL's lead is its schedule",
  },
  {
    id: 'dpo-n-rounds',
    label: "Diffusion-DPO, n seed pairs, SAIL's rounds",
    kind: 'sail',
    variant: { alpha: 0 },
    why: "the seed pairs alone in SAIL's rounds (the same round 0, guard and steps; no self pairs): what self-amplification adds",
  },
  { id: 'sail-no-mixup', label: 'SAIL without mixup', kind: 'sail', variant: { alpha: 1 }, why: 'self pairs only in rounds >= 1 (alpha = 1)' },
  { id: 'sail-random-pairs', label: 'SAIL, random pairing', kind: 'sail', variant: { pairing: 'random' }, why: 'two random candidates instead of best vs worst' },
  { id: 'sail-round0-judge', label: 'SAIL, round-0 judge', kind: 'sail', variant: { judge: 'round0' }, why: 'the fixed round-0 model scores candidates instead of the current one' },
];

export const ARM_IDS: readonly string[] = ARMS.map((a) => a.id);

export function armById(id: string): ArmDefinition {
  const arm = ARMS.find((a) => a.id === id);
  if (!arm) throw new Error(`Unknown arm "${id}": use ${ARM_IDS.join(', ')}`);
  return arm;
}

export type MetricId = 'winRate' | 'meanReward' | 'heldOutWinRate' | 'fidelity' | 'diversity' | 'selfAccuracy';

export interface MetricDefinition {
  id: MetricId;
  label: string;
  /** Items are 0/0.5/1 outcomes: percent, and the Wilson interval for one repeat. */
  proportion: boolean;
  why: string;
}

export const METRICS: readonly MetricDefinition[] = [
  { id: 'winRate', label: 'Win rate vs base', proportion: true, why: 'share of held-out images the oracle prefers to the base model\'s image from the same noise (ties half)' },
  { id: 'meanReward', label: 'Mean oracle reward', proportion: false, why: 'the oracle\'s mean score of the held-out images' },
  { id: 'heldOutWinRate', label: 'Held-out oracle win rate', proportion: true, why: 'win rate vs base under a second oracle no arm trains on: a drop exposes over-optimisation' },
  { id: 'fidelity', label: 'Prompt fidelity', proportion: true, why: 'the evaluation classifier\'s accuracy on the prompt\'s category' },
  { id: 'diversity', label: 'Diversity', proportion: false, why: 'mean pairwise RMS distance of the samples of one prompt ([-1, 1] pixels)' },
  { id: 'selfAccuracy', label: 'Self-annotation accuracy', proportion: true, why: 'share of the round\'s self pairs whose winner the oracle also prefers' },
];

export interface EvalSettings {
  /** Taste oracle spec of the simulated annotator (oracles.ts). */
  oracle: string;
  /** A second oracle no arm trains on. */
  heldOutOracle: string;
  /** n: seed pairs of SAIL and of the seed-only DPO arm. */
  seedPairs: number;
  /** The many-pairs DPO arm trains on multiplier * n simulated pairs (paper: about 16). */
  multiplier: number;
  rounds: number;
  repeats: number;
  /** The first repeat's index (default 0): a later run with firstRepeat = k adds repeats k, k+1, ... to an earlier one (mergeRepeats). */
  firstRepeat?: number;
  /** Held-out evaluation prompts and samples per prompt. */
  evalPrompts: number;
  samples: number;
  ddimSteps: number;
  guidance: number;
  /** Guidance of the images that are paired: the seed pairs the clicker labels and SAIL's candidates (absent: `guidance`; evaluation images always use `guidance`). */
  pairGuidance?: number;
  /** SAIL: fresh prompts per round, candidates N, reward draws K, steps per round. */
  promptsPerRound: number;
  candidates: number;
  draws: number;
  stepsPerRound: number;
  batchSize: number;
  learningRate: number;
  beta: number;
  alpha: number;
  clicker: ClickerSettings;
  seed: number;
  /** Arms to run (ids); the base always runs. */
  arms: string[];
  /** Overrides of the SAIL engine's other settings (the safety terms, the confidence gate), applied to every trained arm. */
  sail?: Partial<SailSettings>;
  /**
   * The SAIL engine's defaults the run trained with (DEFAULT_SAIL_SETTINGS when it ran; `sail` and
   * the fields above override them). Recorded so that runs made before and after a default changed
   * never merge as one (repeatsKey, armsKey); absent in runs from before 2026-12-06's sixteenth session.
   */
  engine?: SailSettings;
}

/**
 * The settings of the full run in docs/results.md, sized for a shared 2-core machine (one repeat
 * of one oracle: about 10-20 minutes on wasm). lr 1e-4 rather than the SAIL default 3e-4: at 3e-4
 * every trained arm lost prompt fidelity in the earlier session's run.
 */
export const DEFAULT_EVAL_SETTINGS: EvalSettings = {
  oracle: 'warm',
  heldOutOracle: 'fidelity',
  seedPairs: 8,
  multiplier: 16,
  rounds: 3,
  repeats: 3,
  evalPrompts: 12,
  samples: 2,
  ddimSteps: 8,
  guidance: 4,
  promptsPerRound: 6,
  candidates: 4,
  draws: 4,
  stepsPerRound: 16,
  batchSize: 8,
  learningRate: 1e-4,
  beta: 100,
  alpha: 0.25,
  clicker: DEFAULT_CLICKER,
  seed: 1,
  arms: [...ARM_IDS],
};

/** Tiny settings for CI and the e2e check: one repeat, two rounds (so the judges differ), a handful of images. */
export const QUICK_EVAL_SETTINGS: EvalSettings = {
  ...DEFAULT_EVAL_SETTINGS,
  seedPairs: 2,
  multiplier: 4,
  rounds: 2,
  repeats: 1,
  evalPrompts: 4,
  samples: 2,
  ddimSteps: 2,
  promptsPerRound: 2,
  candidates: 3,
  draws: 1,
  stepsPerRound: 2,
  batchSize: 2,
};

/** Per-item values of one metric at one evaluation point, for one repeat. */
export type PointItems = Partial<Record<MetricId, number[]>>;

export interface ArmResult {
  arm: string;
  /**
   * [point][repeat]: SAIL arms have one point per round (0..rounds), the others one (the final
   * model, trained with the optimiser budget of a whole SAIL run).
   */
  points: PointItems[][];
  /** Per repeat: milliseconds making the model (seed pairs excluded) and evaluating it. */
  trainMs: number[];
  evalMs: number[];
  /** SAIL: rounds the drift bound refused (the run kept the round before; later points repeat it). */
  refused?: { repeat: number; round: number; notStarted?: boolean }[];
  /** Which check each trained round kept (step of steps; 0 = its start) and why it ended early. */
  kept?: KeptCheck[];
}

export interface KeptCheck {
  repeat: number;
  round: number;
  step: number | null;
  of: number;
  stoppedEarly?: string;
  /** The kept check's drift from the base (absent in runs before 2026-12-06's fifteenth session, and for a refused round). */
  drift?: number;
}

export interface SeedPairStats {
  /** Labelled pairs made, pairs skipped as near-ties, answers flipped. */
  labelled: number;
  skipped: number;
  flipped: number;
  /** Share of labelled pairs whose label agrees with the noiseless oracle. */
  agreement: number;
  ms: number;
}

export interface EvalResult {
  settings: EvalSettings;
  arms: ArmResult[];
  /** Per repeat. */
  seedPairs: SeedPairStats[];
  backend: string;
  totalMs: number;
}

export interface SummaryCell extends Interval {
  metric: MetricId;
}

const metricDef = (id: MetricId) => METRICS.find((m) => m.id === id)!;

/** The interval of a metric at point `point` of an arm (default: its last point). */
export function cell(result: ArmResult, metric: MetricId, point = result.points.length - 1): SummaryCell {
  const perRepeat = (result.points[point] ?? []).map((items) => items[metric] ?? []);
  return { metric, ...figureInterval(perRepeat, metricDef(metric).proportion) };
}

/** The last point of an arm that has a value of `metric` (self accuracy has none at round 0). */
function lastPointWith(result: ArmResult, metric: MetricId): number {
  for (let p = result.points.length - 1; p >= 0; p--) if (result.points[p].some((items) => (items[metric]?.length ?? 0) > 0)) return p;
  return -1;
}

/** An arm's label with the run's multiplier filled in ("Diffusion-DPO, 16n pairs"). */
export function armLabel(id: string, s: Pick<EvalSettings, 'multiplier'>): string {
  return armById(id).label.replace('{m}', String(s.multiplier));
}

export function formatCell(c: Interval, proportion: boolean): string {
  if (!Number.isFinite(c.mean)) return 'n/a';
  const f = (v: number) => (proportion ? (100 * v).toFixed(1) : v.toFixed(3));
  const unit = proportion ? '%' : '';
  if (!Number.isFinite(c.low)) return `${f(c.mean)}${unit}`;
  return `${f(c.mean)}${unit} [${f(c.low)}, ${f(c.high)}]`;
}

const metricHeader = (m: MetricDefinition, s: EvalSettings) =>
  m.id === 'winRate' || m.id === 'meanReward' ? `${m.label} (${s.oracle})` : m.id === 'heldOutWinRate' ? `${m.label} (${s.heldOutOracle})` : m.label;

/** The main table: one row per arm, its final model, every figure with its 95% interval. */
export function resultsTable(r: EvalResult): string {
  const lines = [`| Arm | ${METRICS.map((m) => metricHeader(m, r.settings)).join(' | ')} |`, `|${'---|'.repeat(METRICS.length + 1)}`];
  for (const a of r.arms) {
    const cells = METRICS.map((m) => {
      if (a.arm === 'base' && (m.id === 'winRate' || m.id === 'heldOutWinRate')) return 'reference';
      const p = m.id === 'selfAccuracy' ? lastPointWith(a, m.id) : a.points.length - 1;
      return p < 0 ? '-' : formatCell(cell(a, m.id, p), m.proportion);
    });
    lines.push(`| ${armLabel(a.arm, r.settings)} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

/** Per-round figures of one metric: SAIL arms by round, the others at their final model. */
export function roundsTable(r: EvalResult, metric: MetricId): string {
  const m = metricDef(metric);
  const rounds = r.settings.rounds;
  const header = `| Arm | ${Array.from({ length: rounds + 1 }, (_, k) => `round ${k}`).join(' | ')} |`;
  const lines = [header, `|${'---|'.repeat(rounds + 2)}`];
  for (const a of r.arms) {
    const def = armById(a.arm);
    const cells = Array.from({ length: rounds + 1 }, (_, k) => {
      // Non-SAIL arms spend a whole SAIL run's optimiser budget: their one point sits at the last round.
      const point = def.kind === 'sail' ? k : k === rounds ? 0 : -1;
      if (point < 0 || !a.points[point]?.some((items) => (items[metric]?.length ?? 0) > 0)) return '-';
      return formatCell(cell(a, metric, point), m.proportion);
    });
    if (cells.every((c) => c === '-')) continue;
    lines.push(`| ${armLabel(a.arm, r.settings)} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

const minutes = (ms: readonly number[]) => (ms.reduce((a, b) => a + b, 0) / Math.max(ms.length, 1) / 60000).toFixed(2);

/** Wall time per arm, mean over repeats. */
export function timingTable(r: EvalResult): string {
  const lines = ['| Arm | train min / repeat | eval min / repeat |', '|---|---|---|'];
  for (const a of r.arms) lines.push(`| ${armLabel(a.arm, r.settings)} | ${minutes(a.trainMs)} | ${minutes(a.evalMs)} |`);
  const seedMs = r.seedPairs.map((s) => s.ms);
  lines.push(`| (simulated seed pairs, shared) | ${minutes(seedMs)} | - |`);
  return lines.join('\n');
}

export function describeSettings(s: EvalSettings): string {
  const c = s.clicker;
  return [
    `oracle \`${s.oracle}\`, held-out oracle \`${s.heldOutOracle}\`; n = ${s.seedPairs} seed pairs, ${s.multiplier}n = ${s.multiplier * s.seedPairs} for the many-pairs DPO arm;`,
    `${s.rounds} SAIL rounds after round 0, ${s.promptsPerRound} fresh prompts per round, N = ${s.candidates} candidates, K = ${s.draws} reward draws, alpha = ${s.alpha};`,
    `${s.stepsPerRound} DPO steps per round at batch ${s.batchSize}, lr ${s.learningRate}, beta ${s.beta} (DPO arms: ${(s.rounds + 1) * s.stepsPerRound} steps, the same budget);`,
    `evaluation: ${s.evalPrompts} held-out prompts x ${s.samples} samples, DDIM ${s.ddimSteps} steps, guidance ${s.guidance}${s.pairGuidance !== undefined ? ` (pairs: seed pairs and SAIL candidates at guidance ${s.pairGuidance})` : ''}; clicker sharpness ${c.sharpness}, flip rate ${c.flipRate}, skip margin ${c.skipMargin};`,
    `${s.repeats} repeat(s) from seed ${s.seed}.`,
  ].join(' ');
}

/**
 * The figures of a run as plain data (the JSON beside the report): every cell's mean and
 * interval, per arm and point.
 */
export function figuresJson(r: EvalResult): unknown {
  return {
    settings: r.settings,
    backend: r.backend,
    totalMinutes: r.totalMs / 60000,
    seedPairs: r.seedPairs,
    arms: r.arms.map((a) => ({
      arm: a.arm,
      label: armLabel(a.arm, r.settings),
      trainMinutes: a.trainMs.map((ms) => ms / 60000),
      evalMinutes: a.evalMs.map((ms) => ms / 60000),
      points: a.points.map((_, p) => Object.fromEntries(METRICS.map((m) => [m.id, cell(a, m.id, p)]).filter(([, c]) => Number.isFinite((c as SummaryCell).mean)))),
    })),
  };
}

/** Lines of one metric's plot: SAIL arms across rounds, the others as horizontal lines. */
export function seriesFor(r: EvalResult, metric: MetricId): PlotSeries[] {
  const out: PlotSeries[] = [];
  r.arms.forEach((a) => {
    const def = armById(a.arm);
    const colour = PLOT_COLOURS[ARMS.findIndex((x) => x.id === a.arm) % PLOT_COLOURS.length];
    const cells = a.points.map((_, p) => cell(a, metric, p));
    if (cells.every((c) => !Number.isFinite(c.mean))) return;
    out.push({ label: armLabel(a.arm, r.settings), colour, mean: cells.map((c) => c.mean), low: cells.map((c) => c.low), high: cells.map((c) => c.high), horizontal: def.kind !== 'sail' });
  });
  return out;
}

const hex = (c: readonly number[]) => `#${c.map((v) => v.toString(16).padStart(2, '0')).join('')}`;

/** The legend of the plots: each arm's colour and style. */
export function plotLegend(r: EvalResult): string {
  return r.arms
    .map((a) => `${armLabel(a.arm, r.settings)} ${hex(PLOT_COLOURS[ARMS.findIndex((x) => x.id === a.arm) % PLOT_COLOURS.length])} (${armById(a.arm).kind === 'sail' ? 'solid, per round' : 'dashed, final model'})`)
    .join('; ');
}

/** The quick table the Evaluate tab shows and e2e compares with the CLI: the main table plus seed-pair stats. */
export function quickTable(r: EvalResult): string {
  const seeds = r.seedPairs.map((p, i) => `repeat ${i + 1}: ${p.labelled} labelled, ${p.skipped} skipped, ${p.flipped} flipped, ${(100 * p.agreement).toFixed(1)}% agree with the oracle`).join('; ');
  const refused = r.arms.flatMap((a) => (a.refused ?? []).map((x) => `${armLabel(a.arm, r.settings)} round ${x.round} in repeat ${x.repeat + 1}${x.notStarted ? ' (not started: no room left)' : ''}`));
  const kept = r.arms
    .filter((a) => a.kept?.length)
    .map((a) => {
      const rounds = [...new Set(a.kept!.map((k) => k.round))].sort((x, y) => x - y);
      const perRound = rounds.map((round) => {
        const ks = a.kept!.filter((k) => k.round === round).sort((x, y) => x.repeat - y.repeat);
        const steps = ks.map((k) => `${k.step === null ? 'refused' : k.step}${k.stoppedEarly ? '*' : ''}`).join(', ');
        return `${rounds.length > 1 || armById(a.arm).kind === 'sail' ? `round ${round} ` : ''}${steps} of ${ks[0].of}`;
      });
      return `${armLabel(a.arm, r.settings)}: ${perRound.join('; ')}`;
    });
  const keptLine = kept.length ? `\n\nKept check, step per repeat (* stopped early on the held-out loss or drift): ${kept.join('; ')}.` : '';
  return `${resultsTable(r)}\n\nSeed pairs: ${seeds}.${refused.length ? `\n\nRefused by the drift bound (the round before was kept): ${refused.join('; ')}.` : ''}${keptLine}`;
}

/** The settings of a run without which repeats it ran: runs with the same key can be merged. */
export function repeatsKey(settings: EvalSettings): string {
  const { repeats: _repeats, firstRepeat: _first, ...rest } = settings;
  // The same arms in another order (a CLI default listed differently) run the same arms.
  return JSON.stringify({ ...rest, arms: [...rest.arms].sort() });
}

/**
 * One result from runs of the same settings that ran different repeats (firstRepeat 0, then 4, ...):
 * every per-repeat list concatenated in repeat order, so intervals and paired differences cover all
 * of them. Refuses runs whose settings differ in anything but repeats and firstRepeat, or whose
 * repeats overlap.
 */
export function mergeRepeats(results: readonly EvalResult[]): EvalResult {
  if (results.length === 0) throw new Error('mergeRepeats needs at least one result');
  const sorted = [...results].sort((a, b) => (a.settings.firstRepeat ?? 0) - (b.settings.firstRepeat ?? 0));
  const key = (r: EvalResult) => repeatsKey(r.settings);
  let next = sorted[0].settings.firstRepeat ?? 0;
  for (const r of sorted) {
    if (key(r) !== key(sorted[0])) throw new Error(`Cannot merge the repeats of runs with different settings (oracle ${r.settings.oracle})`);
    if ((r.settings.firstRepeat ?? 0) !== next) throw new Error(`Repeats do not follow on: expected the run from repeat ${next}, got one from ${r.settings.firstRepeat ?? 0}`);
    next += r.settings.repeats;
    const ids = (x: EvalResult) => x.arms.map((a) => a.arm).sort().join();
    if (ids(r) !== ids(sorted[0])) throw new Error('Cannot merge runs with different arms');
  }
  const first = sorted[0];
  const arms: ArmResult[] = first.arms.map((a) => {
    const all = sorted.map((r) => r.arms.find((x) => x.arm === a.arm)!);
    const refused = all.flatMap((x) => x.refused ?? []);
    const kept = all.flatMap((x) => x.kept ?? []);
    return {
      arm: a.arm,
      points: a.points.map((_, p) => all.flatMap((x) => x.points[p])),
      trainMs: all.flatMap((x) => x.trainMs),
      evalMs: all.flatMap((x) => x.evalMs),
      ...(refused.length ? { refused } : {}),
      ...(kept.length ? { kept } : {}),
    };
  });
  return {
    settings: { ...first.settings, repeats: next - (first.settings.firstRepeat ?? 0) },
    arms,
    seedPairs: sorted.flatMap((r) => r.seedPairs),
    backend: first.backend,
    totalMs: sorted.reduce((t, r) => t + r.totalMs, 0),
  };
}

/** The settings of a run without its arm list: runs of the same repeats with the same key can join their arms. */
export function armsKey(settings: EvalSettings): string {
  const { arms: _arms, ...rest } = settings;
  const entries = Object.entries({ ...rest, firstRepeat: rest.firstRepeat ?? 0 }).sort(([a], [b]) => a.localeCompare(b));
  return JSON.stringify(entries);
}

/**
 * One result from runs of the same settings and repeats that ran different arms (a page's dpo-n,
 * dpo-many and sail, and a later run's dpo-many and dpo-n-fine): the union of their arms in ARMS
 * order, so the report pairs every arm with every other by repeat. An arm two runs share (the base
 * at least) must have come out the same in every repeat, figures and kept checks, and the seed
 * pairs must be the same: the evidence that both runs drew the same seed pairs, prompts and noise.
 * Refuses runs that differ in anything else.
 */
export function joinArms(results: readonly EvalResult[]): EvalResult {
  if (results.length === 0) throw new Error('joinArms needs at least one result');
  const first = results[0];
  const seeds = (r: EvalResult) => JSON.stringify(r.seedPairs.map(({ ms: _ms, ...rest }) => rest));
  // The kept checks by step only: runs from before the drift was recorded join runs after it.
  const outcome = (a: ArmResult) => JSON.stringify({ points: a.points, refused: a.refused ?? [], kept: (a.kept ?? []).map(({ repeat, round, step, of }) => ({ repeat, round, step, of })) });
  const byId = new Map<string, ArmResult>();
  for (const r of results) {
    if (armsKey(r.settings) !== armsKey(first.settings)) throw new Error(`Cannot join the arms of runs with different settings or repeats (oracle ${r.settings.oracle})`);
    if (seeds(r) !== seeds(first)) throw new Error(`Cannot join the arms of runs whose seed pairs differ (oracle ${r.settings.oracle})`);
    for (const a of r.arms) {
      const seen = byId.get(a.arm);
      if (seen && outcome(seen) !== outcome(a)) throw new Error(`Cannot join: arm ${a.arm} came out differently in the two runs (oracle ${r.settings.oracle}), so they did not draw the same pairs and noise`);
      if (!seen) byId.set(a.arm, a);
    }
  }
  const order = (id: string) => {
    const i = ARMS.findIndex((x) => x.id === id);
    return i < 0 ? ARMS.length : i;
  };
  const arms = [...byId.values()].sort((a, b) => order(a.arm) - order(b.arm));
  return {
    ...first,
    settings: { ...first.settings, arms: arms.map((a) => a.arm).filter((id) => id !== 'base') },
    arms,
    totalMs: results.reduce((t, r) => t + r.totalMs, 0),
  };
}

/** Paired differences (same repeat, same seed pairs and noise) between arm `a` and arm `b`, final models. */
export function pairedDifference(r: EvalResult, a: string, b: string, metric: MetricId): Interval {
  const ra = r.arms.find((x) => x.arm === a);
  const rb = r.arms.find((x) => x.arm === b);
  if (!ra || !rb) return { mean: NaN, low: NaN, high: NaN, method: 'none', n: 0 };
  const last = (x: ArmResult) => x.points[x.points.length - 1];
  const diffs = last(ra)
    .map((items, i) => {
      const other = last(rb)[i];
      const xs = items[metric] ?? [];
      const ys = other?.[metric] ?? [];
      if (xs.length === 0 || ys.length === 0) return NaN;
      return xs.reduce((s, v) => s + v, 0) / xs.length - ys.reduce((s, v) => s + v, 0) / ys.length;
    })
    .filter(Number.isFinite);
  if (diffs.length === 1) return { mean: diffs[0], low: NaN, high: NaN, method: 'none', n: 1 };
  return tInterval(diffs);
}

/** The questions of the issue as paired differences of final models, in percentage points. */
export const COMPARISONS: readonly { a: string; b: string; question: string }[] = [
  { a: 'sail', b: 'dpo-many', question: 'SAIL on n vs Diffusion-DPO on {m}n' },
  { a: 'sail', b: 'dpo-n', question: 'SAIL on n vs Diffusion-DPO on the same n' },
  { a: 'sail', b: 'dpo-n-rounds', question: "SAIL on n vs Diffusion-DPO on the same n in SAIL's rounds" },
  { a: 'sail', b: 'dpo-n-fine', question: 'SAIL on n vs Diffusion-DPO on the same n, checked as often' },
  { a: 'sail', b: 'sail-no-mixup', question: 'mixup: SAIL vs SAIL without mixup' },
  { a: 'sail', b: 'sail-random-pairs', question: 'pairing: best-vs-worst vs random' },
  { a: 'sail', b: 'sail-round0-judge', question: 'judge: current model vs fixed round-0 model' },
];

export function comparisonTable(r: EvalResult): string {
  const metrics = METRICS.filter((m) => m.id === 'winRate' || m.id === 'heldOutWinRate' || m.id === 'fidelity' || m.id === 'diversity');
  const lines = [`| Comparison (A - B, paired by repeat) | ${metrics.map((m) => metricHeader(m, r.settings)).join(' | ')} |`, `|${'---|'.repeat(metrics.length + 1)}`];
  for (const c of COMPARISONS) {
    if (!r.arms.some((x) => x.arm === c.a) || !r.arms.some((x) => x.arm === c.b)) continue;
    const cells = metrics.map((m) => {
      const raw = pairedDifference(r, c.a, c.b, m.id);
      // A difference of two shares lies in [-1, 1]; the t half-width with 3 repeats can leave it.
      const d = m.proportion ? { ...raw, low: Math.max(-1, raw.low), high: Math.min(1, raw.high) } : raw;
      if (!Number.isFinite(d.mean)) return 'n/a';
      // Rounded first, so a difference of 1e-17 prints as 0.0, not -0.0.
      const f = (v: number) => {
        const text = m.proportion ? (100 * v).toFixed(1) : v.toFixed(3);
        return Number(text) === 0 ? text.replace('-', '') : text;
      };
      const head = `${Number(f(d.mean)) > 0 ? '+' : ''}${f(d.mean)}${m.proportion ? ' pp' : ''}`;
      return Number.isFinite(d.low) ? `${head} [${f(d.low)}, ${f(d.high)}]` : head;
    });
    lines.push(`| ${c.question.replace('{m}', String(r.settings.multiplier))} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}
