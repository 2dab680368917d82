// The Label tab: two images of one prompt, pick the better. Keys: 1 / 2 pick, T tie, S skip,
// U or Ctrl+Z undo (ignored while typing in a field).

import { useEffect, useState, type FormEvent } from 'react';

import { useLabelling, type Candidate, type Judgement } from './labelStore';
import { SUGGESTED_SEED_PAIRS, useProjects } from '../project/projectStore';
import { usePromptLabel } from '../shared/promptLabel';
import { useStudio } from '../studio/studioStore';
import { ImageCanvas } from '../shared/ImageGrid';
import { pairImageClass } from '../pairs/PairsPanel';
import { PngImage } from '../shared/PngImage';
import { fetchStudioPrompts } from '../shared/publicData';

function Counter() {
  const pairs = useProjects((s) => s.pairs);
  const seed = pairs.filter((p) => p.source === 'seed').length;
  const total = pairs.length;
  const ties = pairs.filter((p) => p.label0 === 0.5).length;
  const usable = total - ties;
  const left = Math.max(0, SUGGESTED_SEED_PAIRS - usable);
  return (
    <div className="label-counter" data-testid="pair-counter" data-count={total}>
      <progress max={SUGGESTED_SEED_PAIRS} value={Math.min(usable, SUGGESTED_SEED_PAIRS)} aria-label="Seed pairs toward the suggested number" />
      <span>
        <strong data-testid="pair-count">{total}</strong> pair{total === 1 ? '' : 's'} in this project
        {total > 0 && (
          <span className="muted">
            {' '}
            ({seed} labelled here, {total - seed} uploaded{ties > 0 ? `, ${ties} tie${ties === 1 ? '' : 's'} that training skips` : ''})
          </span>
        )}
        .{' '}
        {left > 0 ? (
          <span className="muted">
            About {SUGGESTED_SEED_PAIRS} are suggested before a first run: {left} to go. SAIL needs only a small seed set; the rounds
            make the rest.
          </span>
        ) : (
          <span className="good">Enough for a first run: open the Run tab, or keep labelling.</span>
        )}
      </span>
    </div>
  );
}

function PromptChooser() {
  const customPrompt = useLabelling((s) => s.customPrompt);
  const unknownWords = useLabelling((s) => s.unknownWords);
  const setCustomPrompt = useLabelling((s) => s.setCustomPrompt);
  const [text, setText] = useState('');
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (text.trim()) setCustomPrompt(text);
  };
  return (
    <form className="label-prompt" onSubmit={submit}>
      <label className="field">
        <span>Your own prompt (optional)</span>
        <input
          type="text"
          value={text}
          maxLength={200}
          autoComplete="off"
          spellCheck={false}
          placeholder="e.g. red heart"
          data-testid="label-prompt-input"
          onChange={(e) => setText(e.target.value)}
        />
      </label>
      <button type="submit" disabled={!text.trim()} data-testid="label-prompt-use">
        Use it
      </button>
      {customPrompt !== null && (
        <p className="label-prompt-note" data-testid="label-prompt-note">
          Pairs for “{customPrompt}” until you{' '}
          <button type="button" className="link" data-testid="label-prompt-clear" onClick={() => setCustomPrompt(null)}>
            go back to drawn prompts
          </button>
          .
          {unknownWords.length > 0 && (
            <span className="label-unknown" data-testid="label-unknown-words">
              {' '}
              The model does not know {unknownWords.join(', ')} and reads {unknownWords.length === 1 ? 'it' : 'them'} as “unknown”.
            </span>
          )}
        </p>
      )}
    </form>
  );
}

function PairView({ candidate, busy, judge }: { candidate: Candidate; busy: boolean; judge: (j: Judgement) => void }) {
  const show = usePromptLabel();
  return (
    <div className="label-pair" data-testid="label-pair" data-prompt={candidate.prompt} data-key={candidate.key}>
      <p className="label-question" aria-live="polite">
        Which is the better “<span data-testid="label-caption" title={candidate.prompt}>
          {show(candidate.prompt)}
        </span>”?
      </p>
      <div className="label-choices">
        {([0, 1] as const).map((i) => (
          <button
            key={i}
            type="button"
            className="label-choice"
            disabled={busy}
            data-testid={`choose-${i + 1}`}
            aria-keyshortcuts={String(i + 1)}
            onClick={() => judge(i === 0 ? 'left' : 'right')}
          >
            <ImageCanvas rgba={candidate.images[i]} size={candidate.size} label={`Image ${i + 1} for “${candidate.prompt}”`} className="label-image" testId="label-image" />
            <span>
              <kbd>{i + 1}</kbd> {i === 0 ? 'Left' : 'Right'} is better
            </span>
          </button>
        ))}
      </div>
    </div>
  );
}

/** The last few judgements, small, the preferred image outlined: what Undo would take back. */
function Recent() {
  const pairs = useProjects((s) => s.pairs);
  const recent = pairs.slice(-RECENT).reverse();
  if (recent.length === 0) return null;
  return (
    <div className="label-recent" aria-label="Recently added pairs">
      <span className="muted">Recent:</span>
      {recent.map((p) => (
        <span key={p.id} className="label-recent-pair" title={p.caption}>
          {([0, 1] as const).map((i) => (
            <span key={i} className={pairImageClass(p.label0, i)}>
              <PngImage png={i === 0 ? p.image0 : p.image1} alt={`${i === 0 ? 'Left' : 'Right'} image of “${p.caption}”`} scale={1} />
            </span>
          ))}
        </span>
      ))}
    </div>
  );
}

const RECENT = 6;

const isTyping = (target: EventTarget | null) =>
  target instanceof HTMLElement && (target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName));

export function LabelPanel() {
  const pending = useLabelling((s) => s.pending);
  const generating = useLabelling((s) => s.generating);
  const failure = useLabelling((s) => s.failure);
  const saving = useLabelling((s) => s.saving);
  const canUndo = useLabelling((s) => s.history.length > 0);
  const { judge, skip, undo, setActive, retry } = useLabelling.getState();
  const workerStatus = useStudio((s) => s.workerStatus);
  const projectsReady = useProjects((s) => s.status === 'ready');
  const current = pending[0];
  const busy = saving || !projectsReady;

  useEffect(() => {
    setActive(true);
    return () => setActive(false);
  }, [setActive]);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (isTyping(e.target) || e.altKey || e.metaKey) return;
      const key = e.key.toLowerCase();
      if ((e.ctrlKey && key === 'z') || (!e.ctrlKey && key === 'u')) {
        e.preventDefault();
        void undo();
        return;
      }
      if (e.ctrlKey || e.repeat) return;
      const { pending: queue, saving: storing } = useLabelling.getState();
      if (!queue[0] || storing) return;
      const action = { '1': () => judge('left'), '2': () => judge('right'), t: () => judge('tie'), s: () => skip() }[key];
      if (!action) return;
      e.preventDefault();
      void action();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [judge, skip, undo]);

  return (
    <section className="panel label-panel" aria-label="Label seed pairs" data-testid="label-panel">
      <h2>Label seed pairs</h2>
      <p className="muted label-intro">
        Pick the image you like better. Your choices are the seed pairs: a run fine-tunes the model on them (round 0), then each
        round makes more pairs by itself and learns from those too.
      </p>
      <Counter />
      <DrawableNote />
      <PromptChooser />
      {current ? (
        <PairView candidate={current} busy={busy} judge={(j) => void judge(j)} />
      ) : (
        <p className="muted label-waiting" data-testid="label-waiting">
          {workerStatus === 'failed'
            ? 'The model is not running (the message above says why); pairs appear once it has restarted.'
            : workerStatus !== 'ready'
              ? 'Waiting for the model to load…'
              : failure
                ? ''
                : 'Drawing two images…'}
        </p>
      )}
      {failure && (
        <p className="bad" role="alert" data-testid="label-failure">
          {failure}{' '}
          <button type="button" onClick={retry}>
            Retry
          </button>
        </p>
      )}
      <div className="actions label-actions">
        <button type="button" disabled={!current || busy} data-testid="label-tie" aria-keyshortcuts="T" onClick={() => void judge('tie')}>
          <kbd>T</kbd> Tie
        </button>
        <button type="button" disabled={!current || busy} data-testid="label-skip" aria-keyshortcuts="S" onClick={skip}>
          <kbd>S</kbd> Skip
        </button>
        <button type="button" disabled={!canUndo || busy} data-testid="label-undo" aria-keyshortcuts="U Control+Z" onClick={() => void undo()}>
          <kbd>U</kbd> Undo
        </button>
        <span className="muted" data-testid="label-status">
          {saving ? 'Saving…' : generating && current ? 'Drawing the next pair…' : ''}
        </span>
      </div>
      <Recent />
    </section>
  );
}

/** Says when the drawn prompts are narrowed to those the shipped base draws recognisably. */
function DrawableNote() {
  const [drawable, setDrawable] = useState<{ seed: number; of: number } | null>(null);
  useEffect(() => {
    let live = true;
    fetchStudioPrompts().then(
      (p) => live && setDrawable(p.drawable),
      () => {},
    );
    return () => {
      live = false;
    };
  }, []);
  if (!drawable) return null;
  return (
    <p className="muted label-drawable" data-testid="label-drawable">
      Drawn prompts come from the {drawable.seed} of {drawable.of} emoji the base model draws recognisably (measured by <code>npm run drawable-prompts</code>); type
      any prompt to label others.
    </p>
  );
}
