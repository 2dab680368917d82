// Export and import: a round's checkpoint as a zip of config.json + model.safetensors (the base
// config, with the round's provenance added), the project's pairs in the upload format of
// architecture.md section 6 (seed, uploaded and self pairs) or as Parquet for larger trainers, and an exported checkpoint read back in
// as a new project's base. The worker checks an imported checkpoint against its config before
// anything is stored; a bad file changes nothing.

import { strToU8, unzipSync, zipSync } from 'fflate';

import type { PairRecord } from '../../core/data/pairs';
import { writePairsZip } from '../../core/data/pairs';
import { writePairsParquet } from '../../core/data/parquet';
import { encodePng } from '../../core/data/png';
import { pngToRgb } from '../shared/pngImages';
import { modelClient, useStudio } from '../studio/studioStore';
import { studioDb } from '../storage/db';
import { MAX_PROJECT_FILE_BYTES, readProjectFile, writeProjectFile } from '../storage/projectFile';
import type { ProjectRecord } from '../storage/schema';

const MiB = 1024 * 1024;
/** The shipped model is 8 MiB; a file far larger is not one of ours and is refused before it is read. */
export const MAX_MODEL_ZIP_BYTES = 256 * MiB;

const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** config.json of the project's base: its imported one, or the loaded model's. */
async function baseConfig(projectId: string): Promise<Record<string, unknown>> {
  const imported = await (await studioDb()).getImportedBase(projectId);
  if (imported) return imported.config as Record<string, unknown>;
  const url = `${useStudio.getState().modelUrl}config.json`;
  const response = await fetch(url);
  if (!response.ok) throw new Error(`The base model's config.json could not be downloaded (HTTP ${response.status}).`);
  return (await response.json()) as Record<string, unknown>;
}

/** The zip of round `round`: config.json (with the round's provenance) + model.safetensors. */
export async function roundCheckpointZip(project: ProjectRecord, runId: string, round: number): Promise<Uint8Array> {
  const db = await studioDb();
  const run = project.runs.find((r) => r.id === runId);
  const [weights, stored, config] = await Promise.all([db.getRoundWeights(project.id, runId, round), db.getRound(project.id, runId, round), baseConfig(project.id)]);
  if (!run || !weights || !stored) throw new Error(`Round ${round} of this run is not stored, so it cannot be exported.`);
  const provenance = {
    ...((config.provenance as Record<string, unknown> | undefined) ?? {}),
    sail: {
      producer: 'sail-studio',
      project: project.name,
      base: project.importedBase?.name ?? 'shipped base',
      run: runId,
      round,
      settings: stored.record.settings,
      seedPairs: stored.record.seedPairs,
      selfPairs: stored.record.selfPairs.length,
      implicitAccuracy: stored.record.implicitAccuracy,
      exportedAt: new Date().toISOString(),
    },
  };
  return zipSync({
    'config.json': strToU8(JSON.stringify({ ...config, provenance }, null, 2) + '\n'),
    // Stored, not deflated: float weights hardly compress and the zip is made on the main thread.
    'model.safetensors': [new Uint8Array(weights), { level: 0 }],
  });
}

export type PairCounts = Record<'seed' | 'upload' | 'self', number>;

/** Every pair of the project: stored seed and uploaded pairs, then every finished round's self pairs. */
async function projectPairRecords(project: ProjectRecord): Promise<{ records: PairRecord[]; counts: PairCounts }> {
  const db = await studioDb();
  const records: PairRecord[] = [];
  for (const p of await db.listPairs(project.id)) {
    records.push({ id: p.id, caption: p.caption, image0: await pngToRgb(p.image0), image1: await pngToRgb(p.image1), label0: p.label0, source: p.source });
  }
  for (const run of project.runs) {
    for (let k = 0; k < run.roundsDone; k++) {
      const round = await db.getRound(project.id, run.id, k);
      for (const [i, p] of (round?.selfPairs ?? []).entries()) {
        // The winner goes first: label_0 = 1 (Pick-a-Pic convention).
        records.push({ id: `${run.id}-round${k}-${i}`, caption: p.prompt, image0: await pngToRgb(p.winner), image1: await pngToRgb(p.loser), label0: 1, source: 'self' });
      }
    }
  }
  const counts = { seed: 0, upload: 0, self: 0 };
  for (const r of records) counts[r.source]++;
  return { records, counts };
}

/** The project's pairs in the upload format (pairs.jsonl + PNGs in a zip). */
export async function projectPairsZip(project: ProjectRecord): Promise<{ zip: Uint8Array; counts: PairCounts }> {
  const { records, counts } = await projectPairRecords(project);
  return { zip: writePairsZip(records, encodePng), counts };
}

/** The project's pairs as Parquet in the Pick-a-Pic v2 layout (core/data/parquet.ts). */
export async function projectPairsParquet(project: ProjectRecord): Promise<{ parquet: Uint8Array; counts: PairCounts }> {
  const { records, counts } = await projectPairRecords(project);
  return { parquet: writePairsParquet(records, encodePng), counts };
}

/** config.json and model.safetensors from an exported zip (at its top or in one folder). */
function readCheckpointZip(bytes: Uint8Array): { configText: string; weights: Uint8Array } {
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(bytes, { filter: (f) => /(^|\/)(config\.json|model\.safetensors)$/.test(f.name) && !f.name.startsWith('__MACOSX/') });
  } catch (err) {
    throw new Error(`This is not a zip file, or it is damaged (${messageOf(err)}).`);
  }
  const find = (name: string) => {
    const hits = Object.keys(files).filter((n) => n === name || n.endsWith(`/${name}`));
    if (hits.length === 0) throw new Error(`The zip holds no ${name}; export a round's weights from the Run tab to get one.`);
    if (hits.length > 1) throw new Error(`The zip holds ${hits.length} files named ${name}; it must hold one checkpoint.`);
    return files[hits[0]];
  };
  return { configText: new TextDecoder().decode(find('config.json')), weights: find('model.safetensors') };
}

/**
 * Reads an exported checkpoint zip, has the worker check it, and stores it as the base of a new
 * project (named after the file). Returns the new project. Throws with a message a user can act
 * on; then nothing was stored.
 */
export async function importModelAsProject(file: File): Promise<ProjectRecord> {
  if (file.size > MAX_MODEL_ZIP_BYTES) {
    throw new Error(`${file.name} is ${Math.round(file.size / MiB)} MiB; a studio checkpoint is far smaller (the limit is ${MAX_MODEL_ZIP_BYTES / MiB} MiB).`);
  }
  const { configText, weights } = readCheckpointZip(new Uint8Array(await file.arrayBuffer()));
  const buffer = weights.slice().buffer as ArrayBuffer;
  await modelClient().checkModel(configText, buffer);
  const config = JSON.parse(configText) as object; // the worker parsed it already
  const db = await studioDb();
  const name = file.name.replace(/\.zip$/i, '').slice(0, 70) || 'Imported model';
  const project = await db.createProject(name);
  try {
    await db.setImportedBase(project.id, config, buffer, file.name);
  } catch (err) {
    // One step of two failed (a full disk): take the empty project back, so nothing changed.
    await db.deleteProject(project.id).catch(() => {});
    throw err;
  }
  return (await db.getProject(project.id)) ?? project;
}

/** The whole project as one file (docs/project-file.md). */
export async function projectFileBytes(project: ProjectRecord): Promise<Uint8Array> {
  const db = await studioDb();
  return writeProjectFile(await db.snapshotProject(project.id));
}

/** Reads a project file and stores it as a new project; a bad file throws its reason and stores nothing. */
export async function importProjectFile(file: File): Promise<ProjectRecord> {
  if (file.size > MAX_PROJECT_FILE_BYTES) throw new Error(`It is ${Math.round(file.size / MiB)} MiB, over the ${MAX_PROJECT_FILE_BYTES / MiB} MiB a project file may be.`);
  const snapshot = readProjectFile(new Uint8Array(await file.arrayBuffer()));
  const db = await studioDb();
  return db.importSnapshot(snapshot);
}
