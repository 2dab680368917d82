// Checkpoints on disk for the CLIs: a folder with config.json and model.safetensors (and, for a
// resumable training run, optimizer.safetensors + state.json beside them).
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { parseCheckpoint, paramsToRaw, serializeCheckpoint } from '../../src/core/io/checkpoint';
import { readSafetensors, writeSafetensors } from '../../src/core/io/safetensors';
import type { Params } from '../../src/core/model/layers';
import type { Checkpoint } from '../../src/core/model/ldm';

/** Writes atomically (temp file + rename) so an interrupted save never leaves a torn file. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

export async function saveCheckpointDir(dir: string, ck: Checkpoint): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const { configJson, safetensors } = await serializeCheckpoint(ck);
  writeFileAtomic(join(dir, 'model.safetensors'), safetensors);
  writeFileAtomic(join(dir, 'config.json'), configJson);
}

export function loadCheckpointDir(dir: string): Checkpoint {
  const configPath = join(dir, 'config.json');
  if (!existsSync(configPath)) throw new Error(`No checkpoint in ${dir} (config.json missing)`);
  return parseCheckpoint(readFileSync(configPath, 'utf8'), readFileSync(join(dir, 'model.safetensors')));
}

export async function saveTensors(path: string, tensors: Params): Promise<void> {
  writeFileAtomic(path, writeSafetensors(await paramsToRaw(tensors)));
}

export function loadTensors(path: string): Params {
  const { tensors } = readSafetensors(readFileSync(path));
  const out: Params = {};
  for (const [n, t] of Object.entries(tensors)) out[n] = tf.tensor(t.data, t.shape, 'float32');
  return out;
}
