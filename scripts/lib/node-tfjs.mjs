// Preloaded in every Node process that runs src/core (CLIs via `node --import`, vitest via
// setupFiles): turns on relaxed SIMD (relaxed-simd.mjs) and installs the resolve hook that lets Node load tfjs-core's gradient registrations.
import { register } from 'node:module';
import './relaxed-simd.mjs';

register('./tfjs-resolve-hook.mjs', import.meta.url);
