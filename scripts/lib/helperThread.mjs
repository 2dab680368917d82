// Entry of a SAIL helper thread (helperThread.ts): Node 20 does not apply the parent's --import
// hooks to a worker's own entry, so this plain module registers the resolve hook and TypeScript.
import { register } from 'node:module';
import { tsImport } from 'tsx/esm/api';

register('./tfjs-resolve-hook.mjs', import.meta.url);
await tsImport('./helperThread.ts', import.meta.url);
