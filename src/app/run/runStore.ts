// The Run tab's state: the settings form, the project's runs, and the live view of the run in
// progress (phase, progress, time left, the loss / accuracy / margin curves, each finished
// round's self pairs and grid). Every finished round is written to IndexedDB (round data,
// weights and the run's roundsDone in one transaction) before the page shows it as kept, so a
// reload, a crash or a full disk never loses a finished round. No TF.js here: the worker trains.

import { HELD_ELSEWHERE, OTHER_TAB_TEXT, runLockHeld, withRunLock } from './runLock';
import { create } from 'zustand';

import type { SailSettings, StepPoint } from '../../core/sail/loop';
import type { GridCell, ModelWeights, RunSailRequest, SailRoundReply, StreamReply } from '../../protocol';
import { ModelRequestError } from '../shared/modelClient';
import { pngToRgb, rgbaToPng } from '../shared/pngImages';
import { fetchSailPools } from './sailPools';
import { publicUrl } from '../shared/settings';
import { settingsProblems, withDefaults } from './runSettings';
import { RunProgress, describePosition, type RunPosition } from './runProgress';
import { useProjects } from '../project/projectStore';
import { modelClient, useStudio } from '../studio/studioStore';
import type { ProjectRecord, RunRecord, RunStatus, StoredPair, StoredRound } from '../storage/schema';
import { studioDb } from '../storage/db';

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

/** The grid after every round: up to 4 of the project's prompts x 2 seeds. */
const GRID_PROMPTS = 4;
const GRID_SEEDS = [1, 2];
const FALLBACK_GRID_PROMPTS = ['grinning face', 'red heart', 'dog face', 'rocket'];

const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** What a stopped run still has, in a sentence. */
export const keptText = (roundsDone: number) =>
  roundsDone === 0 ? 'No round had finished yet.' : roundsDone === 1 ? 'Round 0 is kept.' : `Rounds 0 to ${roundsDone - 1} are kept.`;

/** Off only through the test hook below, to force a NaN loss with a learning rate the form refuses. */
let checkSettings = true;

/** Cells of a project's fixed grid (prompts x seeds). */
export const GRID_CELLS = GRID_PROMPTS * GRID_SEEDS.length;

/** The fixed grid of a project: its first distinct seed captions, topped up with stock prompts. */
export function gridCellsFor(pairs: Pick<StoredPair, 'caption' | 'createdAt'>[]): GridCell[] {
  const prompts: string[] = [];
  for (const p of [...pairs].sort((a, b) => a.createdAt - b.createdAt)) {
    if (!prompts.includes(p.caption)) prompts.push(p.caption);
    if (prompts.length === GRID_PROMPTS) break;
  }
  for (const p of FALLBACK_GRID_PROMPTS) if (prompts.length < GRID_PROMPTS && !prompts.includes(p)) prompts.push(p);
  return prompts.flatMap((prompt) => GRID_SEEDS.map((seed) => ({ prompt, seed })));
}

const newId = () => (crypto.randomUUID ? crypto.randomUUID() : `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`).replace(/:/g, '-');

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

/** The weights a request runs on for the project's base: its imported base, or the loaded model. */
export async function projectBase(projectId: string): Promise<ModelWeights | undefined> {
  const imported = await (await studioDb()).getImportedBase(projectId);
  return imported && { config: imported.config, weights: imported.weights };
}

/** The checkpoint of round `round` of a run, with the project's base config when it has one. */
export async function roundModel(projectId: string, runId: string, round: number): Promise<ModelWeights> {
  const db = await studioDb();
  const [weights, imported] = await Promise.all([db.getRoundWeights(projectId, runId, round), db.getImportedBase(projectId)]);
  if (!weights) throw new Error(`The weights of round ${round} are not stored (the run may have been deleted).`);
  return { config: imported?.config, weights };
}

/** Changes one run of the stored project in one transaction (from what is stored, so no other change is lost). */
async function updateRun(projectId: string, runId: string, change: Partial<RunRecord>, runSettings?: SailSettings): Promise<ProjectRecord> {
  const db = await studioDb();
  return db.updateProject(projectId, (p) => ({
    ...p,
    runSettings: runSettings ?? p.runSettings,
    runs: p.runs.map((r) => (r.id === runId ? { ...r, ...change } : r)),
  }));
}

async function loadRounds(projectId: string, run: RunRecord): Promise<StoredRound[]> {
  const db = await studioDb();
  const rounds: StoredRound[] = [];
  for (let k = 0; k < run.roundsDone; k++) {
    const r = await db.getRound(projectId, run.id, k);
    if (r) rounds.push(r);
  }
  return rounds;
}

const curveOf = (rounds: StoredRound[]): CurvePoint[] => rounds.flatMap((r) => r.record.curve.map((p) => ({ ...p, round: r.round })));

export const useRun = create<RunState & RunActions>()((set, get) => {
  /** What the user asked for when the worker's 'cancelled' comes back. */
  let stopIntent: 'pause' | 'cancel' | null = null;

  const setNotice = (tone: Notice['tone'], text: string) => set({ notice: { tone, text } });

  const refreshProject = async (projectId: string) => {
    const project = (await (await studioDb()).getProject(projectId)) ?? null;
    if (get().projectId === projectId) set({ project });
    void useProjects.getState().refreshProjects(); // the project bar shows runs and storage too
    return project;
  };

  /** Runs one run-sail request for `run` from `fromRound`; settles when the run has stopped and its state is written. */
  const launch = async (projectId: string, run: RunRecord, settings: SailSettings) => {
    const db = await studioDb();
    const fromRound = run.roundsDone;
    stopIntent = null;
    set({ live: { ...idleLive, status: 'starting', runId: run.id, label: 'Preparing the seed pairs…' }, viewRunId: run.id, notice: null, checks: [] });

    let request: Omit<RunSailRequest, 'id'>;
    let grid: GridCell[];
    try {
      const pairs = await db.listPairs(projectId);
      grid = gridCellsFor(pairs);
      const decided = pairs.filter((p) => p.label0 !== 0.5);
      if (fromRound === 0 && decided.length === 0) throw new Error('Round 0 needs seed pairs with a preference: label or upload some first (ties do not count).');
      const seedPairs = await Promise.all(
        decided.map(async (p) => ({ caption: p.caption, image0: await pngToRgb(p.image0), image1: await pngToRgb(p.image1), label0: p.label0, source: 'seed' as const })),
      );
      const resumeFrom =
        fromRound > 0
          ? {
              round: fromRound - 1,
              weights: (await roundModel(projectId, run.id, fromRound - 1)).weights,
              round0Weights: settings.judge === 'round0' && fromRound > 1 ? (await roundModel(projectId, run.id, 0)).weights : undefined,
            }
          : undefined;
      request = {
        kind: 'run-sail',
        seedPairs,
        promptPools: await fetchSailPools(settings.rounds),
        settings,
        resumeFrom,
        base: await projectBase(projectId),
        grid,
        anchorData: { manifestUrl: publicUrl('data/emoji-32.json'), atlasUrl: publicUrl('data/emoji-32.png') },
      };
    } catch (err) {
      set({ live: idleLive });
      await updateRun(projectId, run.id, { status: 'failed', message: messageOf(err) }).catch(() => {});
      await refreshProject(projectId);
      setNotice('error', messageOf(err));
      return;
    }

    const progress = new RunProgress(settings, grid.length, fromRound);
    const show = () => {
      const position = progress.current;
      set({ live: { ...get().live, position, fraction: progress.fraction(), timeLeftMs: progress.timeLeftMs(), label: describePosition(position, settings.rounds) } });
    };

    // Rounds are saved one after another, in order; a failed save stops the run.
    let saving: Promise<void> = Promise.resolve();
    let saveFailure: string | null = null;
    let roundsDone = fromRound;
    const saveRound = async (reply: SailRoundReply) => {
      const size = useStudio.getState().model?.imageSize ?? 32;
      const stored: StoredRound = {
        round: reply.round,
        record: reply.record,
        selfPairs: reply.selfPairs.map((p) => ({ prompt: p.prompt, margin: p.margin, winner: rgbaToPng(p.winner, size), loser: rgbaToPng(p.loser, size) })),
        grid: (request.grid ?? []).map((cell, i) => ({ ...cell, image: rgbaToPng(reply.grid[i], size) })),
      };
      try {
        await db.saveRound(projectId, run.id, stored, reply.weights);
      } catch (err) {
        saveFailure = `Round ${reply.round} could not be saved: ${messageOf(err)} ${keptText(reply.round)} Free some space (delete an old project or run) and press Resume.`;
        const { requestId } = get().live;
        if (requestId !== null) modelClient().cancel(requestId);
        return;
      }
      roundsDone = reply.round + 1;
      progress.onRoundSaved(reply.round);
      if (get().viewRunId === run.id && get().projectId === projectId) set({ rounds: [...get().rounds.filter((r) => r.round !== stored.round), stored] });
      show();
      await refreshProject(projectId);
    };

    const onStream = (reply: StreamReply) => {
      if (reply.kind === 'sail-event') {
        const e = reply.event;
        progress.onEvent(e);
        if (e.type === 'check' && get().viewRunId === run.id) set({ checks: [...get().checks, { round: e.round, step: e.step, heldOutAccuracy: e.heldOutAccuracy, drift: e.drift }] });
        if (e.type === 'step' && get().viewRunId === run.id) {
          get().curve.push({ round: e.round, step: e.step, loss: e.loss, implicitAccuracy: e.implicitAccuracy, rewardMargin: e.rewardMargin });
          set({ curveVersion: get().curveVersion + 1 });
        }
        show();
      } else if (reply.kind === 'sail-round') {
        saving = saving.then(() => (saveFailure ? undefined : saveRound(reply)));
      }
    };

    const { id, reply } = modelClient().send(request, undefined, onStream);
    set({ live: { ...get().live, status: 'running', requestId: id } });
    show();

    let status: RunStatus;
    let message: string | null = null;
    try {
      await reply;
      await saving;
      status = saveFailure ? 'failed' : 'finished';
      message = saveFailure;
    } catch (err) {
      await saving;
      const reason = err instanceof ModelRequestError ? err.reason : 'internal';
      const kept = keptText(roundsDone);
      if (saveFailure) {
        status = 'failed';
        message = saveFailure;
      } else if (reason === 'cancelled') {
        status = stopIntent === 'cancel' ? 'cancelled' : 'paused';
        message = status === 'paused' ? `Paused. ${kept} Resume continues after the last finished round.` : `Cancelled. ${kept}`;
      } else if (reason === 'restarted') {
        status = 'interrupted';
        message = `The model worker was restarted during the run. ${kept} Press Resume to continue.`;
      } else {
        status = 'failed';
        // diverged: the engine's message names round and step; a crash or hang: the client's.
        message = `${messageOf(err)} ${kept} ${reason === 'diverged' || reason === 'drifted' ? '' : 'Press Resume to continue from there.'}`.trim();
      }
    }
    set({ live: idleLive });
    try {
      await updateRun(projectId, run.id, { status, message });
    } catch (err) {
      // Even when the final state cannot be written the user is told; after a reload the run
      // then reads as interrupted (it was stored as running) and offers Resume.
      message = `${message ?? ''} (The run's state could not be saved: ${messageOf(err)})`.trim();
    }
    await refreshProject(projectId).catch(() => null);
    if (message && status !== 'finished') setNotice(status === 'paused' || status === 'cancelled' ? 'info' : 'error', message);
    else if (status === 'finished') setNotice('info', `Run finished: ${settings.rounds + 1} rounds kept.`);
  };

  /** Resume, once this tab holds the project's run lock. */
  const resumeLocked = async (runId: string) => {
    const { projectId, settings, live } = get();
    if (!projectId || live.status !== 'idle') return;
    if (useStudio.getState().workerStatus !== 'ready') return setNotice('error', 'The model is not loaded yet; wait until the header says it is ready.');
    const problems = checkSettings ? settingsProblems(settings) : [];
    if (problems.length > 0) return setNotice('error', problems.join(' '));
    const project = await refreshProject(projectId);
    const run = project?.runs.find((r) => r.id === runId);
    if (!project || !run) return setNotice('error', 'That run is no longer stored.');
    if (run.roundsDone > settings.rounds) {
      await updateRun(projectId, runId, { status: 'finished', message: null });
      await refreshProject(projectId);
      return setNotice('info', `All ${settings.rounds + 1} rounds of these settings are already done; raise Rounds to continue.`);
    }
    // The form's settings: a run that diverged can go on with a lower learning rate.
    const resumed: RunRecord = { ...run, settings, status: 'running', message: null };
    try {
      await updateRun(projectId, runId, { settings, status: 'running', message: null }, settings);
    } catch (err) {
      return setNotice('error', `The run could not be resumed: ${messageOf(err)}`);
    }
    await refreshProject(projectId);
    if (get().viewRunId !== runId) await get().viewRun(runId);
    void renderBaseGrid(projectId, settings);
    await launch(projectId, resumed, settings);
  };

  /** Start, once this tab holds the project's run lock. */
  const startLocked = async () => {
    const { projectId, settings, live } = get();
    if (!projectId || live.status !== 'idle') return;
    if (useStudio.getState().workerStatus !== 'ready') return setNotice('error', 'The model is not loaded yet; wait until the header says it is ready.');
    const problems = checkSettings ? settingsProblems(settings) : [];
    if (problems.length > 0) return setNotice('error', problems.join(' '));
    const run: RunRecord = { id: newId(), startedAt: Date.now(), settings, status: 'running', message: null, roundsDone: 0 };
    try {
      await (await studioDb()).updateProject(projectId, (p) => ({ ...p, runSettings: settings, runs: [...p.runs, run] }));
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
      // closed tab: say so, and offer Resume.
      const live = get().live;
      // A run that another tab holds the lock of is live there, not cut off.
      const elsewhere = project.runs.some((r) => r.status === 'running' && r.id !== live.runId) && (await runLockHeld(projectId));
      if (get().projectId !== projectId) return;
      if (elsewhere) setNotice('info', OTHER_TAB_TEXT);
      for (const r of project.runs) {
        if (r.status === 'running' && r.id !== live.runId && !elsewhere) {
          const message = `The page was closed or reloaded during round ${r.roundsDone}. ${keptText(r.roundsDone)}`;
          project = await updateRun(projectId, r.id, { status: 'interrupted', message }).catch(() => project!);
        }
      }
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
      const rounds = await loadRounds(projectId, run);
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
      const model = await projectBase(projectId);
      const result = await modelClient().send({ kind: 'render-grid', cells, guidance: settings.guidance, steps: settings.ddimSteps, model }).reply;
      if (get().projectId === projectId) set({ baseGrid: { cells, images: result.images.map((buffer) => rgbaToPng(buffer, result.size)) } });
    } catch {
      // Only the "before" column of round 0 is missing; the run itself reports its own failures.
    }
  }
});

// The run store follows the project bar: a reload marks a cut-off run interrupted at once, not
// only when the Run tab is opened.
useProjects.subscribe((state, before) => {
  if (state.currentProjectId !== before.currentProjectId) void useRun.getState().openProject(state.currentProjectId);
});
void useRun.getState().openProject(useProjects.getState().currentProjectId);

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
      checkSettings = on;
    },
  };
}
