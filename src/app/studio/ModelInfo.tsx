import { useProjects } from '../project/projectStore';
import { useStudio } from './studioStore';

function formatCount(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return String(n);
}

/** A provenance value as plain text: primitives as they are, anything else as compact JSON. */
function asText(value: unknown): string {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? String(value) : JSON.stringify(value);
}

/** How a checkpoint was made: its command, and the rest of its provenance folded. */
function Provenance({ provenance }: { provenance: Record<string, unknown> }) {
  const { command, ...rest } = provenance;
  return (
    <>
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
    </>
  );
}

export function ModelInfo() {
  const model = useStudio((s) => s.model);
  const initMs = useStudio((s) => s.initMs);
  const modelUrl = useStudio((s) => s.modelUrl);
  const imported = useProjects((s) => s.projects.find((p) => p.id === s.currentProjectId)?.importedBase ?? null);
  if (!model) return null;

  if (imported) {
    // An imported-base project: Label, Run and Compare use the project's base, so it is the one named.
    return (
      <section className="panel model-info" data-testid="model-info" data-base="imported" aria-label="Model">
        <h2>Model</h2>
        <p>
          <strong data-testid="model-base-name">This project's base: {imported.name}</strong>{' '}
          <span className="muted">(imported; labelling, runs and Compare use it. The Generate tab draws with the model loaded from {modelUrl}.)</span>
        </p>
        <Provenance provenance={imported.provenance} />
      </section>
    );
  }

  return (
    <section className="panel model-info" data-testid="model-info" data-base="shipped" aria-label="Model">
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
      <Provenance provenance={model.provenance} />
    </section>
  );
}
