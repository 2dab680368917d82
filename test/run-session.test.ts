// The run lifecycle (src/app/run/runSession.ts) in Node: the real ModelClient over a fake worker
// that answers run-sail as the model worker does (events, one sail-round per round, sail-done, or
// an error), and the real StudioDb over fake-indexeddb. What the Run tab shows is decided here,
// so each way a run ends is checked: finished, paused, cancelled, a full disk mid-run, a crash,
// a diverged round, a project with no decided pair, a resume, a page closed mid-run.
import 'fake-indexeddb/auto';

import { createStore } from 'idb-keyval';
import { describe, expect, it } from 'vitest';

import { encodePng } from '../src/core/data/png';
import { DriftError, type RoundRecord, type SailSettings } from '../src/core/sail/loop';
import { DEFAULT_SAIL_SETTINGS } from '../src/core/sail/settings';
import type { RunSailRequest, WorkerReply, WorkerRequest } from '../src/protocol';
import { checkpointModel, checkpointOptions } from '../src/app/project/checkpoints';
import { createRun, executeRun, markInterrupted, prepareResume, type RunDeps, type StopIntent } from '../src/app/run/runSession';
import { ModelClient } from '../src/app/shared/modelClient';
import { StudioDb } from '../src/app/storage/db';
import { decodeNode } from '../scripts/lib/decodeNode';

const SIZE = 4;
const settings: SailSettings = { ...DEFAULT_SAIL_SETTINGS, rounds: 2, stepsPerRound: 3 };

/** How the fake worker answers a run-sail: rounds it finishes, then how it ends. */
interface Script {
  rounds: number;
  end: 'done' | 'cancelled' | 'diverged' | 'drifted' | 'crash' | 'wait-for-cancel';
}

/** A Worker as far as ModelClient uses one; answers run-sail after `script`, records what it was sent. */
class FakeWorker {
  onmessage: ((e: MessageEvent<WorkerReply>) => void) | null = null;
  onerror: ((e: ErrorEvent) => void) | null = null;
  onmessageerror: (() => void) | null = null;
  readonly sent: WorkerRequest[] = [];
  private running: RunSailRequest | null = null;
  constructor(private readonly script: Script) {}

  postMessage(msg: WorkerRequest): void {
    this.sent.push(msg);
    if (msg.kind === 'run-sail') {
      this.running = msg;
      void this.play(msg);
    } else if (msg.kind === 'cancel' && this.running?.id === msg.targetId) {
      const id = msg.targetId;
      this.running = null;
      setTimeout(() => this.reply({ kind: 'error', id, reason: 'cancelled', message: 'cancelled' }));
    }
  }

  terminate(): void {
    this.running = null;
  }

  private reply(r: WorkerReply): void {
    this.onmessage?.({ data: r } as MessageEvent<WorkerReply>);
  }

  private async play(req: RunSailRequest): Promise<void> {
    const tick = () => new Promise((r) => setTimeout(r, 1));
    const first = req.resumeFrom ? req.resumeFrom.round + 1 : 0;
    for (let k = first; k < first + this.script.rounds; k++) {
      for (let step = 1; step <= 2; step++) {
        await tick();
        if (this.running !== req) return;
        this.reply({ kind: 'sail-event', id: req.id, event: { type: 'step', round: k, step, loss: 0.69, implicitAccuracy: 0.5, rewardMargin: 0 } as never });
      }
      const weights = new Uint8Array([k, 1, 2, 3]).buffer;
      const rgba = () => new Uint8ClampedArray(SIZE * SIZE * 4).fill(40 * k).buffer;
      const record = { round: k, curve: [{ step: 1, loss: 0.6, implicitAccuracy: 0.5, rewardMargin: 0 }] } as unknown as RoundRecord;
      this.reply({ kind: 'sail-round', id: req.id, round: k, record, weights, selfPairs: [{ prompt: 'cat face', margin: 0.1, winner: rgba(), loser: rgba() }], grid: (req.grid ?? []).map(rgba) });
    }
    await tick();
    if (this.running !== req) return;
    const { end } = this.script;
    if (end === 'wait-for-cancel') return;
    this.running = null;
    if (end === 'done') this.reply({ kind: 'sail-done', id: req.id, rounds: this.script.rounds });
    else if (end === 'cancelled') this.reply({ kind: 'error', id: req.id, reason: 'cancelled', message: 'cancelled' });
    else if (end === 'diverged') this.reply({ kind: 'error', id: req.id, reason: 'diverged', message: `The loss became NaN in round ${first + this.script.rounds}, step 2.` });
    else if (end === 'drifted') {
      const round = first + this.script.rounds;
      this.reply({ kind: 'error', id: req.id, reason: 'drifted', message: new DriftError(round, [{ step: 10, heldOutAccuracy: 0.5, heldOutLoss: 0.6, drift: 0.13 }], 0.1).message });
    } else this.onerror?.({ message: 'boom', preventDefault() {} } as unknown as ErrorEvent);
  }
}

let dbCount = 0;
const png = (v: number) => encodePng({ width: SIZE, height: SIZE, data: new Uint8Array(SIZE * SIZE * 3).fill(v) });

async function setup(script: Script, opts: { pairs?: { label0: 0 | 0.5 | 1 }[] } = {}) {
  const db = await StudioDb.open(createStore(`run-session-${++dbCount}`, 'kv'));
  const project = await db.createProject('Cats');
  const pairs = (opts.pairs ?? [{ label0: 1 }, { label0: 0 }, { label0: 0.5 }]).map((p, i) => ({
    id: `pair-${i}`,
    caption: i === 0 ? 'cat face' : 'dog face',
    image0: png(10 + i),
    image1: png(200 - i),
    label0: p.label0,
    source: 'seed' as const,
    createdAt: i,
  }));
  await db.addPairs(project.id, pairs);
  const worker = new FakeWorker(script);
  const client = new ModelClient({ createWorker: () => worker as unknown as Worker, inactivityMs: 5_000 });
  const deps: RunDeps = {
    client,
    db,
    promptPools: async (rounds) => Array.from({ length: rounds }, () => ['frog']),
    decodePng: async (bytes) => {
      const { width, height, data } = await decodeNode(bytes, 'pair.png');
      const rgb = new Uint8Array(width * height * 3);
      for (let i = 0; i < width * height; i++) rgb.set(data.subarray(i * 4, i * 4 + 3), i * 3);
      return { width, height, data: rgb };
    },
    imageSize: SIZE,
  };
  return { db, project, worker, client, deps };
}

const runOf = async (db: StudioDb, projectId: string, runId: string) => (await db.getProject(projectId))!.runs.find((r) => r.id === runId)!;

describe('a run from start to finish', () => {
  it('stores every round in order, marks the run finished and sends only decided pairs', async () => {
    const { db, project, worker, deps } = await setup({ rounds: 3, end: 'done' });
    const run = await createRun(db, project.id, settings);
    expect((await db.getProject(project.id))!.runSettings).toEqual(settings);
    const saved: number[] = [];
    const events: string[] = [];
    const outcome = await executeRun(deps, project.id, run, settings, { onRoundSaved: (r) => void saved.push(r.round), onEvent: (e) => void events.push(e.type) });
    expect(outcome).toEqual({ status: 'finished', message: null, roundsDone: 3 });
    expect(saved).toEqual([0, 1, 2]);
    expect(events.filter((e) => e === 'step')).toHaveLength(6);
    const stored = await runOf(db, project.id, run.id);
    expect(stored.status).toBe('finished');
    expect(stored.roundsDone).toBe(3);
    expect(new Uint8Array((await db.getRoundWeights(project.id, run.id, 2))!)).toEqual(new Uint8Array([2, 1, 2, 3]));
    const round1 = (await db.getRound(project.id, run.id, 1))!;
    expect(round1.selfPairs[0].prompt).toBe('cat face');
    expect(round1.grid.map((c) => c.prompt)).toContain('cat face');
    // The request: the tie is left out, the images arrive decoded, the grid starts with the project's captions.
    const req = worker.sent.find((m) => m.kind === 'run-sail') as RunSailRequest;
    expect(req.seedPairs.map((p) => p.label0)).toEqual([1, 0]);
    expect(Array.from(req.seedPairs[0].image0.data.slice(0, 3))).toEqual([10, 10, 10]);
    expect(req.resumeFrom).toBeUndefined();
    expect(req.promptPools).toEqual([['frog'], ['frog']]);
  });

  it('refuses round 0 without a decided pair, sends nothing and says why', async () => {
    const { db, project, worker, deps } = await setup({ rounds: 1, end: 'done' }, { pairs: [{ label0: 0.5 }] });
    const run = await createRun(db, project.id, settings);
    const outcome = await executeRun(deps, project.id, run, settings);
    expect(outcome.status).toBe('failed');
    expect(outcome.message).toMatch(/ties do not count/);
    expect(worker.sent).toHaveLength(0);
    expect((await runOf(db, project.id, run.id)).status).toBe('failed');
  });
});

describe('a run that stops early keeps its finished rounds', () => {
  const stopped = async (intent: StopIntent) => {
    const { db, project, client, deps } = await setup({ rounds: 1, end: 'wait-for-cancel' });
    const run = await createRun(db, project.id, settings);
    let stop: StopIntent = null;
    let requestId = -1;
    const outcome = await executeRun(
      deps,
      project.id,
      run,
      settings,
      {
        onLaunched: (id) => void (requestId = id),
        onRoundSaved: () => {
          // What Pause and Cancel do in the Run store: say why, then cancel the request.
          stop = intent;
          client.cancel(requestId);
        },
      },
      () => stop,
    );
    return { outcome, stored: await runOf(db, project.id, run.id) };
  };

  it('pause: paused, round 0 kept, Resume offered', async () => {
    const { outcome, stored } = await stopped('pause');
    expect(outcome).toEqual({ status: 'paused', message: 'Paused. Round 0 is kept. Resume continues after the last finished round.', roundsDone: 1 });
    expect(stored.status).toBe('paused');
    expect(stored.roundsDone).toBe(1);
  });

  it('cancel: cancelled, round 0 kept', async () => {
    const { outcome } = await stopped('cancel');
    expect(outcome.status).toBe('cancelled');
    expect(outcome.message).toBe('Cancelled. Round 0 is kept.');
  });

  it('a crashed worker fails the run with what it kept and offers Resume', async () => {
    const { db, project, deps } = await setup({ rounds: 2, end: 'crash' });
    const run = await createRun(db, project.id, settings);
    const outcome = await executeRun(deps, project.id, run, settings);
    expect(outcome.status).toBe('failed');
    expect(outcome.message).toMatch(/crashed: boom.*Rounds 0 to 1 are kept\. Press Resume/);
    expect((await runOf(db, project.id, run.id)).roundsDone).toBe(2);
  });

  it('a diverged round fails the run with the engine\'s message and no Resume advice', async () => {
    const { db, project, deps } = await setup({ rounds: 1, end: 'diverged' });
    const run = await createRun(db, project.id, settings);
    const outcome = await executeRun(deps, project.id, run, settings);
    expect(outcome.status).toBe('failed');
    expect(outcome.message).toBe('The loss became NaN in round 1, step 2. Round 0 is kept.');
  });

  it('a later round refused by the drift bound finishes the run with the round before it, says so, and offers no Resume', async () => {
    const { db, project, deps } = await setup({ rounds: 1, end: 'drifted' });
    const run = await createRun(db, project.id, settings);
    const outcome = await executeRun(deps, project.id, run, settings);
    expect(outcome.status).toBe('finished');
    expect(outcome.message).toMatch(/^Round 1 was not kept: .*rose 13\.0%, the bound is 10%.*The run ends with round 0, which is kept/);
    expect(outcome.message).not.toMatch(/resume/i);
    const stored = await runOf(db, project.id, run.id);
    expect(stored.status).toBe('finished');
    expect(stored.roundsDone).toBe(1);
    expect(stored.message).toBe(outcome.message);
  });

  it('round 0 refused by the drift bound fails the run (nothing trained is kept) and says what to change', async () => {
    const { db, project, deps } = await setup({ rounds: 0, end: 'drifted' });
    const run = await createRun(db, project.id, settings);
    const outcome = await executeRun(deps, project.id, run, settings);
    expect(outcome.status).toBe('failed');
    expect(outcome.message).toMatch(/^Round 0 was not kept: .*Lower the learning rate .* and resume\./);
    expect((await runOf(db, project.id, run.id)).roundsDone).toBe(0);
  });

  it('a round that cannot be saved stops the run (the worker is cancelled) and names the space', async () => {
    const { db, project, worker, deps } = await setup({ rounds: 3, end: 'wait-for-cancel' });
    const run = await createRun(db, project.id, settings);
    const save = db.saveRound.bind(db);
    let calls = 0;
    db.saveRound = async (...args) => {
      if (++calls === 2) throw new Error('The browser refused to store more data: its storage quota is used up.');
      return save(...args);
    };
    const outcome = await executeRun(deps, project.id, run, settings);
    expect(outcome.status).toBe('failed');
    expect(outcome.message).toMatch(/^Round 1 could not be saved: .*quota.* Round 0 is kept\. Free some space/);
    expect(worker.sent.some((m) => m.kind === 'cancel')).toBe(true);
    const stored = await runOf(db, project.id, run.id);
    expect(stored.roundsDone).toBe(1);
    expect(stored.status).toBe('failed');
    expect(await db.getRound(project.id, run.id, 2)).toBeUndefined();
  });
});

describe('resume and a page closed mid-run', () => {
  it('resume continues after the last finished round from its weights, with the saved settings', async () => {
    const { db, project, worker, deps } = await setup({ rounds: 1, end: 'done' });
    const run = await createRun(db, project.id, settings);
    await executeRun(deps, project.id, run, settings);
    await db.updateProject(project.id, (p) => ({ ...p, runs: p.runs.map((r) => ({ ...r, status: 'paused' as const })) }));
    const saved = (await db.getProject(project.id))!.runSettings!;
    const plan = await prepareResume(db, project.id, run.id, saved);
    expect(plan.kind).toBe('resume');
    if (plan.kind !== 'resume') return;
    expect((await runOf(db, project.id, run.id)).status).toBe('running');
    const outcome = await executeRun(deps, project.id, plan.run, saved);
    expect(outcome).toEqual({ status: 'finished', message: null, roundsDone: 2 });
    const second = worker.sent.filter((m) => m.kind === 'run-sail')[1] as RunSailRequest;
    expect(second.resumeFrom?.round).toBe(0);
    expect(new Uint8Array(second.resumeFrom!.weights)).toEqual(new Uint8Array([0, 1, 2, 3]));
    expect(second.settings).toEqual(saved);
  });

  it('resume of a run whose rounds are all done says so; of a deleted run, that it is gone', async () => {
    const { db, project, deps } = await setup({ rounds: 3, end: 'done' });
    const run = await createRun(db, project.id, settings);
    await executeRun(deps, project.id, run, settings);
    expect(await prepareResume(db, project.id, run.id, settings)).toEqual({ kind: 'done', message: expect.stringMatching(/All 3 rounds .* raise Rounds/) });
    expect((await prepareResume(db, project.id, 'no-such-run', settings)).kind).toBe('gone');
  });

  it('a run left running by a closed page becomes interrupted, unless another tab holds its lock', async () => {
    const { db, project } = await setup({ rounds: 1, end: 'done' });
    const run = await createRun(db, project.id, settings);
    const open = (await db.getProject(project.id))!;
    expect((await markInterrupted(db, open, null, true)).runs[0].status).toBe('running');
    expect((await markInterrupted(db, open, run.id, false)).runs[0].status).toBe('running'); // this page's own live run
    const after = await markInterrupted(db, open, null, false);
    expect(after.runs[0]).toMatchObject({ status: 'interrupted', message: 'The page was closed or reloaded during round 0. No round had finished yet.' });
    expect((await runOf(db, project.id, run.id)).status).toBe('interrupted');
  });
});

describe("a project's checkpoints", () => {
  it('lists base then every finished round, and reads each one\'s weights', async () => {
    const { db, project, deps } = await setup({ rounds: 2, end: 'done' });
    const run = await createRun(db, project.id, settings);
    await executeRun(deps, project.id, run, settings);
    const options = checkpointOptions((await db.getProject(project.id))!);
    expect(options.map((o) => o.label)).toEqual(['Base (shipped model)', 'Run 1, round 0', 'Run 1, round 1']);
    expect(await checkpointModel(db, project.id, 'base')).toBeUndefined();
    const round1 = await checkpointModel(db, project.id, options[2].key);
    expect(new Uint8Array(round1!.weights)).toEqual(new Uint8Array([1, 1, 2, 3]));
    await expect(checkpointModel(db, project.id, `${run.id}:7`)).rejects.toThrow(/round 7 are not stored/);
    await expect(checkpointModel(db, project.id, 'garbage')).rejects.toThrow(/No such checkpoint/);
  });
});
