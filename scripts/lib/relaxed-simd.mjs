// Turns on relaxed SIMD in this Node process (V8 11.3 in Node 20 has it behind a flag; Chromium
// ships it on), so that the hand-written wasm kernels can take their fused multiply-add module
// (src/core/kernels/simdModule.ts). Flags set at run time apply to modules compiled afterwards,
// worker threads included. Imported by node-tfjs.mjs (every CLI) and by vitest's setupFiles.
import v8 from 'node:v8';

v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
