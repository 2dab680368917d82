// The studio's storage in Node: the migration runner (fixtures of version 1, a failing step and
// the resume after it, a newer schema refused untouched) and StudioDb's transactions, over
// fake-indexeddb (the e2e specs use Chromium's real IndexedDB).
import 'fake-indexeddb/auto';

import { createStore, entries, get, set, type UseStore } from 'idb-keyval';
import { describe, expect, it } from 'vitest';

import type { RoundRecord, SailSettings } from '../src/core/sail/loop';
import { spaceRefusal, StorageFullError, StudioDb } from '../src/app/storage/db';
import {
  MIGRATIONS,
  migrate,
  SCHEMA_VERSION,
  SchemaError,
  VERSION_KEY,
  type MigrationStep,
  type MigrationStore,
  type ProjectRecord,
  type StoredPair,
  type StoredRound,
} from '../src/app/storage/schema';

let dbCount = 0;
const freshStore = () => createStore(`storage-test-${++dbCount}`, 'kv');

/** The MigrationStore a StudioDb builds, over a bare idb-keyval store (for the runner alone). */
function migrationStoreOf(store: UseStore): MigrationStore {
  return {
    keys: async () => (await entries(store)).map(([k]) => String(k)),
    get: (key) => get(key, store),
    commit: async ({ set: sets = [], del = [] }) => {
      await store('readwrite', (s) => {
        for (const key of del) s.delete(key);
        for (const [key, value] of sets) s.put(value, key);
        return new Promise<void>((resolve, reject) => {
          s.transaction.oncomplete = () => resolve();
          s.transaction.onabort = () => reject(s.transaction.error);
        });
      });
    },
  };
}

const dump = async (store: UseStore) => Object.fromEntries((await entries(store)).map(([k, v]) => [String(k), v]));

const settings = { rounds: 1, candidatesPerPrompt: 2, rewardDraws: 1, alpha: 0.25, beta: 100, learningRate: 3e-4, stepsPerRound: 2, batchSize: 2, marginThreshold: 0, pairing: 'best-worst', judge: 'current', promptsPerRound: 1, guidance: 3, ddimSteps: 2, seed: 1 } as SailSettings;

/** A version-1 database as the first release writes it: one project with a pair, a run with a round. */
async function writeV1Fixture(store: UseStore): Promise<void> {
  const project: ProjectRecord = {
    id: 'p1',
    name: 'Cats',
    createdAt: 1,
    updatedAt: 2,
    runSettings: settings,
    importedBase: null,
    runs: [{ id: 'r1', startedAt: 3, settings, status: 'interrupted', message: null, roundsDone: 1 }],
  };
  const pair: StoredPair = { id: 'a', caption: 'cat face', image0: new Uint8Array([1, 2]), image1: new Uint8Array([3]), label0: 1, source: 'seed', createdAt: 4 };
  await set(VERSION_KEY, 1, store);
  await set('project:p1', project, store);
  await set('pair:p1:a', pair, store);
  await set('round:p1:r1:0', { round: 0, record: { round: 0 }, selfPairs: [], grid: [] }, store);
  await set('weights:p1:r1:0', new Uint8Array([9, 9, 9]).buffer, store);
}

describe('migration runner', () => {
  it('an empty database is brought to this release and marked with its version', async () => {
    const store = freshStore();
    expect(await migrate(migrationStoreOf(store))).toEqual([1]);
    expect(await get(VERSION_KEY, store)).toBe(SCHEMA_VERSION);
    expect(Object.keys(await dump(store))).toEqual([VERSION_KEY]);
  });

  it('this release has one step for every version up to SCHEMA_VERSION, in order', () => {
    expect(MIGRATIONS.map((m) => m.version)).toEqual(Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1));
  });

  it('a version-1 database opens unchanged', async () => {
    const store = freshStore();
    await writeV1Fixture(store);
    const before = await dump(store);
    expect(await migrate(migrationStoreOf(store))).toEqual([]);
    expect(await dump(store)).toEqual(before);
  });

  // Steps a later release might add, on the version-1 fixture: one step per version, each
  // step's changes and its version in one transaction.
  const renameStep: MigrationStep = {
    version: 2,
    name: 'project names are stored trimmed and upper-case',
    async up(read) {
      const keys = (await read.keys()).filter((k) => k.startsWith('project:'));
      const changed: [string, unknown][] = [];
      for (const key of keys) {
        const p = (await read.get<ProjectRecord>(key))!;
        changed.push([key, { ...p, name: p.name.toUpperCase() }]);
      }
      return { set: changed };
    },
  };
  const dropWeightsStep = (fail: { now: boolean }): MigrationStep => ({
    version: 3,
    name: 'weights move to a new key',
    async up(read) {
      if (fail.now) throw new Error('simulated failure');
      const keys = (await read.keys()).filter((k) => k.startsWith('weights:'));
      const moved: [string, unknown][] = [];
      for (const key of keys) moved.push([`w3:${key}`, await read.get(key)]);
      return { set: moved, del: keys };
    },
  });

  it('a failing step leaves the database at the last finished version, and the next open resumes there', async () => {
    const store = freshStore();
    await writeV1Fixture(store);
    const fail = { now: true };
    const steps = [...MIGRATIONS, renameStep, dropWeightsStep(fail)];

    await expect(migrate(migrationStoreOf(store), steps, 3)).rejects.toThrow(/schema version 3 \(weights move to a new key\) failed: simulated failure\. It stays at version 2/);
    expect(await get(VERSION_KEY, store)).toBe(2);
    expect((await get<ProjectRecord>('project:p1', store))!.name).toBe('CATS');
    expect(await get('weights:p1:r1:0', store)).toBeInstanceOf(ArrayBuffer);

    fail.now = false;
    expect(await migrate(migrationStoreOf(store), steps, 3)).toEqual([3]); // step 2 is not run again
    expect(await get(VERSION_KEY, store)).toBe(3);
    expect((await get<ProjectRecord>('project:p1', store))!.name).toBe('CATS');
    expect(await get('weights:p1:r1:0', store)).toBeUndefined();
    expect(new Uint8Array((await get<ArrayBuffer>('w3:weights:p1:r1:0', store))!)).toEqual(new Uint8Array([9, 9, 9]));
  });

  it('a database from a newer release is refused and left untouched', async () => {
    const store = freshStore();
    await writeV1Fixture(store);
    await set(VERSION_KEY, SCHEMA_VERSION + 1, store);
    const before = await dump(store);
    await expect(migrate(migrationStoreOf(store))).rejects.toThrow(SchemaError);
    await expect(migrate(migrationStoreOf(store))).rejects.toThrow(/newer release \(schema version 2; this page reads up to 1\)/);
    expect(await dump(store)).toEqual(before);
    await expect(StudioDb.open(store)).rejects.toThrow(/newer release/);
    expect(await dump(store)).toEqual(before);
  });

  it('a missing step and an unreadable version are refused', async () => {
    const store = freshStore();
    await writeV1Fixture(store);
    await expect(migrate(migrationStoreOf(store), MIGRATIONS, 2)).rejects.toThrow(/No migration to schema version 2/);
    await set(VERSION_KEY, 'one', store);
    await expect(migrate(migrationStoreOf(store))).rejects.toThrow(/unreadable schema version/);
  });
});

const pair = (id: string, createdAt: number): StoredPair => ({ id, caption: `caption ${id}`, image0: new Uint8Array([createdAt]), image1: new Uint8Array([createdAt + 1]), label0: 1, source: 'seed', createdAt });

const round = (k: number): StoredRound => ({
  round: k,
  record: { round: k } as RoundRecord,
  selfPairs: [{ prompt: 'dog face', margin: 0.5, winner: new Uint8Array([1]), loser: new Uint8Array([2]) }],
  grid: [{ prompt: 'dog face', seed: 1, image: new Uint8Array([3]) }],
});

describe('StudioDb', () => {
  it('creates, renames, lists and deletes projects; deleting removes every key of the project and nothing else', async () => {
    const store = freshStore();
    const db = await StudioDb.open(store);
    const a = await db.createProject('  Cats ');
    const b = await db.createProject('Dogs');
    expect(a.name).toBe('Cats');
    await expect(db.createProject('   ')).rejects.toThrow(/needs a name/);
    await db.renameProject(a.id, 'Kittens');
    expect((await db.listProjects()).map((p) => p.name)).toEqual(['Kittens', 'Dogs']);

    await db.addPairs(a.id, [pair('x', 1), pair('y', 2)]);
    await db.addPairs(b.id, [pair('z', 3)]);
    await db.saveProject({ ...(await db.getProject(a.id))!, runs: [{ id: 'r', startedAt: 1, settings, status: 'running', message: null, roundsDone: 0 }] });
    await db.saveRound(a.id, 'r', round(0), new ArrayBuffer(8));
    await db.setImportedBase(a.id, { provenance: { command: 'x' } }, new ArrayBuffer(4), 'mine');
    expect((await db.getProject(a.id))!.importedBase).toEqual({ name: 'mine', provenance: { command: 'x' } });
    await db.updateTally(a.id, 'base|r:0', (t) => ({ ...t, b: t.b + 1 }));

    await db.deleteProject(a.id);
    expect(Object.keys(await dump(store)).sort()).toEqual([VERSION_KEY, `pair:${b.id}:z`, `project:${b.id}`].sort());
    expect((await db.listPairs(b.id)).map((p) => p.id)).toEqual(['z']);
  });

  it('blind A/B tallies: counted from what is stored, concurrent judgements all kept, refused for a project that is gone', async () => {
    const db = await StudioDb.open(freshStore());
    const p = await db.createProject('Taste');
    expect(await db.getTallies(p.id)).toEqual({});
    const judged = ['b', 'a', 'b', 'ties', 'b'] as const;
    await Promise.all(judged.map((side) => db.updateTally(p.id, 'base|r:0', (t) => ({ ...t, [side]: t[side] + 1 }))));
    expect(await db.getTallies(p.id)).toEqual({ 'base|r:0': { b: 3, a: 1, ties: 1 } });
    expect(await db.updateTally(p.id, 'r:0|r:1', (t) => ({ ...t, a: t.a + 2 }))).toEqual({ a: 2, b: 0, ties: 0 });
    expect(Object.keys(await db.getTallies(p.id)).sort()).toEqual(['base|r:0', 'r:0|r:1']);
    await db.deleteProject(p.id);
    await expect(db.updateTally(p.id, 'base|r:0', (t) => t)).rejects.toThrow(/no longer exists/);
    expect(await db.getTallies(p.id)).toEqual({});
  });

  it('stores pairs with their bytes, deletes one, edits a label, and refuses pairs for a project that is gone', async () => {
    const db = await StudioDb.open(freshStore());
    const p = await db.createProject('P');
    await db.addPairs(p.id, [pair('b', 2), pair('a', 1)]);
    const listed = await db.listPairs(p.id);
    expect(listed.map((x) => x.id)).toEqual(['a', 'b']);
    expect(listed[0].image0).toEqual(new Uint8Array([1]));
    await db.setPairLabel(p.id, 'a', 0.5);
    await db.deletePair(p.id, 'b');
    expect((await db.listPairs(p.id)).map((x) => [x.id, x.label0])).toEqual([['a', 0.5]]);
    await expect(db.addPairs('nope', [pair('c', 3)])).rejects.toThrow(/no longer exists/);
    expect(await db.listPairs('nope')).toEqual([]);
  });

  it('saveRound writes the round, its weights and roundsDone together; a stale saveProject does not roll roundsDone back', async () => {
    const db = await StudioDb.open(freshStore());
    const p = await db.createProject('P');
    await db.saveProject({ ...p, runs: [{ id: 'r', startedAt: 1, settings, status: 'running', message: null, roundsDone: 0 }] });
    const stale = (await db.getProject(p.id))!;

    // A round saved while a label is written: both land, in order.
    await Promise.all([db.saveRound(p.id, 'r', round(0), new Uint8Array([7, 7]).buffer), db.addPairs(p.id, [pair('a', 1)]), db.saveRound(p.id, 'r', round(1), new ArrayBuffer(3))]);
    expect((await db.getProject(p.id))!.runs[0].roundsDone).toBe(2);
    expect(new Uint8Array((await db.getRoundWeights(p.id, 'r', 0))!)).toEqual(new Uint8Array([7, 7]));
    expect((await db.getRound(p.id, 'r', 1))!.selfPairs[0].prompt).toBe('dog face');

    await db.saveProject({ ...stale, runs: stale.runs.map((r) => ({ ...r, status: 'paused' })) });
    const run = (await db.getProject(p.id))!.runs[0];
    expect([run.status, run.roundsDone]).toEqual(['paused', 2]);

    await expect(db.saveRound(p.id, 'no-such-run', round(2), new ArrayBuffer(1))).rejects.toThrow(/no longer exists/);
    expect(await db.getRound(p.id, 'no-such-run', 2)).toBeUndefined();

    await db.deleteRun(p.id, 'r');
    expect((await db.getProject(p.id))!.runs).toEqual([]);
    expect(await db.getRoundWeights(p.id, 'r', 0)).toBeUndefined();
    expect((await db.listPairs(p.id)).length).toBe(1);
  });

  it('tells a refusal for space (the quota, or a full disk as an I/O error) from other failures', () => {
    expect(spaceRefusal(new DOMException('The quota has been exceeded.', 'QuotaExceededError'))).toBe('quota');
    // What Chromium reports when the disk itself fills before the quota (seen on a full tmpfs).
    expect(spaceRefusal(new DOMException('Failed to write blobs (IOError)', 'DataError'))).toBe('disk');
    expect(spaceRefusal(new DOMException('Internal error: IOError', 'UnknownError'))).toBe('disk');
    expect(spaceRefusal(new DOMException('Data provided to an operation does not meet requirements.', 'DataError'))).toBeNull();
    expect(spaceRefusal(new Error('IOError'))).toBeNull();
    expect(spaceRefusal('QuotaExceededError')).toBeNull();
    expect(new StorageFullError('round 1', 'disk').message).toMatch(/^Storage is full or failing: the browser could not write round 1 to disk/);
  });

  it('a full quota rejects with a storage-full message and stores nothing of that write', async () => {
    const real = freshStore();
    const db0 = await StudioDb.open(real);
    const p = await db0.createProject('P');
    await db0.addPairs(p.id, [pair('kept', 1)]);
    await db0.saveProject({ ...p, runs: [{ id: 'r', startedAt: 1, settings, status: 'running', message: null, roundsDone: 0 }] });

    // The browser raises QuotaExceededError from put when the origin is out of space; the second
    // put of the transaction fails here, after the first was queued.
    const full: UseStore = (mode, callback) =>
      real(mode, (s) => {
        let puts = 0;
        const put = s.put.bind(s);
        s.put = (value: unknown, key?: IDBValidKey) => {
          if (++puts === 2) throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
          return put(value, key);
        };
        return callback(s);
      });
    const db = await StudioDb.open(full);
    const before = await dump(real);
    await expect(db.addPairs(p.id, [pair('n1', 2), pair('n2', 3)])).rejects.toThrow(StorageFullError);
    await expect(db.saveRound(p.id, 'r', round(0), new ArrayBuffer(8))).rejects.toThrow(/Storage is full: the browser refused to save round 0/);
    expect(await dump(real)).toEqual(before);
    // The queue goes on after a failure.
    await db0.addPairs(p.id, [pair('after', 4)]);
    expect((await db0.listPairs(p.id)).map((x) => x.id)).toEqual(['kept', 'after']);
  });
});
