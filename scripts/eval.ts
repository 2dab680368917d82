// The paper's claim in miniature (issue 6): simulated annotators, every arm from one base model,
// win rates with 95% intervals. Writes a markdown report, one PNG per metric and oracle beside
// it, and the raw figures as JSON (<out>.json) from which --merge rebuilds a report.
//   npm run eval -- --oracle warm,bright --repeats 3 --out docs/results.md
//   npm run eval -- --quick                       (tiny settings for CI, out/eval-quick.md)
//   npm run eval -- --merge a.json,b.json --out docs/results.md
import { remoteHelper } from '../src/core/service/helperService';
import { nodeHelperPort } from './lib/helperPort';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { encodePng } from '../src/core/data/png';
import { runEvaluation } from '../src/core/eval/arms';
import { classifierCategories, parseClassifier } from '../src/core/eval/classifier';
import { BUILT_IN_ORACLES, parseOracleSpec, type PixelScore } from '../src/core/eval/oracles';
import { plotRounds } from '../src/core/eval/plot';
import { evalPromptSets } from '../src/core/eval/prompts';
import { anchorSetFor } from '../src/core/sail/anchor';
import { DEFAULT_SAIL_SETTINGS } from '../src/core/sail/settings';
import { loadEmojiDataset } from './lib/png';
import {
  ARM_IDS,
  DEFAULT_EVAL_SETTINGS,
  METRICS,
  QUICK_EVAL_SETTINGS,
  comparisonTable,
  describeSettings,
  figuresJson,
  joinArms,
  armsKey,
  mergeRepeats,
  repeatsKey,
  plotLegend,
  quickTable,
  roundsTable,
  seriesFor,
  timingTable,
  type EvalResult,
  type EvalSettings,
} from '../src/core/eval/summary';
import { parseArgs } from './lib/args';
import { loadCheckpointDir } from './lib/checkpointFs';
import { initNodeBackend } from './lib/nodeBackend';
import { formatDuration, ProgressBar } from './lib/progress';

const d = DEFAULT_EVAL_SETTINGS;
const spec = {
  oracle: { default: d.oracle, help: `taste oracle(s), comma-separated; each ${BUILT_IN_ORACLES.join(' | ')}, a weighted sum ("0.5*bright+contrast") or a path to a module exporting score(rgb, size, prompt)` },
  'held-out-oracle': { default: d.heldOutOracle, help: 'a second oracle no arm trains on' },
  n: { default: d.seedPairs, help: 'seed pairs n' },
  multiplier: { default: d.multiplier, help: 'the many-pairs DPO arm gets multiplier * n pairs' },
  rounds: { default: d.rounds, help: 'SAIL rounds after round 0' },
  repeats: { default: d.repeats, help: 'repeats (seeds) behind every interval' },
  'first-repeat': { default: 0, help: 'index of the first repeat: a run from repeat 4 adds repeats 5-8 to an earlier 4-repeat run (--merge joins them)' },
  'eval-prompts': { default: d.evalPrompts, help: 'held-out evaluation prompts' },
  samples: { default: d.samples, help: 'samples per evaluation prompt (>= 2, for diversity)' },
  'ddim-steps': { default: d.ddimSteps, help: 'DDIM steps for every image' },
  guidance: { default: d.guidance, help: 'classifier-free guidance' },
  'pair-guidance': { default: 0, help: 'guidance of the images that are paired (the seed pairs the clicker labels, SAIL\'s candidates); 0 = --guidance. Evaluation images keep --guidance' },
  prompts: { default: d.promptsPerRound, help: 'fresh prompts per SAIL round' },
  candidates: { default: d.candidates, help: 'SAIL candidates per prompt, N' },
  draws: { default: d.draws, help: 'implicit-reward draws, K' },
  steps: { default: d.stepsPerRound, help: 'DPO steps per round (DPO arms: (rounds + 1) x this)' },
  batch: { default: d.batchSize, help: 'pairs per DPO step' },
  lr: { default: d.learningRate, help: 'learning rate' },
  beta: { default: d.beta, help: 'DPO beta' },
  alpha: { default: d.alpha, help: 'SAIL mixup fraction of self pairs' },
  sharpness: { default: d.clicker.sharpness, help: 'clicker Bradley-Terry sharpness' },
  'flip-rate': { default: d.clicker.flipRate, help: 'clicker flip rate' },
  'skip-margin': { default: d.clicker.skipMargin, help: 'clicker skips reward differences below this' },
  seed: { default: d.seed, help: 'run seed' },
  arms: { default: ARM_IDS.join(','), help: 'arms to run (the base always runs)' },
  studio: { default: false, help: 'the studio\'s Run defaults (DEFAULT_SAIL_SETTINGS, 1 self-amplifying round) on n = 16, 4 repeats, 24 held-out prompts x 2: what a user gets' },
  'prior-weight': { default: 0, help: 'override the SAIL engine\'s prior-preservation weight (all trained arms)' },
  'later-prior-weight': { default: 0, help: 'override the prior weight of SAIL\'s later rounds (round 1 on; round 0 keeps --prior-weight or the default)' },
  'later-reference': { default: '', help: 'override the DPO reference of SAIL\'s later rounds: previous (the round\'s start, the paper) | base' },
  'later-start': { default: '', help: 'where SAIL\'s later rounds train from: previous (the round before\'s model, the paper) | base (the base again, against the base, on seed and self pairs; the previous model kept unless beaten on the held-out pairs)' },
  'positive-weight': { default: 0, help: 'override the DPO-Positive weight (all trained arms)' },
  'drift-bound': { default: 0, help: 'override the drift bound (all trained arms)' },
  patience: { default: 0, help: 'override the early-stopping patience (all trained arms)' },
  'reward-timesteps': { default: '', help: 'override the self labels\' reward timestep range, lo,hi (SAIL)' },
  'held-out-criterion': { default: '', help: 'override what the held-out pairs judge a check by: loss | soft-error | none (all trained arms; none: keep the last check within the drift bound, no early stopping)' },
  'candidate-noise-share': { default: -1, help: 'override the share of variance a prompt\'s SAIL candidates draw from one common noise, 0..1 (0: independent)' },
  'base-guard': { default: false, help: 'round 0 checked at step 0 too: it keeps the base unless a trained check beats it on the held-out pairs (all trained arms)' },
  pairing: { default: '', help: 'override how SAIL pairs a prompt\'s candidates: best-worst | random | against-base (N/2 of the model\'s samples against the base\'s from the same noises)' },
  'later-guard': { default: '', help: 'override what a later SAIL round is judged on: held-out | seeds | none (its last check within the drift bound)' },
  'prior-source': { default: '', help: 'override what the prior term denoises: real (the anchor emoji) | samples (the base model\'s samples of the anchor prompts)' },
  'drift-budget': { default: '', help: 'override how the drift bound is spent over rounds: whole (each round up to it) | per-round (round r up to bound (r+1)/(rounds+1))' },
  quick: { default: false, help: 'tiny settings for CI (1 repeat, 1 round, 4 prompts, 2 DDIM steps); explicit options still win' },
  model: { default: 'public/models/base', help: 'base checkpoint folder' },
  classifier: { default: 'public/models/classifier', help: 'evaluation classifier folder' },
  data: { default: 'public/data', help: 'dataset folder (prompt splits)' },
  out: { default: '', help: 'report path (default docs/results.md, or out/eval-quick.md with --quick)' },
  notes: { default: '', help: 'a markdown file whose text goes into the report under "Findings" (written by a person after reading the tables)' },
  'print-settings': { default: false, help: 'print the settings each oracle would run with (JSON) and exit' },
  merge: { default: '', help: 'comma-separated JSONs of earlier runs: write one report from them, run nothing (runs of later repeats join their repeats; runs of the same repeats with other arms join their arms, shared arms checked identical)' },
  backend: { default: 'wasm', help: 'wasm | cpu' },
  threads: { default: 1, help: 'worker threads: 2 gives a helper thread half of every trained arm\'s DPO steps and of SAIL\'s candidates (another core; equal up to float rounding, so runs with 1 and 2 differ slightly)' },
};

const sd = DEFAULT_SAIL_SETTINGS;
/** What a user of the studio gets: the Run tab's defaults, one self-amplifying round, 16 clicks. */
const STUDIO_EVAL_SETTINGS: EvalSettings = {
  ...DEFAULT_EVAL_SETTINGS,
  seedPairs: 16,
  rounds: 1,
  repeats: 4,
  evalPrompts: 24,
  samples: 2,
  ddimSteps: sd.ddimSteps,
  guidance: sd.guidance,
  pairGuidance: sd.candidateGuidance,
  promptsPerRound: sd.promptsPerRound,
  candidates: sd.candidatesPerPrompt,
  draws: sd.rewardDraws,
  stepsPerRound: sd.stepsPerRound,
  batchSize: sd.batchSize,
  learningRate: sd.learningRate,
  beta: sd.beta,
  alpha: sd.alpha,
  arms: ['dpo-n', 'dpo-n-fine', 'dpo-many', 'sail'],
};

type Args = ReturnType<typeof parseArgs<typeof spec>>;

function rangeArg(v: string): [number, number] {
  const [lo, hi] = v.split(',').map(Number);
  if (!(Number.isInteger(lo) && Number.isInteger(hi) && lo >= 0 && hi >= lo && hi <= 999)) throw new Error(`--reward-timesteps wants lo,hi with 0 <= lo <= hi <= 999, not "${v}"`);
  return [lo, hi];
}

function shareArg(v: number): number {
  if (!(v >= 0 && v < 1)) throw new Error(`--candidate-noise-share must be at least 0 and below 1, not ${v}`);
  return v;
}

/** A command-line choice among fixed words: the word itself, or an error naming every word allowed. */
function oneOf<const T extends readonly string[]>(flag: string, v: string, words: T): T[number] {
  if (words.includes(v)) return v as T[number];
  const list = words.length > 1 ? `${words.slice(0, -1).join(', ')} or ${words[words.length - 1]}` : words[0];
  throw new Error(`--${flag} is ${list}, not "${v}"`);
}

/** The settings: the mode's defaults, then every option given on the command line. */
function settingsFrom(args: Args, argv: string[], oracle: string): EvalSettings {
  const given = (k: string) => argv.includes(`--${k}`);
  const base = args.quick ? QUICK_EVAL_SETTINGS : args.studio ? STUDIO_EVAL_SETTINGS : DEFAULT_EVAL_SETTINGS;
  const pick = <T>(k: keyof typeof spec, fallback: T, conv: (v: unknown) => T): T => (given(k) ? conv(args[k]) : fallback);
  const num = Number;
  return {
    oracle,
    heldOutOracle: pick('held-out-oracle', base.heldOutOracle, String),
    seedPairs: pick('n', base.seedPairs, num),
    multiplier: pick('multiplier', base.multiplier, num),
    rounds: pick('rounds', base.rounds, num),
    repeats: pick('repeats', base.repeats, num),
    ...(given('first-repeat') ? { firstRepeat: num(args['first-repeat']) } : {}),
    evalPrompts: pick('eval-prompts', base.evalPrompts, num),
    samples: pick('samples', base.samples, num),
    ddimSteps: pick('ddim-steps', base.ddimSteps, num),
    guidance: pick('guidance', base.guidance, num),
    // The mode's pair guidance unless one is given (--studio: the studio's candidate guidance).
    ...(given('pair-guidance') ? { pairGuidance: num(args['pair-guidance']) } : base.pairGuidance !== undefined ? { pairGuidance: base.pairGuidance } : {}),
    promptsPerRound: pick('prompts', base.promptsPerRound, num),
    candidates: pick('candidates', base.candidates, num),
    draws: pick('draws', base.draws, num),
    stepsPerRound: pick('steps', base.stepsPerRound, num),
    batchSize: pick('batch', base.batchSize, num),
    learningRate: pick('lr', base.learningRate, num),
    beta: pick('beta', base.beta, num),
    alpha: pick('alpha', base.alpha, num),
    clicker: { sharpness: pick('sharpness', base.clicker.sharpness, num), flipRate: pick('flip-rate', base.clicker.flipRate, num), skipMargin: pick('skip-margin', base.clicker.skipMargin, num) },
    seed: pick('seed', base.seed, num),
    arms: pick('arms', base.arms, (v) => String(v).split(',').map((a) => a.trim()).filter(Boolean)),
    sail: {
      ...(given('prior-weight') ? { priorWeight: num(args['prior-weight']) } : {}),
      ...(given('later-prior-weight') ? { laterPriorWeight: num(args['later-prior-weight']) } : {}),
      ...(given('later-reference') ? { laterReference: oneOf('later-reference', String(args['later-reference']), ['previous', 'base'] as const) } : {}),
      ...(given('later-start') ? { laterStart: oneOf('later-start', String(args['later-start']), ['previous', 'base'] as const) } : {}),
      ...(given('positive-weight') ? { positiveWeight: num(args['positive-weight']) } : {}),
      ...(given('drift-bound') ? { driftBound: num(args['drift-bound']) } : {}),
      ...(given('patience') ? { patience: num(args.patience) } : {}),
      ...(given('reward-timesteps') ? { rewardTimesteps: rangeArg(String(args['reward-timesteps'])) } : {}),
      ...(given('candidate-noise-share') ? { candidateNoiseShare: shareArg(num(args['candidate-noise-share'])) } : {}),
      ...(given('pairing') ? { pairing: oneOf('pairing', String(args.pairing), ['best-worst', 'random', 'against-base'] as const) } : {}),
      ...(given('later-guard') ? { laterRoundGuard: oneOf('later-guard', String(args['later-guard']), ['held-out', 'seeds', 'none'] as const) } : {}),
      ...(given('prior-source') ? { priorSource: oneOf('prior-source', String(args['prior-source']), ['real', 'samples'] as const) } : {}),
      ...(given('drift-budget') ? { driftBudget: oneOf('drift-budget', String(args['drift-budget']), ['whole', 'per-round'] as const) } : {}),
      ...(given('base-guard') ? { baseGuard: Boolean(args['base-guard']) } : {}),
      ...(given('held-out-criterion') ? { heldOutCriterion: oneOf('held-out-criterion', String(args['held-out-criterion']), ['loss', 'soft-error', 'none'] as const) } : {}),
    },
    engine: DEFAULT_SAIL_SETTINGS,
  };
}

/** Plug-in oracles: every term of the specs that is not a built-in is a module path. */
async function loadPlugins(specs: string[]): Promise<Record<string, PixelScore>> {
  const plugins: Record<string, PixelScore> = {};
  for (const term of specs.flatMap((s) => parseOracleSpec(s))) {
    if (BUILT_IN_ORACLES.includes(term.name) || term.name in plugins) continue;
    const path = resolve(term.name);
    if (!existsSync(path)) throw new Error(`Unknown oracle "${term.name}": not one of ${BUILT_IN_ORACLES.join(', ')} and no such module file`);
    const mod = (await import(pathToFileURL(path).href)) as { score?: unknown; default?: { score?: unknown } };
    const score = mod.score ?? mod.default?.score;
    if (typeof score !== 'function') throw new Error(`${term.name} does not export a function score(rgb, size, prompt)`);
    plugins[term.name] = score as PixelScore;
  }
  return plugins;
}

interface RunRecord {
  result: EvalResult;
  command: string;
  machine: string;
  model: string;
  modelProvenance: string;
  date: string;
}

/** Runs grouped by a key of their settings, each group of more than one joined into one run. */
function joinGroups(runs: RunRecord[], key: (s: EvalResult['settings']) => string, join: (rs: EvalResult[]) => EvalResult): RunRecord[] {
  const groups = new Map<string, RunRecord[]>();
  for (const r of runs) {
    const k = key(r.result.settings);
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  return [...groups.values()].map((g) =>
    g.length === 1
      ? g[0]
      : {
          ...g[0],
          result: join(g.map((r) => r.result)),
          command: g.map((r) => r.command).join('` + `'),
          date: g.map((r) => r.date).join(' and '),
        },
  );
}

/**
 * Runs of one oracle with the same settings and consecutive repeats (--first-repeat) become one
 * run whose intervals cover every repeat; runs of the same repeats with different arms become one
 * run with every arm, the arms they share checked identical (joinArms); then repeats again, so
 * repeats 1-8 run as two arm sets join repeats 9-16 run with all of them. Other runs stay as they
 * are, in order of first appearance.
 */
const joinRuns = (runs: RunRecord[]) => {
  const repeats = (rs: RunRecord[]) => joinGroups(rs, repeatsKey, mergeRepeats);
  return repeats(joinGroups(repeats(runs), armsKey, joinArms));
};

const slug = (s: string) => s.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '').toLowerCase() || 'oracle';

function writeReport(runs: RunRecord[], out: string, notes = ''): void {
  const dir = dirname(out);
  const stem = basename(out).replace(/\.md$/, '');
  mkdirSync(dir, { recursive: true });
  const lines: string[] = [];
  lines.push('# SAIL in miniature: simulated annotators, every arm, 95% intervals\n');
  lines.push('Written by `npm run eval` (scripts/eval.ts, src/core/eval/). A hidden taste oracle stands in for a person; a simulated clicker (Bradley-Terry with sharpness, a flip rate and a skip margin for near-ties, B-Pref style) labels pairs the base model draws. Every arm starts from the same base model; the Diffusion-DPO arms spend the optimiser budget of a whole SAIL run. Metrics come from held-out evaluation prompts that no arm makes pairs from, each image compared with the base model\'s image from the same initial noise. Intervals: 95% Student-t over repeats (paired by repeat for differences), or Wilson / bootstrap when there is one repeat.\n');
  const commands = [...new Set(runs.map((r) => r.command))];
  lines.push(`Command${commands.length > 1 ? 's' : ''}: ${commands.map((c) => `\`${c}\``).join(', ')}\n`);
  if (notes) lines.push(`## Findings\n\n${notes.trim()}\n`);
  for (const run of runs) {
    const r = run.result;
    const oslug = slug(r.settings.oracle);
    lines.push(`## Oracle \`${r.settings.oracle}\` (held-out oracle \`${r.settings.heldOutOracle}\`)\n`);
    lines.push(`Run ${run.date} on ${run.machine}, backend ${r.backend}; base model \`${run.model}\` (${run.modelProvenance}); wall time ${formatDuration(r.totalMs / 1000)} for this oracle.\n`);
    lines.push(`Settings: ${describeSettings(r.settings)}\n`);
    lines.push('### Final models\n');
    lines.push(quickTable(r) + '\n');
    lines.push('### The questions, as paired differences\n');
    lines.push(comparisonTable(r) + '\n');
    lines.push('### Wall time per arm\n');
    lines.push(timingTable(r) + '\n');
    lines.push('### Across rounds\n');
    lines.push(`Legend: ${plotLegend(r)}. Error bars: 95% intervals.\n`);
    for (const m of METRICS) {
      const series = seriesFor(r, m.id);
      if (series.length === 0) continue;
      const file = `${stem}-${oslug}-${slug(m.id)}.png`;
      writeFileSync(join(dir, file), encodePng(plotRounds(series, r.settings.rounds + 1, { percent: m.proportion })));
      lines.push(`#### ${m.label}\n\n${m.why}.\n\n![${m.label}](${file})\n\n${roundsTable(r, m.id)}\n`);
    }
  }
  writeFileSync(out, lines.join('\n'));
  writeFileSync(out.replace(/\.md$/, '') + '.json', JSON.stringify({ runs: runs.map((run) => ({ ...run, figures: figuresJson(run.result) })) }, null, 1) + '\n');
}

async function main() {
  const argv = process.argv.slice(2);
  const args = parseArgs(argv, spec, 'npm run eval -- [options]');
  const out = String(args.out) || (args.quick ? 'out/eval-quick.md' : 'docs/results.md');
  if (args.merge) {
    const runs = joinRuns(
      String(args.merge)
        .split(',')
        .flatMap((p) => (JSON.parse(readFileSync(p, 'utf8')) as { runs: RunRecord[] }).runs),
    );
    writeReport(runs, out, args.notes ? readFileSync(String(args.notes), 'utf8') : '');
    console.log(`merged ${runs.length} run(s) into ${out}`);
    return;
  }
  if (args['print-settings']) {
    for (const o of String(args.oracle).split(',').map((x) => x.trim()).filter(Boolean)) console.log(JSON.stringify(settingsFrom(args, argv, o)));
    return;
  }
  const backend = await initNodeBackend(String(args.backend));
  const base = loadCheckpointDir(String(args.model));
  const cdir = String(args.classifier);
  const classifier = parseClassifier(readFileSync(join(cdir, 'config.json'), 'utf8'), readFileSync(join(cdir, 'model.safetensors')));
  const manifest = JSON.parse(readFileSync(join(String(args.data), 'emoji-32.json'), 'utf8'));
  if (JSON.stringify(classifierCategories(manifest)) !== JSON.stringify(classifier.categories)) throw new Error('The classifier\'s categories do not match the dataset manifest; retrain it (npm run train-classifier)');
  const prompts = evalPromptSets(manifest, classifier.categories);
  const data = loadEmojiDataset(String(args.data));
  const anchor = await anchorSetFor(base, data.manifest, { pixels: data.atlasRGBA, width: data.width, channels: 4 });
  const oracleSpecs = String(args.oracle).split(',').map((s) => s.trim()).filter(Boolean);
  const settingsList = oracleSpecs.map((o) => settingsFrom(args, argv, o));
  const plugins = await loadPlugins([...oracleSpecs, settingsList[0].heldOutOracle]);
  const p = base.config.provenance ?? {};
  const cpu = cpus();
  const run = {
    command: ['npm run eval', ...(argv.length ? ['--', ...argv] : [])].join(' '),
    machine: `${cpu.length} x ${cpu[0]?.model.trim() ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`,
    model: String(args.model),
    modelProvenance: `unetStepsDone ${String(p.unetStepsDone ?? '?')}, ${String(p.command ?? 'no provenance')}`,
    date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
  };
  const records: RunRecord[] = [];
  const threads = Number(args.threads);
  if (threads !== 1 && threads !== 2) throw new Error(`--threads is 1 or 2, not ${args.threads}`);
  const helper = threads === 2 ? remoteHelper(nodeHelperPort, base) : undefined;
  for (const settings of settingsList) {
    let bar: ProgressBar | undefined;
    let total = 0;
    const result = await runEvaluation({ base, classifier, prompts, plugins, anchor }, settings, {
      backend,
      helper,
      onProgress: (e) => {
        total = e.total;
        bar ??= new ProgressBar(`eval ${settings.oracle}`, e.total);
        bar.update(e.done, e.stage);
      },
    });
    bar?.update(total, 'done', true);
    records.push({ result, ...run });
    console.log(`\n${settings.oracle}: ${formatDuration(result.totalMs / 1000)}\n${quickTable(result)}\n`);
    writeReport(records, out, args.notes ? readFileSync(String(args.notes), 'utf8') : ''); // after each oracle, so a long run leaves its finished part
  }
  helper?.close();
  console.log(`wrote ${out} (+ plots and ${out.replace(/\.md$/, '')}.json)`);
}

main().catch((e) => {
  console.error(`eval failed: ${(e as Error).message}`);
  process.exit(1);
});
