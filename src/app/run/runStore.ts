// The Run tab's state: the settings form, the project's runs, and the live view of the run in
// progress (phase, progress, time left, the loss / accuracy / margin curves, each finished
// round's self pairs and grid). Every finished round is written to IndexedDB (round data,
// weights and the run's roundsDone in one transaction) before the page shows it as kept, so a
// reload, a crash or a full disk never loses a finished round. No TF.js here: the worker trains.

import { create } from 'zustand';

import type { SailSettings, StepPoint } from '../../core/sail/loop';
import type { GridCell } from '../../protocol';
import { projectBase } from '../project/checkpoints';
import { useProjects } from '../project/projectStore';
import { pngToRgb, rgbaToPng } from '../shared/pngImages';
import { anchorDataUrls, fetchStudioPrompts } from '../shared/publicData';
import { studioDb } from '../storage/db';
import type { ProjectRecord, RunRecord, StoredRound } from '../storage/schema';
import { modelClient, useStudio } from '../studio/studioStore';
import { HELD_ELSEWHERE, OTHER_TAB_TEXT, runLockHeld, withRunLock } from './runLock';
import { describePosition, type RunProgress, type RunPosition } from './runProgress';
import { createRun, executeRun, gridCellsFor, loadRounds, markInterrupted, prepareResume, type RunDeps, type StopIntent } from './runSession';
import { settingsProblems, withDefaults } from './runSettings';
import { roundPools } from '../../core/data/studioPrompts';

export { GRID_CELLS } from './runSession';

export interface LiveCheck {
  round: number;
  step: number;
  heldOutAccuracy: number | null;
  drift: number;
}

export interface CurvePoint extends StepPoint {
  round: number;
}

export type LiveStatus = 'idle' | 'starting' | 'running' | 'pausing' | 'cancelling';

export interface LiveRun {
  status: LiveStatus;
  runId: string | null;
  requestId: number | null;
  position: RunPosition | null;
  /** 0..1 of the whole run. */
  fraction: number;
  timeLeftMs: number | null;
  /** "Round 1 of 3: Diffusion-DPO, step 12 of 30". */
  label: string;
}

export interface Notice {
  tone: 'error' | 'info';
  text: string;
}

export interface RunState {
  projectId: string | null;
  project: ProjectRecord | null;
  /** The Run form; saved with the project when a run starts. */
  settings: SailSettings;
  /** The run on show: the live one, or the one picked in the list. */
  viewRunId: string | null;
  /** Finished rounds of the run on show, by round. */
  rounds: StoredRound[];
  /** The grid from the base model, for the before-and-after of round 0. */
  baseGrid: { cells: GridCell[]; images: Uint8Array[] } | null;
  live: LiveRun;
  /**
   * Step points of the run on show. Appended in place (one push per step, no copy) and
   * announced by curveVersion, so a long run costs linear, not quadratic, time.
   */
  curve: CurvePoint[];
  /** The live run's checks: held-out accuracy ("taste learned") and drift ("drawing kept"). */
  checks: LiveCheck[];
  curveVersion: number;
  notice: Notice | null;
}

export interface RunActions {
  /** Shows the given project's runs (null: none open). Marks runs left 'running' by a closed page as interrupted. */
  openProject(projectId: string | null): Promise<void>;
  setSetting<K extends keyof SailSettings>(name: K, value: SailSettings[K]): void;
  resetSettings(): void;
  start(): Promise<void>;
  /** Stops at the next step; the run can resume from its last finished round. */
  pause(): void;
  /** Stops at the next step and ends the run; its finished rounds stay. */
  cancel(): void;
  /** Continues `runId` after its last finished round with the form's settings. */
  resume(runId: string): Promise<void>;
  viewRun(runId: string): Promise<void>;
  /** Deletes a run that is not running, with its rounds and weights (to free space). */
  deleteRun(runId: string): Promise<void>;
  dismissNotice(): void;
}

const idleLive: LiveRun = { status: 'idle', runId: null, requestId: null, position: null, fraction: 0, timeLeftMs: null, label: '' };

const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** Off only through the test hook below, to force a NaN loss with a learning rate the form refuses. */
// Off only through the e2e build's hook below; the production build folds this to true.
let settingsCheckOn = true;
const checkSettings = () => import.meta.env.MODE !== 'e2e' || settingsCheckOn;

/** Resolves once the model worker is ready (at once if it is). */
function workerReady(): Promise<void> {
  if (useStudio.getState().workerStatus === 'ready') return Promise.resolve();
  return new Promise((resolve) => {
    const stop = useStudio.subscribe((s) => {
      if (s.workerStatus !== 'ready') return;
      stop();
      resolve();
    });
  });
}

/** What a run in this page runs on: the page's worker client, the studio's database and dataset. */
const runDeps = async (): Promise<RunDeps> => ({
  client: modelClient(),
  db: await studioDb(),
  promptPools: async (rounds) => roundPools((await fetchStudioPrompts()).sailPools, rounds),
  decodePng: pngToRgb,
  imageSize: useStudio.getState().model?.imageSize ?? 32,
  anchorData: anchorDataUrls(),
});

const curveOf = (rounds: StoredRound[]): CurvePoint[] => rounds.flatMap((r) => r.record.curve.map((p) => ({ ...p, round: r.round })));

export const useRun = create<RunState & RunActions>()((set, get) => {
  /** What the user asked for when the worker's 'cancelled' comes back. */
  let stopIntent: StopIntent = null;

  const setNotice = (tone: Notice['tone'], text: string) => set({ notice: { tone, text } });

  const refreshProject = async (projectId: string) => {
    const project = (await (await studioDb()).getProject(projectId)) ?? null;
    if (get().projectId === projectId) set({ project });
    void useProjects.getState().refreshProjects(); // the project bar shows runs and storage too
    return project;
  };

  /** Runs `run` from its next round (runSession.executeRun) and shows it live; settles when it has stopped. */
  const launch = async (projectId: string, run: RunRecord, settings: SailSettings) => {
    stopIntent = null;
    set({ live: { ...idleLive, status: 'starting', runId: run.id, label: 'Preparing the seed pairs…' }, viewRunId: run.id, notice: null, checks: [] });
    const show = (progress: RunProgress) => {
      const position = progress.current;
      set({ live: { ...get().live, position, fraction: progress.fraction(), timeLeftMs: progress.timeLeftMs(), label: describePosition(position, settings.rounds) } });
    };
    const onShow = () => get().viewRunId === run.id && get().projectId === projectId;
    const outcome = await executeRun(
      await runDeps(),
      projectId,
      run,
      settings,
      {
        onLaunched(requestId, progress) {
          set({ live: { ...get().live, status: 'running', requestId } });
          show(progress);
        },
        onEvent(e, progress) {
          if (e.type === 'check' && onShow()) set({ checks: [...get().checks, { round: e.round, step: e.step, heldOutAccuracy: e.heldOutAccuracy, drift: e.drift }] });
          if (e.type === 'step' && onShow()) {
            get().curve.push({ round: e.round, step: e.step, loss: e.loss, implicitAccuracy: e.implicitAccuracy, rewardMargin: e.rewardMargin });
            set({ curveVersion: get().curveVersion + 1 });
          }
          show(progress);
        },
        async onRoundSaved(stored, progress) {
          if (onShow()) set({ rounds: [...get().rounds.filter((r) => r.round !== stored.round), stored] });
          show(progress);
          await refreshProject(projectId);
        },
      },
      () => stopIntent,
    );
    set({ live: idleLive });
    await refreshProject(projectId).catch(() => null);
    const { status, message } = outcome;
    if (status === 'finished') setNotice('info', message ?? `Run finished: ${settings.rounds + 1} rounds kept.`);
    else if (message) setNotice(status === 'paused' || status === 'cancelled' ? 'info' : 'error', message);
  };

  /** Why the run cannot start or resume now, or null. */
  const cannotRun = (settings: SailSettings): string | null => {
    if (useStudio.getState().workerStatus !== 'ready') return 'The model is not loaded yet; wait until the header says it is ready.';
    const problems = checkSettings() ? settingsProblems(settings) : [];
    return problems.length > 0 ? problems.join(' ') : null;
  };

  /** Resume, once this tab holds the project's run lock: with the form's settings, which are the project's saved ones unless the user changed them. */
  const resumeLocked = async (runId: string) => {
    const { projectId, settings, live } = get();
    if (!projectId || live.status !== 'idle') return;
    const refused = cannotRun(settings);
    if (refused) return setNotice('error', refused);
    let plan;
    try {
      plan = await prepareResume(await studioDb(), projectId, runId, settings);
    } catch (err) {
      return setNotice('error', `The run could not be resumed: ${messageOf(err)}`);
    }
    await refreshProject(projectId);
    if (plan.kind !== 'resume') return setNotice(plan.kind === 'gone' ? 'error' : 'info', plan.message);
    if (get().viewRunId !== runId) await get().viewRun(runId);
    void renderBaseGrid(projectId, settings);
    await launch(projectId, plan.run, settings);
  };

  /** Start, once this tab holds the project's run lock. */
  const startLocked = async () => {
    const { projectId, settings, live } = get();
    if (!projectId || live.status !== 'idle') return;
    const refused = cannotRun(settings);
    if (refused) return setNotice('error', refused);
    let run: RunRecord;
    try {
      run = await createRun(await studioDb(), projectId, settings);
    } catch (err) {
      return setNotice('error', `The run could not be started: ${messageOf(err)}`);
    }
    await refreshProject(projectId);
    set({ viewRunId: run.id, rounds: [], curve: [], checks: [], curveVersion: get().curveVersion + 1 });
    void renderBaseGrid(projectId, settings);
    await launch(projectId, run, settings);
  };

  return {
    projectId: null,
    project: null,
    settings: withDefaults(null),
    viewRunId: null,
    rounds: [],
    baseGrid: null,
    live: idleLive,
    curve: [],
    checks: [],
    curveVersion: 0,
    notice: null,

    async openProject(projectId) {
      if (projectId === get().projectId) return;
      set({ projectId, project: null, viewRunId: null, rounds: [], curve: [], checks: [], curveVersion: get().curveVersion + 1, baseGrid: null, notice: null });
      if (!projectId) return;
      let project = await (await studioDb()).getProject(projectId);
      if (get().projectId !== projectId) return;
      if (!project) return;
      // A run stored as running that this page is not running was cut off by a reload or a
      // closed tab (say so, and offer Resume), unless another tab holds the lock: then it is live there.
      const live = get().live;
      const elsewhere = project.runs.some((r) => r.status === 'running' && r.id !== live.runId) && (await runLockHeld(projectId));
      if (get().projectId !== projectId) return;
      if (elsewhere) setNotice('info', OTHER_TAB_TEXT);
      project = await markInterrupted(await studioDb(), project, live.runId, elsewhere);
      const latest = project.runs.at(-1);
      set({ project, settings: withDefaults(project.runSettings ?? latest?.settings) });
      if (latest) await get().viewRun(latest.id);
    },

    setSetting(name, value) {
      set({ settings: { ...get().settings, [name]: value } });
    },

    resetSettings() {
      set({ settings: withDefaults(null) });
    },

    async start() {
      const projectId = get().projectId;
      if (!projectId || get().live.status !== 'idle') return;
      if ((await withRunLock(projectId, () => startLocked())) === HELD_ELSEWHERE) setNotice('error', OTHER_TAB_TEXT);
    },

    pause() {
      const { live } = get();
      if (live.status !== 'running' || live.requestId === null) return;
      stopIntent = 'pause';
      modelClient().cancel(live.requestId);
      set({ live: { ...live, status: 'pausing', label: 'Pausing after this step…' } });
    },

    cancel() {
      const { live } = get();
      if ((live.status !== 'running' && live.status !== 'pausing') || live.requestId === null) return;
      stopIntent = 'cancel';
      modelClient().cancel(live.requestId);
      set({ live: { ...live, status: 'cancelling', label: 'Cancelling after this step…' } });
    },

    async resume(runId) {
      const projectId = get().projectId;
      if (!projectId || get().live.status !== 'idle') return;
      if ((await withRunLock(projectId, () => resumeLocked(runId))) === HELD_ELSEWHERE) setNotice('error', OTHER_TAB_TEXT);
    },

    async viewRun(runId) {
      const { projectId, project } = get();
      const run = project?.runs.find((r) => r.id === runId);
      if (!projectId || !run) return;
      set({ viewRunId: runId });
      const rounds = await loadRounds(await studioDb(), projectId, run);
      if (get().viewRunId !== runId) return;
      set({ rounds, curve: curveOf(rounds), curveVersion: get().curveVersion + 1 });
      if (!get().baseGrid && rounds.length > 0) void renderBaseGrid(projectId, run.settings, rounds[0].grid);
    },

    async deleteRun(runId) {
      const { projectId, live } = get();
      if (!projectId || live.runId === runId) return;
      try {
        await (await studioDb()).deleteRun(projectId, runId);
      } catch (err) {
        return setNotice('error', `The run could not be deleted: ${messageOf(err)}`);
      }
      const project = await refreshProject(projectId);
      const latest = project?.runs.at(-1);
      set({ viewRunId: null, rounds: [], curve: [], checks: [], curveVersion: get().curveVersion + 1 });
      if (latest) await get().viewRun(latest.id);
      setNotice('info', 'The run and its rounds were deleted.');
    },

    dismissNotice() {
      set({ notice: null });
    },
  };

  /**
   * The base model on the grid cells, once per project view (it never changes): round 0's own
   * cells when it is stored, so the "before" column matches it even if pairs changed since. After a
   * reload the project opens before the model worker is ready, so this waits for it.
   */
  async function renderBaseGrid(projectId: string, settings: SailSettings, round0Grid?: readonly { prompt: string; seed: number }[]) {
    try {
      await workerReady();
      if (get().projectId !== projectId || get().baseGrid) return;
      const db = await studioDb();
      const cells = round0Grid && round0Grid.length > 0 ? round0Grid.map(({ prompt, seed }) => ({ prompt, seed })) : gridCellsFor(await db.listPairs(projectId));
      const model = await projectBase(db, projectId);
      const result = await modelClient().renderGrid({ cells, guidance: settings.guidance, steps: settings.ddimSteps, model });
      if (get().projectId === projectId) set({ baseGrid: { cells, images: result.images.map((buffer) => rgbaToPng(buffer, result.size)) } });
    } catch {
      // Only the "before" column of round 0 is missing; the run itself reports its own failures.
    }
  }
});

// Test hook, like __sailStudioClient: lets e2e specs set what the form would refuse (a learning
// rate that makes the loss NaN), read the run's live state, and store seed pairs through the
// project store without the Label tab.
// Compiled only into the e2e build (vite build --mode e2e); scripts/check-bundle.mjs checks that
// the production bundle has none of it.
if (import.meta.env.MODE === 'e2e') {
  (globalThis as { __sailStudioTest?: unknown }).__sailStudioTest = {
    run: useRun,
    projects: useProjects,
    checkSettings: (on: boolean) => {
      settingsCheckOn = on;
    },
  };
}
