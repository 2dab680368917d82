// Backend for the Node CLIs: wasm by default (architecture.md section 7: tfjs-node cannot be installed,
// wasm SIMD is the fastest here), cpu as a reference.
import { initBackend, type BackendPreference } from '../../src/core/backend';

export async function initNodeBackend(preference: string): Promise<string> {
  if (!['auto', 'wasm', 'cpu', 'webgpu'].includes(preference)) throw new Error(`--backend must be wasm, cpu or auto, got "${preference}"`);
  const choice = await initBackend({ preference: preference as BackendPreference });
  return choice.name;
}
