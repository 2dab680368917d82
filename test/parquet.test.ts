// The Parquet export read back by an independent reader: parquet-wasm (the Rust arrow-rs parquet
// crate compiled to WebAssembly) into Apache Arrow, and the images decoded by pngjs.
import { tableFromIPC } from 'apache-arrow';
import { readParquet } from 'parquet-wasm/node';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import type { ImageRGB, PairLabel, PairRecord } from '../src/core/data/pairs';
import { PICK_A_PIC_COLUMNS, writePairsParquet } from '../src/core/data/parquet';
import { encodePng } from '../src/core/data/png';
import { mulberry32 } from '../src/core/random';

function randomImage(seed: number, size = 32): ImageRGB {
  const rand = mulberry32(seed);
  const data = new Uint8Array(size * size * 3);
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(rand() * 256);
  return { width: size, height: size, data };
}

function rgbOf(png: Uint8Array): ImageRGB {
  const decoded = PNG.sync.read(Buffer.from(png));
  const data = new Uint8Array(decoded.width * decoded.height * 3);
  for (let i = 0, j = 0; i < decoded.data.length; i += 4, j += 3) data.set(decoded.data.subarray(i, i + 3), j);
  return { width: decoded.width, height: decoded.height, data };
}

function readBack(bytes: Uint8Array) {
  const wasmTable = readParquet(bytes);
  return tableFromIPC(wasmTable.intoIPCStream());
}

describe('writePairsParquet (Pick-a-Pic v2 layout)', () => {
  const labels: PairLabel[] = [1, 0, 0.5, 1, 0];
  const pairs: PairRecord[] = labels.map((label0, i) => ({
    caption: i === 4 ? 'a caption with “quotes”, ünïcode and 合' : `prompt ${i}`,
    image0: randomImage(2 * i + 1),
    image1: randomImage(2 * i + 2, i === 3 ? 16 : 32),
    label0,
    source: (['seed', 'upload', 'self'] as const)[i % 3],
  }));

  it('is read by an independent reader with every caption, image and label intact', () => {
    const bytes = writePairsParquet(pairs, encodePng);
    expect(new TextDecoder().decode(bytes.subarray(0, 4))).toBe('PAR1');
    const table = readBack(bytes);
    expect(table.numRows).toBe(pairs.length);
    expect(table.schema.fields.map((f) => f.name)).toEqual([...PICK_A_PIC_COLUMNS]);
    expect(String(table.schema.fields[0].type)).toMatch(/Utf8/);
    expect(String(table.schema.fields[1].type)).toMatch(/Binary/);
    expect(String(table.schema.fields[3].type)).toMatch(/Float64/);
    for (const [i, pair] of pairs.entries()) {
      const row = table.get(i)!.toJSON() as Record<string, unknown>;
      expect(row.caption).toBe(pair.caption);
      expect(row.label_0).toBe(pair.label0);
      expect(row.label_1).toBe(1 - pair.label0);
      expect(row.source).toBe(pair.source);
      expect(rgbOf(row.jpg_0 as Uint8Array)).toEqual(pair.image0);
      expect(rgbOf(row.jpg_1 as Uint8Array)).toEqual(pair.image1);
    }
  });

  it('refuses to write no pairs, and a damaged file does not read', () => {
    expect(() => writePairsParquet([], encodePng)).toThrow(/no pairs/);
    // The reader is not one that accepts anything: a cut-off file fails.
    const bytes = writePairsParquet(pairs.slice(0, 2), encodePng);
    expect(() => readParquet(bytes.slice(0, bytes.length - 12))).toThrow();
  });
});
