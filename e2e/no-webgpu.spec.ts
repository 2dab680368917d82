// This spec starts its own Chromium, without --enable-unsafe-webgpu: WebGPU is then unavailable
// and the studio must fall back to wasm and say so.
import { chromium, expect, test } from '@playwright/test';

import { BASE_ARGS, CHROMIUM_PATH } from './chromium';
import { openStudio, record, watchConsole } from './studio';

test('without --enable-unsafe-webgpu the studio uses wasm and says there is no WebGPU', async ({ baseURL }) => {
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: BASE_ARGS });
  try {
    const page = await browser.newPage({ baseURL });
    const problems: string[] = [];
    watchConsole(page, problems);
    record('ms to ready', await openStudio(page));

    await expect(page.getByTestId('backend-name')).toHaveText('wasm');
    await expect(page.getByTestId('backend-adapter')).toHaveText('Adapter: no WebGPU adapter');
    await expect(page.getByTestId('backend-reason')).toContainText(/no WebGPU|no adapter/i);
    record('reason', await page.getByTestId('backend-reason').innerText());
    expect(problems, 'console errors and page errors').toEqual([]);
  } finally {
    await browser.close();
  }
});
