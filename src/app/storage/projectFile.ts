// The whole project as one file (docs/project-file.md): a zip holding project.json, which names
// every binary (pair images, round images, round weights, the imported base) as a file of the zip
// with its CRC-32, and those files. Pure functions over a ProjectSnapshot, so Node tests reach all
// of it; StudioDb.snapshotProject / importSnapshot read and write the database.

import { strFromU8, strToU8, unzipSync, zipSync, type Zippable } from 'fflate';

import { crc32 } from '../../core/data/png';
import type { BlindTallies, ImportedBase, ProjectRecord, StoredPair, StoredRound } from './schema';

export const PROJECT_FILE_FORMAT = 'sail-studio-project';
/** The version this release writes and the newest it reads. */
export const PROJECT_FILE_VERSION = 1;
/** A project file larger than this is refused before it is read (a round's weights are about 8 MiB). */
export const MAX_PROJECT_FILE_BYTES = 1024 * 1024 * 1024;

/** Everything a project holds, as the database stores it. */
export interface ProjectSnapshot {
  project: ProjectRecord;
  pairs: StoredPair[];
  /** Every finished round of every run, with its weights (model.safetensors bytes). */
  rounds: { runId: string; round: StoredRound; weights: ArrayBuffer }[];
  base: ImportedBase | null;
  tallies: BlindTallies;
}

export class ProjectFileError extends Error {}

type BinRef = { $file: string; crc: number; kind: 'bytes' | 'buffer' };

const isBinRef = (v: unknown): v is BinRef =>
  !!v && typeof v === 'object' && typeof (v as BinRef).$file === 'string' && typeof (v as BinRef).crc === 'number' && ((v as BinRef).kind === 'bytes' || (v as BinRef).kind === 'buffer');

/** Replaces every Uint8Array / ArrayBuffer in `value` by a reference to a zip entry under `dir`. */
function pack(value: unknown, dir: string, files: Zippable): unknown {
  let n = 0;
  const walk = (v: unknown): unknown => {
    if (v instanceof Uint8Array || v instanceof ArrayBuffer) {
      const bytes = v instanceof Uint8Array ? v : new Uint8Array(v);
      const path = `${dir}/${n++}.bin`;
      files[path] = [bytes, { level: 0 }];
      return { $file: path, crc: crc32(bytes) >>> 0, kind: v instanceof Uint8Array ? 'bytes' : 'buffer' } satisfies BinRef;
    }
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return walk(value);
}

function unpack(value: unknown, files: Record<string, Uint8Array>): unknown {
  const walk = (v: unknown): unknown => {
    if (isBinRef(v)) {
      const bytes = files[v.$file];
      if (!bytes) throw new ProjectFileError(`it names ${v.$file}, which the zip does not hold`);
      if (crc32(bytes) >>> 0 !== v.crc) throw new ProjectFileError(`${v.$file} is damaged (its checksum does not match)`);
      return v.kind === 'bytes' ? bytes : bytes.slice().buffer;
    }
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return walk(value);
}

const safe = (id: string) => id.replace(/[^A-Za-z0-9_-]/g, '_');

/** The project file's bytes. Deterministic for a snapshot (no timestamps in the zip). */
export function writeProjectFile(snapshot: ProjectSnapshot, exportedBy = 'SAIL Studio'): Uint8Array {
  const files: Zippable = {};
  const manifest = {
    format: PROJECT_FILE_FORMAT,
    version: PROJECT_FILE_VERSION,
    exportedBy,
    project: snapshot.project,
    pairs: snapshot.pairs.map((p) => pack(p, `pairs/${safe(p.id)}`, files)),
    rounds: snapshot.rounds.map((r) => ({
      runId: r.runId,
      round: pack(r.round, `runs/${safe(r.runId)}/round${r.round.round}`, files),
      weights: pack(r.weights, `runs/${safe(r.runId)}/round${r.round.round}/weights`, files),
    })),
    base: snapshot.base ? pack(snapshot.base, 'base', files) : null,
    tallies: snapshot.tallies,
  };
  files['project.json'] = [strToU8(JSON.stringify(manifest)), { level: 6 }];
  return zipSync(files, { mtime: new Date(Date.UTC(2020, 0, 1)) });
}

const fail = (why: string): never => {
  throw new ProjectFileError(why);
};

function check(cond: unknown, why: string): asserts cond {
  if (!cond) fail(why);
}

/** Reads and checks a project file; throws ProjectFileError with the reason, never a half result. */
export function readProjectFile(bytes: Uint8Array): ProjectSnapshot {
  if (bytes.length > MAX_PROJECT_FILE_BYTES) fail(`it is ${Math.round(bytes.length / 2 ** 20)} MiB, over the ${MAX_PROJECT_FILE_BYTES / 2 ** 20} MiB a project file may be`);
  if (bytes.length < 4 || bytes[0] !== 0x50 || bytes[1] !== 0x4b) fail('it is not a project file (not a zip)');
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(bytes);
  } catch (err) {
    return fail(`the zip is damaged (${err instanceof Error ? err.message : String(err)})`);
  }
  const text = files['project.json'];
  if (!text) fail('the zip holds no project.json: it is not a project file (a pairs or weights zip goes through Upload or Import a model)');
  let manifest: Record<string, unknown>;
  try {
    manifest = JSON.parse(strFromU8(text)) as Record<string, unknown>;
  } catch {
    return fail('its project.json is not valid JSON');
  }
  check(manifest && manifest.format === PROJECT_FILE_FORMAT, 'its project.json is not a SAIL Studio project');
  check(Number.isInteger(manifest.version), 'its project.json has no version');
  if ((manifest.version as number) > PROJECT_FILE_VERSION) fail(`it was written by a newer release (project file version ${manifest.version}; this release reads up to ${PROJECT_FILE_VERSION}); update the studio to open it`);
  check((manifest.version as number) >= 1, `its version ${manifest.version} is not one any release wrote`);

  const project = manifest.project as ProjectRecord;
  check(project && typeof project === 'object' && typeof project.name === 'string' && Array.isArray(project.runs), 'its project record is missing or malformed');
  for (const run of project.runs) {
    check(run && typeof run.id === 'string' && /^[^:]+$/.test(run.id) && Number.isInteger(run.roundsDone) && run.roundsDone >= 0 && run.settings && typeof run.settings === 'object', 'a run record is malformed');
  }
  check(Array.isArray(manifest.pairs) && Array.isArray(manifest.rounds), 'its pairs or rounds are missing');
  const pairs = unpack(manifest.pairs, files) as StoredPair[];
  for (const p of pairs) {
    check(
      p && typeof p.id === 'string' && /^[^:]+$/.test(p.id) && typeof p.caption === 'string' && p.image0 instanceof Uint8Array && p.image1 instanceof Uint8Array && [0, 0.5, 1].includes(p.label0),
      'a pair is malformed',
    );
  }
  const rounds = (manifest.rounds as unknown[]).map((r) => unpack(r, files) as { runId: string; round: StoredRound; weights: ArrayBuffer });
  for (const r of rounds) {
    const run = project.runs.find((x) => x.id === r.runId);
    check(run, `a round belongs to run ${String(r.runId)}, which the project does not have`);
    check(r.round && Number.isInteger(r.round.round) && r.round.round < run.roundsDone && r.weights instanceof ArrayBuffer && Array.isArray(r.round.grid), 'a round is malformed');
  }
  for (const run of project.runs) {
    for (let k = 0; k < run.roundsDone; k++) check(rounds.some((r) => r.runId === run.id && r.round.round === k), `round ${k} of a run is missing`);
  }
  const base = manifest.base === null || manifest.base === undefined ? null : (unpack(manifest.base, files) as ImportedBase);
  check(base === null || (base.weights instanceof ArrayBuffer && base.config && typeof base.config === 'object'), 'its imported base is malformed');
  check(!!project.importedBase === (base !== null), 'its imported base and its project record disagree');
  const tallies = (manifest.tallies ?? {}) as BlindTallies;
  check(tallies && typeof tallies === 'object', 'its blind A/B tallies are malformed');
  return { project, pairs, rounds, base, tallies };
}
