// Public surface of the core, for the worker and the CLIs.
export { initBackend, describeBackend } from './backend';
export type { BackendChoice, BackendName, BackendPreference, AdapterSummary, InitBackendOptions } from './backend';
export type { ModelConfig } from './model/config';
export { makeConfig } from './model/config';
export type { Checkpoint } from './model/ldm';
export { initParams } from './model/ldm';
export { countParams as countParamValues, disposeParams } from './model/layers';
export { fetchCheckpoint, parseCheckpoint, serializeCheckpoint } from './io/checkpoint';
export { generate, unknownWords, CancelledError } from './generate';
export type { GenerateOptions, GeneratedImages } from './generate';
import type { Checkpoint } from './model/ldm';
import { countParams as count, disposeParams as dispose } from './model/layers';

export function countParams(ck: Checkpoint): number {
  return count(ck.params);
}

export function disposeCheckpoint(ck: Checkpoint): void {
  dispose(ck.params);
}
