// The Run tab: the SAIL settings, Start / Pause / Cancel / Resume, live progress with time
// left, the per-step curves, and every finished round (its grid, its self pairs, its weights to
// export). All state lives in the run store, so switching tabs mid-run loses nothing.

import { useEffect, useRef, useState } from 'react';

import { roundDriftBound } from '../../core/sail/settings';
import { importModelAsProject, importProjectFile, projectFileBytes, projectPairsParquet, projectPairsZip, roundCheckpointZip } from '../project/exportImport';
import { download, fileStem } from '../shared/pngImages';
import { SUGGESTED_SEED_PAIRS, useProjects } from '../project/projectStore';
import { formatDuration } from './runProgress';
import { useRun, type CurvePoint } from './runStore';
import { useStudio } from '../studio/studioStore';
import type { RunRecord, RunStatus } from '../storage/schema';
import { LineChart, type ChartPoint } from '../shared/LineChart';
import { RoundCard } from './RoundCard';
import { RunSettingsForm } from './RunSettingsForm';
import './run.css';

const STATUS_TEXT: Record<RunStatus, string> = {
  running: 'running',
  paused: 'paused',
  interrupted: 'interrupted',
  cancelled: 'cancelled',
  failed: 'stopped',
  finished: 'finished',
};

const resumable = (r: RunRecord) => r.status === 'paused' || r.status === 'interrupted' || r.status === 'failed';

const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** The latest check of the live run: held-out accuracy ("taste learned") and drift from the base ("drawing kept"). */
function SafetyLine() {
  const checks = useRun((s) => s.checks);
  const settings = useRun((s) => s.settings);
  const last = checks.at(-1);
  if (!last) return null;
  // The bound this round is held to: with the per-round budget, an early round gets a share of it.
  const bound = roundDriftBound(settings, last.round);
  const drift = 100 * last.drift;
  const kept = last.drift <= bound;
  return (
    <p className="safety-line" data-testid="safety-line" aria-live="polite">
      <span data-testid="taste-learned">
        Taste learned: {last.heldOutAccuracy === null ? 'no held-out pairs (label at least 11 to hold some out)' : `${Math.round(100 * last.heldOutAccuracy)}% of held-out pairs`}
      </span>
      {' · '}
      <span data-testid="drawing-kept" data-kept={kept}>
        Drawing kept: error on real emoji {drift >= 0 ? '+' : ''}
        {drift.toFixed(1)}% vs the base (limit {Math.round(100 * bound)}%){kept ? '' : ' — over the limit, these weights will not be kept'}
      </span>
      {' · '}round {last.round}, step {last.step}
    </p>
  );
}

function Charts() {
  const curve = useRun((s) => s.curve);
  const version = useRun((s) => s.curveVersion);
  const series = (pick: (p: CurvePoint) => number): ChartPoint[] => curve.map((p) => ({ round: p.round, value: pick(p) }));
  return (
    <div className="charts">
      <SafetyLine />
      <LineChart title="Diffusion-DPO loss" points={series((p) => p.loss)} version={version} testId="chart-loss" />
      <LineChart title="Implicit accuracy" points={series((p) => p.implicitAccuracy)} version={version} range={[0, 1]} testId="chart-accuracy" />
      <LineChart title="Reward margin" points={series((p) => p.rewardMargin)} version={version} testId="chart-margin" />
    </div>
  );
}

function LiveProgress() {
  const live = useRun((s) => s.live);
  const percent = Math.round(live.fraction * 1000) / 10;
  const running = live.status !== 'idle';
  return (
    <div className="progress run-progress" aria-live="polite">
      <div
        className="progress-track"
        role="progressbar"
        aria-label="Run progress"
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={percent}
        data-testid="run-progress"
        data-status={live.status}
      >
        <div className="progress-fill" style={{ width: `${percent}%` }} />
      </div>
      <span className="muted" data-testid="run-progress-label">
        {running ? live.label : 'No run in progress.'}
        {running && (
          <span data-testid="run-time-left">
            {' '}
            · {percent.toFixed(0)}% · {live.timeLeftMs === null ? 'estimating time left…' : `about ${formatDuration(live.timeLeftMs)} left`}
          </span>
        )}
      </span>
    </div>
  );
}

function RunList() {
  const project = useRun((s) => s.project);
  const viewRunId = useRun((s) => s.viewRunId);
  const viewRun = useRun((s) => s.viewRun);
  const busy = useRun((s) => s.live.status !== 'idle');
  const runs = project?.runs ?? [];
  if (runs.length < 2) return null;
  return (
    <label className="field run-list">
      <span>Run</span>
      <select value={viewRunId ?? ''} disabled={busy} data-testid="run-select" onChange={(e) => void viewRun(e.target.value)}>
        {runs.map((r, i) => (
          <option key={r.id} value={r.id}>
            Run {i + 1}, {new Date(r.startedAt).toLocaleString()}: {STATUS_TEXT[r.status]}, {r.roundsDone} of {r.settings.rounds + 1} rounds
          </option>
        ))}
      </select>
    </label>
  );
}

/** Export the viewed project's pairs; import a checkpoint as a new project. */
function ExportImport() {
  const project = useRun((s) => s.project);
  const switchProject = useProjects((s) => s.switchProject);
  const refreshProjects = useProjects((s) => s.refreshProjects);
  const reportError = useStudio((s) => s.reportError);
  const ready = useStudio((s) => s.workerStatus === 'ready');
  const [busy, setBusy] = useState<'zip' | 'parquet' | 'import' | 'project' | null>(null);
  const projectInput = useRef<HTMLInputElement>(null);
  const [note, setNote] = useState<string | null>(null);
  const input = useRef<HTMLInputElement>(null);

  const exportPairs = async (format: 'zip' | 'parquet') => {
    if (!project) return;
    setBusy(format);
    try {
      const { bytes, counts } =
        format === 'zip'
          ? await projectPairsZip(project).then((r) => ({ bytes: r.zip, counts: r.counts }))
          : await projectPairsParquet(project).then((r) => ({ bytes: r.parquet, counts: r.counts }));
      download(bytes, `${fileStem(project.name)}-pairs.${format}`, format === 'zip' ? 'application/zip' : 'application/vnd.apache.parquet');
      setNote(`Exported ${counts.seed} seed, ${counts.upload} uploaded and ${counts.self} self pairs${format === 'parquet' ? ' as Parquet (Pick-a-Pic v2 columns)' : ''}.`);
    } catch (err) {
      reportError(`The pairs could not be exported: ${messageOf(err)}`);
    } finally {
      setBusy(null);
    }
  };

  const exportProject = async () => {
    if (!project) return;
    setBusy('project');
    try {
      download(await projectFileBytes(project), `${fileStem(project.name)}.sailproject.zip`);
      setNote(`Exported the whole project “${project.name}”: pairs, settings, every run and round, its base and blind A/B tallies.`);
    } catch (err) {
      reportError(`The project could not be exported: ${messageOf(err)}`);
    } finally {
      setBusy(null);
    }
  };

  const importProject = async (file: File | undefined) => {
    if (!file) return;
    setBusy('project');
    setNote(null);
    try {
      const created = await importProjectFile(file);
      await refreshProjects();
      await switchProject(created.id);
      setNote(`Imported ${file.name} as the new project “${created.name}”.`);
    } catch (err) {
      reportError(`${file.name} was not imported: ${messageOf(err)}. Nothing was changed.`);
    } finally {
      setBusy(null);
      if (projectInput.current) projectInput.current.value = '';
    }
  };

  const importModel = async (file: File | undefined) => {
    if (!file) return;
    setBusy('import');
    setNote(null);
    try {
      const created = await importModelAsProject(file);
      await refreshProjects();
      await switchProject(created.id);
      setNote(`Imported ${file.name} as the base of the new project “${created.name}”.`);
    } catch (err) {
      reportError(`${file.name} was not imported: ${messageOf(err)} Nothing was changed.`);
    } finally {
      setBusy(null);
      if (input.current) input.current.value = '';
    }
  };

  return (
    <section className="export-import" aria-label="Export and import">
      <h3>Export and import</h3>
      <div className="actions">
        <button type="button" onClick={() => void exportPairs('zip')} disabled={!project || busy !== null} data-testid="export-pairs">
          {busy === 'zip' ? 'Exporting…' : 'Export all pairs (zip)'}
        </button>
        <button type="button" onClick={() => void exportPairs('parquet')} disabled={!project || busy !== null} data-testid="export-pairs-parquet">
          {busy === 'parquet' ? 'Exporting…' : 'Export all pairs (Parquet)'}
        </button>
        <button type="button" onClick={() => input.current?.click()} disabled={!ready || busy !== null} data-testid="import-model">
          {busy === 'import' ? 'Importing…' : 'Import a model…'}
        </button>
        <input ref={input} type="file" accept=".zip,application/zip" hidden data-testid="import-model-input" onChange={(e) => void importModel(e.target.files?.[0])} />
        <button type="button" onClick={() => void exportProject()} disabled={!project || busy !== null} data-testid="export-project">
          {busy === 'project' ? 'Working…' : 'Export the whole project'}
        </button>
        <button type="button" onClick={() => projectInput.current?.click()} disabled={busy !== null} data-testid="import-project">
          Import a project file…
        </button>
        <input ref={projectInput} type="file" accept=".zip,application/zip" hidden data-testid="import-project-input" onChange={(e) => void importProject(e.target.files?.[0])} />
      </div>
      {note && (
        <p className="muted" role="status" data-testid="export-note">
          {note}
        </p>
      )}
      <p className="muted">
        Weights export as config.json + model.safetensors (loadable by Python's safetensors); pairs in the upload format (pairs.jsonl + PNGs), or as Parquet with Pick-a-Pic v2's columns (caption, jpg_0, jpg_1, label_0, label_1) for Hugging Face datasets and diffusers' train_diffusion_dpo.py.
        An imported checkpoint becomes the base of a new project.
      </p>
    </section>
  );
}

export function RunPanel() {
  const currentProjectId = useProjects((s) => s.currentProjectId);
  const pairs = useProjects((s) => s.pairs);
  const openProject = useRun((s) => s.openProject);
  const project = useRun((s) => s.project);
  const live = useRun((s) => s.live);
  const notice = useRun((s) => s.notice);
  const rounds = useRun((s) => s.rounds);
  const baseGrid = useRun((s) => s.baseGrid);
  const viewRunId = useRun((s) => s.viewRunId);
  const { start, pause, cancel, resume, deleteRun, dismissNotice } = useRun.getState();
  const ready = useStudio((s) => s.workerStatus === 'ready');
  const reportError = useStudio((s) => s.reportError);
  const [exporting, setExporting] = useState<number | null>(null);

  useEffect(() => {
    void openProject(currentProjectId);
  }, [currentProjectId, openProject]);

  const run = project?.runs.find((r) => r.id === viewRunId) ?? null;
  const idle = live.status === 'idle';
  /** The live run belongs to the project on show (the user may have switched projects mid-run). */
  const liveHere = idle || (project?.runs.some((r) => r.id === live.runId) ?? false);
  const decided = pairs.filter((p) => p.label0 !== 0.5).length;

  const exportRound = async (round: number) => {
    if (!project || !run) return;
    setExporting(round);
    try {
      const zip = await roundCheckpointZip(project, run.id, round);
      const index = project.runs.findIndex((r) => r.id === run.id) + 1;
      download(zip, `${fileStem(project.name)}-run${index}-round${round}.zip`);
    } catch (err) {
      reportError(`Round ${round} could not be exported: ${messageOf(err)}`);
    } finally {
      setExporting(null);
    }
  };

  const baseCells = baseGrid ? baseGrid.cells.map((c, i) => ({ ...c, image: baseGrid.images[i] })) : null;

  return (
    <section className="panel run-panel" data-testid="run-panel" aria-label="Run SAIL">
      <header className="run-head">
        <h2>Run SAIL{project ? ` on “${project.name}”` : ''}</h2>
        <p className="muted" data-testid="run-seed-count">
          {pairs.length} seed pair{pairs.length === 1 ? '' : 's'} ({decided} with a preference; ties are skipped).{' '}
          {pairs.length < SUGGESTED_SEED_PAIRS && `About ${SUGGESTED_SEED_PAIRS} are suggested before a first run. `}
          {decided === 0 && 'Label some in the Label tab, or upload a pairs file in the Pairs tab. '}
          {project?.importedBase ? `Base: ${project.importedBase.name}.` : 'Base: the shipped model.'}
        </p>
      </header>

      <RunSettingsForm disabled={!idle} />

      <div className="actions">
        <button type="button" className="primary" onClick={() => void start()} disabled={!ready || !idle || !project || decided === 0} data-testid="run-start">
          Start a new run
        </button>
        <button type="button" onClick={pause} disabled={live.status !== 'running' || !liveHere} data-testid="run-pause">
          {live.status === 'pausing' ? 'Pausing…' : 'Pause'}
        </button>
        <button type="button" onClick={cancel} disabled={(live.status !== 'running' && live.status !== 'pausing') || !liveHere} data-testid="run-cancel">
          {live.status === 'cancelling' ? 'Cancelling…' : 'Cancel'}
        </button>
        {run && resumable(run) && (
          <button type="button" className="primary" onClick={() => void resume(run.id)} disabled={!ready || !idle} data-testid="run-resume">
            {run.roundsDone === 0 ? 'Resume from the start' : `Resume after round ${run.roundsDone - 1}`}
          </button>
        )}
        {run && idle && (
          <button
            type="button"
            className="link"
            data-testid="run-delete"
            onClick={() => {
              if (window.confirm(`Delete this run and its ${run.roundsDone} stored round(s)? Export what you want to keep first.`)) void deleteRun(run.id);
            }}
          >
            Delete this run
          </button>
        )}
      </div>

      {!liveHere ? (
        <p className="muted" data-testid="run-elsewhere">
          A run of another project is in progress; switch back to it to watch, pause or cancel it.
        </p>
      ) : (
        <LiveProgress />
      )}

      {notice && (
        <div className={notice.tone === 'error' ? 'run-notice bad' : 'run-notice'} role={notice.tone === 'error' ? 'alert' : 'status'} data-testid="run-notice" data-tone={notice.tone}>
          <span>{notice.text}</span>
          <button type="button" aria-label="Dismiss" onClick={dismissNotice}>
            ×
          </button>
        </div>
      )}

      <RunList />
      {run && (
        <p className="muted" data-testid="run-status" data-status={run.status} data-rounds-done={run.roundsDone}>
          This run: {STATUS_TEXT[run.status]}, {run.roundsDone} of {run.settings.rounds + 1} rounds finished.
          {run.message && !notice && ` ${run.message}`}
        </p>
      )}

      <Charts />

      <div className="rounds" data-testid="rounds">
        {[...rounds]
          .sort((a, b) => b.round - a.round)
          .map((r) => (
            <RoundCard key={r.round} round={r} baseGrid={baseCells} exporting={exporting === r.round} onExport={() => void exportRound(r.round)} />
          ))}
      </div>

      <ExportImport />
    </section>
  );
}
