// The project bar: which project is open, and create, rename, delete. Names are shown as
// React text only (never as HTML), whatever a user typed or an import carried.

import { useState, type FormEvent } from 'react';

import { MAX_PROJECT_NAME } from '../storage/db';
import { currentProject, useProjects } from './projectStore';
import { StorageLine } from './StorageLine';

type Mode = { kind: 'idle' } | { kind: 'create' | 'rename'; name: string } | { kind: 'delete' };

export function ProjectBar() {
  const status = useProjects((s) => s.status);
  const loadError = useProjects((s) => s.loadError);
  const projects = useProjects((s) => s.projects);
  const current = useProjects(currentProject);
  const pairCount = useProjects((s) => s.pairs.length);
  const { createProject, renameProject, deleteProject, switchProject, load } = useProjects.getState();
  const [mode, setMode] = useState<Mode>({ kind: 'idle' });

  if (status === 'failed') {
    return (
      <section className="project-bar panel" aria-label="Project" data-testid="project-bar" data-status={status}>
        <p className="bad" role="alert" data-testid="projects-error">
          {loadError}
        </p>
        <button type="button" onClick={() => void load()}>
          Try again
        </button>
      </section>
    );
  }

  const submitName = async (e: FormEvent) => {
    e.preventDefault();
    if (mode.kind !== 'create' && mode.kind !== 'rename') return;
    const name = mode.name.trim();
    if (!name) return;
    if (mode.kind === 'create') await createProject(name);
    else if (current) await renameProject(current.id, name);
    setMode({ kind: 'idle' });
  };

  const runs = current?.runs.length ?? 0;

  return (
    <section className="project-bar panel" aria-label="Project" data-testid="project-bar" data-status={status}>
      <div className="project-row">
        <label className="project-select">
          <span>Project</span>
          <select
            value={current?.id ?? ''}
            disabled={status !== 'ready' || mode.kind !== 'idle'}
            data-testid="project-select"
            onChange={(e) => void switchProject(e.target.value)}
          >
            {projects.map((p) => (
              <option key={p.id} value={p.id}>
                {p.name}
              </option>
            ))}
          </select>
        </label>
        {mode.kind === 'idle' && (
          <div className="project-actions">
            <button type="button" disabled={status !== 'ready'} data-testid="project-new" onClick={() => setMode({ kind: 'create', name: '' })}>
              New project
            </button>
            <button type="button" disabled={!current} data-testid="project-rename" onClick={() => setMode({ kind: 'rename', name: current?.name ?? '' })}>
              Rename
            </button>
            <button type="button" disabled={!current} data-testid="project-delete" onClick={() => setMode({ kind: 'delete' })}>
              Delete
            </button>
          </div>
        )}
        {(mode.kind === 'create' || mode.kind === 'rename') && (
          <form className="project-name-form" onSubmit={(e) => void submitName(e)} onKeyDown={(e) => e.key === 'Escape' && setMode({ kind: 'idle' })}>
            <input
              type="text"
              autoFocus
              aria-label={mode.kind === 'create' ? 'New project name' : 'Project name'}
              placeholder="Project name"
              maxLength={MAX_PROJECT_NAME}
              value={mode.name}
              data-testid="project-name-input"
              onChange={(e) => setMode({ ...mode, name: e.target.value })}
            />
            <button type="submit" className="primary" disabled={!mode.name.trim()} data-testid="project-name-save">
              {mode.kind === 'create' ? 'Create' : 'Save'}
            </button>
            <button type="button" onClick={() => setMode({ kind: 'idle' })}>
              Cancel
            </button>
          </form>
        )}
        {mode.kind === 'delete' && current && (
          <div className="project-delete" role="alertdialog" aria-label="Delete project">
            <span>
              Delete “{current.name}” with its {pairCount} pair{pairCount === 1 ? '' : 's'} and {runs} run{runs === 1 ? '' : 's'}? This cannot be undone.
            </span>
            <button
              type="button"
              className="danger"
              data-testid="project-delete-confirm"
              onClick={() => void deleteProject(current.id).then(() => setMode({ kind: 'idle' }))}
            >
              Delete
            </button>
            {/* Focus on the safe choice: Enter keeps the project. */}
            <button type="button" autoFocus onClick={() => setMode({ kind: 'idle' })}>
              Keep it
            </button>
          </div>
        )}
        {current && mode.kind === 'idle' && (
          <span className="muted" data-testid="project-base">
            Base: {current.importedBase ? `imported “${current.importedBase.name}”` : 'the shipped model'}
          </span>
        )}
        <StorageLine />
      </div>
    </section>
  );
}
