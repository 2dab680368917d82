import { useStudio } from '../store';

function formatCount(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return String(n);
}

/** A provenance value as plain text: primitives as they are, anything else as compact JSON. */
function asText(value: unknown): string {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? String(value) : JSON.stringify(value);
}

export function ModelInfo() {
  const model = useStudio((s) => s.model);
  const initMs = useStudio((s) => s.initMs);
  const modelUrl = useStudio((s) => s.modelUrl);
  if (!model) return null;
  const { command, ...rest } = model.provenance;

  return (
    <section className="panel model-info" data-testid="model-info" aria-label="Model">
      <h2>Model</h2>
      <p>
        <strong data-testid="model-params" data-params={model.params}>
          {formatCount(model.params)} parameters
        </strong>{' '}
        <span className="muted">
          from {modelUrl}
          {initMs !== null && `, ready in ${(initMs / 1000).toFixed(1)} s`}
        </span>
      </p>
      {command !== undefined && (
        <p>
          Made by <code data-testid="model-command">{asText(command)}</code>
        </p>
      )}
      {Object.keys(rest).length > 0 && (
        <details>
          <summary>Provenance</summary>
          <dl className="provenance">
            {Object.entries(rest).map(([key, value]) => (
              <div key={key}>
                <dt>{key}</dt>
                <dd>{asText(value)}</dd>
              </div>
            ))}
          </dl>
        </details>
      )}
    </section>
  );
}
