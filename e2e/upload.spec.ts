// Uploading pairs files into a project: good lines kept, each bad one reported with its line and
// reason, a damaged or oversized file changes nothing, captions shown as text. Real file input,
// real data worker, real IndexedDB.
import { open } from 'node:fs/promises';

import type { Page } from '@playwright/test';
import { strToU8, zipSync } from 'fflate';

import { encodePng } from '../src/core/data/png';
import { expect, openStudio, record, test } from './studio';

const TINY = { backend: 'wasm', model: 'test-models/tiny/' };

/** A w x h PNG filled with one colour (RGB). */
function png(w: number, h: number, rgb: [number, number, number]): Uint8Array {
  const data = new Uint8Array(w * h * 3);
  for (let i = 0; i < w * h; i++) data.set(rgb, i * 3);
  return encodePng({ width: w, height: h, data });
}

const HOSTILE = 'red <img src=x onerror="window.__pwned=1"> heart';

function pairsZip(): Buffer {
  const good = png(64, 64, [220, 30, 30]);
  const other = png(40, 40, [30, 30, 220]);
  const corrupt = png(32, 32, [0, 200, 0]).slice(0, 60); // a PNG cut off in its image data
  const lines = [
    { caption: 'blue circle', image_0: 'img/a.png', image_1: 'img/b.png', label_0: 1 },
    { caption: 'dog face', image_0: 'img/a.png', image_1: 'img/b.png', label_0: 2 },
    { caption: 'cat face', image_0: 'img/a.png', image_1: 'img/missing.png', label_0: 0 },
    { caption: 'frog face', image_0: 'img/a.png', image_1: 'img/corrupt.png', label_0: 0.5 },
  ].map((l) => JSON.stringify(l));
  lines.push('{"caption": "broken", "image_0": ');
  lines.push(JSON.stringify({ caption: HOSTILE, image_0: 'img/b.png', image_1: 'img/a.png', label_0: 0 }));
  return Buffer.from(
    zipSync({
      'pairs.jsonl': strToU8(lines.join('\n') + '\n'),
      'img/a.png': good,
      'img/b.png': other,
      'img/corrupt.png': corrupt,
    }),
  );
}

async function chooseFile(page: Page, file: { name: string; mimeType: string; buffer: Buffer } | string) {
  await page.getByTestId('upload-input').setInputFiles(file);
}

const total = (page: Page) => page.getByTestId('pairs-total');

test('a zip with good and bad lines: good kept, each bad one reported; a damaged zip and a 65 MiB file change nothing', async ({ page }, testInfo) => {
  await openStudio(page, TINY, 'pairs');
  await expect(total(page)).toHaveText('0');

  const started = Date.now();
  await chooseFile(page, { name: 'pairs.zip', mimeType: 'application/zip', buffer: pairsZip() });
  await expect(page.getByTestId('upload-box')).toHaveAttribute('data-status', 'done');
  record('ms to read and store the zip', Date.now() - started);
  await expect(page.getByTestId('upload-added')).toHaveAttribute('data-added', '2');
  const errors = page.getByTestId('upload-error');
  await expect(errors).toHaveCount(4);
  expect(await errors.evaluateAll((els) => els.map((el) => el.getAttribute('data-line')))).toEqual(['2', '3', '4', '5']);
  await expect(errors.nth(0)).toContainText('label_0 must be 0, 0.5 or 1');
  await expect(errors.nth(1)).toContainText('image_1 "img/missing.png" is not in the zip');
  await expect(errors.nth(2)).toContainText('image_1 "img/corrupt.png"');
  await expect(errors.nth(3)).toContainText('is not valid JSON');
  record('reasons', await errors.allInnerTexts());

  await expect(total(page)).toHaveText('2');
  const captions = page.getByTestId('pair-caption');
  await expect(captions).toHaveText([HOSTILE, 'blue circle']); // newest first: the file's order, reversed
  await expect(page.getByTestId('pair-row')).toHaveText([/uploaded/, /uploaded/]);
  expect(await page.getByTestId('pair-row').evaluateAll((els) => els.map((el) => el.getAttribute('data-label')))).toEqual(['0', '1']);
  // The caption is text: no element came of it, no script ran.
  await expect(page.locator('img[src="x"]')).toHaveCount(0);
  expect(await page.evaluate(() => (window as { __pwned?: number }).__pwned)).toBeUndefined();
  // The images were resized to the model's 32x32.
  const sizes = await page.locator('[data-testid="pair-row"] img').evaluateAll((imgs) =>
    Promise.all((imgs as HTMLImageElement[]).map(async (img) => (await img.decode(), `${img.naturalWidth}x${img.naturalHeight}`))),
  );
  expect(sizes).toEqual(['32x32', '32x32', '32x32', '32x32']);

  // A damaged zip: a message, nothing added, the earlier report replaced.
  const damaged = Buffer.concat([Buffer.from('PK\x03\x04'), Buffer.alloc(2000, 7)]);
  await chooseFile(page, { name: 'damaged.zip', mimeType: 'application/zip', buffer: damaged });
  await expect(page.getByTestId('upload-box')).toHaveAttribute('data-status', 'failed');
  await expect(page.getByTestId('upload-message')).toContainText('damaged.zip could not be read: this is not a zip file, or it is damaged');
  await expect(page.getByTestId('upload-message')).toContainText('Nothing was added.');
  await expect(total(page)).toHaveText('2');

  // 65 MiB (sparse on disk): refused from its size before it is read.
  const big = testInfo.outputPath('big.zip');
  const handle = await open(big, 'w');
  await handle.truncate(65 * 1024 * 1024);
  await handle.close();
  await chooseFile(page, big);
  await expect(page.getByTestId('upload-box')).toHaveAttribute('data-status', 'failed');
  await expect(page.getByTestId('upload-message')).toContainText('big.zip is 65.0 MiB; the limit is 64.0 MiB');
  await expect(total(page)).toHaveText('2');

  await page.reload();
  await expect(page.getByTestId('project-bar')).toHaveAttribute('data-status', 'ready');
  await expect(total(page)).toHaveText('2');
  await expect(page.getByTestId('pair-caption')).toHaveText([HOSTILE, 'blue circle']);
});

test('the JSON variant with data URLs, dropped on the box: good items kept, a bad one reported by its index', async ({ page }) => {
  await openStudio(page, TINY, 'pairs');
  const url = (rgb: [number, number, number]) => `data:image/png;base64,${Buffer.from(png(32, 32, rgb)).toString('base64')}`;
  const items = [
    { caption: 'green square', image_0: url([0, 200, 0]), image_1: url([200, 0, 0]), label_0: 0.5 },
    { caption: 'no images', image_0: 'a.png', image_1: url([0, 0, 0]), label_0: 1 },
  ];
  // Dropped on the box this time, as a user drags a file from the desktop.
  const box = page.getByTestId('upload-box');
  const dataTransfer = await page.evaluateHandle((text) => {
    const transfer = new DataTransfer();
    transfer.items.add(new File([text], 'pairs.json', { type: 'application/json' }));
    return transfer;
  }, JSON.stringify(items));
  await box.dispatchEvent('dragover', { dataTransfer });
  await expect(box).toHaveClass(/over/);
  await box.dispatchEvent('drop', { dataTransfer });
  await expect(page.getByTestId('upload-added')).toHaveAttribute('data-added', '1');
  await expect(page.getByTestId('upload-error')).toHaveCount(1);
  await expect(page.getByTestId('upload-error')).toHaveAttribute('data-line', '2');
  await expect(page.getByTestId('upload-error')).toContainText('must be a base64 data URL');
  await expect(page.getByTestId('pair-caption')).toHaveText(['green square']);
  await expect(page.getByTestId('pair-row')).toHaveAttribute('data-label', '0.5');

  // Not a pairs file at all.
  await chooseFile(page, { name: 'notes.json', mimeType: 'application/json', buffer: Buffer.from('{"hello": 1}') });
  await expect(page.getByTestId('upload-message')).toContainText('must hold a JSON array of pairs');
  await expect(total(page)).toHaveText('1');
});

test('Cancel stops reading a large upload and adds nothing', async ({ page }) => {
  await openStudio(page, TINY, 'pairs');
  // 300 pairs of 1024x1024 images: seconds of decoding and resizing in the data worker.
  const big = png(1024, 1024, [250, 200, 0]);
  const files: Record<string, Uint8Array> = {};
  const lines: string[] = [];
  for (let i = 0; i < 300; i++) {
    files[`i/${i}_0.png`] = big;
    files[`i/${i}_1.png`] = big;
    lines.push(JSON.stringify({ caption: `big ${i}`, image_0: `i/${i}_0.png`, image_1: `i/${i}_1.png`, label_0: 1 }));
  }
  files['pairs.jsonl'] = strToU8(lines.join('\n'));
  await chooseFile(page, { name: 'big.zip', mimeType: 'application/zip', buffer: Buffer.from(zipSync(files, { level: 0 })) });
  await expect(page.getByTestId('upload-report')).toContainText(/of 600 images/);
  await page.getByTestId('upload-cancel').click();
  await expect(page.getByTestId('upload-box')).toHaveAttribute('data-status', 'failed');
  await expect(page.getByTestId('upload-message')).toHaveText('The upload was cancelled; nothing was added.');
  await expect(total(page)).toHaveText('0');
  await page.waitForTimeout(1000); // the ended worker stores nothing later either
  await expect(total(page)).toHaveText('0');
});

test('the same file twice adds nothing the second time; a non-pairs file names the formats; a lying zip header and a ballooning pairs.jsonl are reported', async ({ page }) => {
  await openStudio(page, TINY, 'pairs');
  const zip = pairsZip();
  await chooseFile(page, { name: 'pairs.zip', mimeType: 'application/zip', buffer: zip });
  await expect(page.getByTestId('upload-added')).toHaveAttribute('data-added', '2');
  await expect(total(page)).toHaveText('2');

  // Again, under another name: its two good lines are already stored, each is reported on its line.
  await chooseFile(page, { name: 'pairs-copy.zip', mimeType: 'application/zip', buffer: zip });
  await expect(page.getByTestId('upload-box')).toHaveAttribute('data-status', 'done');
  await expect(page.getByTestId('upload-added')).toHaveAttribute('data-added', '0');
  const already = page.getByTestId('upload-error').filter({ hasText: 'already in the project' });
  expect(await already.evaluateAll((els) => els.map((el) => el.getAttribute('data-line')))).toEqual(['1', '6']);
  await expect(total(page)).toHaveText('2');

  // Neither zip nor JSON: refused with the accepted formats, not a parser error.
  await chooseFile(page, { name: 'pairs.csv', mimeType: 'text/csv', buffer: Buffer.from('caption,image_0,image_1,label_0\nred,a.png,b.png,1\n') });
  await expect(page.getByTestId('upload-box')).toHaveAttribute('data-status', 'failed');
  await expect(page.getByTestId('upload-message')).toContainText('neither a zip nor JSON');
  await expect(page.getByTestId('upload-message')).toContainText('a .zip with pairs.jsonl and the images it names, or a .json file of pairs');
  await chooseFile(page, { name: 'heart.png', mimeType: 'image/png', buffer: Buffer.from(png(8, 8, [200, 0, 0])) });
  await expect(page.getByTestId('upload-message')).toContainText('heart.png is an image, not a pairs file');
  await expect(total(page)).toHaveText('2');

  // A zip whose headers understate an image's size: that image would come out cut short; the line is reported.
  const a = png(32, 32, [10, 200, 10]);
  const b = png(32, 32, [200, 10, 200]);
  const lying = zipSync({
    'pairs.jsonl': strToU8(JSON.stringify({ caption: 'lying zip', image_0: 'a.png', image_1: 'b.png', label_0: 1 }) + '\n'),
    'a.png': a,
    'b.png': b,
  });
  const view = new DataView(lying.buffer, lying.byteOffset, lying.length);
  for (let i = 0; i + 4 <= lying.length; i++) {
    const sig = view.getUint32(i, true);
    const [nameAt, sizeAt] = sig === 0x04034b50 ? [30, 22] : sig === 0x02014b50 ? [46, 24] : [0, 0];
    if (nameAt && String.fromCharCode(...lying.subarray(i + nameAt, i + nameAt + 5)) === 'b.png') view.setUint32(i + sizeAt, 20, true);
  }
  await chooseFile(page, { name: 'lying.zip', mimeType: 'application/zip', buffer: Buffer.from(lying) });
  await expect(page.getByTestId('upload-added')).toHaveAttribute('data-added', '0');
  await expect(page.getByTestId('upload-error')).toContainText('"b.png" does not match its checksum: the zip is damaged, or its header understates the size');

  // A pairs.jsonl that would unpack to 20 MiB (white space compresses to a few KiB): refused before it is inflated.
  const balloon = zipSync({ 'pairs.jsonl': strToU8(' '.repeat(20 * 1024 * 1024)) }, { level: 9 });
  expect(balloon.length).toBeLessThan(1024 * 1024);
  await chooseFile(page, { name: 'balloon.zip', mimeType: 'application/zip', buffer: Buffer.from(balloon) });
  await expect(page.getByTestId('upload-box')).toHaveAttribute('data-status', 'failed');
  await expect(page.getByTestId('upload-message')).toContainText('pairs.jsonl would unpack to 20 MiB; the limit is 16 MiB');
  await expect(total(page)).toHaveText('2');
});
