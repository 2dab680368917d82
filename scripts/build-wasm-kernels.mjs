// Writes src/core/kernels/bmmSimdModule.ts from src/core/kernels/wasm/bmm.wat (wabt, a devDependency:
// the app ships the assembled bytes, never the assembler). Usage: npm run build:wasm-kernels
import { writeFileSync } from 'node:fs';
import { assembleKernel, moduleSource } from './lib/wasmKernels.mjs';

const WAT = 'src/core/kernels/wasm/bmm.wat';
const OUT = 'src/core/kernels/bmmSimdModule.ts';
writeFileSync(OUT, moduleSource('BMM_SIMD_MODULE', WAT, await assembleKernel(WAT)));
console.log(`wrote ${OUT}`);
