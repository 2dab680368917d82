// Preloaded in every Node process that runs src/core (CLIs via `node --import`, vitest via
// setupFiles): installs the resolve hook that lets Node load tfjs-core's gradient registrations.
import { register } from 'node:module';

register('./tfjs-resolve-hook.mjs', import.meta.url);
