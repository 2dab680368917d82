// Paired differences of a regulariser ablation against the default run: for every arm both runs
// have, the final round's taste win rate, held-out-oracle win rate and prompt fidelity, ablated
// minus default, paired by repeat (the same seeds give the same seed pairs), with a 95% Student-t
// interval. The runs are JSONs that `npm run eval -- --out X.md` writes next to X.md.
// Usage: npx tsx scripts/ablation-diff.ts [--against ARM] [--round0] [default.json] [ablation.json ...]
//   default: docs/results.json against docs/ablations/*.json
//   --against ARM: every arm of the ablation against the default run's ARM (e.g. dpo-n: a SAIL
//   variant run alone, `--arms sail`, against Diffusion-DPO on the same seed pairs)
//   --round0: every arm's final round against its own round 0 (no default run: every path is an ablation)
//   Each arm's differences are also pooled over every oracle and file given (the last rows).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tInterval } from '../src/core/eval/interval';

interface Run { command: string; result: { settings: { oracle: string }; arms: { arm: string; points: Record<string, unknown>[][] }[] } }

const runsOf = (path: string): Run[] => (JSON.parse(readFileSync(path, 'utf8')) as { runs: Run[] }).runs;
const value = (point: Record<string, unknown>, metric: string): number => {
  const v = point[metric];
  if (Array.isArray(v)) return v.reduce((s: number, x) => s + Number(x), 0) / v.length;
  return Number(v);
};
const pp = (x: number) => (100 * x).toFixed(1);

const argv = process.argv.slice(2);
const flag = (name: string): boolean => {
  const i = argv.indexOf(name);
  if (i >= 0) argv.splice(i, 1);
  return i >= 0;
};
const option = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  if (i < 0) return undefined;
  const v = argv[i + 1];
  if (!v) throw new Error(`${name} wants a value`);
  argv.splice(i, 2);
  return v;
};
const against = option('--against');
const round0 = flag('--round0');
// With --round0 every path is an ablation (no default run is read).
const [defaultPath = 'docs/results.json', ...given] = round0 ? ['', ...argv] : argv;
const ablations = given.length > 0 ? given : readdirSync('docs/ablations').filter((f) => f.endsWith('.json')).map((f) => join('docs/ablations', f));
const defaults = round0 ? [] : runsOf(defaultPath);
console.log('| ablation | oracle | arm | taste win rate | held-out oracle win rate | prompt fidelity |');
console.log('|---|---|---|---|---|---|');
const METRICS = ['winRate', 'heldOutWinRate', 'fidelity'];
const interval = (diffs: number[], detail: string) => {
  const m = tInterval(diffs);
  return `${pp(m.mean)} pp [${pp(m.low)}, ${pp(m.high)}] (${detail})`;
};
const armLabel = (arm: string) => (round0 ? `${arm} (final - round 0)` : against ? `${arm} - ${against}` : arm);
const pooled = new Map<string, Record<string, number[]>>();
for (const path of ablations) {
  for (const run of runsOf(path)) {
    const oracle = run.result.settings.oracle;
    const def = round0 ? run : defaults.find((r) => r.result.settings.oracle === oracle);
    if (!def) continue;
    // The run's regulariser overrides, else its file (a merged run's command lists every part).
    const overrides = run.command.match(/--(prior|positive)-weight \S+/g)?.join(' ') ?? path;
    for (const arm of run.result.arms) {
      const other = round0 ? arm : def.result.arms.find((a) => a.arm === (against ?? arm.arm));
      // --round0: an arm of one round (the Diffusion-DPO arms) has nothing to compare.
      if (arm.arm === 'base' || !other || (round0 && arm.points.length < 2)) continue;
      const last = arm.points[arm.points.length - 1];
      const lastDef = round0 ? arm.points[0] : other.points[other.points.length - 1];
      const cells = METRICS.map((metric) => {
        // Paired by repeat: as many as both runs have.
        const diffs = last.slice(0, lastDef.length).map((p, i) => value(p, metric) - value(lastDef[i], metric));
        const pool = pooled.get(arm.arm) ?? {};
        (pool[metric] ??= []).push(...diffs);
        pooled.set(arm.arm, pool);
        return interval(diffs, diffs.map((d) => pp(d)).join(', '));
      });
      console.log(`| ${overrides} | ${oracle} | ${armLabel(arm.arm)} | ${cells.join(' | ')} |`);
    }
  }
}
for (const [arm, pool] of pooled) {
  const cells = METRICS.map((metric) => interval(pool[metric] ?? [], `${(pool[metric] ?? []).length} repeats`));
  console.log(`| pooled | all | ${armLabel(arm)} | ${cells.join(' | ')} |`);
}
