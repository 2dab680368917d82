// The wall time of a default SAIL run in Chromium as a user starts it: the shipped model on wasm,
// 16 seed pairs, the studio's default settings with one self-amplifying round (rounds = 1).
// Prints and writes bench/chromium-round.json: ms to round 0 (Diffusion-DPO on the seed pairs)
// and ms of round 1 (sample, self-annotate, mixup, DPO). Needs the e2e build (test hooks):
//   npx vite build --mode e2e && node scripts/e2e-fixtures.mjs && npm run bench:chromium
import { writeFileSync } from 'node:fs';

import { addSeedPairs, expect, openStudio, test } from '../e2e/studio';

test('a default SAIL run in Chromium (wasm)', async ({ page }) => {
  await openStudio(page, { backend: 'wasm' }, 'run');
  await addSeedPairs(page, 16);
  const threads = await page.evaluate(() => navigator.hardwareConcurrency);
  await page.evaluate(() => {
    const hook = (globalThis as unknown as { __sailStudioTest: { run: { getState(): { resetSettings(): void; setSetting(k: string, v: unknown): void } } } }).__sailStudioTest;
    hook.run.getState().resetSettings();
    hook.run.getState().setSetting('rounds', 1);
  });
  const started = Date.now();
  await page.getByTestId('run-start').click();
  await expect(page.getByTestId('round-card')).toHaveCount(1, { timeout: 1_200_000 });
  const round0Ms = Date.now() - started;
  await expect(page.getByTestId('run-status')).toHaveAttribute('data-status', 'finished', { timeout: 1_200_000 });
  const totalMs = Date.now() - started;
  const result = { date: new Date().toISOString(), backend: 'wasm', seedPairs: 16, rounds: 1, round0Ms, round1Ms: totalMs - round0Ms, totalMs, hardwareConcurrency: threads };
  console.log(JSON.stringify(result));
  writeFileSync('bench/chromium-round.json', `${JSON.stringify(result, null, 1)}\n`);
});
