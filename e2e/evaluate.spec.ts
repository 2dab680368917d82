// The Evaluate tab runs the evaluation of `npm run eval` in the browser's model worker (wasm) and,
// for the same settings and seed, shows exactly the table the Node CLI prints. Tiny test model.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';

import { ARMS, quickTable, type EvalResult } from '../src/core/eval/summary';
import { expect, openStudio, record, test } from './studio';

const TINY = { model: 'test-models/tiny/', backend: 'wasm' };

/**
 * The quick table of `npm run eval -- --quick` on the same tiny checkpoint, computed in Node: with
 * a helper thread where the page's worker has a helper worker (2 or more cores), as the same split
 * of the same work gives the same numbers.
 */
function nodeQuickTable(): string {
  const dir = mkdtempSync(join(tmpdir(), 'e2e-eval-'));
  const threads = availableParallelism() >= 2 ? '2' : '1';
  execFileSync('node', ['--import', './scripts/lib/node-tfjs.mjs', '--import', 'tsx', 'scripts/eval.ts', '--quick', '--threads', threads, '--model', 'test/fixtures/tiny-base', '--out', join(dir, 'quick.md')], { encoding: 'utf8', timeout: 240_000 });
  const json = JSON.parse(readFileSync(join(dir, 'quick.json'), 'utf8')) as { runs: { result: EvalResult }[] };
  return quickTable(json.runs[0].result);
}

test('the quick evaluation in the worker prints the Node table, string for string', async ({ page }) => {
  test.setTimeout(480_000);
  const expected = nodeQuickTable();
  await openStudio(page, TINY, 'evaluate');
  await expect(page.getByTestId('eval-preset')).toHaveValue('quick');
  const started = Date.now();
  await page.getByTestId('eval-start').click();
  await expect(page.getByTestId('eval-progress')).toHaveAttribute('data-status', 'running');
  await expect(page.getByTestId('eval-progress')).toHaveAttribute('data-outcome', 'finished', { timeout: 300_000 });
  record('quick evaluation in the worker, ms', Date.now() - started);
  const shown = await page.getByTestId('eval-table').textContent();
  expect(shown).toBe(expected);
  // The rendered table has a row per arm and computed cells.
  await expect(page.getByTestId('eval-results').locator('tbody tr')).toHaveCount(ARMS.length);
  await expect(page.getByTestId('eval-error')).toHaveCount(0);
});

test('a typo in the oracle is refused with a message; cancel stops mid-run and keeps the last table', async ({ page }) => {
  test.setTimeout(300_000);
  await openStudio(page, TINY, 'evaluate');
  await page.getByTestId('eval-oracle').fill('tasty');
  await page.getByTestId('eval-start').click();
  await expect(page.getByTestId('eval-error')).toContainText('Unknown oracle "tasty"');
  await expect(page.getByTestId('eval-progress')).toHaveAttribute('data-status', 'idle');

  // A first run to have a table, then a longer one cancelled in a training step.
  await page.getByTestId('eval-oracle').fill('bright');
  await page.getByTestId('eval-start').click();
  await expect(page.getByTestId('eval-progress')).toHaveAttribute('data-outcome', 'finished', { timeout: 240_000 });
  const table = await page.getByTestId('eval-table').textContent();
  expect(table).toContain('(bright)');
  await page.getByTestId('eval-stepsPerRound').fill('50');
  await page.getByTestId('eval-start').click();
  await expect(page.getByTestId('eval-stage')).toContainText('step', { timeout: 120_000 });
  const cancelledAt = Date.now();
  await page.getByTestId('eval-cancel').click();
  await expect(page.getByTestId('eval-progress')).toHaveAttribute('data-outcome', 'cancelled', { timeout: 60_000 });
  record('cancel to stopped, ms', Date.now() - cancelledAt);
  expect(Date.now() - cancelledAt).toBeLessThan(20_000);
  expect(await page.getByTestId('eval-table').textContent()).toBe(table);
  await expect(page.getByTestId('eval-error')).toHaveCount(0);
});
