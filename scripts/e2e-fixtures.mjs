#!/usr/bin/env node
// Copies the tiny test checkpoint (test/fixtures/tiny-base) into the built app at
// dist/test-models/tiny/, so e2e specs can open the studio at `?model=test-models/tiny/` and
// train rounds in seconds instead of minutes. Run after `vite build` (test:e2e does); the
// fixture never ships in a normal build.
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const from = join(root, 'test/fixtures/tiny-base');
const to = join(root, 'dist/test-models/tiny');

if (!existsSync(join(root, 'dist/index.html'))) {
  console.error('dist/ has no built app; run `npx vite build` first.');
  process.exit(1);
}
mkdirSync(to, { recursive: true });
for (const file of ['config.json', 'model.safetensors']) copyFileSync(join(from, file), join(to, file));
console.log(`e2e fixtures: ${from} -> ${to}`);
