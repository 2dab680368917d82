// The Run tab end to end, against the built app with the tiny test model (real worker, real
// IndexedDB, real clicks): rounds live with progress, charts, grids and self pairs; a reload
// mid-run and Resume; exports and re-import with bit-identical images; blind A/B by keyboard;
// a NaN loss and a worker crash that each stop the run, keep the finished rounds and let it resume.
import type { Page } from '@playwright/test';

import { addSeedPairs, expect, openStudio, QUICK, record, setSettings, test, TINY } from './studio';

type TestHook = {
  run: { getState(): Record<string, unknown> & { settings: Record<string, unknown>; setSetting(name: string, value: unknown): void }; setState(s: object): void };
  projects: { getState(): { addPairs(pairs: unknown[]): Promise<boolean>; pairs: unknown[]; currentProjectId: string | null } };
};

/** Records every value the run's progress bar takes into window.__runProgress. */
/** Opens the studio on the tiny model, adds 6 seed pairs, starts a short run and waits for round 0. */
async function startRunUntilRound0(page: Page): Promise<void> {
  await openStudio(page, TINY, 'run');
  await addSeedPairs(page, 6);
  await setSettings(page, { ...QUICK, promptsPerRound: 6, ddimSteps: 10 });
  await page.getByTestId('run-start').click();
  await expect(page.getByTestId('round-card')).toHaveCount(1, { timeout: 120_000 });
}

async function recordRunProgress(page: Page): Promise<void> {
  await page.getByTestId('run-progress').evaluate((bar) => {
    const log: number[] = [];
    (window as unknown as { __runProgress: number[] }).__runProgress = log;
    new MutationObserver(() => log.push(Number(bar.getAttribute('aria-valuenow')))).observe(bar, { attributes: true, attributeFilter: ['aria-valuenow'] });
  });
}

/** Starts watching main-thread long tasks into window.__longTasks (ms each). */
async function watchLongTasks(page: Page): Promise<void> {
  await page.evaluate(() => {
    const tasks: number[] = [];
    (window as unknown as { __longTasks: number[] }).__longTasks = tasks;
    new PerformanceObserver((list) => list.getEntries().forEach((e) => tasks.push(Math.round(e.duration)))).observe({ type: 'longtask', buffered: false });
  });
}

const points = (page: Page, chart: string) => page.getByTestId(chart).getAttribute('data-points').then(Number);

test('two tiny rounds run live; a reload mid-run and Resume finish the run; the pairs export holds seed and self pairs', async ({ page }) => {
  await openStudio(page, TINY, 'run');
  await addSeedPairs(page, 6);
  await expect(page.getByTestId('run-seed-count')).toContainText('6 seed pairs');
  // Round 1 made slow enough to reload in the middle of it.
  await setSettings(page, { ...QUICK, stepsPerRound: 6, promptsPerRound: 6, ddimSteps: 10 });
  await watchLongTasks(page);
  await recordRunProgress(page);
  const started = Date.now();
  await page.getByTestId('run-start').click();
  await expect(page.getByTestId('run-progress')).toHaveAttribute('data-status', 'running');
  await expect(page.getByTestId('run-time-left')).toContainText(/left/);

  // Round 0 finishes: its card with the grid (and the base grid beside it) appears.
  await expect(page.getByTestId('round-card')).toHaveCount(1, { timeout: 120_000 });
  record('ms to round 0', Date.now() - started);
  await expect(page.getByTestId('round-card').first().getByTestId('round-grid')).toHaveAttribute('data-cells', '8');
  await expect(page.getByTestId('round-card').first().getByTestId('base-grid')).toHaveAttribute('data-cells', '8');
  await expect(page.getByTestId('run-time-left')).toContainText(/about .+ left/);
  expect(await points(page, 'chart-loss')).toBeGreaterThanOrEqual(6);
  expect(await points(page, 'chart-accuracy')).toBeGreaterThanOrEqual(6);
  const seen = await page.evaluate(() => (window as unknown as { __runProgress: number[] }).__runProgress);
  expect(new Set(seen).size).toBeGreaterThan(5);
  for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThanOrEqual(seen[i - 1]);
  expect(seen.at(-1)!).toBeGreaterThan(0);
  expect(seen.at(-1)!).toBeLessThan(100);
  const longTasks = await page.evaluate(() => (window as unknown as { __longTasks: number[] }).__longTasks);
  record('main-thread long tasks during round 0 (ms)', longTasks);
  expect(Math.max(0, ...longTasks)).toBeLessThan(500);

  // Reload in the middle of round 1: the run reads as interrupted and offers Resume.
  await page.reload();
  await expect(page.getByTestId('worker-status')).toHaveAttribute('data-status', 'ready', { timeout: 180_000 });
  await expect(page.getByTestId('run-status')).toHaveAttribute('data-status', 'interrupted');
  await expect(page.getByTestId('run-status')).toHaveAttribute('data-rounds-done', '1');
  await expect(page.getByTestId('round-card')).toHaveCount(1);
  // The base grid beside round 0 comes back too (it waits for the worker the reload restarted).
  await expect(page.getByTestId('round-card').first().getByTestId('base-grid')).toHaveAttribute('data-cells', '8', { timeout: 60_000 });
  expect(await points(page, 'chart-loss')).toBe(6);
  await expect(page.getByTestId('run-resume')).toHaveText('Resume after round 0');
  // 12 prompts x 3 candidates: two sampling chunks, so a second core samples one of them.
  await setSettings(page, { ...QUICK, stepsPerRound: 6, promptsPerRound: 12, ddimSteps: 10 });
  await page.getByTestId('run-resume').click();
  await expect(page.getByTestId('run-status')).toHaveAttribute('data-status', 'finished', { timeout: 180_000 });
  await expect(page.getByTestId('round-card')).toHaveCount(2);
  const round1 = page.locator('[data-testid="round-card"][data-round="1"]');
  await expect(round1.getByTestId('round-grid')).toHaveAttribute('data-cells', '8');
  // On two or more cores the model worker started a helper worker for half of the candidates and
  // of every DPO step: round 0 (before the reload) and round 1 (after Resume) both used it.
  const cores = await page.evaluate(() => navigator.hardwareConcurrency);
  await expect(round1.getByTestId('round-workers')).toHaveAttribute('data-workers', cores >= 2 ? '2' : '1');
  await expect(page.locator('[data-testid="round-card"][data-round="0"]').getByTestId('round-workers')).toHaveAttribute('data-workers', cores >= 2 ? '2' : '1');
  const selfPairs = Number(await round1.getByTestId('self-pairs').getAttribute('data-count'));
  expect(selfPairs).toBeGreaterThan(0);
  // The self pairs lie in a grid: several share a row.
  const tops = await round1.getByTestId('self-pair').evaluateAll((els) => els.map((el) => Math.round(el.getBoundingClientRect().top)));
  if (tops.length >= 2) expect(new Set(tops).size).toBeLessThan(tops.length);
  expect(await points(page, 'chart-loss')).toBe(12);
  record('ms for the whole test run', Date.now() - started);

  // The pairs export: the 6 seed pairs and every self pair of round 1.
  const downloadPromise = page.waitForEvent('download');
  await page.getByTestId('export-pairs').click();
  const download = await downloadPromise;
  const path = await download.path();
  const { unzipSync } = await import('fflate');
  const { readFileSync } = await import('node:fs');
  const files = unzipSync(new Uint8Array(readFileSync(path)));
  const lines = new TextDecoder().decode(files['pairs.jsonl']).trim().split('\n').map((l) => JSON.parse(l) as { source: string; image_0: string });
  expect(lines.filter((l) => l.source === 'seed')).toHaveLength(6);
  expect(lines.filter((l) => l.source === 'self')).toHaveLength(selfPairs);
  for (const l of lines) expect(files[l.image_0]?.length ?? 0).toBeGreaterThan(50);

  // The same pairs as Parquet (Pick-a-Pic v2 columns), read by an independent reader (arrow-rs).
  const parquetPromise = page.waitForEvent('download');
  await page.getByTestId('export-pairs-parquet').click();
  const parquetDownload = await parquetPromise;
  expect(parquetDownload.suggestedFilename()).toMatch(/-pairs\.parquet$/);
  const { readParquet } = await import('parquet-wasm/node');
  const { tableFromIPC } = await import('apache-arrow');
  const table = tableFromIPC(readParquet(new Uint8Array(readFileSync(await parquetDownload.path()))).intoIPCStream());
  expect(table.numRows).toBe(lines.length);
  const rows = table.toArray().map((r) => r.toJSON() as { caption: string; jpg_0: Uint8Array; label_0: number; source: string });
  expect(rows.map((r) => r.source)).toEqual(lines.map((l) => l.source));
  for (const [i, r] of rows.entries()) expect(r.jpg_0).toEqual(new Uint8Array(files[lines[i].image_0]));
  await expect(page.getByTestId('export-note')).toContainText('Parquet');
});

/** RGBA of every canvas matching `testId`, as plain arrays. */
const canvasPixels = (page: Page, testId: string) =>
  page.getByTestId(testId).evaluateAll((canvases) =>
    (canvases as HTMLCanvasElement[]).map((c) => Array.from(c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data)),
  );

async function compareOn(page: Page, prompt: string, seed: number): Promise<void> {
  await page.getByTestId('compare-prompt').fill(prompt);
  await page.getByTestId('compare-seed').fill(String(seed));
  await page.getByTestId('compare-render').click();
  await expect(page.getByTestId('compare-a-image')).toHaveCount(4);
  await expect(page.getByTestId('compare-render')).toBeEnabled();
}

test("a round's exported weights, re-imported as a new project's base, give bit-identical images; blind A/B by keyboard", async ({ page }) => {
  await openStudio(page, TINY, 'run');
  await addSeedPairs(page, 6);
  await setSettings(page, { ...QUICK, rounds: 0, stepsPerRound: 8, learningRate: 3e-3 });
  await page.getByTestId('run-start').click();
  await expect(page.getByTestId('run-status')).toHaveAttribute('data-status', 'finished', { timeout: 120_000 });

  const downloadPromise = page.waitForEvent('download');
  await page.locator('[data-testid="round-card"][data-round="0"]').getByTestId('export-round').click();
  const download = await downloadPromise;
  expect(download.suggestedFilename()).toMatch(/round0\.zip$/);
  const zipPath = test.info().outputPath(download.suggestedFilename());
  await download.saveAs(zipPath);
  const { unzipSync } = await import('fflate');
  const { readFileSync } = await import('node:fs');
  const files = unzipSync(new Uint8Array(readFileSync(zipPath)));
  expect(Object.keys(files).sort()).toEqual(['config.json', 'model.safetensors']);
  const config = JSON.parse(new TextDecoder().decode(files['config.json'])) as { provenance: { sail: { round: number } } };
  expect(config.provenance.sail.round).toBe(0);

  // Base vs round 0 on the same noise: training changed the images.
  await page.getByTestId('tab-compare').click();
  // Try my model: the tab opens on the base against the latest round.
  await expect(page.getByTestId('compare-a')).toHaveValue('base');
  await expect(page.getByTestId('compare-b').locator('option:checked')).toHaveText('Run 1, round 0');
  await page.getByTestId('compare-b').selectOption('base');
  await page.getByTestId('compare-try-latest').click();
  await expect(page.getByTestId('compare-b').locator('option:checked')).toHaveText('Run 1, round 0');
  await compareOn(page, 'red heart', 5);
  const base = await canvasPixels(page, 'compare-a-image');
  const trained = await canvasPixels(page, 'compare-b-image');
  const changed = base.map((img, i) => img.filter((v, j) => v !== trained[i][j]).length);
  record('pixels (of 4096 values) the round changed, per image', changed);
  expect(Math.min(...changed)).toBeGreaterThan(0);

  // Blind A/B: three judgements by keyboard, a win rate with its count.
  await page.getByTestId('blind-start').click();
  for (const key of ['1', '2', 't']) {
    await expect(page.getByTestId('blind-left')).toBeVisible();
    const before = await page.getByTestId('blind-tally').getAttribute('data-n');
    await page.keyboard.press(key);
    await expect(page.getByTestId('blind-tally')).not.toHaveAttribute('data-n', before!);
  }
  await expect(page.getByTestId('blind-tally')).toHaveAttribute('data-n', '3');
  await expect(page.getByTestId('blind-tally')).toHaveAttribute('data-ties', '1');
  await expect(page.getByTestId('blind-tally')).toContainText('95% interval');
  await expect(page.getByTestId('blind-tally')).toContainText(/, 1 tie; /); // not "1 ties"
  await page.getByTestId('blind-stop').click();

  // A file that is not a zip, and a zip whose weights do not fit its config: each is refused
  // with its reason, and no project is added.
  await page.getByTestId('tab-run').click();
  const projects = page.getByTestId('project-select').locator('option');
  await expect(projects).toHaveCount(1);
  await page.getByTestId('import-model-input').setInputFiles({ name: 'broken.zip', mimeType: 'application/zip', buffer: Buffer.from('not a zip at all') });
  await expect(page.getByTestId('error').last()).toContainText('broken.zip was not imported: This is not a zip file');
  const { zipSync } = await import('fflate');
  const cut = zipSync({ 'config.json': files['config.json'], 'model.safetensors': files['model.safetensors'].slice(0, 5000) });
  await page.getByTestId('import-model-input').setInputFiles({ name: 'cut.zip', mimeType: 'application/zip', buffer: Buffer.from(cut) });
  await expect(page.getByTestId('error').last()).toContainText('cut.zip was not imported: This is not a checkpoint the studio can use');
  await expect(projects).toHaveCount(1);
  await page.getByTestId('error').evaluateAll((els) => els.forEach((el) => el.querySelector('button')?.click()));

  // Import the exported zip: a new project whose base is the round's checkpoint.
  await page.getByTestId('import-model-input').setInputFiles(zipPath);
  await expect(page.getByTestId('export-note')).toContainText('Imported');
  await expect(page.getByTestId('run-seed-count')).toContainText('Base: ');
  await expect(page.getByTestId('run-seed-count')).toContainText('round0.zip');
  await expect(projects).toHaveCount(2);
  // The footer names the project's imported base, not the shipped model.
  await expect(page.getByTestId('model-info')).toHaveAttribute('data-base', 'imported');
  await expect(page.getByTestId('model-base-name')).toContainText('round0.zip');
  await page.getByTestId('tab-compare').click();
  await expect(page.getByTestId('compare-a')).toHaveValue('base');
  await compareOn(page, 'red heart', 5);
  const reimported = await canvasPixels(page, 'compare-a-image');
  expect(reimported).toEqual(trained);

  // The new project's pairs are drawn by its imported base (the weights travel with each request).
  await page.getByTestId('tab-label').click();
  await expect(page.getByTestId('label-pair')).toBeVisible();
  await page.keyboard.press('1');
  await expect(page.getByTestId('pair-count')).toHaveText('1');

  // The whole first project as one file: export it, delete it, import it; its round draws the
  // same images for the same prompt and seed, bit for bit, and its blind A/B tally came along.
  await page.getByTestId('tab-run').click();
  await page.getByTestId('project-select').selectOption({ index: 0 });
  await expect(page.getByTestId('round-card')).toHaveCount(1);
  const projectDownload = page.waitForEvent('download');
  await page.getByTestId('export-project').click();
  const projectPath = await (await projectDownload).path();
  await expect(page.getByTestId('export-note')).toContainText('Exported the whole project');
  await page.getByTestId('project-delete').click();
  await page.getByTestId('project-delete-confirm').click();
  await expect(projects).toHaveCount(1);
  // A file from a newer release is refused with its reason and adds nothing.
  const projectFiles = unzipSync(new Uint8Array(readFileSync(projectPath)));
  const manifest = JSON.parse(new TextDecoder().decode(projectFiles['project.json'])) as { version: number };
  const newer = zipSync({ ...projectFiles, 'project.json': new TextEncoder().encode(JSON.stringify({ ...manifest, version: manifest.version + 1 })) });
  await page.getByTestId('import-project-input').setInputFiles({ name: 'newer.sailproject.zip', mimeType: 'application/zip', buffer: Buffer.from(newer) });
  await expect(page.getByTestId('error').last()).toContainText('newer.sailproject.zip was not imported: it was written by a newer release');
  await expect(projects).toHaveCount(1);
  await page.getByTestId('import-project-input').setInputFiles(projectPath);
  await expect(page.getByTestId('export-note')).toContainText('Imported');
  await expect(projects).toHaveCount(2);
  await expect(page.getByTestId('round-card')).toHaveCount(1);
  await page.getByTestId('tab-compare').click();
  await expect(page.getByTestId('compare-b').locator('option:checked')).toHaveText('Run 1, round 0');
  await compareOn(page, 'red heart', 5);
  expect(await canvasPixels(page, 'compare-b-image')).toEqual(trained);
  await page.getByTestId('blind-start').click();
  await expect(page.getByTestId('blind-tally')).toHaveAttribute('data-n', '3');
});

test('a NaN loss stops the run with a message and keeps the finished round; a lower learning rate resumes it', async ({ page }) => {
  await startRunUntilRound0(page);
  await page.getByTestId('run-pause').click();
  await expect(page.getByTestId('run-status')).toHaveAttribute('data-status', 'paused', { timeout: 60_000 });
  await expect(page.getByTestId('run-notice')).toContainText('Paused');

  // Test hook: a learning rate the form would refuse, so round 1 diverges.
  await page.evaluate(() => (globalThis as unknown as { __sailStudioTest: { checkSettings(on: boolean): void } }).__sailStudioTest.checkSettings(false));
  await setSettings(page, { learningRate: 1e30 });
  await page.getByTestId('run-resume').click();
  await expect(page.getByTestId('run-status')).toHaveAttribute('data-status', 'failed', { timeout: 120_000 });
  const message = await page.getByTestId('run-notice').innerText();
  record('message', message);
  expect(message).toMatch(/diverged in round 1 at step \d+/);
  expect(message).toContain('Round 0 is kept');
  await expect(page.getByTestId('round-card')).toHaveCount(1);
  await expect(page.getByTestId('run-status')).toHaveAttribute('data-rounds-done', '1');

  // The app stays usable: the form refuses the absurd rate with a message, and a sane one resumes.
  await page.evaluate(() => (globalThis as unknown as { __sailStudioTest: { checkSettings(on: boolean): void } }).__sailStudioTest.checkSettings(true));
  await page.getByTestId('run-resume').click();
  await expect(page.getByTestId('run-notice')).toContainText('Learning rate must be between');
  await page.getByTestId('run-advanced').locator('summary').click();
  await page.getByTestId('run-setting-learningRate').fill('0.001');
  await page.getByTestId('run-resume').click();
  await expect(page.getByTestId('run-status')).toHaveAttribute('data-status', 'finished', { timeout: 180_000 });
  await expect(page.getByTestId('round-card')).toHaveCount(2);
});

test('a worker crash mid-run stops the run, keeps round 0, the worker restarts, and Resume finishes', async ({ page, consoleProblems }) => {
  await startRunUntilRound0(page);
  // The worker really throws an uncaught error mid-run (the e2e build's 'throw-soon' hook): the
  // client sees it as the browser reports a crash, terminates the worker and fails every pending
  // request; the store restarts the worker.
  await page.evaluate(() => {
    const client = (globalThis as unknown as { __sailStudioClient: { worker: Worker } }).__sailStudioClient;
    client.worker.postMessage({ kind: 'throw-soon', id: 0 });
  });
  await expect(page.getByTestId('run-status')).toHaveAttribute('data-status', 'failed', { timeout: 60_000 });
  await expect(page.getByTestId('run-notice')).toContainText('crashed');
  await expect(page.getByTestId('run-notice')).toContainText('a deliberate crash');
  await expect(page.getByTestId('run-notice')).toContainText('Round 0 is kept');
  await expect(page.getByTestId('error')).toContainText('Restarting it');
  await expect(page.getByTestId('worker-status')).toHaveAttribute('data-status', 'ready', { timeout: 180_000 });
  await page.getByTestId('run-resume').click();
  await expect(page.getByTestId('run-status')).toHaveAttribute('data-status', 'finished', { timeout: 180_000 });
  await expect(page.getByTestId('round-card')).toHaveCount(2);
  expect(consoleProblems).toEqual([]);
});

test('a write refused with a synchronous QuotaExceededError while saving a round stops the run with a message and keeps round 0; after a reload the run resumes with its saved settings', async ({ page }) => {
  await startRunUntilRound0(page);
  // From here IndexedDB refuses to store weights or project records with a synchronous throw
  // from put (a full quota as Chromium reports it, a transaction aborted at commit, is
  // full-disk.spec.ts; this one also covers the run's own state failing to save).
  await page.evaluate(() => {
    const put = IDBObjectStore.prototype.put;
    IDBObjectStore.prototype.put = function (value: unknown, key?: IDBValidKey) {
      if (/^(weights|project):/.test(String(key))) throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
      return put.call(this, value, key);
    };
  });
  await expect(page.getByTestId('run-progress')).toHaveAttribute('data-status', 'idle', { timeout: 120_000 });
  const notice = page.getByTestId('run-notice');
  await expect(notice).toHaveAttribute('data-tone', 'error');
  await expect(notice).toContainText('Round 1 could not be saved: Storage is full');
  await expect(notice).toContainText('Round 0 is kept');
  // Even the run's final state could not be written, and the page says so.
  await expect(notice).toContainText("The run's state could not be saved");
  await expect(page.getByTestId('round-card')).toHaveCount(1);

  // With space again and after a reload, the run is stopped with round 0 kept, the form shows the
  // settings saved with the project (the test does not enter them again), and Resume uses them.
  await page.reload();
  await expect(page.getByTestId('worker-status')).toHaveAttribute('data-status', 'ready', { timeout: 180_000 });
  await expect(page.getByTestId('run-status')).toHaveAttribute('data-status', 'interrupted');
  await expect(page.getByTestId('run-status')).toHaveAttribute('data-rounds-done', '1');
  const form = await page.evaluate(() => (globalThis as unknown as { __sailStudioTest: TestHook }).__sailStudioTest.run.getState().settings);
  expect(form).toMatchObject({ ...QUICK, promptsPerRound: 6, ddimSteps: 10 });
  await page.getByTestId('run-resume').click();
  await expect(page.getByTestId('run-status')).toHaveAttribute('data-status', 'finished', { timeout: 180_000 });
  await expect(page.getByTestId('round-card')).toHaveCount(2);
  const resumed = await page.evaluate(() => {
    const state = (globalThis as unknown as { __sailStudioTest: TestHook }).__sailStudioTest.run.getState() as unknown as { project: { runs: { settings: Record<string, unknown> }[] } };
    return state.project.runs[0].settings;
  });
  expect(resumed).toMatchObject({ ...QUICK, promptsPerRound: 6, ddimSteps: 10 });
});

test('a lost WebGPU device stops the run with a message and keeps round 0; the worker restarts, and the run resumes (on wasm)', async ({ page }) => {
  test.setTimeout(600_000);
  // WebGPU here is SwiftShader, a software adapter far slower than wasm: the fewest steps that
  // still make round 1 long enough to lose the device in the middle of it.
  const started = Date.now();
  await openStudio(page, { ...TINY, backend: 'webgpu' }, 'run');
  await addSeedPairs(page, 4);
  await setSettings(page, { ...QUICK, stepsPerRound: 2, batchSize: 2, promptsPerRound: 4, candidatesPerPrompt: 2, rewardDraws: 1, ddimSteps: 6 });
  await page.getByTestId('run-start').click();
  await expect(page.getByTestId('round-card')).toHaveCount(1, { timeout: 300_000 });
  record('ms to round 0 on WebGPU', Date.now() - started);
  // Test hook: the worker destroys its GPU device, as a driver reset would lose it.
  await page.evaluate(() => {
    const client = (globalThis as unknown as { __sailStudioClient: { worker: Worker } }).__sailStudioClient;
    client.worker.postMessage({ kind: 'lose-device', id: 0 });
  });
  await expect(page.getByTestId('run-status')).toHaveAttribute('data-status', 'failed', { timeout: 120_000 });
  await expect(page.getByTestId('run-notice')).toContainText('GPU device was lost');
  await expect(page.getByTestId('run-notice')).toContainText('Round 0 is kept');
  await expect(page.getByTestId('worker-status')).toHaveAttribute('data-status', 'ready', { timeout: 180_000 });
  await expect(page.getByTestId('backend-name')).toHaveText('webgpu');
  // The user moves to wasm (SwiftShader would compile its shaders again for minutes) and resumes.
  await page.getByTestId('backend-select').selectOption('wasm');
  await expect(page.getByTestId('backend-name')).toHaveText('wasm', { timeout: 180_000 });
  await page.getByTestId('run-resume').click();
  await expect(page.getByTestId('run-status')).toHaveAttribute('data-status', 'finished', { timeout: 300_000 });
  await expect(page.getByTestId('round-card')).toHaveCount(2);
  record('ms for the whole test', Date.now() - started);
});

/** Pearson correlation of two RGBA images' RGB values. */
const correlation = (x: number[], y: number[]) => {
  const xs: number[] = [];
  const ys: number[] = [];
  for (let i = 0; i < x.length; i++) if (i % 4 !== 3) xs.push(x[i]), ys.push(y[i]);
  const mx = xs.reduce((s, v) => s + v, 0) / xs.length;
  const my = ys.reduce((s, v) => s + v, 0) / ys.length;
  let sxy = 0, sxx = 0, syy = 0;
  xs.forEach((v, i) => ((sxy += (v - mx) * (ys[i] - my)), (sxx += (v - mx) ** 2), (syy += (ys[i] - my) ** 2)));
  return sxy / Math.sqrt(sxx * syy);
};

/** Mean of R, G and B over an RGBA image (0-255): the pixel taste of addSeedPairs. */
const brightnessOf = (rgba: number[]) => {
  let sum = 0;
  for (let i = 0; i < rgba.length; i += 4) sum += rgba[i] + rgba[i + 1] + rgba[i + 2];
  return sum / ((3 * rgba.length) / 4);
};

test('a run at the default settings on 16 pairs of a pixel taste moves that taste on the Compare noise and keeps drawing what the base drew', async ({ page }) => {
  await openStudio(page, TINY, 'run');
  await addSeedPairs(page, 16);
  // The studio's defaults (lr, steps, batch, beta, the regularisers), round 0 only: the taste is
  // what the 16 clicks teach.
  await setSettings(page, { rounds: 0 });
  await page.getByTestId('run-start').click();
  await expect(page.getByTestId('run-status')).toHaveAttribute('data-status', 'finished', { timeout: 240_000 });
  const card = page.locator('[data-testid="round-card"][data-round="0"]').getByTestId('round-kept');
  const drift = Number(await card.getAttribute('data-drift'));
  const heldOut = Number(await card.getAttribute('data-held-out-accuracy'));
  record('round 0: drift on real emoji, held-out accuracy', [drift, heldOut]);
  expect(drift).toBeLessThanOrEqual(0.1); // the default drift bound

  // Base vs round 0 on the same noise, four prompts x 4 images.
  await page.getByTestId('tab-compare').click();
  await page.getByTestId('compare-b').selectOption({ label: 'Run 1, round 0' });
  const shift: number[] = [];
  const kept: number[] = [];
  for (const [i, prompt] of ['grinning face', 'red heart', 'dog face', 'rocket'].entries()) {
    await compareOn(page, prompt, 11 + i);
    const a = await canvasPixels(page, 'compare-a-image');
    const b = await canvasPixels(page, 'compare-b-image');
    a.forEach((img, k) => {
      shift.push(brightnessOf(b[k]) - brightnessOf(img));
      kept.push(correlation(img, b[k]));
    });
  }
  const mean = (xs: number[]) => xs.reduce((s, v) => s + v, 0) / xs.length;
  record('brightness shift per image (levels of 255)', shift.map((v) => Math.round(v * 10) / 10));
  record("correlation of each image's RGB values with its base twin's", kept.map((v) => Math.round(v * 1000) / 1000));
  // The labelled direction: brighter on average by at least 2 levels, and on at least 12 of 16 images.
  expect(mean(shift)).toBeGreaterThanOrEqual(2);
  expect(shift.filter((v) => v > 0).length).toBeGreaterThanOrEqual(12);
  // Fidelity: each image is still its base twin's drawing, brightened (a shift or a contrast change
  // keeps the correlation; a different drawing or noise does not).
  // Unrelated images or noise correlate near 0; an image brightened toward white saturates, so
  // the bound is on the median (0.8) with a floor for every image (0.6).
  const sorted = [...kept].sort((p, q) => p - q);
  expect(sorted[Math.floor(sorted.length / 2)]).toBeGreaterThanOrEqual(0.8);
  expect(sorted[0]).toBeGreaterThanOrEqual(0.6);
});

test('two tabs of one project: only the tab that runs it may run or resume it; the other says so and does not call the run cut off', async ({ page }) => {
  await openStudio(page, TINY, 'run');
  await addSeedPairs(page, 6);
  // Long enough to still be running while the second tab opens and tries.
  await setSettings(page, { ...QUICK, rounds: 3, stepsPerRound: 40, promptsPerRound: 6, ddimSteps: 10 });
  await page.getByTestId('run-start').click();
  await expect(page.getByTestId('run-progress')).toHaveAttribute('data-status', 'running');

  const other = await page.context().newPage();
  await openStudio(other, TINY, 'run');
  await expect(other.getByTestId('run-notice')).toContainText('running in another tab');
  await expect(other.getByTestId('run-status')).not.toHaveAttribute('data-status', 'interrupted');
  await other.getByTestId('run-start').click();
  await expect(other.getByTestId('run-notice')).toContainText('only one tab may run or resume it');
  await expect(other.getByTestId('run-progress')).not.toHaveAttribute('data-status', 'running');

  // The first tab's run went on untouched, and stops when asked.
  await expect(page.getByTestId('run-progress')).toHaveAttribute('data-status', 'running');
  await page.getByTestId('run-cancel').click();
  await expect(page.getByTestId('run-status')).toHaveAttribute('data-status', 'cancelled', { timeout: 120_000 });
  await other.close();
});

test('the Run form: named presets, the raw settings folded under Advanced, and the estimated time before Start', async ({ page }) => {
  await openStudio(page, TINY, 'run');
  await expect(page.getByTestId('run-preset-measured')).toHaveAttribute('aria-checked', 'true');
  await expect(page.getByTestId('run-preset-hint')).toContainText('what the evaluation measured');
  await expect(page.getByTestId('run-setting-learningRate')).toBeHidden();
  await expect(page.getByTestId('run-estimate')).toContainText(/Estimated time for the whole run: about .+/);
  const estimate = async () => Number(await page.getByTestId('run-estimate').getAttribute('data-ms'));
  const measuredMs = await estimate();
  expect(measuredMs).toBeGreaterThan(0);
  // With a later round that needs room in the drift bound, the shorter run that ends after round 0 too.
  await expect(page.getByTestId('run-estimate')).toContainText(/or about .+ if round 0 leaves a later round too little of the drift bound/);
  const round0Ms = Number(await page.getByTestId('run-estimate').getAttribute('data-round0-ms'));
  expect(round0Ms).toBeGreaterThan(0);
  expect(round0Ms).toBeLessThan(measuredMs);

  await page.getByTestId('run-preset-three').click();
  await expect(page.getByTestId('run-preset-three')).toHaveAttribute('aria-checked', 'true');
  expect(await estimate()).toBeGreaterThan(2 * measuredMs);
  await page.getByTestId('run-preset-pairs-only').click();
  await expect(page.getByTestId('run-preset-hint')).toContainText('round 0 alone');
  expect(await estimate()).toBeLessThan(measuredMs / 4);
  await expect(page.getByTestId('run-estimate')).not.toHaveAttribute('data-round0-ms');
  await page.getByTestId('run-preset-quick').click();
  expect(await estimate()).toBeLessThan(measuredMs);

  await page.getByTestId('run-advanced').locator('summary').click();
  await expect(page.getByTestId('run-setting-rounds')).toHaveValue('1');
  await expect(page.getByTestId('run-setting-stepsPerRound')).toHaveValue('15');
  // The safety settings a user may need to lower or lift are there too, at the defaults.
  await expect(page.getByTestId('run-setting-driftBound')).toHaveValue('0.1');
  await expect(page.getByTestId('run-setting-positiveWeight')).toHaveValue('0.25');
  await page.getByTestId('run-setting-rounds').fill('2');
  await expect(page.getByTestId('run-preset-hint')).toContainText('Custom settings');
  await page.getByTestId('run-settings-reset').click();
  await expect(page.getByTestId('run-preset-measured')).toHaveAttribute('aria-checked', 'true');
});
