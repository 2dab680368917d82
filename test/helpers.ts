// Shared fixtures for the unit tests: tiny model configs on the Node wasm backend.
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/core/backend';
import { makeConfig, type ModelConfig } from '../src/core/model/config';
import { initParams, type Checkpoint } from '../src/core/model/ldm';
import { cutAtlas } from '../src/core/data/atlas';
import { anchorSetFor } from '../src/core/sail/anchor';
import { encodeToLatents, type PreferencePair } from '../src/core/sail/loop';
import type { AnchorSet } from '../src/core/sail/safety';
import { loadEmojiDataset } from '../scripts/lib/png';

export const TINY_VOCAB = ['grinning', 'face', 'dog', 'frog', 'cat', 'red', 'heart', 'flag'];

export async function useBackend(name: 'wasm' | 'cpu'): Promise<void> {
  const choice = await initBackend({ preference: name });
  if (choice.name !== name) throw new Error(`wanted ${name}, got ${choice.name}: ${choice.reason}`);
}

export function tinyConfig(): ModelConfig {
  return makeConfig(TINY_VOCAB, 'tiny');
}

export function tinyCheckpoint(seed = 1): Checkpoint {
  const config = tinyConfig();
  return { config, params: initParams(config, seed) };
}

/** tf.memory() plus the backend's own count of live data buffers. */
export function memorySnapshot(): { tensors: number; bytes: number } {
  const m = tf.memory();
  return { tensors: m.numTensors, bytes: m.numBytes };
}

/**
 * Real emoji as synthetic preference pairs (each emoji lightened beats it darkened) and the anchor
 * set a run is held to: every 16th of the first `first` pretraining ids.
 */
export async function lightDarkPairs(base: Checkpoint, first: number): Promise<{ anchor: AnchorSet; pairs: PreferencePair[]; prompts: string[] }> {
  const data = loadEmojiDataset('public/data');
  const anchor = await anchorSetFor(base, data.manifest, { pixels: data.atlasRGBA, width: data.width, channels: 4 }, 16);
  const ids = data.manifest.splits.pretrain.slice(0, first).filter((_, i) => i % 16 === 0);
  const images = cutAtlas(data.atlasRGBA, data.width, 4, data.manifest.columns, ids);
  const w = await encodeToLatents(base, images.map((v) => 0.6 * v + 0.4));
  const l = await encodeToLatents(base, images.map((v) => 0.6 * v - 0.4));
  const prompts = ids.map((id) => data.manifest.records[id].prompt);
  return { anchor, prompts, pairs: prompts.map((prompt, i) => ({ prompt, winner: w[i], loser: l[i] })) };
}

/** Relative L2 error of a against b. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-30));
}

/** fn's result and the names of the kernels the engine launched while it ran. */
export function withKernelNames<T>(fn: () => T): { out: T; names: string[] } {
  const names: string[] = [];
  const eng = tf.engine();
  const orig = eng.runKernel.bind(eng);
  eng.runKernel = ((name: string, ...rest: unknown[]) => {
    names.push(name);
    return (orig as (...a: unknown[]) => unknown)(name, ...rest);
  }) as typeof eng.runKernel;
  try {
    return { out: fn(), names };
  } finally {
    eng.runKernel = orig;
  }
}
