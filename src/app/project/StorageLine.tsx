// How much the browser lets the studio keep, and whether it promised not to clear it.

import { useProjects } from './projectStore';

const MB = 1024 * 1024;

export function formatSize(bytes: number): string {
  if (bytes >= 1024 * MB) return `${(bytes / (1024 * MB)).toFixed(1)} GB`;
  if (bytes >= MB) return `${(bytes / MB).toFixed(1)} MB`;
  return `${Math.round(bytes / 1024)} KB`;
}

export function StorageLine() {
  const storage = useProjects((s) => s.storage);
  const requestPersistence = useProjects((s) => s.requestPersistence);
  if (!storage) return null;
  const { usage, quota, persisted, persistAsked } = storage;
  const share = quota > 0 ? usage / quota : 0;

  return (
    <p className={`storage-line${share > 0.9 ? ' bad' : ''}`} data-testid="storage-line" data-persisted={persisted} data-usage={usage}>
      <span data-testid="storage-usage">
        Storage: {formatSize(usage)} of {quota > 0 ? formatSize(quota) : 'an unknown quota'} used
      </span>
      {' · '}
      {persisted ? (
        <span data-testid="storage-persistence">kept persistently</span>
      ) : (
        <span data-testid="storage-persistence" className="muted" data-asked={persistAsked}>
          not kept persistently: the browser may clear it when space runs low
          {persistAsked ? (
            ' (it declined to promise more), so export what you want to keep'
          ) : (
            <>
              {' '}
              <button type="button" className="link" onClick={() => void requestPersistence()}>
                Ask to keep it
              </button>
            </>
          )}
        </span>
      )}
    </p>
  );
}
