// Labelling seed pairs by clicking and by keyboard, and projects, against the built app with the
// tiny test model (scripts/e2e-fixtures.mjs copies it into dist/test-models/tiny/), real worker,
// real IndexedDB.
import { readFileSync } from 'node:fs';
import type { Page } from '@playwright/test';

import { checkDrawableList, checkPromptManifest, studioPrompts } from '../src/core/data/studioPrompts';

import { expect, openStudio, record, test } from './studio';

const TINY = { backend: 'wasm', model: 'test-models/tiny/' };

const pairKey = (page: Page) => page.getByTestId('label-pair').getAttribute('data-key');
const count = (page: Page) => page.getByTestId('pair-count');

/** Waits for a pair on screen, does `act`, then waits until another pair is shown. */
async function judge(page: Page, act: () => Promise<void>): Promise<{ before: string; after: string; caption: string }> {
  await expect(page.getByTestId('label-pair')).toBeVisible();
  const before = (await pairKey(page))!;
  const caption = await page.getByTestId('label-caption').innerText();
  await act();
  await expect(page.getByTestId('label-pair')).not.toHaveAttribute('data-key', before);
  return { before, after: (await pairKey(page))!, caption };
}

async function labels(page: Page): Promise<{ caption: string; label: string }[]> {
  await page.getByTestId('tab-pairs').click();
  const rows = page.getByTestId('pair-row');
  const result = await rows.evaluateAll((els) =>
    els.map((el) => ({ caption: el.querySelector('[data-testid="pair-caption"]')!.textContent ?? '', label: el.getAttribute('data-label') ?? '' })),
  );
  await page.getByTestId('tab-label').click();
  return result;
}

test('label 6 pairs by click and keyboard with one undo; after a reload the 6 are there', async ({ page }) => {
  const started = Date.now();
  await openStudio(page, TINY, 'label');
  await expect(count(page)).toHaveText('0');
  await expect(page.getByTestId('label-image')).toHaveCount(2);
  record('ms from open to the first pair', Date.now() - started);

  const judged: { caption: string; label: string }[] = [];
  const t0 = Date.now();
  let j = await judge(page, () => page.getByTestId('choose-1').click());
  judged.push({ caption: j.caption, label: '1' });
  await expect(count(page)).toHaveText('1');
  j = await judge(page, () => page.keyboard.press('2'));
  judged.push({ caption: j.caption, label: '0' });
  j = await judge(page, () => page.keyboard.press('t'));
  judged.push({ caption: j.caption, label: '0.5' });
  j = await judge(page, () => page.getByTestId('choose-2').click());
  judged.push({ caption: j.caption, label: '0' });
  await expect(count(page)).toHaveText('4');

  // Skip stores nothing.
  await judge(page, () => page.keyboard.press('s'));
  await expect(count(page)).toHaveText('4');

  // Label a fifth, undo it: the count goes back and the same pair is shown again.
  const undone = await judge(page, () => page.keyboard.press('1'));
  await expect(count(page)).toHaveText('5');
  await page.keyboard.press('u');
  await expect(count(page)).toHaveText('4');
  await expect(page.getByTestId('label-pair')).toHaveAttribute('data-key', undone.before);

  // Judge it the other way this time, then one more by click.
  j = await judge(page, () => page.keyboard.press('2'));
  expect(j.before).toBe(undone.before);
  judged.push({ caption: j.caption, label: '0' });
  j = await judge(page, () => page.getByTestId('choose-1').click());
  judged.push({ caption: j.caption, label: '1' });
  await expect(count(page)).toHaveText('6');
  record('ms for 6 judgements, a skip and an undo (generation ahead included)', Date.now() - t0);

  const stored = await labels(page);
  // Newest first in the Pairs tab.
  expect(stored).toEqual([...judged].reverse());

  await expect(page.getByTestId('storage-persistence')).toHaveText(/^(kept persistently|not kept persistently: the browser may clear it when space runs low \(it declined to promise more\), so export what you want to keep)$/);
  record('persistence', await page.getByTestId('storage-persistence').innerText());
  await expect(page.getByTestId('storage-usage')).toHaveText(/Storage: .* used/);

  await page.reload();
  await expect(page.getByTestId('worker-status')).toHaveAttribute('data-status', 'ready', { timeout: 180_000 });
  await expect(page.getByTestId('tab-label')).toHaveAttribute('aria-selected', 'true'); // the last tab is remembered
  await expect(count(page)).toHaveText('6');
  expect(await labels(page)).toEqual([...judged].reverse());
  await expect(page.getByTestId('label-undo')).toBeDisabled(); // undo covers this visit only

  // In the Pairs tab a label can be changed and a pair deleted; both last.
  await page.getByTestId('tab-pairs').click();
  const rows = page.getByTestId('pair-row');
  await rows.nth(0).getByRole('button', { name: 'Tie' }).click();
  await expect(rows.nth(0)).toHaveAttribute('data-label', '0.5');
  await rows.nth(1).getByTestId('pair-delete').click();
  await expect(page.getByTestId('pairs-total')).toHaveText('5');
  await page.reload();
  await expect(page.getByTestId('project-bar')).toHaveAttribute('data-status', 'ready');
  await expect(page.getByTestId('pairs-total')).toHaveText('5');
  const expected = [...judged].reverse();
  expected[0] = { ...expected[0], label: '0.5' };
  expected.splice(1, 1);
  expect(
    await rows.evaluateAll((els) => els.map((el) => ({ caption: el.querySelector('[data-testid="pair-caption"]')!.textContent ?? '', label: el.getAttribute('data-label') ?? '' }))),
  ).toEqual(expected);
});

test('saved data from a newer release is refused with a message and left untouched', async ({ page }) => {
  await openStudio(page, TINY, 'label');
  await judge(page, () => page.keyboard.press('1'));
  await expect(count(page)).toHaveText('1');
  const readAll = () =>
    page.evaluate(
      () =>
        new Promise<[string, string][]>((resolve, reject) => {
          const open = indexedDB.open('sail-studio');
          open.onerror = () => reject(open.error);
          open.onsuccess = () => {
            const tx = open.result.transaction('kv');
            const store = tx.objectStore('kv');
            const keys = store.getAllKeys();
            const values = store.getAll();
            tx.oncomplete = () => {
              open.result.close();
              resolve(keys.result.map((k, i) => [String(k), JSON.stringify(values.result[i], (_, v) => (v instanceof Uint8Array ? [...v] : v))]));
            };
            tx.onerror = () => reject(tx.error);
          };
        }),
    );
  await page.evaluate(
    () =>
      new Promise<void>((resolve, reject) => {
        const open = indexedDB.open('sail-studio');
        open.onsuccess = () => {
          const tx = open.result.transaction('kv', 'readwrite');
          tx.objectStore('kv').put(99, 'schema-version');
          tx.oncomplete = () => (open.result.close(), resolve());
          tx.onerror = () => reject(tx.error);
        };
        open.onerror = () => reject(open.error);
      }),
  );
  const before = await readAll();
  await page.reload();
  await expect(page.getByTestId('project-bar')).toHaveAttribute('data-status', 'failed');
  await expect(page.getByTestId('projects-error')).toContainText('written by a newer release (schema version 99; this page reads up to 1)');
  await expect(page.getByTestId('projects-error')).toContainText('nothing was changed');
  expect(await readAll()).toEqual(before);
});

test('projects: create, rename, switch and delete; each keeps its own pairs; names are text, not HTML', async ({ page }) => {
  await openStudio(page, TINY, 'label');
  // The tabs are one tab stop; arrow keys move between them.
  await page.getByTestId('tab-label').focus();
  await page.keyboard.press('ArrowRight');
  await expect(page.getByTestId('tab-pairs')).toHaveAttribute('aria-selected', 'true');
  await expect(page.getByTestId('tab-pairs')).toBeFocused();
  await expect(page.getByRole('tabpanel')).toHaveAttribute('aria-labelledby', 'tab-pairs');
  await page.keyboard.press('End');
  await expect(page.getByTestId('tab-evaluate')).toHaveAttribute('aria-selected', 'true');
  await page.keyboard.press('Home');
  await expect(page.getByTestId('tab-label')).toHaveAttribute('aria-selected', 'true');

  const select = page.getByTestId('project-select');
  await expect(select.locator('option')).toHaveText(['My first project']);

  await page.getByTestId('project-new').click();
  await page.getByTestId('project-name-input').fill('Dogs');
  await page.getByTestId('project-name-input').press('Enter');
  await expect(select.locator('option:checked')).toHaveText('Dogs');
  await expect(count(page)).toHaveText('0');
  await judge(page, () => page.keyboard.press('1'));
  await expect(count(page)).toHaveText('1');

  const hostile = 'Dogs <img src=x onerror="window.__pwned=1">';
  await page.getByTestId('project-rename').click();
  await page.getByTestId('project-name-input').fill(hostile);
  await page.getByTestId('project-name-save').click();
  await expect(select.locator('option:checked')).toHaveText(hostile);

  await select.selectOption({ label: 'My first project' });
  await expect(count(page)).toHaveText('0');
  await select.selectOption({ label: hostile });
  await expect(count(page)).toHaveText('1');

  await page.reload();
  await expect(page.getByTestId('project-bar')).toHaveAttribute('data-status', 'ready');
  await expect(select.locator('option:checked')).toHaveText(hostile); // the last project is remembered
  await expect(count(page)).toHaveText('1');

  await page.getByTestId('project-delete').click();
  await expect(page.getByRole('alertdialog')).toContainText('with its 1 pair and 0 runs');
  await page.getByTestId('project-delete-confirm').click();
  await expect(select.locator('option')).toHaveText(['My first project']);
  await expect(count(page)).toHaveText('0');

  await page.reload();
  await expect(page.getByTestId('project-bar')).toHaveAttribute('data-status', 'ready');
  await expect(select.locator('option')).toHaveText(['My first project']);
  // Nothing of the deleted project is left in the database.
  const keys = await page.evaluate(
    () =>
      new Promise<string[]>((resolve, reject) => {
        const open = indexedDB.open('sail-studio');
        open.onsuccess = () => {
          const request = open.result.transaction('kv').objectStore('kv').getAllKeys();
          request.onsuccess = () => resolve(request.result.map(String));
          request.onerror = () => reject(request.error);
        };
        open.onerror = () => reject(open.error);
      }),
  );
  expect(keys.filter((k) => !k.startsWith('project:')).filter((k) => k !== 'schema-version')).toEqual([]);
  expect(keys.filter((k) => k.startsWith('project:'))).toHaveLength(1);
  expect(await page.evaluate(() => (window as { __pwned?: number }).__pwned)).toBeUndefined();
});

test('your own prompt: its pairs carry it as caption, unknown words are named, and drawn prompts come back', async ({ page }) => {
  await openStudio(page, TINY, 'label');
  await expect(page.getByTestId('label-pair')).toBeVisible();
  const typed = 'red heart <b>qwzxv</b>';
  await page.getByTestId('label-prompt-input').fill(typed);
  await page.getByTestId('label-prompt-input').press('Enter');
  await expect(page.getByTestId('label-caption')).toHaveText(typed);
  await expect(page.getByTestId('label-prompt-note')).toContainText(`Pairs for “${typed}”`);
  await expect(page.getByTestId('label-unknown-words')).toContainText('qwzxv');
  // Typing in the field is not a judgement; the shortcut works once focus leaves it.
  await page.getByTestId('label-prompt-input').press('1');
  await expect(count(page)).toHaveText('0');
  await page.getByTestId('label-prompt-input').blur();
  const j = await judge(page, () => page.keyboard.press('1'));
  expect(j.caption).toBe(typed);
  await expect(page.getByTestId('label-caption')).toHaveText(typed);
  expect(await labels(page)).toEqual([{ caption: typed, label: '1' }]);

  await page.getByTestId('label-prompt-clear').click();
  await expect(page.getByTestId('label-prompt-note')).toHaveCount(0);
  await expect(page.getByTestId('label-caption')).not.toHaveText(typed);
});

test('on the shipped base, drawn prompts and suggestions come from the prompts it draws recognisably (drawable.json), and the tab says so', async ({ page }) => {
  const list = checkDrawableList(JSON.parse(readFileSync('public/models/base/drawable.json', 'utf8')));
  const expected = studioPrompts(checkPromptManifest(JSON.parse(readFileSync('public/data/emoji-32.json', 'utf8'))), list);
  expect(expected.drawable, 'the shipped list narrows the seed prompts').not.toBeNull();
  await openStudio(page, { backend: 'wasm' }, 'label');
  await expect(page.getByTestId('label-drawable')).toContainText(`Drawn prompts come from the ${expected.drawable!.seed} of ${expected.drawable!.of} emoji`);
  const seed = new Set(expected.seed);
  for (let i = 0; i < 3; i++) {
    const pair = page.getByTestId('label-pair');
    await expect(pair).toBeVisible({ timeout: 60_000 });
    const prompt = (await pair.getAttribute('data-prompt'))!;
    expect(seed.has(prompt), `"${prompt}" is one the base draws`).toBe(true);
    expect(list.prompts[prompt]).toBeGreaterThan(0);
    const key = await pair.getAttribute('data-key');
    await page.getByTestId('label-skip').click();
    await expect(page.getByTestId('label-pair')).not.toHaveAttribute('data-key', key!, { timeout: 60_000 });
  }
  await page.getByTestId('tab-generate').click();
  const chips = page.getByTestId('suggestion');
  await expect(chips.first()).toBeVisible();
  const held = new Set(expected.evaluation.map((p) => p.prompt));
  for (const p of await chips.evaluateAll((els) => els.map((e) => e.getAttribute('data-prompt')!))) expect(held.has(p), `suggestion "${p}"`).toBe(true);
});
