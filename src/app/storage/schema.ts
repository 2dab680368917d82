// What the studio keeps in IndexedDB, and how a database written by an older release is brought
// up to this one. After tldraw's packages/store/src/lib/migrate.ts: one step per version, each
// step tested with fixtures of the version before it, the stored version written together with
// the step's changes (one transaction), and a database from a newer release refused untouched.
//
// Keys, per project, kept apart so that labelling a pair never rewrites a round's weights:
//   project:<id>                 ProjectRecord
//   pair:<id>:<pairId>           StoredPair
//   round:<id>:<runId>:<k>       StoredRound
//   weights:<id>:<runId>:<k>     ArrayBuffer, model.safetensors of M_{k+1}
//   base:<id>                    ImportedBase (config.json object + model.safetensors)
//   tally:<id>                   BlindTallies (the Compare tab's blind A/B counts)
//   schema-version               number

import type { RoundRecord, SailSettings } from '../../core/sail/loop';

/** The version this release writes. Version 1 is the first release; 0 means nothing stored yet. */
export const SCHEMA_VERSION = 1;

export const VERSION_KEY = 'schema-version';

export interface ProjectRecord {
  id: string;
  name: string;
  createdAt: number;
  updatedAt: number;
  /** The Run form's saved settings. */
  runSettings: SailSettings | null;
  /** null = the shipped base model. */
  importedBase: { name: string; provenance: Record<string, unknown> } | null;
  runs: RunRecord[];
}

/** seed: labelled by clicking in the studio; upload: from a pairs file. */
export interface StoredPair {
  id: string;
  caption: string;
  /** PNG bytes, 32x32. */
  image0: Uint8Array;
  image1: Uint8Array;
  /** Pick-a-Pic convention: 1 = image0 preferred, 0 = image1 preferred, 0.5 = a tie. */
  label0: 0 | 0.5 | 1;
  source: 'seed' | 'upload';
  createdAt: number;
}

export type RunStatus = 'running' | 'paused' | 'interrupted' | 'cancelled' | 'failed' | 'finished';

export interface RunRecord {
  id: string;
  startedAt: number;
  settings: SailSettings;
  status: RunStatus;
  message: string | null;
  /** Rounds 0..roundsDone-1 are finished and stored. */
  roundsDone: number;
}

export interface StoredRound {
  round: number;
  record: RoundRecord;
  /** PNG bytes. */
  selfPairs: { prompt: string; margin: number; winner: Uint8Array; loser: Uint8Array }[];
  /** The fixed prompt x seed grid after the round, PNG bytes. */
  grid: { prompt: string; seed: number; image: Uint8Array }[];
}

/** Blind A/B counts of one pair of checkpoints: trials B won, A won, and ties. */
export interface Tally {
  b: number;
  a: number;
  ties: number;
}

/** Per pair of checkpoints, keyed `${a}|${b}` (checkpoint keys: 'base' or `${runId}:${round}`). */
export type BlindTallies = Record<string, Tally>;

export const EMPTY_TALLY: Tally = Object.freeze({ a: 0, b: 0, ties: 0 });

export const isTally = (t: unknown): t is Tally =>
  !!t && typeof t === 'object' && (['a', 'b', 'ties'] as const).every((k) => Number.isInteger((t as Tally)[k]) && (t as Tally)[k] >= 0);

export interface ImportedBase {
  config: object;
  weights: ArrayBuffer;
}

export const projectKey = (projectId: string) => `project:${projectId}`;
export const pairKey = (projectId: string, pairId: string) => `pair:${projectId}:${pairId}`;
export const roundKey = (projectId: string, runId: string, round: number) => `round:${projectId}:${runId}:${round}`;
export const weightsKey = (projectId: string, runId: string, round: number) => `weights:${projectId}:${runId}:${round}`;
export const baseKey = (projectId: string) => `base:${projectId}`;
export const tallyKey = (projectId: string) => `tally:${projectId}`;

/** Every key that belongs to a project starts with one of these (ids hold no ':'). */
export const projectKeyPrefixes = (projectId: string) => [
  `project:${projectId}`,
  `pair:${projectId}:`,
  `round:${projectId}:`,
  `weights:${projectId}:`,
  `base:${projectId}`,
  `tally:${projectId}`,
];

// ---------------------------------------------------------------------------------------------
// Migrations.

/** What a migration step sees of the database: reads only; its writes go in its Changes. */
export interface MigrationReader {
  keys(): Promise<string[]>;
  get<T = unknown>(key: string): Promise<T | undefined>;
}

export interface Changes {
  set?: [string, unknown][];
  del?: string[];
}

/** Raises the stored data from `version - 1` to `version`. */
export interface MigrationStep {
  version: number;
  /** What the step does, for the error message when it fails. */
  name: string;
  up(read: MigrationReader): Promise<Changes>;
}

/** What the runner needs of the store: reads, and an atomic write of sets plus deletes. */
export interface MigrationStore extends MigrationReader {
  commit(changes: Changes): Promise<void>;
}

/**
 * The steps of this release, version by version. Version 1 is the first release: from an empty
 * database (version 0) it writes nothing but the version. A later release appends
 * `{ version: 2, name, up }` and a fixture test of a version-1 database.
 */
export const MIGRATIONS: readonly MigrationStep[] = [{ version: 1, name: 'first release', up: async () => ({}) }];

export class SchemaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SchemaError';
  }
}

/**
 * Brings the store to `target`, one step at a time; each step's changes and the new version are
 * written in one transaction, so a step that fails (or a tab closed mid-way) leaves the store
 * at the last finished version and the next open resumes from there. A store written by a newer
 * release is refused before anything is written. Returns the versions it migrated through.
 */
export async function migrate(store: MigrationStore, steps: readonly MigrationStep[] = MIGRATIONS, target = SCHEMA_VERSION): Promise<number[]> {
  const stored = await store.get<unknown>(VERSION_KEY);
  const from = stored === undefined ? 0 : stored;
  if (typeof from !== 'number' || !Number.isInteger(from) || from < 0) {
    throw new SchemaError(`The studio's saved data has an unreadable schema version (${JSON.stringify(stored)}); nothing was changed.`);
  }
  if (from > target) {
    throw new SchemaError(
      `The studio's saved data was written by a newer release (schema version ${from}; this page reads up to ${target}). ` +
        'Open the newer release of the studio; nothing was changed.',
    );
  }
  const done: number[] = [];
  for (let version = from + 1; version <= target; version++) {
    const step = steps.find((s) => s.version === version);
    if (!step) throw new SchemaError(`No migration to schema version ${version}; nothing after version ${version - 1} was changed.`);
    let changes: Changes;
    try {
      changes = await step.up(store);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      throw new SchemaError(`Updating the saved data to schema version ${version} (${step.name}) failed: ${reason}. It stays at version ${version - 1}; reload to try again.`);
    }
    await store.commit({ set: [...(changes.set ?? []), [VERSION_KEY, version]], del: changes.del });
    done.push(version);
  }
  return done;
}
