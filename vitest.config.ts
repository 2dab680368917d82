import { defineConfig } from 'vitest/config';

// Unit tests run in Node on the wasm backend (cpu only as a reference), tiny configs.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // One fork at a time: the machine has 2 cores and TF.js backends are process-global.
    pool: 'forks',
    fileParallelism: false,
  },
});
