// Writes src/core/kernels/simdModule.generated.ts from src/core/kernels/wasm/simd.wat (wabt, a devDependency:
// the app ships the assembled bytes, never the assembler). Usage: npm run build:wasm-kernels
import { writeFileSync } from 'node:fs';
import { assembleKernel, moduleSource } from './lib/wasmKernels.mjs';

const WAT = 'src/core/kernels/wasm/simd.wat';
const OUT = 'src/core/kernels/simdModule.generated.ts';
writeFileSync(OUT, moduleSource('SIMD_MODULE', WAT, await assembleKernel(WAT)));
console.log(`wrote ${OUT}`);
