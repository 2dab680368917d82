// The run lifecycle as plain async functions of the model client and the database: creating a
// run, preparing a resume, marking runs a closed page cut off, and executing one run-sail request
// (every finished round written to IndexedDB before it counts, in order; the run's final status
// decided from how the request ended and written back). The Run store only shows what these
// report; Node tests drive them with fake-indexeddb and a fake worker (test/run-session.test.ts).

import type { ImageRGB } from '../../core/data/pairs';
import type { SailEvent, SailSettings } from '../../core/sail/loop';
import type { GridCell, RunSailRequest, SailRoundReply, StreamReply } from '../../protocol';
import { projectBase, roundModel } from '../project/checkpoints';
import { ModelRequestError, type ModelClient } from '../shared/modelClient';
import { rgbaToPng } from '../shared/pngImages';
import type { StudioDb } from '../storage/db';
import type { ProjectRecord, RunRecord, RunStatus, StoredPair, StoredRound } from '../storage/schema';
import { RunProgress } from './runProgress';

/** The grid after every round: up to 4 of the project's prompts x 2 seeds. */
const GRID_PROMPTS = 4;
const GRID_SEEDS = [1, 2];
const FALLBACK_GRID_PROMPTS = ['grinning face', 'red heart', 'dog face', 'rocket'];

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

/** What a stopped run still has, in a sentence. */
export const keptText = (roundsDone: number) =>
  roundsDone === 0 ? 'No round had finished yet.' : roundsDone === 1 ? 'Round 0 is kept.' : `Rounds 0 to ${roundsDone - 1} are kept.`;

const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));

const newId = () => (crypto.randomUUID ? crypto.randomUUID() : `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`).replace(/:/g, '-');

/** Changes one run of the stored project in one transaction (from what is stored, so no other change is lost). */
export function updateRun(db: StudioDb, projectId: string, runId: string, change: Partial<RunRecord>, runSettings?: SailSettings): Promise<ProjectRecord> {
  return db.updateProject(projectId, (p) => ({
    ...p,
    runSettings: runSettings ?? p.runSettings,
    runs: p.runs.map((r) => (r.id === runId ? { ...r, ...change } : r)),
  }));
}

/** A new run of `settings`, stored as running, with the settings saved as the project's. */
export async function createRun(db: StudioDb, projectId: string, settings: SailSettings): Promise<RunRecord> {
  const run: RunRecord = { id: newId(), startedAt: Date.now(), settings, status: 'running', message: null, roundsDone: 0 };
  await db.updateProject(projectId, (p) => ({ ...p, runSettings: settings, runs: [...p.runs, run] }));
  return run;
}

export type ResumePlan = { kind: 'gone'; message: string } | { kind: 'done'; message: string } | { kind: 'resume'; run: RunRecord };

/**
 * What Resume does with `runId` under `settings` (the project's saved settings, as the form shows
 * them): continue after its last finished round (stored as running, with these settings, which a
 * diverged run may have lowered the learning rate of), or nothing when it is gone or done.
 */
export async function prepareResume(db: StudioDb, projectId: string, runId: string, settings: SailSettings): Promise<ResumePlan> {
  const run = (await db.getProject(projectId))?.runs.find((r) => r.id === runId);
  if (!run) return { kind: 'gone', message: 'That run is no longer stored.' };
  if (run.roundsDone > settings.rounds) {
    await updateRun(db, projectId, runId, { status: 'finished', message: null });
    return { kind: 'done', message: `All ${settings.rounds + 1} rounds of these settings are already done; raise Rounds to continue.` };
  }
  await updateRun(db, projectId, runId, { settings, status: 'running', message: null }, settings);
  return { kind: 'resume', run: { ...run, settings, status: 'running', message: null } };
}

/**
 * Runs stored as running that no page is running were cut off by a reload or a closed tab: they
 * become interrupted, with what they kept. `liveRunId` is this page's own run; when another tab
 * holds the project's run lock (`heldElsewhere`) its run is live there and nothing changes.
 */
export async function markInterrupted(db: StudioDb, project: ProjectRecord, liveRunId: string | null, heldElsewhere: boolean): Promise<ProjectRecord> {
  if (heldElsewhere) return project;
  let current = project;
  for (const r of project.runs) {
    if (r.status !== 'running' || r.id === liveRunId) continue;
    const message = `The page was closed or reloaded during round ${r.roundsDone}. ${keptText(r.roundsDone)}`;
    current = await updateRun(db, project.id, r.id, { status: 'interrupted', message }).catch(() => current);
  }
  return current;
}

/** The stored rounds of a run, in order. */
export async function loadRounds(db: StudioDb, projectId: string, run: RunRecord): Promise<StoredRound[]> {
  const rounds: StoredRound[] = [];
  for (let k = 0; k < run.roundsDone; k++) {
    const r = await db.getRound(projectId, run.id, k);
    if (r) rounds.push(r);
  }
  return rounds;
}

export interface RunDeps {
  client: Pick<ModelClient, 'runSail' | 'cancel'>;
  db: StudioDb;
  /** The prompt pools of rounds 1..`rounds`. */
  promptPools: (rounds: number) => Promise<string[][]>;
  /** PNG bytes -> the RGB record the trainer takes (the browser's decoder in the page). */
  decodePng: (png: Uint8Array) => Promise<ImageRGB>;
  /** Side of the model's images (the loaded model's). */
  imageSize: number;
  /** The real emoji the run is held to (see RunSailRequest). */
  anchorData?: RunSailRequest['anchorData'];
}

export interface RunObserver {
  /** The request is in the worker: its id is what Pause and Cancel cancel. */
  onLaunched?(requestId: number, progress: RunProgress): void;
  onEvent?(event: SailEvent, progress: RunProgress): void;
  /** A round is stored (round data and weights in one transaction, with the run's roundsDone). */
  onRoundSaved?(round: StoredRound, progress: RunProgress): void | Promise<void>;
}

/** Why the app stopped the run, if it did: decides paused vs cancelled when the worker answers 'cancelled'. */
export type StopIntent = 'pause' | 'cancel' | null;

export interface RunOutcome {
  status: Exclude<RunStatus, 'running'>;
  message: string | null;
  /** Rounds stored when the run stopped. */
  roundsDone: number;
}

/** The run-sail request for `run` from its next round. */
async function requestFor(deps: RunDeps, projectId: string, run: RunRecord, settings: SailSettings): Promise<Omit<RunSailRequest, 'id' | 'kind'>> {
  const { db } = deps;
  const fromRound = run.roundsDone;
  const pairs = await db.listPairs(projectId);
  const decided = pairs.filter((p) => p.label0 !== 0.5);
  if (fromRound === 0 && decided.length === 0) throw new Error('Round 0 needs seed pairs with a preference: label or upload some first (ties do not count).');
  const seedPairs = await Promise.all(
    decided.map(async (p) => ({ caption: p.caption, image0: await deps.decodePng(p.image0), image1: await deps.decodePng(p.image1), label0: p.label0, source: 'seed' as const })),
  );
  const resumeFrom =
    fromRound > 0
      ? {
          round: fromRound - 1,
          weights: (await roundModel(db, projectId, run.id, fromRound - 1)).weights,
          round0Weights: settings.judge === 'round0' && fromRound > 1 ? (await roundModel(db, projectId, run.id, 0)).weights : undefined,
        }
      : undefined;
  return {
    seedPairs,
    promptPools: await deps.promptPools(settings.rounds),
    settings,
    resumeFrom,
    base: await projectBase(db, projectId),
    grid: gridCellsFor(pairs),
    anchorData: deps.anchorData,
  };
}

/**
 * Runs `run` from its next round to the end of `settings` (or until stopped) and writes its final
 * status. Never throws: every way a run can end (finished, paused, cancelled, a failed save, a
 * diverged or drifted round, a crashed or restarted worker, a bad input) comes back as an outcome
 * whose message says what is kept.
 */
export async function executeRun(deps: RunDeps, projectId: string, run: RunRecord, settings: SailSettings, observer: RunObserver = {}, stopIntent: () => StopIntent = () => null): Promise<RunOutcome> {
  const { db, client } = deps;
  const fromRound = run.roundsDone;
  const finish = async (outcome: RunOutcome): Promise<RunOutcome> => {
    try {
      await updateRun(db, projectId, run.id, { status: outcome.status, message: outcome.message });
      return outcome;
    } catch (err) {
      // Even when the final state cannot be written the user is told; after a reload the run
      // then reads as interrupted (it was stored as running) and offers Resume.
      return { ...outcome, message: `${outcome.message ?? ''} (The run's state could not be saved: ${messageOf(err)})`.trim() };
    }
  };

  let request: Omit<RunSailRequest, 'id' | 'kind'>;
  try {
    request = await requestFor(deps, projectId, run, settings);
  } catch (err) {
    return finish({ status: 'failed', message: messageOf(err), roundsDone: fromRound });
  }
  const grid = request.grid ?? [];
  const progress = new RunProgress(settings, grid.length, fromRound);

  // Rounds are saved one after another, in order; a failed save stops the run.
  let saving: Promise<void> = Promise.resolve();
  let saveFailure: string | null = null;
  let roundsDone = fromRound;
  let requestId: number | null = null;
  const saveRound = async (reply: SailRoundReply) => {
    const size = deps.imageSize;
    const stored: StoredRound = {
      round: reply.round,
      record: reply.record,
      selfPairs: reply.selfPairs.map((p) => ({ prompt: p.prompt, margin: p.margin, winner: rgbaToPng(p.winner, size), loser: rgbaToPng(p.loser, size) })),
      grid: grid.map((cell, i) => ({ ...cell, image: rgbaToPng(reply.grid[i], size) })),
    };
    try {
      await db.saveRound(projectId, run.id, stored, reply.weights);
    } catch (err) {
      saveFailure = `Round ${reply.round} could not be saved: ${messageOf(err)} ${keptText(reply.round)} Free some space (delete an old project or run) and press Resume.`;
      if (requestId !== null) client.cancel(requestId);
      return;
    }
    roundsDone = reply.round + 1;
    progress.onRoundSaved(reply.round);
    await observer.onRoundSaved?.(stored, progress);
  };

  const onStream = (reply: StreamReply) => {
    if (reply.kind === 'sail-event') {
      progress.onEvent(reply.event);
      observer.onEvent?.(reply.event, progress);
    } else if (reply.kind === 'sail-round') {
      saving = saving.then(() => (saveFailure ? undefined : saveRound(reply))).catch(() => {});
    }
  };

  const job = client.runSail(request, onStream);
  requestId = job.id;
  observer.onLaunched?.(job.id, progress);

  try {
    await job.reply;
    await saving;
    return finish({ status: saveFailure ? 'failed' : 'finished', message: saveFailure, roundsDone });
  } catch (err) {
    await saving;
    if (saveFailure) return finish({ status: 'failed', message: saveFailure, roundsDone });
    const reason = err instanceof ModelRequestError ? err.reason : 'internal';
    const kept = keptText(roundsDone);
    if (reason === 'cancelled') {
      const status = stopIntent() === 'cancel' ? 'cancelled' : 'paused';
      return finish({ status, message: status === 'paused' ? `Paused. ${kept} Resume continues after the last finished round.` : `Cancelled. ${kept}`, roundsDone });
    }
    if (reason === 'restarted') return finish({ status: 'interrupted', message: `The model worker was restarted during the run. ${kept} Press Resume to continue.`, roundsDone });
    // A later round refused by the drift bound: the run is done, and the round before it is its
    // result (the engine's message says so); nothing to resume into, it would drift again.
    if (reason === 'drifted' && roundsDone > 0) return finish({ status: 'finished', message: messageOf(err), roundsDone });
    // diverged or drifted: the engine's message names round and step; a crash or hang: the client's.
    const next = reason === 'diverged' || reason === 'drifted' ? '' : 'Press Resume to continue from there.';
    return finish({ status: 'failed', message: `${messageOf(err)} ${kept} ${next}`.trim(), roundsDone });
  }
}
