import { expect, openStudio, record, studioUrl, test } from './studio';

test('loads without console errors, picks wasm on the SwiftShader fallback adapter and says why', async ({ page }) => {
  record('ms to ready', await openStudio(page));

  await expect(page.getByTestId('backend-name')).toHaveText('wasm');
  await expect(page.getByTestId('backend-reason')).toContainText(/fallback/i);
  await expect(page.getByTestId('backend-adapter')).toContainText(/fallback/i);
  await expect(page.getByTestId('backend-select')).toHaveValue('auto');
  record('reason', await page.getByTestId('backend-reason').innerText());
  record('adapter', await page.getByTestId('backend-adapter').innerText());

  await expect(page.getByTestId('model-params')).toHaveAttribute('data-params', /^[1-9]\d*$/);
  await expect(page.getByTestId('notice')).toContainText('Noto Emoji');
  // The shipped base was also trained on Twemoji (CC-BY 4.0): its attribution ships beside the data's.
  await expect(page.getByTestId('notice')).toContainText('Twemoji graphics: Creative Commons Attribution 4.0');
  await expect(page.getByTestId('suggestion').first()).toBeVisible();
});

test('the backend select restarts the worker on the chosen backend and remembers it', async ({ page }) => {
  await openStudio(page);
  await page.getByTestId('backend-select').selectOption('cpu');
  await expect(page.getByTestId('worker-status')).toHaveAttribute('data-status', 'ready', { timeout: 180_000 });
  await expect(page.getByTestId('backend-name')).toHaveText('cpu');
  await expect(page.getByTestId('backend-reason')).toContainText('You chose cpu');

  await page.reload();
  await expect(page.getByTestId('worker-status')).toHaveAttribute('data-status', 'ready', { timeout: 180_000 });
  await expect(page.getByTestId('backend-select')).toHaveValue('cpu');
  await expect(page.getByTestId('backend-name')).toHaveText('cpu');
});

test('a suggestion fills the prompt, and unknown words are named', async ({ page }) => {
  await openStudio(page, { backend: 'wasm' });
  const suggestion = page.getByTestId('suggestion').first();
  const text = await suggestion.innerText();
  await suggestion.click();
  await expect(page.getByTestId('prompt-input')).toHaveValue(text);
  await expect(page.getByTestId('unknown-words')).toHaveCount(0);

  await page.getByTestId('prompt-input').fill('grinning face qwzxv');
  await expect(page.getByTestId('unknown-words')).toContainText('qwzxv');
});

test('a checkpoint that cannot be loaded gives an error the user can read', async ({ page, consoleProblems }) => {
  await page.goto(studioUrl({ backend: 'wasm', model: 'no-such-model/' }));
  await expect(page.getByTestId('worker-status')).toHaveAttribute('data-status', 'failed', { timeout: 180_000 });
  await expect(page.getByTestId('error')).toContainText('could not be loaded');
  await expect(page.getByTestId('error')).toContainText('HTTP 404');
  await expect(page.getByTestId('restart-worker')).toBeVisible();
  // The browser itself logs the 404s; those are this test's point, anything else is not.
  const unexpected = consoleProblems.filter((p) => !/404/.test(p));
  consoleProblems.splice(0, consoleProblems.length, ...unexpected);
});

test('after the worker crashes the page says so and starts a new one', async ({ page, consoleProblems }) => {
  await openStudio(page, { backend: 'wasm' });
  const [worker] = page.workers();
  await worker.evaluate(() => {
    setTimeout(() => {
      throw new Error('simulated crash');
    });
  });
  await expect(page.getByTestId('error')).toContainText('The model worker crashed');
  await expect(page.getByTestId('error')).toContainText('Restarting it');
  await expect(page.getByTestId('worker-status')).toHaveAttribute('data-status', 'ready', { timeout: 180_000 });
  await expect(page.getByTestId('backend-name')).toHaveText('wasm');
  record('console after the crash', consoleProblems);
  const unexpected = consoleProblems.filter((p) => !p.includes('simulated crash'));
  consoleProblems.splice(0, consoleProblems.length, ...unexpected);
});
