// A project's checkpoints, for every tab that runs a model on them (Label, Run, Compare): its
// base (the imported one, or the shipped model) and each run's finished rounds. Plain functions
// of the database, so Node tests reach them with fake-indexeddb.

import type { ModelWeights } from '../../protocol';
import type { StudioDb } from '../storage/db';
import type { ProjectRecord } from '../storage/schema';

/** 'base', or `${runId}:${round}`. */
export type CheckpointKey = string;

export interface CheckpointOption {
  key: CheckpointKey;
  label: string;
}

/** Every checkpoint of the project, base first, then each run's finished rounds. */
export function checkpointOptions(project: ProjectRecord | undefined): CheckpointOption[] {
  if (!project) return [];
  const base = { key: 'base', label: project.importedBase ? `Base (${project.importedBase.name})` : 'Base (shipped model)' };
  const rounds = project.runs.flatMap((run, i) => Array.from({ length: run.roundsDone }, (_, k) => ({ key: `${run.id}:${k}`, label: `Run ${i + 1}, round ${k}` })));
  return [base, ...rounds];
}

/** The weights a request runs on for the project's base: its imported base, or undefined for the loaded model. */
export async function projectBase(db: StudioDb, projectId: string): Promise<ModelWeights | undefined> {
  const imported = await db.getImportedBase(projectId);
  return imported && { config: imported.config, weights: imported.weights };
}

/** The checkpoint of round `round` of a run, with the project's base config when it has one. */
export async function roundModel(db: StudioDb, projectId: string, runId: string, round: number): Promise<ModelWeights> {
  const [weights, imported] = await Promise.all([db.getRoundWeights(projectId, runId, round), db.getImportedBase(projectId)]);
  if (!weights) throw new Error(`The weights of round ${round} are not stored (the run may have been deleted).`);
  return { config: imported?.config, weights };
}

/** The weights of checkpoint `key` (undefined: the loaded shipped model). */
export async function checkpointModel(db: StudioDb, projectId: string, key: CheckpointKey): Promise<ModelWeights | undefined> {
  if (key === 'base') return projectBase(db, projectId);
  const cut = key.lastIndexOf(':');
  const round = Number(key.slice(cut + 1));
  if (cut <= 0 || !Number.isInteger(round) || round < 0) throw new Error(`No such checkpoint: ${key}.`);
  return roundModel(db, projectId, key.slice(0, cut), round);
}
