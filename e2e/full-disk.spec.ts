// A full disk as Chromium itself reports it. This spec starts its own Chromium on a profile that
// lives on a small tmpfs: Chromium sizes an origin's quota from the disk (60% of it, fixed at
// launch), so the origin really runs out, and IndexedDB aborts the transaction that would pass
// the quota with a QuotaExceededError (run.spec.ts's full-disk test injects a synchronous throw
// from put instead). Mounting a tmpfs needs root or passwordless sudo, as CI has.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { chromium } from '@playwright/test';

import { BASE_ARGS, CHROMIUM_PATH } from './chromium';
import { addSeedPairs, expect, openStudio, QUICK, record, setSettings, test, TINY } from './studio';

const DISK_MB = 64;
const FILLER_DB = 'e2e-filler';

/** Runs a privileged command (directly as root, else through passwordless sudo); false when neither works. */
function privileged(args: string[]): boolean {
  const asRoot = process.getuid?.() === 0;
  try {
    execFileSync(asRoot ? args[0] : 'sudo', asRoot ? args.slice(1) : ['-n', ...args], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

test('a full disk (the quota of a small disk) aborts the round\'s transaction: the run stops with a message and keeps round 0; with space again Resume finishes', async ({ baseURL }) => {
  test.setTimeout(300_000);
  const dir = mkdtempSync(join(tmpdir(), 'sail-e2e-disk-'));
  const mounted = privileged(['mount', '-t', 'tmpfs', '-o', `size=${DISK_MB}m`, 'tmpfs', dir]);
  test.skip(!mounted, 'mounting a tmpfs needs root or passwordless sudo');
  const context = await chromium.launchPersistentContext(join(dir, 'profile'), { executablePath: CHROMIUM_PATH, args: BASE_ARGS, baseURL });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    await openStudio(page, TINY, 'run');
    await addSeedPairs(page, 6);
    await setSettings(page, { ...QUICK, promptsPerRound: 6, ddimSteps: 10 });
    const usage = () => page.evaluate(async () => (await navigator.storage.estimate()).usage ?? 0);
    const before = await usage();
    await page.getByTestId('run-start').click();
    await expect(page.getByTestId('round-card')).toHaveCount(1, { timeout: 120_000 });
    // What saving round 0 took (its weights, images and records): round 1 takes about as much.
    const roundBytes = (await usage()) - before;
    expect(roundBytes).toBeGreaterThan(100_000);
    await page.getByTestId('run-pause').click();
    await expect(page.getByTestId('run-status')).toHaveAttribute('data-status', 'paused', { timeout: 60_000 });

    // Another database of the origin takes the rest of its quota but half a round: incompressible
    // chunks of 1 MiB, then one of half a round, then of 16 KiB, each its own transaction, until
    // Chromium refuses one; then the half-round chunk goes. The studio's small records fit in
    // what is left, a round's save (weights, images, records) does not.
    const filled = await page.evaluate(async ({ name, half }: { name: string; half: number }) => {
      const db = await new Promise<IDBDatabase>((resolve, reject) => {
        const req = indexedDB.open(name, 1);
        req.onupgradeneeded = () => req.result.createObjectStore('s');
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => reject(req.error);
      });
      const change = (write: (store: IDBObjectStore) => void) =>
        new Promise<string>((resolve) => {
          const tx = db.transaction('s', 'readwrite');
          write(tx.objectStore('s'));
          tx.oncomplete = () => resolve('ok');
          tx.onabort = () => resolve(tx.error?.name ?? 'aborted');
        });
      const put = (size: number, key: number) => {
        const bytes = new Uint8Array(size);
        for (let i = 0; i < size; i += 65_536) crypto.getRandomValues(bytes.subarray(i, Math.min(size, i + 65_536)));
        return change((store) => store.put(bytes, key));
      };
      const refusals: string[] = [];
      const fill = async (size: number, firstKey: number) => {
        for (let key = firstKey; key < firstKey + 4096; key++) {
          const result = await put(size, key);
          if (result !== 'ok') return refusals.push(result);
        }
      };
      await fill(1 << 20, 0);
      const halfStored = await put(half, 10_000);
      await fill(16 << 10, 20_000);
      const freed = halfStored === 'ok' ? await change((store) => store.delete(10_000)) : 'not stored';
      db.close();
      return { refusals, halfStored, freed, usage: (await navigator.storage.estimate()).usage ?? 0 };
    }, { name: FILLER_DB, half: Math.round(roundBytes / 2) });
    record('filler', filled);
    expect(filled.refusals, 'how Chromium refused the filler at the quota').toEqual(['QuotaExceededError', 'QuotaExceededError']);
    expect(filled.halfStored).toBe('ok');
    expect(filled.freed).toBe('ok');

    // Round 1 runs, and its save is refused as a whole.
    await page.getByTestId('run-resume').click();
    await expect(page.getByTestId('run-progress')).toHaveAttribute('data-status', 'idle', { timeout: 120_000 });
    const notice = page.getByTestId('run-notice');
    await expect(notice).toHaveAttribute('data-tone', 'error');
    await expect(notice).toContainText('Round 1 could not be saved: Storage is full');
    await expect(notice).toContainText('Round 0 is kept');
    record('notice', await notice.innerText());
    await expect(page.getByTestId('round-card')).toHaveCount(1);

    // The user frees space (here: the filler goes) and reloads; round 0 is still there and
    // Resume finishes the run.
    await page.evaluate((name: string) => new Promise((resolve) => { const req = indexedDB.deleteDatabase(name); req.onsuccess = req.onerror = req.onblocked = resolve; }), FILLER_DB);
    await page.reload();
    await expect(page.getByTestId('worker-status')).toHaveAttribute('data-status', 'ready', { timeout: 180_000 });
    await expect(page.getByTestId('run-status')).toHaveAttribute('data-rounds-done', '1');
    await expect(page.getByTestId('round-card')).toHaveCount(1);
    await page.getByTestId('run-resume').click();
    await expect(page.getByTestId('run-status')).toHaveAttribute('data-status', 'finished', { timeout: 180_000 });
    await expect(page.getByTestId('round-card')).toHaveCount(2);
  } finally {
    await context.close();
    privileged(['umount', '-l', dir]);
    rmSync(dir, { recursive: true, force: true });
  }
});
