// Paired differences of a regulariser ablation against the default run: for every arm both runs
// have, the final round's taste win rate, held-out-oracle win rate and prompt fidelity, ablated
// minus default, paired by repeat (the same seeds give the same seed pairs), with a 95% Student-t
// interval. The runs are JSONs that `npm run eval -- --out X.md` writes next to X.md.
// Usage: npx tsx scripts/ablation-diff.ts [default.json] [ablation.json ...]
//   default: docs/results.json against docs/ablations/*.json
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

const [defaultPath = 'docs/results.json', ...given] = process.argv.slice(2);
const ablations = given.length > 0 ? given : readdirSync('docs/ablations').filter((f) => f.endsWith('.json')).map((f) => join('docs/ablations', f));
const defaults = runsOf(defaultPath);
console.log('| ablation | oracle | arm | taste win rate | held-out oracle win rate | prompt fidelity |');
console.log('|---|---|---|---|---|---|');
for (const path of ablations) {
  for (const run of runsOf(path)) {
    const oracle = run.result.settings.oracle;
    const def = defaults.find((r) => r.result.settings.oracle === oracle);
    if (!def) continue;
    const overrides = run.command.match(/--(prior|positive)-weight \S+/g)?.join(' ') ?? run.command;
    for (const arm of run.result.arms) {
      const other = def.result.arms.find((a) => a.arm === arm.arm);
      if (arm.arm === 'base' || !other) continue;
      const last = arm.points[arm.points.length - 1];
      const lastDef = other.points[other.points.length - 1];
      const cells = ['winRate', 'heldOutWinRate', 'fidelity'].map((metric) => {
        const diffs = last.map((p, i) => value(p, metric) - value(lastDef[i], metric));
        const m = tInterval(diffs);
        return `${pp(m.mean)} pp [${pp(m.low)}, ${pp(m.high)}] (${diffs.map((d) => pp(d)).join(', ')})`;
      });
      console.log(`| ${overrides} | ${oracle} | ${arm.arm} | ${cells.join(' | ')} |`);
    }
  }
}
