import { strToU8, zipSync, type Zippable } from 'fflate';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { describe, expect, it, vi } from 'vitest';
import { compositeOnWhite, resizeRGBA, sniffImage } from '../src/core/data/image';
import { leaveOutStored, pairIdentity, parsePairsBytes, parsePairsJson, parsePairsZip, preferenceOf, writePairsZip, type ImageDecoder, type ImageRGB, type PairRecord } from '../src/core/data/pairs';
import { crc32, encodePng } from '../src/core/data/png';
import { mulberry32 } from '../src/core/random';
import { decodeNode } from '../scripts/lib/decodeNode';

const SIZE = 32;

function solidRGBA(width: number, height: number, rgba: [number, number, number, number]): Uint8Array {
  const data = new Uint8Array(width * height * 4);
  for (let i = 0; i < data.length; i += 4) data.set(rgba, i);
  return data;
}

function noise(length: number, seed: number): Uint8Array {
  const random = mulberry32(seed);
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = Math.floor(random() * 256);
  return out;
}

/** Fixtures are written with pngjs and jpeg-js, independent of the code under test. */
function pngjsWrite(width: number, height: number, rgba: Uint8Array): Uint8Array {
  const png = new PNG({ width, height });
  png.data = Buffer.from(rgba);
  return new Uint8Array(PNG.sync.write(png));
}

function jpegWrite(width: number, height: number, rgba: Uint8Array): Uint8Array {
  return new Uint8Array(jpeg.encode({ width, height, data: Buffer.from(rgba) }, 95).data);
}

/** Every pixel of an RGB image equals `rgb` within `tolerance`. */
function expectSolid(image: ImageRGB, rgb: [number, number, number], tolerance = 0): void {
  expect(image.width).toBe(SIZE);
  expect(image.height).toBe(SIZE);
  expect(image.data.length).toBe(SIZE * SIZE * 3);
  let worst = 0;
  for (let i = 0; i < image.data.length; i++) worst = Math.max(worst, Math.abs(image.data[i] - rgb[i % 3]));
  expect(worst).toBeLessThanOrEqual(tolerance);
}

const line = (o: unknown) => JSON.stringify(o);

describe('resizeRGBA and compositeOnWhite', () => {
  it('averages a 64x64 one-pixel checkerboard to flat grey at 32x32', () => {
    const src = new Uint8Array(64 * 64 * 4);
    for (let y = 0; y < 64; y++) for (let x = 0; x < 64; x++) src.set((x + y) % 2 ? [255, 255, 255, 255] : [0, 0, 0, 255], (y * 64 + x) * 4);
    // Each output pixel covers two black and two white pixels: 127.5, rounded half up.
    expect(resizeRGBA(src, 64, 64, 32, 32)).toEqual(solidRGBA(32, 32, [128, 128, 128, 255]));
  });

  it('halves a 64x64 checkerboard of 2x2 cells exactly into a one-pixel checkerboard', () => {
    const src = new Uint8Array(64 * 64 * 4);
    for (let y = 0; y < 64; y++) for (let x = 0; x < 64; x++) src.set(((x >> 1) + (y >> 1)) % 2 ? [200, 100, 50, 255] : [10, 20, 30, 255], (y * 64 + x) * 4);
    const expected = new Uint8Array(32 * 32 * 4);
    for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) expected.set((x + y) % 2 ? [200, 100, 50, 255] : [10, 20, 30, 255], (y * 32 + x) * 4);
    expect(resizeRGBA(src, 64, 64, 32, 32)).toEqual(expected);
  });

  it('weights partial pixels by their overlap when the ratio is not an integer, down and up', () => {
    const row = (...values: number[]) => Uint8Array.from(values.flatMap((v) => [v, v, v, 255]));
    // 3 -> 2: output 0 covers [0, 1.5): (0*1 + 90*0.5) / 1.5 = 30; output 1: (90*0.5 + 180) / 1.5 = 150.
    expect([...resizeRGBA(row(0, 90, 180), 3, 1, 2, 1)].filter((_, i) => i % 4 === 0)).toEqual([30, 150]);
    // 2 -> 3: output 1 covers [2/3, 4/3): half of each source pixel.
    expect([...resizeRGBA(row(0, 90), 2, 1, 3, 1)].filter((_, i) => i % 4 === 0)).toEqual([0, 45, 90]);
    // 16x16 -> 32x32: every source pixel becomes a 2x2 block, unchanged.
    const src = noise(16 * 16 * 4, 7).map((v, i) => (i % 4 === 3 ? 255 : v));
    const expected = new Uint8Array(32 * 32 * 4);
    for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) expected.set(src.subarray(((y >> 1) * 16 + (x >> 1)) * 4, ((y >> 1) * 16 + (x >> 1)) * 4 + 4), (y * 32 + x) * 4);
    expect(resizeRGBA(src, 16, 16, 32, 32)).toEqual(expected);
  });

  it('is the identity at equal size and keeps transparent colour out of the average', () => {
    const src = noise(32 * 32 * 4, 3);
    // Where alpha is 0 the colour is meaningless (it comes out 0); everywhere else the pixel is unchanged.
    const expected = src.map((v, i) => (src[i - (i % 4) + 3] === 0 && i % 4 !== 3 ? 0 : v));
    expect(expected.some((v, i) => v !== src[i])).toBe(true);
    expect(resizeRGBA(src, 32, 32, 32, 32)).toEqual(expected);
    // A transparent red pixel next to an opaque blue one: the average is half-transparent blue.
    expect([...resizeRGBA(Uint8Array.from([255, 0, 0, 0, 0, 0, 255, 255]), 2, 1, 1, 1)]).toEqual([0, 0, 255, 128]);
  });

  it('composites on white', () => {
    expect([...compositeOnWhite(Uint8Array.from([10, 20, 30, 255, 10, 20, 30, 0, 0, 0, 0, 128]))]).toEqual([10, 20, 30, 255, 255, 255, 127, 127, 127]);
  });
});

describe('encodePng', () => {
  it('computes the standard CRC-32', () => {
    expect(crc32(strToU8('123456789'))).toBe(0xcbf43926);
  });

  it('writes RGB and RGBA that pngjs decodes to the same pixels', () => {
    for (const channels of [3, 4]) {
      const [width, height] = [37, 23];
      // Noise plus flat and gradient regions, so every filter type gets chosen somewhere.
      const data = noise(width * height * channels, channels);
      for (let i = 0; i < data.length / 3; i++) data[i] = 200;
      for (let i = Math.floor(data.length / 3); i < (2 * data.length) / 3; i++) data[i] = i & 0xff;
      const decoded = PNG.sync.read(Buffer.from(encodePng({ width, height, data })));
      expect([decoded.width, decoded.height]).toEqual([width, height]);
      const rgba = channels === 4 ? data : Uint8Array.from({ length: width * height * 4 }, (_, i) => (i % 4 === 3 ? 255 : data[(i >> 2) * 3 + (i % 4)]));
      expect(Buffer.from(decoded.data).equals(Buffer.from(rgba))).toBe(true);
    }
  });

  it('refuses data of the wrong length', () => {
    expect(() => encodePng({ width: 2, height: 2, data: new Uint8Array(5) })).toThrow(/12 bytes \(RGB\) or 16/);
  });
});

describe('parsePairsZip', () => {
  const red = pngjsWrite(64, 64, solidRGBA(64, 64, [255, 0, 0, 255]));
  const blue = pngjsWrite(48, 48, solidRGBA(48, 48, [0, 0, 255, 255]));
  const green = jpegWrite(40, 30, solidRGBA(40, 30, [0, 255, 0, 255]));
  const clear = pngjsWrite(20, 20, solidRGBA(20, 20, [255, 0, 0, 0]));
  const halfBlack = pngjsWrite(32, 32, solidRGBA(32, 32, [0, 0, 0, 128]));
  const big = pngjsWrite(128, 128, noise(128 * 128 * 4, 11)); // about 64 KiB
  const wide = pngjsWrite(100, 100, solidRGBA(100, 100, [0, 0, 0, 255])); // 10,000 pixels
  const truncated = red.slice(0, 60); // a real header, then nothing
  const garbled = Uint8Array.from([...red.slice(0, 8), ...noise(200, 5)]); // PNG signature, then noise

  const lines = [
    /* 1 */ line({ caption: 'a red square', image_0: 'images/red.png', image_1: 'images/blue.png', label_0: 1 }),
    /* 2 */ '{"caption": "oops", "image_0": ',
    /* 3 */ line({ caption: 'two', image_0: 'images/red.png', image_1: 'images/blue.png', label_0: 2 }),
    /* 4 */ line({ caption: 'missing', image_0: 'images/red.png', image_1: 'images/nope.png', label_0: 0 }),
    /* 5 */ line({ caption: 'corrupt', image_0: 'images/truncated.png', image_1: 'images/red.png', label_0: 0 }),
    /* 6 */ line({ caption: 'not an image', image_0: 'images/red.png', image_1: 'notes.txt', label_0: 1 }),
    /* 7 */ line({ caption: '   ', image_0: 'images/red.png', image_1: 'images/blue.png', label_0: 1 }),
    /* 8 */ line({ caption: 'a green tie', image_0: 'images/green.jpg', image_1: 'images/clear.png', label_0: 0.5, id: 'g1' }),
    /* 9 */ '',
    /* 10 */ line({ caption: 'a red square', image_0: 'images/blue.png', image_1: 'images/red.png', label_0: 0 }),
    /* 11 */ line({ caption: 'a red square', image_0: 'images/red.png', image_1: 'images/blue.png', label_0: 0 }),
    /* 12 */ line({ caption: 'grey and red', image_0: './images/half.png', image_1: 'images\\red.png', label_0: 0, source: 'seed' }),
    /* 13 */ line({ caption: 'no label', image_0: 'images/red.png', image_1: 'images/blue.png' }),
    /* 14 */ line({ caption: 'too big', image_0: 'images/big.png', image_1: 'images/red.png', label_0: 1 }),
    /* 15 */ line({ caption: 'too wide', image_0: 'images/red.png', image_1: 'images/wide.png', label_0: 1 }),
    /* 16 */ '[1, 2]',
    /* 17 */ line({ caption: 'garbled', image_0: 'images/garbled.png', image_1: 'images/blue.png', label_0: 1 }),
    /* 18 */ line({ caption: 'self', image_0: 'images/red.png', image_1: 'images/red.png', label_0: 1 }),
  ];
  const files: Zippable = {
    'pairs.jsonl': strToU8(lines.join('\r\n') + '\n'),
    'images/red.png': red,
    'images/blue.png': blue,
    'images/green.jpg': green,
    'images/clear.png': clear,
    'images/half.png': halfBlack,
    'images/big.png': big,
    'images/wide.png': wide,
    'images/truncated.png': truncated,
    'images/garbled.png': garbled,
    'notes.txt': strToU8('these are my notes, not an image'),
  };
  const opts = { imageSize: SIZE, maxImageBytes: 32 * 1024, maxImagePixels: 5000 };

  it('keeps every good line, resized to 32x32, and reports every bad one with its line and cause', async () => {
    const progress: number[] = [];
    const { pairs, errors } = await parsePairsZip(zipSync(files), decodeNode, { ...opts, onProgress: (done) => progress.push(done) });

    expect(pairs.map((p) => [p.caption, p.label0, p.source, p.id, p.line])).toEqual([
      ['a red square', 1, 'upload', undefined, 1],
      ['a green tie', 0.5, 'upload', 'g1', 8],
      ['grey and red', 0, 'seed', undefined, 12],
    ]);
    expectSolid(pairs[0].image0, [255, 0, 0]);
    expectSolid(pairs[0].image1, [0, 0, 255]);
    expectSolid(pairs[1].image0, [0, 255, 0], 4); // JPEG
    expectSolid(pairs[1].image1, [255, 255, 255]); // fully transparent -> white
    expectSolid(pairs[2].image0, [127, 127, 127]); // half-transparent black on white
    expectSolid(pairs[2].image1, [255, 0, 0]);

    const byLine = Object.fromEntries(errors.map((e) => [e.line, e.reason]));
    expect(Object.keys(byLine).map(Number)).toEqual([2, 3, 4, 5, 6, 7, 10, 11, 13, 14, 15, 16, 17, 18]);
    expect(byLine[2]).toMatch(/not valid JSON/);
    expect(byLine[3]).toMatch(/label_0 must be 0, 0\.5 or 1.*got 2/);
    expect(byLine[4]).toMatch(/image_1 "images\/nope\.png" is not in the zip/);
    expect(byLine[5]).toMatch(/image_0 "images\/truncated\.png" could not be decoded/);
    expect(byLine[6]).toMatch(/image_1 "notes\.txt" is not a PNG or JPEG image/);
    expect(byLine[7]).toMatch(/caption is empty/);
    expect(byLine[10]).toMatch(/repeats line 1/);
    expect(byLine[11]).toMatch(/contradicts line 1/);
    expect(byLine[13]).toMatch(/label_0 is missing/);
    expect(byLine[14]).toMatch(/image_0 "images\/big\.png" is \d+(\.\d)? KiB; an image may be at most 32 KiB/);
    expect(byLine[15]).toMatch(/image_1 "images\/wide\.png" is 100x100 pixels/);
    expect(byLine[16]).toMatch(/must be a JSON object/);
    expect(byLine[17]).toMatch(/image_0 "images\/garbled\.png" could not be decoded/);
    expect(byLine[18]).toMatch(/same image/);

    // Each distinct image read once: red, blue, truncated, notes, green, clear, half, wide, garbled
    // (big is refused from the zip directory, nope is absent).
    expect(progress).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('finds pairs.jsonl in one top folder and resolves image paths from there', async () => {
    const nested: Zippable = {
      'my pairs/pairs.jsonl': strToU8(lines[0] + '\n' + line({ caption: 'from the top', image_0: 'my pairs/images/blue.png', image_1: 'images/red.png', label_0: 0 })),
      'my pairs/images/red.png': red,
      'my pairs/images/blue.png': blue,
      '__MACOSX/my pairs/._pairs.jsonl': strToU8('resource fork'),
    };
    const { pairs, errors } = await parsePairsZip(zipSync(nested), decodeNode, opts);
    expect(errors).toEqual([]);
    expect(pairs.map((p) => p.caption)).toEqual(['a red square', 'from the top']);
    expectSolid(pairs[1].image0, [0, 0, 255]);
  });

  it('gives one line-0 error and no pairs for random bytes, no pairs.jsonl or an empty one', async () => {
    const decode = vi.fn(decodeNode);
    const random = await parsePairsZip(noise(5000, 1), decode, opts);
    expect(random.pairs).toEqual([]);
    expect(random.errors).toHaveLength(1);
    expect(random.errors[0]).toMatchObject({ line: 0, reason: expect.stringMatching(/not a zip file/) });

    const none = await parsePairsZip(zipSync({ 'images/red.png': red }), decode, opts);
    expect(none).toEqual({ pairs: [], errors: [{ line: 0, reason: expect.stringMatching(/no pairs\.jsonl/) }] });

    const empty = await parsePairsZip(zipSync({ 'pairs.jsonl': strToU8('\n\n') }), decode, opts);
    expect(empty).toEqual({ pairs: [], errors: [{ line: 0, reason: 'pairs.jsonl is empty' }] });
    expect(decode).not.toHaveBeenCalled();
  });

  it('refuses a file over maxFileBytes before looking inside', async () => {
    // Random bytes: had it tried to unzip, the reason would say "not a zip file".
    const { pairs, errors } = await parsePairsZip(noise(3 * 1024 * 1024, 2), decodeNode, { ...opts, maxFileBytes: 2 * 1024 * 1024 });
    expect(pairs).toEqual([]);
    expect(errors).toEqual([{ line: 0, reason: 'the file is 3 MiB; the limit is 2 MiB (split it into smaller zips)' }]);
  });

  it('refuses a zip whose directory declares more than maxTotalUncompressed, before inflating', async () => {
    const zip = zipSync({ 'pairs.jsonl': strToU8(lines[0]), 'images/red.png': red, 'images/blue.png': blue });
    // Make the central directory claim 600 MiB for the first entry (uncompressed size at +24).
    const view = new DataView(zip.buffer, zip.byteOffset, zip.length);
    const central = zip.findIndex((_, i) => view.getUint32(i, true) === 0x02014b50);
    view.setUint32(central + 24, 600 * 1024 * 1024, true);
    const decode = vi.fn(decodeNode);
    const { pairs, errors } = await parsePairsZip(zip, decode, opts);
    expect(pairs).toEqual([]);
    expect(errors).toEqual([{ line: 0, reason: expect.stringMatching(/^the zip would unpack to 600 MiB; the limit is 128 MiB/) }]);
    expect(decode).not.toHaveBeenCalled();

    // A real highly compressible file over a smaller limit.
    const zeros = zipSync({ 'pairs.jsonl': strToU8(lines[0]), 'padding.bin': new Uint8Array(2 * 1024 * 1024) });
    expect(zeros.length).toBeLessThan(64 * 1024);
    const refused = await parsePairsZip(zeros, decodeNode, { ...opts, maxTotalUncompressed: 1024 * 1024 });
    expect(refused.errors[0].reason).toMatch(/unpack to 2 MiB; the limit is 1 MiB/);
  });

  it('refuses a pairs.jsonl that would unpack past maxJsonlBytes, before inflating it', async () => {
    const zip = zipSync({ 'pairs.jsonl': strToU8(lines[0]), 'images/red.png': red, 'images/blue.png': blue });
    const view = new DataView(zip.buffer, zip.byteOffset, zip.length);
    const central = zip.findIndex((_, i) => view.getUint32(i, true) === 0x02014b50);
    view.setUint32(central + 24, 20 * 1024 * 1024, true); // 20 MiB: under the total limit, over pairs.jsonl's
    const { pairs, errors } = await parsePairsZip(zip, decodeNode, opts);
    expect(pairs).toEqual([]);
    expect(errors).toEqual([{ line: 0, reason: 'pairs.jsonl would unpack to 20 MiB; the limit is 16 MiB (split the pairs into smaller zips)' }]);
  });

  it('reports an entry whose headers understate its size (it would come out truncated), on its line or for the file', async () => {
    // Both the local header (+22) and the central directory (+24) say fewer bytes than the entry holds.
    const understate = (zip: Uint8Array, name: string, size: number) => {
      const view = new DataView(zip.buffer, zip.byteOffset, zip.length);
      const bytesOf = strToU8(name);
      for (let i = 0; i + 4 <= zip.length; i++) {
        const sig = view.getUint32(i, true);
        const [nameAt, sizeAt] = sig === 0x04034b50 ? [30, 22] : sig === 0x02014b50 ? [46, 24] : [0, 0];
        if (nameAt && zip.subarray(i + nameAt, i + nameAt + bytesOf.length).every((b, k) => b === bytesOf[k])) view.setUint32(i + sizeAt, size, true);
      }
      return zip;
    };
    const two = [lines[0], line({ caption: 'blue first', image_0: 'images/blue.png', image_1: 'images/red.png', label_0: 1 })].join('\n');
    const lying = understate(zipSync({ 'pairs.jsonl': strToU8(two), 'images/red.png': red, 'images/blue.png': blue, 'images/pad.png': blue }), 'images/red.png', 40);
    const { pairs, errors } = await parsePairsZip(lying, decodeNode, opts);
    expect(pairs).toEqual([]);
    expect(errors.map((e) => e.line)).toEqual([1, 2]);
    for (const e of errors) expect(e.reason).toMatch(/images\/red\.png" does not match its checksum: the zip is damaged, or its header understates the size/);
    const lyingJsonl = understate(zipSync({ 'pairs.jsonl': strToU8(two), 'images/red.png': red, 'images/blue.png': blue }), 'pairs.jsonl', 30);
    expect((await parsePairsZip(lyingJsonl, decodeNode, opts)).errors).toEqual([{ line: 0, reason: expect.stringMatching(/^pairs\.jsonl does not match its checksum/) }]);
    // The same zip untouched reads both pairs.
    expect((await parsePairsZip(zipSync({ 'pairs.jsonl': strToU8(two), 'images/red.png': red, 'images/blue.png': blue }), decodeNode, opts)).pairs).toHaveLength(2);
  });

  it('stops reading after maxPairs pairs', async () => {
    const many = [0, 1, 2].map((i) => line({ caption: `pair ${i}`, image_0: 'images/red.png', image_1: 'images/blue.png', label_0: 1 }));
    const { pairs, errors } = await parsePairsZip(zipSync({ ...files, 'pairs.jsonl': strToU8(many.join('\n')) }), decodeNode, { ...opts, maxPairs: 2 });
    expect(pairs).toHaveLength(2);
    expect(errors).toEqual([{ line: 3, reason: expect.stringMatching(/only the first 2 pairs are read/) }]);
  });
});

describe('parsePairsJson', () => {
  const dataUrl = (mime: string, bytes: Uint8Array) => `data:${mime};base64,${Buffer.from(bytes).toString('base64')}`;
  const red = dataUrl('image/png', pngjsWrite(8, 8, solidRGBA(8, 8, [255, 0, 0, 255])));
  const green = dataUrl('image/jpeg', jpegWrite(64, 64, solidRGBA(64, 64, [0, 255, 0, 255])));
  const items = [
    /* 1 */ { caption: 'red vs green', image_0: red, image_1: green, label_0: 0 },
    /* 2 */ { caption: 'paths are for zips', image_0: 'images/red.png', image_1: green, label_0: 1 },
    /* 3 */ { caption: 'half', image_0: red, image_1: green, label_0: 0.3 },
    /* 4 */ { caption: 'text', image_0: red, image_1: dataUrl('text/plain', strToU8('hello')), label_0: 1 },
    /* 5 */ { caption: 'bad base64', image_0: 'data:image/png;base64,@@@@', image_1: red, label_0: 1 },
    /* 6 */ { caption: 'red vs green', image_0: red, image_1: green, label_0: 0 },
  ];

  it('reads an array, or {pairs: [...]}, of data-URL pairs with the same error reporting', async () => {
    for (const text of [JSON.stringify(items), JSON.stringify({ pairs: items })]) {
      const { pairs, errors } = await parsePairsJson(text, decodeNode, { imageSize: SIZE });
      expect(pairs).toHaveLength(1);
      expect(pairs[0]).toMatchObject({ caption: 'red vs green', label0: 0, source: 'upload' });
      expectSolid(pairs[0].image0, [255, 0, 0]); // 8x8 scaled up
      expectSolid(pairs[0].image1, [0, 255, 0], 4);
      expect(preferenceOf(pairs[0])?.winner).toBe(pairs[0].image1);
      expect(errors.map((e) => e.line)).toEqual([2, 3, 4, 5, 6]);
      expect(errors[0].reason).toMatch(/image_0 must be a base64 data URL/);
      expect(errors[1].reason).toMatch(/label_0 must be 0, 0\.5 or 1.*got 0\.3/);
      expect(errors[2].reason).toMatch(/image_1 is not a PNG or JPEG image/);
      expect(errors[3].reason).toMatch(/image_0 is not valid base64/);
      expect(errors[4].reason).toMatch(/repeats line 1/);
    }
  });

  it('gives one line-0 error for text that is not JSON or not a list of pairs', async () => {
    expect((await parsePairsJson('{"caption":', decodeNode, { imageSize: SIZE })).errors).toEqual([{ line: 0, reason: expect.stringMatching(/not valid JSON/) }]);
    expect((await parsePairsJson('{"rows": []}', decodeNode, { imageSize: SIZE })).errors).toEqual([{ line: 0, reason: expect.stringMatching(/JSON array of pairs/) }]);
  });
});

describe('writePairsZip', () => {
  it('round-trips captions, labels, sources, ids and pixels through parsePairsZip', async () => {
    const image = (seed: number): ImageRGB => ({ width: SIZE, height: SIZE, data: noise(SIZE * SIZE * 3, seed) });
    const pairs: PairRecord[] = [
      { caption: 'a dog face', image0: image(1), image1: image(2), label0: 1, source: 'seed', id: 'p1' },
      { caption: 'frog face, "quoted"\nand a newline', image0: image(3), image1: image(4), label0: 0, source: 'self' },
      { caption: 'red heart ❤️', image0: image(5), image1: image(6), label0: 0.5, source: 'upload' },
    ];
    const zip = writePairsZip(pairs, encodePng);
    const decode: ImageDecoder = vi.fn(decodeNode);
    const back = await parsePairsZip(zip, decode, { imageSize: SIZE });
    expect(back.errors).toEqual([]);
    expect(back.pairs).toEqual(pairs.map((p, i) => ({ ...p, caption: p.caption.trim(), line: i + 1 })));
    expect(decode).toHaveBeenCalledWith(expect.any(Uint8Array), 'images/000001_0.png');
    expect(sniffImage(encodePng(pairs[0].image0))).toEqual({ format: 'png', width: SIZE, height: SIZE });
  });

  it('writes pairs.jsonl in the upload format', async () => {
    const { unzipSync, strFromU8 } = await import('fflate');
    const one: PairRecord = { caption: 'cat', image0: { width: 1, height: 1, data: Uint8Array.of(1, 2, 3) }, image1: { width: 1, height: 1, data: Uint8Array.of(4, 5, 6) }, label0: 0, source: 'seed' };
    const files = unzipSync(writePairsZip([one], encodePng));
    expect(Object.keys(files)).toEqual(['pairs.jsonl', 'images/000001_0.png', 'images/000001_1.png']);
    expect(JSON.parse(strFromU8(files['pairs.jsonl']))).toEqual({ caption: 'cat', image_0: 'images/000001_0.png', image_1: 'images/000001_1.png', label_0: 0, source: 'seed' });
  });
});

describe('preferenceOf', () => {
  it('returns winner and loser by label_0, null for a tie', () => {
    const a: ImageRGB = { width: 1, height: 1, data: Uint8Array.of(0, 0, 0) };
    const b: ImageRGB = { width: 1, height: 1, data: Uint8Array.of(9, 9, 9) };
    expect(preferenceOf({ image0: a, image1: b, label0: 1 })).toEqual({ winner: a, loser: b });
    expect(preferenceOf({ image0: a, image1: b, label0: 0 })).toEqual({ winner: b, loser: a });
    expect(preferenceOf({ image0: a, image1: b, label0: 0.5 })).toBeNull();
  });
});

describe('parsePairsBytes: which format, and pairs the project already holds', () => {
  const red = pngjsWrite(4, 4, solidRGBA(4, 4, [255, 0, 0, 255]));
  const blue = pngjsWrite(4, 4, solidRGBA(4, 4, [0, 0, 255, 255]));
  const opts = { imageSize: SIZE };
  const jsonl = strToU8(JSON.stringify({ caption: 'red', image_0: 'red.png', image_1: 'blue.png', label_0: 1 }) + '\n');

  it('reads a zip or JSON by its first bytes, whatever the name, and refuses anything else naming the accepted formats', async () => {
    const zip = zipSync({ 'pairs.jsonl': jsonl, 'red.png': red, 'blue.png': blue });
    expect((await parsePairsBytes(zip, 'pairs.bin', decodeNode, opts)).pairs).toHaveLength(1);
    const json = strToU8('  ' + JSON.stringify([{ caption: 'red', image_0: `data:image/png;base64,${Buffer.from(red).toString('base64')}`, image_1: `data:image/png;base64,${Buffer.from(blue).toString('base64')}`, label_0: 0 }]));
    expect((await parsePairsBytes(json, 'pairs.txt', decodeNode, opts)).pairs).toHaveLength(1);
    const refusals = await Promise.all([
      parsePairsBytes(red, 'red.png', decodeNode, opts),
      parsePairsBytes(strToU8('caption,image_0,image_1\nred,a.png,b.png\n'), 'pairs.csv', decodeNode, opts),
      parsePairsBytes(Uint8Array.from([0xff, 0xfe, 0x00, 0xd8, 0x80]), 'pairs.dat', decodeNode, opts),
      parsePairsBytes(strToU8('{"not": "a zip"}'), 'pairs.zip', decodeNode, opts),
    ]);
    for (const r of refusals) {
      expect(r.pairs).toEqual([]);
      expect(r.errors).toHaveLength(1);
      expect(r.errors[0].line).toBe(0);
      expect(r.errors[0].reason).toContain('a .zip with pairs.jsonl and the images it names, or a .json file of pairs');
    }
    expect(refusals[0].errors[0].reason).toMatch(/^red\.png is an image, not a pairs file/);
    expect(refusals[1].errors[0].reason).toMatch(/neither a zip nor JSON \(it starts with "caption,imag"/);
    // A JSON-looking file keeps the JSON parser's own message.
    expect((await parsePairsBytes(strToU8('[{"caption": '), 'x.json', decodeNode, opts)).errors[0].reason).toMatch(/^the file is not valid JSON/);
  });

  it('leaves out uploaded pairs the project holds, in either image order, each on its line', () => {
    const a = Uint8Array.from([1, 2, 3]);
    const b = Uint8Array.from([1, 2, 4]);
    const c = Uint8Array.from([9]);
    expect(pairIdentity('x', a, b)).toBe(pairIdentity(' x ', b, a));
    expect(pairIdentity('x', a, b)).not.toBe(pairIdentity('y', a, b));
    expect(pairIdentity('x', a, b)).not.toBe(pairIdentity('x', a, c));
    const stored = [{ caption: 'x', image0: a, image1: b }];
    const uploaded = [
      { caption: 'x', image0: b, image1: a, line: 3, label0: 0 },
      { caption: 'x', image0: a, image1: c, line: 5, label0: 1 },
      { caption: 'other', image0: a, image1: b, line: 7, label0: 1 },
    ];
    const { pairs, errors } = leaveOutStored(uploaded, stored);
    expect(pairs.map((p) => p.line)).toEqual([5, 7]);
    expect(errors).toEqual([{ line: 3, reason: 'this pair is already in the project (same caption and images); it was left out' }]);
    expect(leaveOutStored(uploaded, []).pairs).toHaveLength(3);
  });
});
