// The Compare tab: two checkpoints on the same prompt and noise, side by side, and a blind A/B
// test (keys 1 / 2 / T) that gives B's win rate over A with its 95% interval and count.

import { useEffect, useMemo, useRef } from 'react';

import { checkpointOptions, type CheckpointKey } from '../project/checkpoints';
import { useCompare, winRate } from './compareStore';
import { currentProject, useProjects } from '../project/projectStore';
import { usePromptLabel } from '../shared/promptLabel';
import { useStudio } from '../studio/studioStore';
import { RgbaCanvas } from '../shared/RgbaCanvas';
import '../run/run.css';

const percent = (v: number) => `${Math.round(v * 100)}%`;

function Picker({ side, value, options, disabled }: { side: 'a' | 'b'; value: CheckpointKey; options: { key: string; label: string }[]; disabled: boolean }) {
  const pick = useCompare((s) => s.pick);
  return (
    <label className="field">
      <span>Checkpoint {side.toUpperCase()}</span>
      <select value={value} disabled={disabled} data-testid={`compare-${side}`} onChange={(e) => pick(side, e.target.value)}>
        {options.map((o) => (
          <option key={o.key} value={o.key}>
            {o.label}
          </option>
        ))}
      </select>
    </label>
  );
}

function SideBySide() {
  const rendered = useCompare((s) => s.rendered);
  const show = usePromptLabel();
  if (!rendered) return null;
  return (
    <div className="compare-sides" data-testid="compare-result">
      {(['a', 'b'] as const).map((side, i) => (
        <figure className="compare-side" key={side}>
          <figcaption>
            {side.toUpperCase()}: {rendered.labels[i]}
          </figcaption>
          <div className="compare-images">
            {rendered[side].map((rgba, j) => (
              <RgbaCanvas
                key={j}
                rgba={rgba}
                size={rendered.size}
                label={`${rendered.labels[i]}: “${show(rendered.cells[j].prompt)}”, seed ${rendered.cells[j].seed}`}
                testId={`compare-${side}-image`}
              />
            ))}
          </div>
        </figure>
      ))}
    </div>
  );
}

function BlindTest({ labels }: { labels: [string, string] }) {
  const blind = useCompare((s) => s.blind);
  const show = usePromptLabel();
  const { startBlind, stopBlind, judge, resetTally } = useCompare.getState();
  const ready = useStudio((s) => s.workerStatus === 'ready');
  const sameCheckpoint = useCompare((s) => s.a === s.b);
  const n = blind.tally.a + blind.tally.b + blind.tally.ties;
  const rate = winRate(blind.tally);

  useEffect(() => {
    if (!blind.on) return;
    const onKey = (e: KeyboardEvent) => {
      const target = e.target as HTMLElement | null;
      if (e.ctrlKey || e.metaKey || e.altKey || target?.closest('input, select, textarea')) return;
      const judgement = e.key === '1' ? 'left' : e.key === '2' ? 'right' : e.key.toLowerCase() === 't' ? 'tie' : null;
      if (!judgement) return;
      e.preventDefault();
      void judge(judgement);
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [blind.on, judge]);

  return (
    <section className="blind" aria-label="Blind A/B test" data-testid="blind">
      <h3>Blind A/B</h3>
      <p className="muted">
        A random held-out prompt and seed, A and B on the same noise, shown in random order. Pick the better image: click it, or press 1 (left), 2
        (right) or T (tie).
      </p>
      {!blind.on ? (
        <div className="actions">
          <button type="button" className="primary" onClick={() => void startBlind()} disabled={!ready || sameCheckpoint} data-testid="blind-start">
            Start blind test
          </button>
          {sameCheckpoint && <span className="muted">Pick two different checkpoints first.</span>}
        </div>
      ) : (
        <>
          <div className="blind-images" data-testid="blind-trial" data-loading={blind.loading}>
            {blind.trial ? (
              <>
                <button type="button" onClick={() => void judge('left')} data-testid="blind-left">
                  <RgbaCanvas rgba={blind.trial.left} size={blind.trial.size} label="left image" />
                  <span>1: left</span>
                </button>
                <button type="button" onClick={() => void judge('right')} data-testid="blind-right">
                  <RgbaCanvas rgba={blind.trial.right} size={blind.trial.size} label="right image" />
                  <span>2: right</span>
                </button>
              </>
            ) : (
              <p className="muted">Making the next pair…</p>
            )}
          </div>
          {blind.trial && (
            <p>
              Prompt: <span className="grid-prompt" title={blind.trial.cell.prompt}>“{show(blind.trial.cell.prompt)}”</span>
            </p>
          )}
          <div className="actions">
            <button type="button" onClick={() => void judge('tie')} disabled={!blind.trial} data-testid="blind-tie">
              T: tie
            </button>
            <button type="button" onClick={stopBlind} data-testid="blind-stop">
              Stop
            </button>
          </div>
        </>
      )}
      <p className="win-rate" data-testid="blind-tally" data-n={n} data-b-wins={blind.tally.b} data-a-wins={blind.tally.a} data-ties={blind.tally.ties}>
        {n === 0
          ? 'No judgements yet.'
          : `B wins ${percent(rate.rate)} of ${n} judgement${n === 1 ? '' : 's'} (${blind.tally.b} B, ${blind.tally.a} A, ${blind.tally.ties} tie${blind.tally.ties === 1 ? '' : 's'}; a tie counts half), 95% interval ${percent(rate.low)} to ${percent(rate.high)}.`}
      </p>
      <p className="muted">
        A: {labels[0]} · B: {labels[1]}
        {n > 0 && (
          <>
            {' · '}
            <button type="button" className="link" onClick={resetTally} data-testid="blind-reset">
              Reset the tally
            </button>
          </>
        )}
      </p>
    </section>
  );
}

export function ComparePanel() {
  const projectId = useProjects((s) => s.currentProjectId);
  const project = useProjects(currentProject);
  const suggestions = useStudio((s) => s.suggestions);
  const show = usePromptLabel();
  const ready = useStudio((s) => s.workerStatus === 'ready');
  const { a, b, prompt, seed, status, failure } = useCompare();
  const { render, setPrompt, setSeed, openProject, pick } = useCompare.getState();
  const options = useMemo(() => checkpointOptions(project), [project]);

  useEffect(() => openProject(projectId), [projectId, openProject]);
  // Try my model: a project with a finished round opens on its base against its latest round.
  const latest = options.length > 1 ? options[options.length - 1] : null;
  const defaulted = useRef<string | null>(null);
  useEffect(() => {
    if (!latest || !projectId || defaulted.current === projectId) return;
    defaulted.current = projectId;
    if (a === 'base' && b === 'base') pick('b', latest.key);
  }, [latest, projectId, a, b, pick]);
  // A checkpoint that is gone (its run deleted) falls back to the base.
  useEffect(() => {
    if (options.length === 0) return;
    if (!options.some((o) => o.key === a)) pick('a', 'base');
    if (!options.some((o) => o.key === b)) pick('b', 'base');
  }, [options, a, b, pick]);

  const label = (key: string) => options.find((o) => o.key === key)?.label ?? key;
  const busy = status !== 'idle';

  return (
    <section className="panel compare-panel" data-testid="compare-panel" aria-label="Compare checkpoints">
      <h2>Try my model</h2>
      <p className="muted">
        Type a prompt to see your base and a trained round side by side (it opens on your latest round). Both start from the same noise for each seed, so the only
        difference is what training changed.
      </p>
      {latest && (a !== 'base' || b !== latest.key) && (
        <button type="button" className="link" data-testid="compare-try-latest" disabled={busy} onClick={() => (pick('a', 'base'), pick('b', latest.key))}>
          Base vs my latest round ({latest.label})
        </button>
      )}
      <div className="compare-pickers">
        <Picker side="a" value={a} options={options} disabled={busy} />
        <Picker side="b" value={b} options={options} disabled={busy} />
      </div>
      <form
        className="compare-form"
        onSubmit={(e) => {
          e.preventDefault();
          void render();
        }}
      >
        <div className="compare-pickers">
          <label className="field">
            <span>Prompt</span>
            <input type="text" value={prompt} maxLength={200} placeholder="e.g. red heart" data-testid="compare-prompt" onChange={(e) => setPrompt(e.target.value)} />
          </label>
          <label className="field">
            <span>First seed (4 images, seeds {seed} to {seed + 3})</span>
            <input type="number" min={0} step={1} value={seed} data-testid="compare-seed" onChange={(e) => setSeed(Number(e.target.value))} />
          </label>
        </div>
        {suggestions.length > 0 && (
          <div className="suggestions">
            <span className="muted">Held-out prompts:</span>
            {suggestions.slice(0, 4).map((s) => (
              <button type="button" className="chip" key={s} data-prompt={s} onClick={() => setPrompt(show(s))}>
                {show(s)}
              </button>
            ))}
          </div>
        )}
        <div className="actions">
          <button type="submit" className="primary" disabled={!ready || busy || !prompt.trim()} data-testid="compare-render">
            {busy ? 'Making images…' : 'Compare side by side'}
          </button>
        </div>
      </form>
      {failure && (
        <p className="run-notice bad" role="alert" data-testid="compare-failure">
          {failure}
        </p>
      )}
      <SideBySide />
      <BlindTest labels={[label(a), label(b)]} />
    </section>
  );
}
