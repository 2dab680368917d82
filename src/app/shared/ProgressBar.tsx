import { useStudio } from '../studio/studioStore';

const OUTCOME_TEXT = { none: '', finished: 'Done', cancelled: 'Cancelled', failed: 'Failed' } as const;

export function ProgressBar() {
  const { status, done, total, outcome } = useStudio((s) => s.generation);
  const fraction = total > 0 ? Math.min(1, done / total) : 0;
  const label = status === 'idle' ? OUTCOME_TEXT[outcome] : status === 'cancelling' ? 'Cancelling…' : `Step ${done} of ${total}`;

  return (
    <div className="progress">
      <div
        className="progress-track"
        role="progressbar"
        aria-label="Generation progress"
        aria-valuemin={0}
        aria-valuemax={total}
        aria-valuenow={done}
        data-testid="progress"
        data-status={status}
      >
        <div className="progress-fill" style={{ width: `${fraction * 100}%` }} />
      </div>
      <span className="muted" data-testid="progress-label">
        {label}
      </span>
    </div>
  );
}
