// Shared helpers for the specs: a console watch that fails the test on any error, opening the
// studio, and generating images while recording the progress bar.

import { test as base, expect, type ConsoleMessage, type Page } from '@playwright/test';

/** Collects console errors (page and its workers) and uncaught page errors into `problems`. */
export function watchConsole(page: Page, problems: string[]): void {
  // The page's errors; the workers' errors and warnings too (the model worker warns on every
  // internal failure it answers, so a test that passes while the worker complains fails).
  const onConsole = (where: string, types: string[]) => (msg: ConsoleMessage) => {
    if (types.includes(msg.type())) problems.push(`${where} console.${msg.type()}: ${msg.text()}`);
  };
  page.on('console', onConsole('page', ['error']));
  page.on('worker', (worker) => worker.on('console', onConsole(`worker ${worker.url()}`, ['error', 'warning'])));
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
}

/** `test` whose page fails the test on any console error or page error. */
export const test = base.extend<{ consoleProblems: string[] }>({
  consoleProblems: [
    async ({ page }, use) => {
      const problems: string[] = [];
      watchConsole(page, problems);
      await use(problems);
      expect(problems, 'console errors and page errors').toEqual([]);
    },
    { auto: true },
  ],
});

export { expect };

/**
 * The studio's URL with query parameters. E2E_MODEL (a folder under the served root, or a URL)
 * points every test at another checkpoint than the shipped one.
 */
export function studioUrl(params: Record<string, string> = {}): string {
  const query = new URLSearchParams(params);
  if (process.env.E2E_MODEL && !query.has('model')) query.set('model', process.env.E2E_MODEL);
  const text = query.toString();
  return text ? `./?${text}` : './';
}

/**
 * Opens the studio, waits until the worker reports ready and selects `tab` (the Generate tab
 * unless told otherwise: the specs written before the tabs drive its form); returns the
 * start-up time in ms.
 */
export async function openStudio(page: Page, params: Record<string, string> = {}, tab = 'generate'): Promise<number> {
  const started = Date.now();
  await page.goto(studioUrl(params));
  await expect(page.getByTestId('worker-status')).toHaveAttribute('data-status', 'ready', { timeout: 180_000 });
  await expect(page.getByTestId('errors')).toBeEmpty();
  const elapsed = Date.now() - started;
  await page.getByTestId(`tab-${tab}`).click();
  return elapsed;
}

export interface Generated {
  /** aria-valuenow of the progress bar, each value it took while generating, in order. */
  progressSeen: number[];
  /** Its aria-valuemax at the end. */
  progressMax: number;
  /** From pressing Enter to the first step reported, ms: on SwiftShader mostly shader compilation. */
  firstStepMs: number;
  /** Generation time the page reports (inside the worker), ms. */
  ms: number;
  /** The backend the worker generated on. */
  backend: string;
}

interface ProgressLog {
  started: number;
  values: number[];
  /** Every data-status the bar took, in order (a fast generation can be over before a poll). */
  statuses: string[];
  /** performance.now() of each value. */
  times: number[];
}

/** Starts logging the progress bar's values into window.__progress. */
async function recordProgress(page: Page): Promise<void> {
  await page.getByTestId('progress').evaluate((bar) => {
    const log: ProgressLog = { started: performance.now(), values: [], statuses: [], times: [] };
    (window as unknown as { __progress: ProgressLog }).__progress = log;
    new MutationObserver((records) => {
      for (const r of records) {
        if (r.attributeName === 'data-status') {
          log.statuses.push(bar.getAttribute('data-status') ?? '');
        } else {
          log.values.push(Number(bar.getAttribute('aria-valuenow')));
          log.times.push(performance.now());
        }
      }
    }).observe(bar, { attributes: true, attributeFilter: ['aria-valuenow', 'data-status'] });
  });
}

export async function setControls(page: Page, controls: { prompt: string; count: number; steps: number; seed?: number }) {
  await page.getByTestId('prompt-input').fill(controls.prompt);
  await page.getByTestId('count-input').fill(String(controls.count));
  await page.getByTestId('steps-input').fill(String(controls.steps));
  if (controls.seed !== undefined) await page.getByTestId('seed-input').fill(String(controls.seed));
}

/** Presses Enter in the prompt box (which submits the form) and records the progress bar. */
export async function startGenerating(page: Page): Promise<void> {
  await recordProgress(page);
  await page.getByTestId('prompt-input').press('Enter');
  await expect
    .poll(() => page.evaluate(() => (window as unknown as { __progress: ProgressLog }).__progress.statuses.includes('running')), { timeout: 10_000 })
    .toBe(true);
}

/** Waits for the generation started by startGenerating and checks the grid shows `count` images. */
export async function finishGenerating(page: Page, count: number): Promise<Generated> {
  await expect(page.getByTestId('progress')).toHaveAttribute('data-status', 'idle', { timeout: 540_000 });
  await expect(page.getByTestId('errors')).toBeEmpty();
  await expect(page.getByTestId('progress-label')).toHaveText('Done');
  await expect(page.getByTestId('generated-image')).toHaveCount(count);
  const info = page.getByTestId('result-info');
  const log = await page.evaluate(() => (window as unknown as { __progress: ProgressLog }).__progress);
  const firstStep = log.values.findIndex((v) => v > 0);
  const progressMax = Number(await page.getByTestId('progress').getAttribute('aria-valuemax'));
  return {
    progressSeen: log.values,
    progressMax,
    firstStepMs: firstStep < 0 ? NaN : Math.round(log.times[firstStep] - log.started),
    ms: Number(await info.getAttribute('data-ms')),
    backend: (await info.getAttribute('data-backend')) ?? '',
  };
}

/** The RGBA bytes of every generated image, in grid order. */
export async function generatedPixels(page: Page): Promise<number[][]> {
  return page.getByTestId('generated-image').evaluateAll((canvases) =>
    (canvases as HTMLCanvasElement[]).map((c) => Array.from(c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data)),
  );
}

/** Whether every canvas in the grid holds a picture rather than one flat colour. */
export async function imagesHaveContent(page: Page): Promise<boolean[]> {
  return page.getByTestId('generated-image').evaluateAll((canvases) =>
    (canvases as HTMLCanvasElement[]).map((canvas) => {
      const { data } = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height);
      for (let i = 4; i < data.length; i += 4) {
        if (data[i] !== data[0] || data[i + 1] !== data[1] || data[i + 2] !== data[2]) return true;
      }
      return false;
    }),
  );
}

/** Adds a figure to the test's report (shown by the list reporter's output and in e2e.json). */
export function record(name: string, value: unknown): void {
  const description = typeof value === 'string' ? value : JSON.stringify(value);
  test.info().annotations.push({ type: name, description });
  console.log(`[${test.info().title}] ${name}: ${description}`);
}

/** Stores `n` seed pairs (brighter image preferred) through the project store, as labelling would. */
export async function addSeedPairs(page: Page, n: number): Promise<void> {
  const stored = await page.evaluate(async (count: number) => {
    const hook = (globalThis as unknown as { __sailStudioTest: { projects: { getState(): { addPairs(pairs: unknown[]): Promise<boolean> } } } }).__sailStudioTest;
    const png = async (shade: number, hue: number) => {
      const canvas = new OffscreenCanvas(32, 32);
      const ctx = canvas.getContext('2d')!;
      ctx.fillStyle = '#fff';
      ctx.fillRect(0, 0, 32, 32);
      ctx.fillStyle = `hsl(${hue} 70% ${shade}%)`;
      ctx.beginPath();
      ctx.arc(16, 16, 12, 0, Math.PI * 2);
      ctx.fill();
      return new Uint8Array(await (await canvas.convertToBlob({ type: 'image/png' })).arrayBuffer());
    };
    const captions = ['grinning face', 'red heart', 'dog face', 'frog face', 'cat face', 'red apple'];
    const pairs = [];
    for (let i = 0; i < count; i++) {
      pairs.push({ id: `e2e-${i}`, caption: captions[i % captions.length], image0: await png(75, i * 40), image1: await png(25, i * 40), label0: 1, source: 'seed', createdAt: Date.now() + i });
    }
    return hook.projects.getState().addPairs(pairs);
  }, n);
  expect(stored).toBe(true);
}

/** The tiny test model on wasm: a round takes seconds. */
export const TINY = { backend: 'wasm', model: 'test-models/tiny/' };

/**
 * Settings small enough that a round of the tiny model takes seconds. Their learning rate moves
 * the tiny model past the default drift bound, which the tests of the run's mechanics do not
 * test (the pixel-taste test of run.spec.ts runs at the defaults, bound included): the bound is lifted,
 * and every later round starts whatever round 0 left of it (laterRoundRoom 0).
 */
export const QUICK = { rounds: 1, stepsPerRound: 6, batchSize: 4, candidatesPerPrompt: 3, rewardDraws: 2, promptsPerRound: 4, ddimSteps: 4, learningRate: 1e-3, beta: 100, driftBound: 1, laterRoundRoom: 0 };

/** Sets Run-tab settings through the e2e build's test hook. */
export async function setSettings(page: Page, settings: Record<string, unknown>): Promise<void> {
  await page.evaluate((s) => {
    const hook = (globalThis as unknown as { __sailStudioTest: { run: { getState(): { setSetting(name: string, value: unknown): void } } } }).__sailStudioTest;
    for (const [k, v] of Object.entries(s)) hook.run.getState().setSetting(k, v);
  }, settings);
}
