import { defineConfig } from 'vitest/config';

// Unit tests run in Node on the wasm backend (cpu only as a reference), tiny configs.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    // Relaxed SIMD on, as in Chromium, so the kernels' fused multiply-add module is the one tested.
    setupFiles: ['./scripts/lib/relaxed-simd.mjs'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // One fork at a time: the machine has 2 cores and TF.js backends are process-global.
    pool: 'forks',
    fileParallelism: false,
  },
});
