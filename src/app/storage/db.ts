// The studio's IndexedDB: projects, their pairs, runs, round checkpoints and imported bases, in
// database "sail-studio" through idb-keyval (key layout in ./schema.ts).
//
// Two rules keep work from being lost:
// - Every write goes through one promise queue, so writes land in the order they were asked
//   for and a read-modify-write never interleaves with another (labelling a pair while a run
//   saves a round must not roll back the run's record).
// - Every change of more than one record is one IndexedDB transaction: it lands whole or not
//   at all. A full quota aborts the transaction, so what was stored before stays as it was.

import { createStore, get, promisifyRequest, type UseStore } from 'idb-keyval';

import {
  baseKey,
  migrate,
  pairKey,
  projectKey,
  EMPTY_TALLY,
  isTally,
  roundKey,
  tallyKey,
  VERSION_KEY,
  weightsKey,
  type BlindTallies,
  type Changes,
  type ImportedBase,
  type MigrationStore,
  type ProjectRecord,
  type StoredPair,
  type StoredRound,
  type Tally,
} from './schema';
import type { ProjectSnapshot } from './projectFile';

export const DB_NAME = 'sail-studio';
const STORE_NAME = 'kv';
export const MAX_PROJECT_NAME = 80;

/**
 * Thrown when the browser refuses a write for lack of space; nothing of that write was stored.
 * Chromium says so in two ways: a QuotaExceededError when the origin passes its quota (60% of
 * the disk), and an I/O error (a DataError or UnknownError naming IOError) when the disk itself
 * is full before the quota is reached.
 */
export class StorageFullError extends Error {
  constructor(what: string, cause: 'quota' | 'disk' = 'quota') {
    super(
      (cause === 'quota'
        ? `Storage is full: the browser refused to save ${what}`
        : `Storage is full or failing: the browser could not write ${what} to disk (an I/O error; is the disk full?)`) +
        ', and nothing of it was stored (what was saved before is intact). ' +
        'Free space by deleting old runs or projects (export them first), then try again.',
    );
    this.name = 'StorageFullError';
  }
}

/** A user-fixable problem with what was asked (an empty name, a project that is gone). */
export class StorageRequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StorageRequestError';
  }
}

/** Whether a failed write was refused for lack of space: by the quota, by the disk, or not at all. */
export function spaceRefusal(err: unknown): 'quota' | 'disk' | null {
  if (!(err instanceof Error)) return null;
  if (err.name === 'QuotaExceededError' || (err as { code?: number }).code === 22) return 'quota';
  if ((err.name === 'DataError' || err.name === 'UnknownError') && /\bIOError\b/.test(err.message)) return 'disk';
  return null;
}

/** All keys that start with `prefix` (ids and numbers never hold U+FFFF). */
const prefixRange = (prefix: string) => IDBKeyRange.bound(prefix, `${prefix}\uffff`);

const newId = () => crypto.randomUUID();

export function checkProjectName(name: string): string {
  const trimmed = name.trim();
  if (!trimmed) throw new StorageRequestError('A project needs a name.');
  if ([...trimmed].length > MAX_PROJECT_NAME) throw new StorageRequestError(`A project name may be at most ${MAX_PROJECT_NAME} characters.`);
  return trimmed;
}

interface TransactionTools {
  /** Aborts the transaction; it then rejects with `err`. */
  fail(err: Error): void;
  /** Reads `key` inside the transaction; `then` may queue more requests. */
  read<T>(key: string, then: (value: T | undefined) => void): void;
}

export interface StorageEstimateInfo {
  /** Bytes this origin uses (all of its storage, not only this database). */
  usage: number;
  quota: number;
  /** Whether the browser promised not to evict this origin's data under storage pressure. */
  persisted: boolean;
}

export class StudioDb {
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(private readonly store: UseStore) {}

  /** Opens the database (a custom store for tests) and brings it to this release's schema. */
  static async open(store: UseStore = createStore(DB_NAME, STORE_NAME)): Promise<StudioDb> {
    if (typeof indexedDB === 'undefined') {
      throw new StorageRequestError('This browser offers no IndexedDB (a private window can block it), so the studio cannot save projects.');
    }
    const db = new StudioDb(store);
    await db.write('the schema update', () => migrate(db.migrationStore()));
    return db;
  }

  // ---- projects ----

  async listProjects(): Promise<ProjectRecord[]> {
    const projects = await this.getAll<ProjectRecord>('project:');
    return projects.sort((a, b) => a.createdAt - b.createdAt);
  }

  getProject(id: string): Promise<ProjectRecord | undefined> {
    return get<ProjectRecord>(projectKey(id), this.store);
  }

  async createProject(name: string): Promise<ProjectRecord> {
    const now = Date.now();
    const project: ProjectRecord = { id: newId(), name: checkProjectName(name), createdAt: now, updatedAt: now, runSettings: null, importedBase: null, runs: [] };
    await this.write('the new project', () => this.transaction((s) => void s.put(project, projectKey(project.id))));
    return project;
  }

  async renameProject(id: string, name: string): Promise<ProjectRecord> {
    const checked = checkProjectName(name);
    return this.updateProject(id, (p) => ({ ...p, name: checked }));
  }

  /**
   * Changes a project record in one transaction from what is stored now (not from a copy the
   * caller read earlier), so concurrent changes are not lost. Returns the stored result.
   */
  updateProject(id: string, change: (project: ProjectRecord) => ProjectRecord): Promise<ProjectRecord> {
    return this.write('the project', () => this.modifyProject(id, (p) => ({ ...change(p), id, updatedAt: Date.now() })));
  }

  /**
   * Stores a whole project record. A run's roundsDone never goes back: rounds counted there are
   * stored, and a record read before saveRound finished must not hide them.
   */
  saveProject(project: ProjectRecord): Promise<void> {
    return this.write('the project', async () => {
      await this.modifyProject(project.id, (stored) => ({
        ...project,
        updatedAt: Date.now(),
        runs: project.runs.map((run) => {
          const before = stored.runs.find((r) => r.id === run.id);
          return before && before.roundsDone > run.roundsDone ? { ...run, roundsDone: before.roundsDone } : run;
        }),
      }));
    });
  }

  /** Deletes the project and every key of it (pairs, rounds, weights, imported base) in one transaction. */
  deleteProject(id: string): Promise<void> {
    return this.write('the deletion', () =>
      this.transaction((s) => {
        s.delete(projectKey(id));
        s.delete(baseKey(id));
        s.delete(tallyKey(id));
        for (const prefix of [`pair:${id}:`, `round:${id}:`, `weights:${id}:`]) s.delete(prefixRange(prefix));
      }),
    );
  }

  // ---- pairs ----

  async listPairs(projectId: string): Promise<StoredPair[]> {
    const pairs = await this.getAll<StoredPair>(`pair:${projectId}:`);
    return pairs.sort((a, b) => a.createdAt - b.createdAt);
  }

  /** Adds pairs in one transaction: all of them or, on any failure, none. */
  addPairs(projectId: string, pairs: StoredPair[]): Promise<void> {
    const what = pairs.length === 1 ? 'the pair' : `${pairs.length} pairs`;
    return this.write(what, () =>
      this.transaction((s, { fail, read }) => {
        // The project must still exist: pairs of a deleted project would be unreachable.
        read<ProjectRecord>(projectKey(projectId), (project) => {
          if (!project) return fail(new StorageRequestError('That project no longer exists; the pairs were not saved.'));
          for (const pair of pairs) s.put(pair, pairKey(projectId, pair.id));
        });
      }),
    );
  }

  deletePair(projectId: string, pairId: string): Promise<void> {
    return this.write('the deletion', () => this.transaction((s) => void s.delete(pairKey(projectId, pairId))));
  }

  /** Changes which image of a stored pair won (or makes it a tie). */
  setPairLabel(projectId: string, pairId: string, label0: StoredPair['label0']): Promise<void> {
    return this.write('the label', () =>
      this.transaction((s, { fail, read }) => {
        const key = pairKey(projectId, pairId);
        read<StoredPair>(key, (pair) => {
          if (!pair) return fail(new StorageRequestError('That pair no longer exists.'));
          s.put({ ...pair, label0 }, key);
        });
      }),
    );
  }

  // ---- rounds ----

  /** A finished round: its data, its weights and the run's roundsDone, in one transaction. */
  saveRound(projectId: string, runId: string, round: StoredRound, weights: ArrayBuffer): Promise<void> {
    return this.write(`round ${round.round}`, () =>
      this.transaction((s, { fail, read }) => {
        const key = projectKey(projectId);
        read<ProjectRecord>(key, (project) => {
          const run = project?.runs.find((r) => r.id === runId);
          if (!project || !run) return fail(new StorageRequestError(`The run this round belongs to no longer exists; round ${round.round} was not saved.`));
          s.put(round, roundKey(projectId, runId, round.round));
          s.put(weights, weightsKey(projectId, runId, round.round));
          const runs = project.runs.map((r) => (r.id === runId ? { ...r, roundsDone: Math.max(r.roundsDone, round.round + 1) } : r));
          s.put({ ...project, runs, updatedAt: Date.now() }, key);
        });
      }),
    );
  }

  getRound(projectId: string, runId: string, round: number): Promise<StoredRound | undefined> {
    return get<StoredRound>(roundKey(projectId, runId, round), this.store);
  }

  getRoundWeights(projectId: string, runId: string, round: number): Promise<ArrayBuffer | undefined> {
    return get<ArrayBuffer>(weightsKey(projectId, runId, round), this.store);
  }

  /** Removes a run from its project with all its rounds and weights, in one transaction. */
  deleteRun(projectId: string, runId: string): Promise<void> {
    return this.write('the deletion', () =>
      this.transaction((s, { fail, read }) => {
        const key = projectKey(projectId);
        read<ProjectRecord>(key, (project) => {
          if (!project) return fail(new StorageRequestError('That project no longer exists.'));
          s.put({ ...project, runs: project.runs.filter((r) => r.id !== runId), updatedAt: Date.now() }, key);
          s.delete(prefixRange(`round:${projectId}:${runId}:`));
          s.delete(prefixRange(`weights:${projectId}:${runId}:`));
        });
      }),
    );
  }

  // ---- imported base ----

  /**
   * Makes an imported checkpoint the project's base: the checkpoint and the project's
   * `importedBase` summary in one transaction.
   */
  setImportedBase(projectId: string, config: object, weights: ArrayBuffer, name = 'imported checkpoint'): Promise<void> {
    const provenance = ((config as { provenance?: unknown }).provenance ?? {}) as Record<string, unknown>;
    const base: ImportedBase = { config, weights };
    return this.write('the imported model', () =>
      this.transaction((s, { fail, read }) => {
        const key = projectKey(projectId);
        read<ProjectRecord>(key, (project) => {
          if (!project) return fail(new StorageRequestError('That project no longer exists; the model was not saved.'));
          s.put(base, baseKey(projectId));
          s.put({ ...project, importedBase: { name, provenance }, updatedAt: Date.now() }, key);
        });
      }),
    );
  }

  getImportedBase(projectId: string): Promise<ImportedBase | undefined> {
    return get<ImportedBase>(baseKey(projectId), this.store);
  }

  // ---- the project file ----

  /** Everything of a project, for the project file (storage/projectFile.ts). */
  async snapshotProject(projectId: string): Promise<ProjectSnapshot> {
    const project = await this.getProject(projectId);
    if (!project) throw new StorageRequestError('That project no longer exists.');
    const rounds: ProjectSnapshot['rounds'] = [];
    for (const run of project.runs) {
      for (let k = 0; k < run.roundsDone; k++) {
        const [round, weights] = await Promise.all([this.getRound(projectId, run.id, k), this.getRoundWeights(projectId, run.id, k)]);
        if (!round || !weights) throw new StorageRequestError(`Round ${k} of a run is missing from storage; the project cannot be exported whole.`);
        rounds.push({ runId: run.id, round, weights });
      }
    }
    return { project, pairs: await this.listPairs(projectId), rounds, base: (await this.getImportedBase(projectId)) ?? null, tallies: await this.getTallies(projectId) };
  }

  /** Stores a snapshot as a new project (a new id; a run left running reads as interrupted), in one transaction. */
  async importSnapshot(snapshot: ProjectSnapshot): Promise<ProjectRecord> {
    const now = Date.now();
    const id = newId();
    const project: ProjectRecord = {
      ...snapshot.project,
      id,
      name: checkProjectName(snapshot.project.name),
      updatedAt: now,
      runs: snapshot.project.runs.map((r) => (r.status === 'running' ? { ...r, status: 'interrupted', message: 'It was running when the project was exported. Press Resume to continue.' } : r)),
    };
    await this.write('the imported project', () =>
      this.transaction((s) => {
        s.put(project, projectKey(id));
        for (const p of snapshot.pairs) s.put(p, pairKey(id, p.id));
        for (const r of snapshot.rounds) {
          s.put(r.round, roundKey(id, r.runId, r.round.round));
          s.put(r.weights, weightsKey(id, r.runId, r.round.round));
        }
        if (snapshot.base) s.put(snapshot.base, baseKey(id));
        if (Object.keys(snapshot.tallies).length > 0) s.put(snapshot.tallies, tallyKey(id));
      }),
    );
    return project;
  }

  // ---- blind A/B tallies ----

  async getTallies(projectId: string): Promise<BlindTallies> {
    return (await get<BlindTallies>(tallyKey(projectId), this.store)) ?? {};
  }

  /**
   * Changes one pair of checkpoints' tally from what is stored now, in one transaction, and
   * returns the stored result (two quick judgements never overwrite each other).
   */
  updateTally(projectId: string, pair: string, change: (tally: Tally) => Tally): Promise<Tally> {
    let result: Tally = EMPTY_TALLY;
    return this.write('the blind A/B tally', () =>
      this.transaction((s, { fail, read }) => {
        read<ProjectRecord>(projectKey(projectId), (project) => {
          if (!project) return fail(new StorageRequestError('That project no longer exists.'));
          read<BlindTallies>(tallyKey(projectId), (stored) => {
            const before = stored?.[pair];
            result = change(isTally(before) ? before : EMPTY_TALLY);
            s.put({ ...stored, [pair]: result }, tallyKey(projectId));
          });
        });
      }),
    ).then(() => result);
  }

  // ---- the browser's storage ----

  async estimate(): Promise<StorageEstimateInfo> {
    const storage = typeof navigator === 'undefined' ? undefined : navigator.storage;
    if (!storage?.estimate) return { usage: 0, quota: 0, persisted: false };
    const [{ usage = 0, quota = 0 }, persisted] = await Promise.all([storage.estimate(), storage.persisted ? storage.persisted() : Promise.resolve(false)]);
    return { usage, quota, persisted };
  }

  /** Asks the browser not to evict this origin's data; resolves with whether it agreed. */
  async requestPersistence(): Promise<boolean> {
    const storage = typeof navigator === 'undefined' ? undefined : navigator.storage;
    if (!storage?.persist) return false;
    if (storage.persisted && (await storage.persisted())) return true;
    return storage.persist();
  }

  // ---- internals ----

  /** Runs `task` after every write asked for before it; a failure does not stop later writes. */
  private write<T>(what: string, task: () => Promise<T>): Promise<T> {
    const result = this.queue.then(task).catch((err: unknown) => {
      const refusal = spaceRefusal(err);
      throw refusal ? new StorageFullError(what, refusal) : err;
    });
    this.queue = result.catch(() => {});
    return result;
  }

  /**
   * One readwrite transaction. `body` queues its requests on the store; `fail` aborts the
   * transaction with an error of the caller's. Resolves when the transaction commits.
   */
  private transaction(body: (store: IDBObjectStore, tx: TransactionTools) => void): Promise<void> {
    return this.store('readwrite', (s) => {
      const tx = s.transaction;
      let failure: Error | undefined;
      const done = new Promise<void>((resolve, reject) => {
        tx.oncomplete = () => resolve();
        tx.onabort = () => reject(failure ?? tx.error ?? new Error('The storage transaction was aborted.'));
      });
      const fail = (err: unknown) => {
        if (failure) return;
        failure = err instanceof Error ? err : new Error(String(err));
        tx.abort();
      };
      // put() can throw at once (a value that cannot be cloned, a quota some browsers check
      // early): caught here and in every read callback, so the caller gets that error.
      const guarded = (run: () => void) => {
        try {
          run();
        } catch (err) {
          fail(err);
        }
      };
      const read = <T>(key: string, then: (value: T | undefined) => void) => {
        s.get(key).onsuccess = (e) => guarded(() => then((e.target as IDBRequest<T | undefined>).result));
      };
      guarded(() => body(s, { fail, read }));
      return done;
    });
  }

  private modifyProject(id: string, change: (stored: ProjectRecord) => ProjectRecord): Promise<ProjectRecord> {
    let result: ProjectRecord | undefined;
    return this.transaction((s, { fail, read }) => {
      const key = projectKey(id);
      read<ProjectRecord>(key, (stored) => {
        if (!stored) return fail(new StorageRequestError('That project no longer exists.'));
        result = change(stored);
        s.put(result, key);
      });
    }).then(() => result!);
  }

  private getAll<T>(prefix: string): Promise<T[]> {
    return this.store('readonly', (s) => promisifyRequest(s.getAll(prefixRange(prefix)) as IDBRequest<T[]>));
  }

  private migrationStore(): MigrationStore {
    return {
      keys: () => this.store('readonly', (s) => promisifyRequest(s.getAllKeys())).then((keys) => keys.map(String)),
      get: <T>(key: string) => get<T>(key, this.store),
      commit: (changes: Changes) =>
        this.transaction((s) => {
          for (const key of changes.del ?? []) s.delete(key);
          for (const [key, value] of changes.set ?? []) s.put(value, key);
        }),
    };
  }

  /** The schema version stored now (for tests and diagnostics). */
  storedVersion(): Promise<number | undefined> {
    return get<number>(VERSION_KEY, this.store);
  }
}

let shared: Promise<StudioDb> | undefined;

/** The page's one StudioDb, opened (and migrated) on first use; a failed open is retried on the next call. */
export function studioDb(): Promise<StudioDb> {
  if (!shared) {
    shared = StudioDb.open();
    shared.catch(() => {
      shared = undefined;
    });
  }
  return shared;
}
