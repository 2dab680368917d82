// The Pairs tab: the current project's pairs, newest first, a page at a time; change which
// image won or delete a pair; upload a pairs file. Captions are React text, never HTML.

import { useState } from 'react';

import { usePromptLabel } from '../shared/promptLabel';
import { useProjects, type StoredPair } from '../project/projectStore';
import { PngImage } from '../shared/PngImage';
import { UploadBox } from './UploadBox';

const PAGE = 40;

const LABELS: { value: StoredPair['label0']; text: string }[] = [
  { value: 1, text: 'Left won' },
  { value: 0.5, text: 'Tie' },
  { value: 0, text: 'Right won' },
];

/** The frame of image `i` (0 left, 1 right): the preferred one outlined, the other dimmed; a tie neither. */
export function pairImageClass(label0: StoredPair['label0'], i: 0 | 1): string {
  if (label0 === 0.5) return 'pair-image';
  return (label0 === 1) === (i === 0) ? 'pair-image winner' : 'pair-image loser';
}

function PairRow({ pair }: { pair: StoredPair }) {
  const setPairLabel = useProjects((s) => s.setPairLabel);
  const deletePair = useProjects((s) => s.deletePair);
  const show = usePromptLabel();
  const [busy, setBusy] = useState(false);
  const act = (action: () => Promise<unknown>) => {
    setBusy(true);
    void action().finally(() => setBusy(false));
  };

  return (
    <li className="pair-row" data-testid="pair-row" data-label={String(pair.label0)} data-source={pair.source}>
      <div className="pair-images">
        {([0, 1] as const).map((i) => (
          <span key={i} className={pairImageClass(pair.label0, i)}>
            <PngImage png={i === 0 ? pair.image0 : pair.image1} alt={`${i === 0 ? 'Left' : 'Right'} image${pairImageClass(pair.label0, i).endsWith('winner') ? ' (preferred)' : ''}`} scale={2} />
          </span>
        ))}
      </div>
      <div className="pair-text">
        <span className="pair-caption" data-testid="pair-caption" title={pair.caption}>
          {show(pair.caption)}
        </span>
        <span className="muted">
          {pair.source === 'seed' ? 'labelled here' : 'uploaded'}, {new Date(pair.createdAt).toLocaleString()}
        </span>
      </div>
      <div className="pair-controls" role="group" aria-label={`Label of “${pair.caption}”`}>
        {LABELS.map((l) => (
          <button
            key={l.value}
            type="button"
            className={pair.label0 === l.value ? 'chip selected' : 'chip'}
            aria-pressed={pair.label0 === l.value}
            disabled={busy}
            onClick={() => pair.label0 !== l.value && act(() => setPairLabel(pair.id, l.value))}
          >
            {l.text}
          </button>
        ))}
        <button type="button" className="link" disabled={busy} data-testid="pair-delete" onClick={() => act(() => deletePair(pair.id))}>
          Delete
        </button>
      </div>
    </li>
  );
}

export function PairsPanel() {
  const pairs = useProjects((s) => s.pairs);
  const [shown, setShown] = useState(PAGE);
  const newestFirst = [...pairs].reverse();
  const ties = pairs.filter((p) => p.label0 === 0.5).length;

  return (
    <section className="panel pairs-panel" aria-label="Pairs" data-testid="pairs-panel">
      <UploadBox />
      <h2>
        Pairs in this project: <span data-testid="pairs-total">{pairs.length}</span>
      </h2>
      {ties > 0 && <p className="muted">Ties ({ties}) are kept and exported, but carry no preference: training skips them.</p>}
      {pairs.length === 0 ? (
        <p className="muted">No pairs yet: label some in the Label tab, or upload a pairs file above.</p>
      ) : (
        <>
          <ol className="pair-list" data-testid="pair-list">
            {newestFirst.slice(0, shown).map((p) => (
              <PairRow key={p.id} pair={p} />
            ))}
          </ol>
          {shown < pairs.length && (
            <p>
              <span className="muted">
                Showing the newest {shown} of {pairs.length}.{' '}
              </span>
              <button type="button" data-testid="pairs-more" onClick={() => setShown(shown + PAGE * 5)}>
                Show more
              </button>
            </p>
          )}
        </>
      )}
    </section>
  );
}
