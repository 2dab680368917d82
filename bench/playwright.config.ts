import { defineConfig } from '@playwright/test';

import base from '../playwright.config';

// Benchmarks in real Chromium (not part of the test suite): the e2e build served by vite preview.
// npm run bench:chromium
export default defineConfig({ ...base, testDir: '.', testMatch: '*.bench.ts', timeout: 1_800_000, reporter: [['list']], webServer: { ...(base.webServer as object), cwd: '..' } as typeof base.webServer });
