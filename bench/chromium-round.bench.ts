// The wall time of a default SAIL run in Chromium as a user starts it: the shipped model on wasm,
// 16 seed pairs, the studio's default settings with one self-amplifying round (rounds = 1).
// Prints and writes bench/chromium-round.json (one wasm thread, the default; BENCH_THREADS=all:
// every core, ?threads=all, into bench/chromium-round-threads.json): ms to round 0 (Diffusion-DPO on the seed pairs)
// and ms of round 1 (sample, self-annotate, mixup, DPO). BENCH_ROOM=default keeps the default room
// for a later round (which ends the run after round 0 on these pairs) and writes
// bench/chromium-round-default.json: the run a user gets. Needs the e2e build (test hooks):
//   npx vite build --mode e2e && node scripts/e2e-fixtures.mjs && npm run bench:chromium
import { writeFileSync } from 'node:fs';

import { addSeedPairs, openStudio, setSettings, test } from '../e2e/studio';

test('a default SAIL run in Chromium (wasm)', async ({ page }) => {
  const allThreads = process.env.BENCH_THREADS === 'all';
  await openStudio(page, { backend: 'wasm', ...(allThreads ? { threads: 'all' } : {}) }, 'run');
  const wasmThreads = Number(await page.getByTestId('backend-threads').getAttribute('data-threads'));
  await addSeedPairs(page, 16);
  const threads = await page.evaluate(() => navigator.hardwareConcurrency);
  await page.evaluate(() => {
    const hook = (globalThis as unknown as { __sailStudioTest: { run: { getState(): { resetSettings(): void; setSetting(k: string, v: unknown): void } } } }).__sailStudioTest;
    hook.run.getState().resetSettings();
    hook.run.getState().setSetting('rounds', 1);
  });
  // Round 1 always starts (laterRoundRoom 0): this bench times a self-amplifying round's work,
  // which the default would skip on these synthetic pairs (round 0 keeps +4.6% drift, past the
  // 4% that leaves a later round room; docs/sail.md, "A later round with no room left").
  const defaultRoom = process.env.BENCH_ROOM === 'default';
  if (!defaultRoom) await setSettings(page, { laterRoundRoom: 0 });
  // BENCH_DRIFT_BOUND: a wider drift bound, so that an A/B of two builds times both rounds even
  // where rounding tips one of them over the default bound on these synthetic pairs.
  const driftBound = Number(process.env.BENCH_DRIFT_BOUND ?? '');
  if (driftBound > 0) await setSettings(page, { driftBound });
  const started = Date.now();
  await page.getByTestId('run-start').click();
  // Polls every second; prints the run's phase, progress and notice every 30 s (a stall shows).
  let lastLog = 0;
  const waitFor = async (what: string, done: () => Promise<boolean>) => {
    for (;;) {
      if (await done()) return;
      if (Date.now() - lastLog > 30_000) {
        lastLog = Date.now();
        const status = await page.getByTestId('run-status').getAttribute('data-status');
        const progress = await page.getByTestId('run-progress').getAttribute('aria-valuenow');
        console.log(`${Math.round((Date.now() - started) / 1000)} s, waiting for ${what}: status ${status}, progress ${progress}`);
      }
      await page.waitForTimeout(1000);
    }
  };
  // The run ends finished, or refused by a check (say, round 1 drifting past the bound: its work
  // was done all the same; or round 0 itself, which then has no card); the end status and message
  // go into the figures.
  const ended = async () => ['finished', 'failed', 'interrupted'].includes((await page.getByTestId('run-status').getAttribute('data-status')) ?? '');
  await waitFor('round 0', async () => (await page.getByTestId('round-card').count()) >= 1 || (await ended()));
  const round0Ms = Date.now() - started;
  await waitFor('the end', ended);
  const totalMs = Date.now() - started;
  const status = await page.getByTestId('run-status').getAttribute('data-status');
  const notice = (await page.getByTestId('run-notice').innerText().catch(() => '')).slice(0, 300);
  // The worker's own timing of each kept round (a refused round has no card): phases and workers.
  const rounds = await page.getByTestId('round-workers').evaluateAll((els) =>
    els.map((el) => Object.fromEntries(['workers', 'generateMs', 'scoreMs', 'trainMs', 'totalMs'].map((k) => [k, Number(el.getAttribute(`data-${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`))]))),
  );
  // What each kept round kept and whether it stopped early: a round's time depends on how many steps it ran.
  const kept = await page.getByTestId('round-kept').allInnerTexts();
  const result = { date: new Date().toISOString(), backend: 'wasm', seedPairs: 16, rounds: 1, laterRoundRoom: defaultRoom ? 'default' : 0, ...(driftBound > 0 ? { driftBound } : {}), round0Ms, round1Ms: totalMs - round0Ms, totalMs, hardwareConcurrency: threads, wasmThreads, status, notice, roundTiming: rounds, kept };
  console.log(JSON.stringify(result));
  writeFileSync(allThreads ? 'bench/chromium-round-threads.json' : defaultRoom ? 'bench/chromium-round-default.json' : 'bench/chromium-round.json', `${JSON.stringify(result, null, 1)}\n`);
});
