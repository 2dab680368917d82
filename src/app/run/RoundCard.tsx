import { usePromptLabel } from '../shared/promptLabel';
import type { StoredRound } from '../storage/schema';
import { PngImage } from '../shared/PngImage';

function formatMs(ms: number) {
  return ms >= 10_000 ? `${Math.round(ms / 1000)} s` : `${(ms / 1000).toFixed(1)} s`;
}

/** One grid: prompts as rows, seeds as columns. */
function Grid({ cells, label, testId }: { cells: { prompt: string; seed: number; image: Uint8Array }[]; label: string; testId: string }) {
  const prompts = [...new Set(cells.map((c) => c.prompt))];
  const show = usePromptLabel();
  return (
    <figure className="round-grid" data-testid={testId} data-cells={cells.length}>
      <figcaption>{label}</figcaption>
      {prompts.map((prompt) => (
        <div className="grid-row" key={prompt}>
          <span className="grid-prompt" title={prompt}>
            {show(prompt)}
          </span>
          {cells
            .filter((c) => c.prompt === prompt)
            .map((c) => (
              <PngImage key={c.seed} png={c.image} alt={`“${prompt}”, seed ${c.seed}, ${label}`} />
            ))}
        </div>
      ))}
    </figure>
  );
}

export function RoundCard({
  round,
  baseGrid,
  onExport,
  exporting,
}: {
  round: StoredRound;
  /** The same cells from the base model, shown beside round 0. */
  baseGrid: { prompt: string; seed: number; image: Uint8Array }[] | null;
  onExport: () => void;
  exporting: boolean;
}) {
  const { record } = round;
  const show = usePromptLabel();
  return (
    <article className="round-card" data-testid="round-card" data-round={round.round}>
      <header>
        <h3>Round {round.round}</h3>
        <span className="muted">
          {round.round === 0 ? `${record.seedPairs} seed pairs` : `${record.selfPairs.length} self pairs + ${record.seedPairs} seed pairs`}
          {record.droppedPairs > 0 && `, ${record.droppedPairs} left out by the confidence gate`}
          {record.selfKeptShare !== undefined && ` (${Math.round(100 * record.selfKeptShare)}% of candidate pairs kept)`} · implicit accuracy{' '}
          {(record.implicitAccuracy * 100).toFixed(0)}% · {formatMs(record.timing.totalMs)}
          <span
            data-testid="round-workers"
            data-workers={record.timing.workers ?? 1}
            data-generate-ms={Math.round(record.timing.generateMs)}
            data-score-ms={Math.round(record.timing.scoreMs)}
            data-train-ms={Math.round(record.timing.trainMs)}
            data-total-ms={Math.round(record.timing.totalMs)}
          >
            {(record.timing.workers ?? 1) > 1 ? ` · on ${record.timing.workers} workers (cores)` : ''}
          </span>
        </span>
        {record.kept && (
          <span className="muted" data-testid="round-kept" data-step={record.kept.step} data-drift={record.kept.drift} data-held-out-accuracy={record.kept.heldOutAccuracy ?? ''}>
            {record.kept.step === 0 ? "Kept the previous round's weights (no step beat them on the held-out pairs)" : `Kept step ${record.kept.step}`}
            {record.kept.heldOutAccuracy !== null && ` · taste learned ${Math.round(100 * record.kept.heldOutAccuracy)}% of ${record.heldOutPairs} held-out pairs`} · drawing kept: error on real emoji{' '}
            {record.kept.drift >= 0 ? '+' : ''}
            {(100 * record.kept.drift).toFixed(1)}% vs the base{record.stoppedEarly ? ` · stopped early: ${record.stoppedEarly}` : ''}
          </span>
        )}
        <button type="button" onClick={onExport} disabled={exporting} data-testid="export-round">
          {exporting ? 'Exporting…' : 'Export weights'}
        </button>
      </header>
      <div className="round-body">
        {baseGrid && round.round === 0 && <Grid cells={baseGrid} label="base model" testId="base-grid" />}
        <Grid cells={round.grid} label={`after round ${round.round}`} testId="round-grid" />
        {round.selfPairs.length > 0 && (
          <figure className="self-pairs" data-testid="self-pairs" data-count={round.selfPairs.length}>
            <figcaption>Self pairs (winner, loser, reward margin)</figcaption>
            <div className="self-pair-grid">
              {round.selfPairs.map((p, i) => (
                <div className="self-pair" key={i} data-testid="self-pair">
                  <PngImage png={p.winner} alt={`winner for “${p.prompt}”`} />
                  <PngImage png={p.loser} alt={`loser for “${p.prompt}”`} />
                  <span className="self-pair-text">
                    <span className="grid-prompt" title={p.prompt}>
                      {show(p.prompt)}
                    </span>
                    <span className="muted"> margin {p.margin.toFixed(3)}</span>
                  </span>
                </div>
              ))}
            </div>
          </figure>
        )}
      </div>
    </article>
  );
}
