import { defineConfig } from '@playwright/test';

import { CHROMIUM_PATH, WEBGPU_ARGS } from './e2e/chromium';

// The built app (npm run build first: test:e2e does) served by `vite preview`, in real Chromium.
// Timeouts are generous: SwiftShader WebGPU compiles shaders for seconds on first use, and this
// machine has two cores.
export default defineConfig({
  testDir: 'e2e',
  timeout: 300_000,
  expect: { timeout: 120_000 },
  workers: 1,
  fullyParallel: false,
  forbidOnly: !!process.env.CI,
  retries: 0,
  reporter: [['list'], ['json', { outputFile: 'test-results/e2e.json' }]],
  use: {
    baseURL: 'http://localhost:4173/',
    browserName: 'chromium',
    launchOptions: { executablePath: CHROMIUM_PATH, args: WEBGPU_ARGS },
    trace: 'retain-on-failure',
    actionTimeout: 30_000,
  },
  webServer: {
    command: 'npx vite preview --port 4173 --strictPort',
    url: 'http://localhost:4173/',
    reuseExistingServer: !process.env.CI,
    timeout: 60_000,
  },
});
