import type { AdapterSummary } from '../../protocol';
import { BACKEND_OPTIONS, isBackendPreference } from '../shared/settings';
import { useStudio } from './studioStore';

function adapterText(adapter: AdapterSummary | null): string {
  if (!adapter) return 'no WebGPU adapter';
  const name = adapter.description || [adapter.vendor, adapter.architecture].filter(Boolean).join(' ') || 'unnamed adapter';
  return adapter.isFallback ? `${name} (software fallback adapter)` : name;
}

function BackendStatus() {
  const status = useStudio((s) => s.workerStatus);
  const backend = useStudio((s) => s.backend);
  const activeBackend = useStudio((s) => s.activeBackend);
  const preference = useStudio((s) => s.backendPreference);
  const startWorker = useStudio((s) => s.startWorker);

  return (
    <div className="backend-status" data-testid="worker-status" data-status={status}>
      {status === 'starting' && <span className="muted">Starting the model ({preference})…</span>}
      {status === 'failed' && (
        <span>
          <span className="bad">The model is not running.</span>{' '}
          <button type="button" onClick={startWorker} data-testid="restart-worker">
            Restart
          </button>
        </span>
      )}
      {status === 'ready' && backend && (
        <>
          <span>
            Running on <strong data-testid="backend-name">{activeBackend}</strong>
            {backend.threads != null && (
              <span
                data-testid="backend-threads"
                data-threads={backend.threads}
                data-simd={backend.simd ? 'true' : 'false'}
                data-fma={backend.fma ? 'true' : 'false'}
                title={`wasm computes on every core with ?threads=all, where the page is cross-origin isolated (served with COOP and COEP headers, as npm start does). Attention's batched products and the conv gradients: ${backend.simd ? `the studio's wasm SIMD kernels${backend.fma ? ', with fused multiply-adds (relaxed SIMD)' : ' (without fused multiply-adds: relaxed SIMD is not available here)'}` : 'the backend\'s own kernels (wasm SIMD is not available here)'}.`}
              >
                {' '}
                ({backend.threads === 1 ? 'one thread' : `${backend.threads} threads`})
              </span>
            )}
          </span>
          <span className="muted" data-testid="backend-reason">
            {backend.reason}
          </span>
          <span className="muted" data-testid="backend-adapter">
            Adapter: {adapterText(backend.adapter)}
          </span>
          {activeBackend !== backend.name && (
            <span className="bad">
              Selection chose {backend.name} but TF.js runs on {activeBackend}.
            </span>
          )}
          {backend.tried.length > 0 && (
            <details className="tried">
              <summary>Backends that did not start ({backend.tried.length})</summary>
              <ul>
                {backend.tried.map((t) => (
                  <li key={t.name}>
                    {t.name}: {t.error}
                  </li>
                ))}
              </ul>
            </details>
          )}
        </>
      )}
    </div>
  );
}

export function Header() {
  const preference = useStudio((s) => s.backendPreference);
  const setBackendPreference = useStudio((s) => s.setBackendPreference);

  return (
    <header className="header">
      <h1>SAIL Studio</h1>
      <BackendStatus />
      <label className="backend-select">
        Backend{' '}
        <select
          value={preference}
          data-testid="backend-select"
          onChange={(e) => {
            if (isBackendPreference(e.target.value)) setBackendPreference(e.target.value);
          }}
        >
          {BACKEND_OPTIONS.map((o) => (
            <option key={o.value} value={o.value}>
              {o.label}
            </option>
          ))}
        </select>
      </label>
    </header>
  );
}
