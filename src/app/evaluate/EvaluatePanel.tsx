// The Evaluate tab: "evaluate with a simulated annotator". The evaluation of `npm run eval`
// (issue 6) in the model worker on the loaded model: a hidden taste oracle labels seed pairs,
// every arm trains from the same base, and the table shows each figure with its 95% interval.
// For people without Node; for the same settings and seed it prints the CLI's table.

import { useEffect, useState } from 'react';

import { ARMS, BUILT_IN_ORACLES, armLabel, type EvalSettings } from '../../core/eval/summary';
import { useEval, type EvalPreset } from './evalStore';
import { useStudio } from '../studio/studioStore';
import './evaluate.css';

type NumericKey = { [K in keyof EvalSettings]-?: EvalSettings[K] extends number ? K : never }[keyof EvalSettings];

const NUMBER_FIELDS: readonly { key: NumericKey; label: string; step?: number }[] = [
  { key: 'seedPairs', label: 'Seed pairs n' },
  { key: 'multiplier', label: 'DPO on multiplier x n' },
  { key: 'rounds', label: 'SAIL rounds' },
  { key: 'repeats', label: 'Repeats' },
  { key: 'evalPrompts', label: 'Held-out prompts' },
  { key: 'samples', label: 'Samples per prompt' },
  { key: 'stepsPerRound', label: 'DPO steps per round' },
  { key: 'ddimSteps', label: 'DDIM steps' },
  { key: 'learningRate', label: 'Learning rate', step: 1e-5 },
  { key: 'seed', label: 'Seed' },
];

function SettingNumber({ field, disabled }: { field: (typeof NUMBER_FIELDS)[number]; disabled: boolean }) {
  const value = useEval((s) => s.settings[field.key]);
  const setSetting = useEval((s) => s.setSetting);
  const [text, setText] = useState(String(value));
  useEffect(() => setText(String(value)), [value]);
  return (
    <label className="field">
      <span>{field.label}</span>
      <input
        type="number"
        step={field.step ?? 1}
        value={text}
        disabled={disabled}
        data-testid={`eval-${field.key}`}
        onChange={(e) => {
          setText(e.target.value);
          const v = Number(e.target.value);
          if (e.target.value.trim() !== '' && Number.isFinite(v)) setSetting(field.key, v);
        }}
        onBlur={() => setText(String(value))}
      />
    </label>
  );
}

function OracleField({ which, label, disabled }: { which: 'oracle' | 'heldOutOracle'; label: string; disabled: boolean }) {
  const value = useEval((s) => s.settings[which]);
  const setSetting = useEval((s) => s.setSetting);
  return (
    <label className="field">
      <span>{label}</span>
      <input type="text" list="eval-oracles" value={value} disabled={disabled} data-testid={`eval-${which}`} onChange={(e) => setSetting(which, e.target.value)} />
    </label>
  );
}

/** A markdown table (the worker's quick table) as an HTML table. */
function MarkdownTable({ markdown }: { markdown: string }) {
  const rows = markdown
    .split('\n')
    .filter((l) => l.startsWith('|') && !/^\|(-+\|)+$/.test(l))
    .map((l) => l.split('|').slice(1, -1).map((c) => c.trim()));
  if (rows.length === 0) return null;
  const [head, ...body] = rows;
  return (
    <table className="eval-table" data-testid="eval-results">
      <thead>
        <tr>{head.map((h) => <th key={h}>{h}</th>)}</tr>
      </thead>
      <tbody>
        {body.map((r) => (
          <tr key={r[0]}>{r.map((c, i) => <td key={i}>{c}</td>)}</tr>
        ))}
      </tbody>
    </table>
  );
}

export function EvaluatePanel() {
  const workerReady = useStudio((s) => s.workerStatus === 'ready');
  const activeBackend = useStudio((s) => s.activeBackend);
  const { preset, settings, run, table, ms, error, result } = useEval();
  const { choosePreset, setSetting, start, cancel } = useEval.getState();
  const busy = run.status !== 'idle';
  const percent = run.total > 0 ? Math.round((1000 * run.done) / run.total) / 10 : 0;

  return (
    <section className="panel" data-testid="evaluate-panel" aria-label="Evaluate with a simulated annotator">
      <h2>Evaluate with a simulated annotator</h2>
      <p className="muted">
        A hidden taste oracle stands in for a person: a simulated clicker (Bradley-Terry, {Math.round(100 * settings.clicker.flipRate)}% flipped answers, near-ties
        skipped) labels pairs the loaded model draws. From that same model it trains Diffusion-DPO on the n seed pairs, Diffusion-DPO on {settings.multiplier}n
        pairs, SAIL, and SAIL without mixup, with random pairing and with the round-0 judge; then it compares each with the base on held-out prompts from the
        same noise. The same code as <code>npm run eval</code>, here in the model worker ({activeBackend ?? 'starting'}).
      </p>
      <datalist id="eval-oracles">
        {[...BUILT_IN_ORACLES, 'warm+fidelity', '0.5*bright+contrast'].map((o) => (
          <option key={o} value={o} />
        ))}
      </datalist>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void start();
        }}
      >
        <fieldset disabled={busy} className="eval-settings">
          <label className="field">
            <span>Preset</span>
            <select value={preset} data-testid="eval-preset" onChange={(e) => choosePreset(e.target.value as EvalPreset)}>
              <option value="quick">Quick (tiny settings, one repeat)</option>
              <option value="standard">Standard (docs/results.md settings, one repeat: an hour or more)</option>
            </select>
          </label>
          <OracleField which="oracle" label="Taste oracle" disabled={busy} />
          <OracleField which="heldOutOracle" label="Held-out oracle" disabled={busy} />
          <div className="numbers">
            {NUMBER_FIELDS.map((f) => (
              <SettingNumber key={f.key} field={f} disabled={busy} />
            ))}
          </div>
          <div className="eval-arms" role="group" aria-label="Arms">
            {ARMS.filter((a) => a.id !== 'base').map((a) => (
              <label key={a.id} title={a.why}>
                <input
                  type="checkbox"
                  checked={settings.arms.includes(a.id)}
                  onChange={(e) => setSetting('arms', e.target.checked ? [...settings.arms, a.id] : settings.arms.filter((x) => x !== a.id))}
                />{' '}
                {armLabel(a.id, settings)}
              </label>
            ))}
          </div>
        </fieldset>
        <div className="actions">
          <button type="submit" className="primary" disabled={!workerReady || busy} data-testid="eval-start">
            Run evaluation
          </button>
          <button type="button" disabled={run.status !== 'running'} onClick={cancel} data-testid="eval-cancel">
            Cancel
          </button>
        </div>
      </form>
      {error && (
        <p className="warning" role="alert" data-testid="eval-error">
          {error}
        </p>
      )}
      <div className="progress" aria-live="polite">
        <div className="progress-track" role="progressbar" aria-label="Evaluation progress" aria-valuemin={0} aria-valuemax={100} aria-valuenow={percent} data-testid="eval-progress" data-status={run.status} data-outcome={run.outcome}>
          <div className="progress-fill" style={{ width: `${percent}%` }} />
        </div>
        <span className="muted" data-testid="eval-stage">
          {busy ? `${run.status === 'cancelling' ? 'Cancelling… ' : ''}${run.done}/${run.total} · ${run.stage}` : run.outcome === 'cancelled' ? 'Cancelled; the last finished table is kept.' : run.outcome === 'finished' ? `Done in ${((ms ?? 0) / 60000).toFixed(1)} min.` : ''}
        </span>
      </div>
      {table && result && (
        <div className="eval-output">
          <p className="muted">
            Oracle <code>{result.settings.oracle}</code>, held-out oracle <code>{result.settings.heldOutOracle}</code>, backend {result.backend}. Each cell: mean
            and 95% interval ({result.settings.repeats > 1 ? `Student-t over ${result.settings.repeats} repeats` : 'one repeat: Wilson for win rates, bootstrap for the rest'}).
          </p>
          <MarkdownTable markdown={table} />
          <details>
            <summary>As markdown (the text `npm run eval` prints)</summary>
            <pre data-testid="eval-table">{table}</pre>
          </details>
        </div>
      )}
    </section>
  );
}
