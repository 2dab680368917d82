// The project file: a whole project exported, re-imported as a new project with every byte equal,
// and bad files (not a zip, no project.json, a newer version, a damaged entry, a missing round)
// refused with their reason before anything is stored.
import 'fake-indexeddb/auto';

import { createStore, entries } from 'idb-keyval';
import { strToU8, unzipSync, zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';

import type { SailSettings } from '../src/core/sail/loop';
import { DEFAULT_SAIL_SETTINGS } from '../src/core/sail/settings';
import { StudioDb } from '../src/app/storage/db';
import { PROJECT_FILE_VERSION, ProjectFileError, readProjectFile, writeProjectFile, type ProjectSnapshot } from '../src/app/storage/projectFile';

let count = 0;
const freshStore = () => createStore(`project-file-test-${++count}`, 'kv');
const settings: SailSettings = { ...DEFAULT_SAIL_SETTINGS, rounds: 1 };
const bytes = (...xs: number[]) => new Uint8Array(xs);

async function fullProject(db: StudioDb) {
  const p = await db.createProject('Warm <b>tones</b>');
  await db.addPairs(p.id, [
    { id: 'a', caption: 'red heart', image0: bytes(1, 2, 3), image1: bytes(4, 5), label0: 1, source: 'seed', createdAt: 10 },
    { id: 'b', caption: 'squared 合', image0: bytes(6), image1: bytes(7, 8), label0: 0.5, source: 'upload', createdAt: 11 },
  ]);
  await db.saveProject({ ...(await db.getProject(p.id))!, runSettings: settings, runs: [{ id: 'run1', startedAt: 1, settings, status: 'running', message: null, roundsDone: 0 }] });
  for (const k of [0, 1]) {
    const round = {
      round: k,
      record: { round: k, losses: [0.5, 0.25], note: 'x' } as never,
      selfPairs: k === 0 ? [] : [{ prompt: 'dog face', margin: 0.3, winner: bytes(9, 9), loser: bytes(8) }],
      grid: [{ prompt: 'red heart', seed: 1, image: bytes(k, 7, 7) }],
    };
    await db.saveRound(p.id, 'run1', round, new Float32Array([k, 1.5, -2]).buffer);
  }
  await db.setImportedBase(p.id, { provenance: { command: 'pretrain' }, unet: { width: 8 } }, new Float32Array([3, 4]).buffer, 'mine.zip');
  await db.updateTally(p.id, 'base|run1:1', () => ({ a: 1, b: 2, ties: 1 }));
  return p;
}

const withoutIds = (s: ProjectSnapshot) => ({ ...s, project: { ...s.project, id: '', updatedAt: 0 } });

describe('the project file', () => {
  it('round-trips a whole project into a new one, bit for bit, and the original stays', async () => {
    const db = await StudioDb.open(freshStore());
    const p = await fullProject(db);
    const before = await db.snapshotProject(p.id);
    const file = writeProjectFile(before);
    expect(writeProjectFile(before)).toEqual(file); // deterministic
    const imported = await db.importSnapshot(readProjectFile(file));
    expect(imported.id).not.toBe(p.id);
    expect(imported.name).toBe('Warm <b>tones</b>');
    const after = await db.snapshotProject(imported.id);
    // The run that was live when exported reads as interrupted; everything else is equal.
    expect(after.project.runs[0].status).toBe('interrupted');
    expect(withoutIds({ ...after, project: { ...after.project, runs: before.project.runs } })).toEqual(withoutIds(before));
    expect(new Float32Array((await db.getRoundWeights(imported.id, 'run1', 1))!)).toEqual(new Float32Array([1, 1.5, -2]));
    expect(await db.getTallies(imported.id)).toEqual({ 'base|run1:1': { a: 1, b: 2, ties: 1 } });
    expect((await db.listProjects()).length).toBe(2);
    expect(await db.snapshotProject(p.id)).toEqual(before);
  });

  it('refuses bad files with their reason', async () => {
    const db = await StudioDb.open(freshStore());
    const p = await fullProject(db);
    const file = writeProjectFile(await db.snapshotProject(p.id));
    const files = unzipSync(file);
    const manifest = JSON.parse(new TextDecoder().decode(files['project.json'])) as Record<string, unknown>;
    const rezip = (changes: Record<string, Uint8Array | null>) => {
      const next: Record<string, Uint8Array> = { ...files };
      for (const [k, v] of Object.entries(changes)) {
        if (v === null) delete next[k];
        else next[k] = v;
      }
      return zipSync(next);
    };
    const refuse = (b: Uint8Array, why: RegExp) => {
      expect(() => readProjectFile(b)).toThrow(ProjectFileError);
      expect(() => readProjectFile(b)).toThrow(why);
    };
    refuse(strToU8('{"format":"sail-studio-project"}'), /not a zip/);
    refuse(file.slice(0, 200), /damaged/);
    refuse(rezip({ 'project.json': null }), /no project.json/);
    refuse(rezip({ 'project.json': strToU8('{') }), /not valid JSON/);
    refuse(rezip({ 'project.json': strToU8(JSON.stringify({ ...manifest, version: PROJECT_FILE_VERSION + 1 })) }), /newer release/);
    refuse(rezip({ 'project.json': strToU8(JSON.stringify({ ...manifest, format: 'something' })) }), /not a SAIL Studio project/);
    refuse(rezip({ 'project.json': strToU8(JSON.stringify({ ...manifest, rounds: (manifest.rounds as unknown[]).slice(1) })) }), /round 0 of a run is missing/);
    const entry = Object.keys(files).find((k) => k.startsWith('runs/'))!;
    const flipped = files[entry].slice();
    flipped[0] ^= 0xff;
    refuse(rezip({ [entry]: flipped }), /damaged \(its checksum/);
    refuse(rezip({ [entry]: null }), /does not hold/);
    // Nothing was stored by any of them.
    expect((await db.listProjects()).length).toBe(1);
  });

  it('a project with nothing in it exports and imports too', async () => {
    const store = freshStore();
    const db = await StudioDb.open(store);
    const p = await db.createProject('Empty');
    const imported = await db.importSnapshot(readProjectFile(writeProjectFile(await db.snapshotProject(p.id))));
    expect(imported.name).toBe('Empty');
    expect((await entries(store)).filter(([k]) => String(k).includes(imported.id)).map(([k]) => k)).toEqual([`project:${imported.id}`]);
  });
});
