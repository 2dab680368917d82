// Shared fixtures for the unit tests: tiny model configs on the Node wasm backend.
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/core/backend';
import { makeConfig, type ModelConfig } from '../src/core/model/config';
import { initParams, type Checkpoint } from '../src/core/model/ldm';

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
