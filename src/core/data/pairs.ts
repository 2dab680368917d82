// Preference pairs: the record the trainer reads, the upload formats (a zip with pairs.jsonl and
// images, or one JSON file with data URLs) and the export in the same zip format, so that pairs
// made here can train a large model with an existing Diffusion-DPO trainer (architecture.md section 6).
// No TF.js and no DOM: image decoding is injected (browser: createImageBitmap + OffscreenCanvas;
// Node: scripts/lib/decodeNode.ts).

import { strToU8, unzipSync, zipSync, type Zippable } from 'fflate';
import { compositeOnWhite, resizeRGBA, sniffImage } from './image';
import { crc32 } from './png';

/** An image as the model sees it: RGB, row-major, 3 bytes per pixel, already composited on white. */
export interface ImageRGB {
  width: number;
  height: number;
  /** RGB, width*height*3 bytes. */
  data: Uint8Array;
}

/** Pick-a-Pic convention: 1 = image_0 preferred, 0 = image_1 preferred, 0.5 = a tie. */
export type PairLabel = 0 | 0.5 | 1;

/** seed: judged by the person in the studio; self: labelled by the model (SAIL); upload: from a file. */
export type PairSource = 'seed' | 'self' | 'upload';

export interface PairRecord {
  caption: string;
  image0: ImageRGB;
  image1: ImageRGB;
  label0: PairLabel;
  source: PairSource;
  id?: string;
  /** Where a parsed pair came from in its file (line of pairs.jsonl, or index in the JSON array). */
  line?: number;
}

export interface PairLineError {
  /** 1-based line in pairs.jsonl (1-based index in the array for the JSON variant); 0 = the file itself. */
  line: number;
  /** A sentence a user can act on. */
  reason: string;
}

export interface ParsedPairs {
  pairs: PairRecord[];
  /** Sorted by line; at most one per line. */
  errors: PairLineError[];
}

/** Decodes a PNG or JPEG to RGBA (width*height*4 bytes); throws when it cannot. */
export type ImageDecoder = (bytes: Uint8Array, name: string) => Promise<{ width: number; height: number; data: Uint8Array }>;

export interface PairsParseOptions {
  /** Side of the square images the model takes (32). */
  imageSize: number;
  /** Larger files are refused before they are read (default 64 MiB). */
  maxFileBytes?: number;
  /** Lines beyond this many pairs are not read (default 5000). */
  maxPairs?: number;
  /** Per image file (default 8 MiB). */
  maxImageBytes?: number;
  /** Zip-bomb guard: the declared uncompressed size of all entries together (default 128 MiB). */
  maxTotalUncompressed?: number;
  /** pairs.jsonl unpacked (default 16 MiB: 5000 lines of a few hundred bytes fit many times over). */
  maxJsonlBytes?: number;
  /** Width x height from the image header, checked before decoding (default 40 megapixels). */
  maxImagePixels?: number;
  /** Called after each distinct image is decoded (or fails). */
  onProgress?: (done: number, total: number) => void;
}

const MiB = 1024 * 1024;

export const PAIRS_LIMITS = {
  maxFileBytes: 64 * MiB,
  maxPairs: 5000,
  maxImageBytes: 8 * MiB,
  // An upload is at most 64 MiB packed; PNGs barely compress, so 2x that unpacked is generous, and
  // pairs.jsonl (text) alone may not unpack past 16 MiB: no one entry can balloon the tab.
  maxTotalUncompressed: 128 * MiB,
  maxJsonlBytes: 16 * MiB,
  maxImagePixels: 40_000_000,
  /** Code points. */
  maxCaptionLength: 300,
} as const;

/** Images unzipped together at most, so memory stays bounded when the zip holds thousands. */
const UNZIP_BATCH_BYTES = 64 * MiB;

const LABELS: readonly number[] = [0, 0.5, 1];
const SOURCES: readonly string[] = ['seed', 'self', 'upload'];

type ImageField = 'image_0' | 'image_1';

/** Winner and loser of a pair, or null for a tie (ties carry no preference; DPO skips them). */
export function preferenceOf(pair: Pick<PairRecord, 'image0' | 'image1' | 'label0'>): { winner: ImageRGB; loser: ImageRGB } | null {
  if (pair.label0 === 1) return { winner: pair.image0, loser: pair.image1 };
  if (pair.label0 === 0) return { winner: pair.image1, loser: pair.image0 };
  return null;
}

function formatBytes(n: number): string {
  if (n >= MiB) return `${+(n / MiB).toFixed(1)} MiB`;
  if (n >= 1024) return `${+(n / 1024).toFixed(1)} KiB`;
  return `${n} bytes`;
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function fileError(reason: string): ParsedPairs {
  return { pairs: [], errors: [{ line: 0, reason }] };
}

// ---------------------------------------------------------------------------------------------
// One line (zip) or one array item (JSON), checked field by field, before any image is touched.

interface PairFields {
  caption: string;
  image_0: string;
  image_1: string;
  label0: PairLabel;
  source: PairSource;
  id?: string;
}

/** The fields of one record, or every problem with them. */
function checkFields(value: unknown): PairFields | string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return ['must be a JSON object with caption, image_0, image_1 and label_0'];
  }
  const v = value as Record<string, unknown>;
  const problems: string[] = [];

  let caption = '';
  if (!('caption' in v)) problems.push('caption is missing');
  else if (typeof v.caption !== 'string') problems.push('caption must be a string');
  else {
    caption = v.caption.trim();
    const length = [...caption].length;
    if (length === 0) problems.push('caption is empty');
    else if (length > PAIRS_LIMITS.maxCaptionLength) problems.push(`caption is ${length} characters long; the limit is ${PAIRS_LIMITS.maxCaptionLength}`);
  }

  for (const field of ['image_0', 'image_1'] as const) {
    if (!(field in v)) problems.push(`${field} is missing`);
    else if (typeof v[field] !== 'string' || v[field] === '') problems.push(`${field} must be a non-empty string naming an image`);
  }

  if (!('label_0' in v)) problems.push('label_0 is missing');
  else if (typeof v.label_0 !== 'number' || !LABELS.includes(v.label_0)) {
    problems.push(`label_0 must be 0, 0.5 or 1 (1: image_0 preferred, 0: image_1 preferred, 0.5: tie), got ${JSON.stringify(v.label_0)}`);
  }

  if (problems.length > 0) return problems;
  return {
    caption,
    image_0: v.image_0 as string,
    image_1: v.image_1 as string,
    label0: v.label_0 as PairLabel,
    source: typeof v.source === 'string' && SOURCES.includes(v.source) ? (v.source as PairSource) : 'upload',
    id: typeof v.id === 'string' ? v.id : undefined,
  };
}

// ---------------------------------------------------------------------------------------------
// Shared by both formats: fields, duplicates, the pair limit, then each distinct image decoded once.

type Resolved = { key: string } | { reason: string };

interface ImageStore {
  /** The key that identifies the image a field names, or why it cannot be used. */
  resolve(value: string): Resolved;
  /** How a message names the image: `image_0 "images/a.png"` for a zip, `image_0` for a data URL. */
  describe(field: ImageField, value: string): string;
  /** Name handed to the decoder. */
  nameOf(key: string): string;
  /** Calls `each` with the bytes of every key, or the reason they could not be read. */
  load(keys: string[], each: (key: string, bytes: Uint8Array | string) => Promise<void>): Promise<void>;
}

interface RawLine {
  line: number;
  value?: unknown;
  /** Set when the line could not even be parsed. */
  error?: string;
}

interface Candidate {
  line: number;
  fields: PairFields;
  key0: string;
  key1: string;
}

async function collectPairs(lines: RawLine[], store: ImageStore, decode: ImageDecoder, opts: PairsParseOptions): Promise<ParsedPairs> {
  if (!Number.isInteger(opts.imageSize) || opts.imageSize < 1) throw new Error(`imageSize must be a positive integer, got ${opts.imageSize}`);
  const maxPairs = opts.maxPairs ?? PAIRS_LIMITS.maxPairs;
  const errors: PairLineError[] = [];
  const candidates: Candidate[] = [];
  // caption + both images (in either order) -> the first line and the image it prefers.
  const seen = new Map<string, { line: number; winner: string }>();

  for (const raw of lines) {
    if (candidates.length >= maxPairs) {
      errors.push({ line: raw.line, reason: `only the first ${maxPairs} pairs are read; this line and the ones after it were skipped (split the file into smaller uploads)` });
      break;
    }
    if (raw.error !== undefined) {
      errors.push({ line: raw.line, reason: raw.error });
      continue;
    }
    const fields = checkFields(raw.value);
    if (Array.isArray(fields)) {
      errors.push({ line: raw.line, reason: fields.join('; ') });
      continue;
    }
    const problems: string[] = [];
    const keys: string[] = [];
    for (const field of ['image_0', 'image_1'] as const) {
      const resolved = store.resolve(fields[field]);
      if ('reason' in resolved) problems.push(`${store.describe(field, fields[field])} ${resolved.reason}`);
      else keys.push(resolved.key);
    }
    if (problems.length > 0) {
      errors.push({ line: raw.line, reason: problems.join('; ') });
      continue;
    }
    const [key0, key1] = keys;
    if (key0 === key1) {
      errors.push({ line: raw.line, reason: 'image_0 and image_1 are the same image; a pair needs two different images' });
      continue;
    }
    const identity = JSON.stringify([fields.caption, key0 < key1 ? key0 : key1, key0 < key1 ? key1 : key0]);
    const winner = fields.label0 === 1 ? key0 : fields.label0 === 0 ? key1 : '';
    const earlier = seen.get(identity);
    if (earlier) {
      errors.push({
        line: raw.line,
        reason: earlier.winner === winner
          ? `repeats line ${earlier.line} (same caption and images); remove one of them`
          : `contradicts line ${earlier.line} (same caption and images, different preference); keep the one you mean`,
      });
      continue;
    }
    seen.set(identity, { line: raw.line, winner });
    candidates.push({ line: raw.line, fields, key0, key1 });
  }

  // Each distinct image once, however many lines name it.
  const keys = [...new Set(candidates.flatMap((c) => [c.key0, c.key1]))];
  const images = new Map<string, ImageRGB | string>();
  let done = 0;
  await store.load(keys, async (key, bytes) => {
    images.set(key, typeof bytes === 'string' ? bytes : await toModelImage(bytes, store.nameOf(key), decode, opts));
    opts.onProgress?.(++done, keys.length);
  });

  const pairs: PairRecord[] = [];
  for (const { line, fields, key0, key1 } of candidates) {
    const image0 = images.get(key0) ?? 'could not be read';
    const image1 = images.get(key1) ?? 'could not be read';
    if (typeof image0 === 'string' || typeof image1 === 'string') {
      const problems: string[] = [];
      if (typeof image0 === 'string') problems.push(`${store.describe('image_0', fields.image_0)} ${image0}`);
      if (typeof image1 === 'string') problems.push(`${store.describe('image_1', fields.image_1)} ${image1}`);
      errors.push({ line, reason: problems.join('; ') });
      continue;
    }
    const pair: PairRecord = { caption: fields.caption, image0, image1, label0: fields.label0, source: fields.source, line };
    if (fields.id !== undefined) pair.id = fields.id;
    pairs.push(pair);
  }
  errors.sort((a, b) => a.line - b.line);
  return { pairs, errors };
}

/** Decoded, resized to imageSize x imageSize and composited on white; or why not (a phrase following the image's name). */
async function toModelImage(bytes: Uint8Array, name: string, decode: ImageDecoder, opts: PairsParseOptions): Promise<ImageRGB | string> {
  const maxPixels = opts.maxImagePixels ?? PAIRS_LIMITS.maxImagePixels;
  const sniffed = sniffImage(bytes);
  if (!sniffed) return 'is not a PNG or JPEG image';
  if (sniffed.width !== undefined && sniffed.height !== undefined && sniffed.width * sniffed.height > maxPixels) {
    return `is ${sniffed.width}x${sniffed.height} pixels; an image may have at most ${+(maxPixels / 1e6).toFixed(1)} megapixels`;
  }
  let decoded: { width: number; height: number; data: Uint8Array };
  try {
    decoded = await decode(bytes, name);
  } catch (e) {
    return `could not be decoded (${messageOf(e)}); re-save it as PNG or JPEG`;
  }
  const { width, height, data } = decoded;
  if (!(width >= 1 && height >= 1) || !data || data.length !== width * height * 4) {
    return `could not be decoded (the decoder gave ${data?.length ?? 0} bytes for ${width}x${height} RGBA)`;
  }
  const rgb = compositeOnWhite(resizeRGBA(data, width, height, opts.imageSize, opts.imageSize));
  return { width: opts.imageSize, height: opts.imageSize, data: rgb };
}

// ---------------------------------------------------------------------------------------------
// The zip: pairs.jsonl (at the top or in one top folder) plus the images it names.

interface ZipEntry {
  /** Compressed size. */
  size: number;
  /** Uncompressed size as the zip's directory declares it. */
  originalSize: number;
  /** 0 stored, 8 deflate; fflate reads no other. */
  compression: number;
}

/**
 * Every entry's CRC-32 as the zip's central directory records it, by name (names decoded as fflate
 * decodes them). fflate inflates an entry into a buffer of its declared size and silently drops
 * the rest, so an entry whose header understates its size comes out truncated; its CRC then
 * does not match, which is how such a zip is reported. Empty when the directory cannot be walked
 * (zip64): the check is then skipped.
 */
function centralCrcs(zip: Uint8Array): Map<string, number> {
  const out = new Map<string, number>();
  const dv = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  let eocd = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 0xffff); i--) {
    if (dv.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) return out;
  const count = dv.getUint16(eocd + 10, true);
  let at = dv.getUint32(eocd + 16, true);
  if (count === 0xffff || at === 0xffffffff) return out;
  const utf8 = new TextDecoder('utf-8');
  for (let n = 0; n < count && at + 46 <= zip.length; n++) {
    if (dv.getUint32(at, true) !== 0x02014b50) return new Map();
    const flags = dv.getUint16(at + 8, true);
    const crc = dv.getUint32(at + 16, true);
    const nameLength = dv.getUint16(at + 28, true);
    const extraLength = dv.getUint16(at + 30, true);
    const commentLength = dv.getUint16(at + 32, true);
    const raw = zip.subarray(at + 46, at + 46 + nameLength);
    const name = flags & 0x800 ? utf8.decode(raw) : Array.from(raw, (b) => String.fromCharCode(b)).join('');
    out.set(name, crc);
    at += 46 + nameLength + extraLength + commentLength;
  }
  return out;
}

const UNDERSTATED = 'does not match its checksum: the zip is damaged, or its header understates the size (it would unpack past what it declares)';

/** Resolves `.` and `..`, turns backslashes into slashes, drops a leading slash; null if it climbs out. */
function normalizePath(path: string): string | null {
  const parts: string[] = [];
  for (const segment of path.replace(/\\/g, '/').split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      if (parts.length === 0) return null;
      parts.pop();
    } else parts.push(segment);
  }
  return parts.join('/');
}

function unzipOnly(zipBytes: Uint8Array, names: ReadonlySet<string>): Record<string, Uint8Array> {
  // fflate inflates each selected entry into a buffer of its declared size, so memory is bounded
  // by the sizes already checked even if the directory lies.
  return unzipSync(zipBytes, { filter: (file) => names.has(file.name) });
}

/**
 * Reads a pairs zip. A bad line is reported with its line number and kept out; good lines
 * become pairs with images resized to opts.imageSize. A file that cannot be read at all gives
 * one error at line 0 and no pairs. Sizes are checked from the zip's directory before anything
 * is inflated.
 */
export async function parsePairsZip(zipBytes: Uint8Array, decode: ImageDecoder, opts: PairsParseOptions): Promise<ParsedPairs> {
  const maxFileBytes = opts.maxFileBytes ?? PAIRS_LIMITS.maxFileBytes;
  const maxTotal = opts.maxTotalUncompressed ?? PAIRS_LIMITS.maxTotalUncompressed;
  const maxImageBytes = opts.maxImageBytes ?? PAIRS_LIMITS.maxImageBytes;
  if (zipBytes.length > maxFileBytes) {
    return fileError(`the file is ${formatBytes(zipBytes.length)}; the limit is ${formatBytes(maxFileBytes)} (split it into smaller zips)`);
  }

  // The directory only: the filter sees every entry's declared sizes and selects none.
  const entries = new Map<string, ZipEntry>();
  try {
    unzipSync(zipBytes, {
      filter: (file) => {
        if (!file.name.endsWith('/')) entries.set(file.name, { size: file.size, originalSize: file.originalSize, compression: file.compression });
        return false;
      },
    });
  } catch (e) {
    return fileError(`this is not a zip file, or it is damaged (${messageOf(e)})`);
  }
  let total = 0;
  for (const entry of entries.values()) total += entry.originalSize;
  if (total > maxTotal) {
    return fileError(`the zip would unpack to ${formatBytes(total)}; the limit is ${formatBytes(maxTotal)} (split it into smaller zips)`);
  }

  const jsonlNames = [...entries.keys()].filter((name) => /^(?:[^/]+\/)?pairs\.jsonl$/.test(name) && !name.startsWith('__MACOSX/'));
  const jsonlName = jsonlNames.includes('pairs.jsonl') ? 'pairs.jsonl' : jsonlNames.length === 1 ? jsonlNames[0] : undefined;
  if (jsonlName === undefined) {
    return fileError(
      jsonlNames.length === 0
        ? 'the zip has no pairs.jsonl; put it at the top of the zip or in one top folder'
        : `the zip has several pairs.jsonl (${jsonlNames.join(', ')}); upload one set at a time`,
    );
  }
  const jsonlEntry = entries.get(jsonlName)!;
  const maxJsonl = opts.maxJsonlBytes ?? PAIRS_LIMITS.maxJsonlBytes;
  if (jsonlEntry.originalSize > maxJsonl) {
    return fileError(`pairs.jsonl would unpack to ${formatBytes(jsonlEntry.originalSize)}; the limit is ${formatBytes(maxJsonl)} (split the pairs into smaller zips)`);
  }
  const crcs = centralCrcs(zipBytes);
  const intact = (name: string, bytes: Uint8Array) => !crcs.has(name) || crc32(bytes) === crcs.get(name);
  if (jsonlEntry.compression !== 0 && jsonlEntry.compression !== 8) {
    return fileError(`pairs.jsonl is compressed with a method this app cannot read (zip method ${jsonlEntry.compression}); re-create the zip with standard (deflate) compression`);
  }
  let text: string;
  try {
    const bytes = unzipOnly(zipBytes, new Set([jsonlName]))[jsonlName];
    if (!intact(jsonlName, bytes)) return fileError(`pairs.jsonl ${UNDERSTATED}`);
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (e) {
    return fileError(`pairs.jsonl could not be read as UTF-8 text (${messageOf(e)})`);
  }

  const lines: RawLine[] = [];
  text.replace(/^\uFEFF/, '').split('\n').forEach((content, i) => {
    const trimmed = content.trim();
    if (trimmed === '') return;
    try {
      lines.push({ line: i + 1, value: JSON.parse(trimmed) });
    } catch (e) {
      lines.push({ line: i + 1, error: `is not valid JSON (${messageOf(e)}); each line must be one JSON object` });
    }
  });
  if (lines.length === 0) return fileError('pairs.jsonl is empty');

  // Image paths are relative to the folder holding pairs.jsonl; paths from the zip's top work too.
  const folder = jsonlName.slice(0, jsonlName.length - 'pairs.jsonl'.length);
  const store: ImageStore = {
    resolve(value) {
      const path = normalizePath(value);
      if (path === null) return { reason: 'points outside the zip' };
      const name = [folder + path, path].find((n) => entries.has(n));
      if (name === undefined) return { reason: 'is not in the zip' };
      const entry = entries.get(name)!;
      if (entry.originalSize > maxImageBytes) {
        return { reason: `is ${formatBytes(entry.originalSize)}; an image may be at most ${formatBytes(maxImageBytes)}` };
      }
      if (entry.compression !== 0 && entry.compression !== 8) {
        return { reason: `is compressed with a method this app cannot read (zip method ${entry.compression}); re-create the zip with standard (deflate) compression` };
      }
      return { key: name };
    },
    describe: (field, value) => `${field} ${JSON.stringify(value)}`,
    nameOf: (key) => key,
    async load(keys, each) {
      // In batches of bounded uncompressed size; one pass over the directory per batch.
      let start = 0;
      while (start < keys.length) {
        let end = start;
        let bytes = 0;
        while (end < keys.length && (end === start || bytes + entries.get(keys[end])!.originalSize <= UNZIP_BATCH_BYTES)) {
          bytes += entries.get(keys[end++])!.originalSize;
        }
        const batch = keys.slice(start, end);
        let files: Record<string, Uint8Array> | undefined;
        try {
          files = unzipOnly(zipBytes, new Set(batch));
        } catch {
          files = undefined; // one damaged entry: read the batch one by one to find it
        }
        for (const key of batch) {
          let data: Uint8Array | string;
          try {
            data = files ? files[key] : unzipOnly(zipBytes, new Set([key]))[key];
            if (data === undefined) data = 'could not be unzipped';
            else if (!intact(key, data)) data = UNDERSTATED;
          } catch (e) {
            data = `could not be unzipped; the zip is damaged (${messageOf(e)})`;
          }
          await each(key, data);
        }
        start = end;
      }
    },
  };
  return collectPairs(lines, store, decode, opts);
}

// ---------------------------------------------------------------------------------------------
// The JSON variant: an array (or {"pairs": [...]}) of the same objects, images as data URLs.

const DATA_URL = /^data:([^,;]*)((?:;[^,;]*)*),/i;

function base64ToBytes(b64: string): Uint8Array {
  const binary = atob(b64);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

/** Reads the JSON variant of a pairs file. Errors as parsePairsZip, `line` being the 1-based index in the array. */
export async function parsePairsJson(text: string, decode: ImageDecoder, opts: PairsParseOptions): Promise<ParsedPairs> {
  const maxFileBytes = opts.maxFileBytes ?? PAIRS_LIMITS.maxFileBytes;
  const maxImageBytes = opts.maxImageBytes ?? PAIRS_LIMITS.maxImageBytes;
  // Characters, not bytes: close enough for a guard (data URLs are ASCII).
  if (text.length > maxFileBytes) {
    return fileError(`the file is ${formatBytes(text.length)}; the limit is ${formatBytes(maxFileBytes)} (split it into smaller files)`);
  }
  let root: unknown;
  try {
    root = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (e) {
    return fileError(`the file is not valid JSON (${messageOf(e)})`);
  }
  const items = Array.isArray(root) ? root : typeof root === 'object' && root !== null && Array.isArray((root as { pairs?: unknown }).pairs) ? (root as { pairs: unknown[] }).pairs : undefined;
  if (items === undefined) return fileError('the file must hold a JSON array of pairs, or an object {"pairs": [...]}');
  if (items.length === 0) return fileError('the file holds no pairs');

  const store: ImageStore = {
    resolve(value) {
      const match = DATA_URL.exec(value);
      if (!match || !match[2].toLowerCase().split(';').includes('base64')) {
        return { reason: 'must be a base64 data URL (data:image/png;base64,...); to name image files, upload a zip with pairs.jsonl instead' };
      }
      const payload = value.length - match[0].length;
      if (payload * 0.75 > maxImageBytes) {
        return { reason: `is about ${formatBytes(Math.floor(payload * 0.75))}; an image may be at most ${formatBytes(maxImageBytes)}` };
      }
      return { key: value };
    },
    describe: (field) => field,
    nameOf: (key) => (/^data:image\/jpe?g/i.test(key) ? 'image.jpg' : 'image.png'),
    async load(keys, each) {
      for (const key of keys) {
        let bytes: Uint8Array | string;
        try {
          bytes = base64ToBytes(key.slice(key.indexOf(',') + 1));
        } catch {
          bytes = 'is not valid base64';
        }
        await each(key, bytes);
      }
    },
  };
  return collectPairs(items.map((value, i) => ({ line: i + 1, value })), store, decode, opts);
}

// ---------------------------------------------------------------------------------------------
// Export.

/**
 * Writes pairs in the upload format: pairs.jsonl (caption, image_0, image_1, label_0, source,
 * and id where set) plus images/000001_0.png, images/000001_1.png, ... Reads back with
 * parsePairsZip. PNGs are stored, not deflated again.
 */
export function writePairsZip(pairs: PairRecord[], encodePng: (image: ImageRGB) => Uint8Array): Uint8Array {
  const images: Zippable = {};
  const lines = pairs.map((pair, i) => {
    const stem = `images/${String(i + 1).padStart(6, '0')}`;
    const image_0 = `${stem}_0.png`;
    const image_1 = `${stem}_1.png`;
    images[image_0] = [encodePng(pair.image0), { level: 0 }];
    images[image_1] = [encodePng(pair.image1), { level: 0 }];
    const line: Record<string, unknown> = { caption: pair.caption, image_0, image_1, label_0: pair.label0, source: pair.source };
    if (pair.id !== undefined) line.id = pair.id;
    return JSON.stringify(line);
  });
  const files: Zippable = { 'pairs.jsonl': [strToU8(lines.map((l) => l + '\n').join('')), { level: 6 }], ...images };
  return zipSync(files);
}

// ---------------------------------------------------------------------------------------------
// Which format a file is, and pairs the project already holds.

export const ACCEPTED_FORMATS = 'a .zip with pairs.jsonl and the images it names, or a .json file of pairs with the images as data URLs';

/**
 * Reads an uploaded file of either format, told apart by its first bytes: a zip starts with "PK",
 * JSON with "[" or "{" (after white space). Anything else is refused with the accepted formats.
 */
export async function parsePairsBytes(bytes: Uint8Array, fileName: string, decode: ImageDecoder, opts: PairsParseOptions): Promise<ParsedPairs> {
  if (bytes.length >= 2 && bytes[0] === 0x50 && bytes[1] === 0x4b) return parsePairsZip(bytes, decode, opts);
  const sniffed = sniffImage(bytes);
  if (sniffed) return fileError(`${fileName} is an image, not a pairs file; upload ${ACCEPTED_FORMATS}`);
  if (/\.zip$/i.test(fileName)) return fileError(`this is not a zip file, or it is damaged (it does not start like one); upload ${ACCEPTED_FORMATS}`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return fileError(`the file is neither a zip nor JSON text; upload ${ACCEPTED_FORMATS}`);
  }
  const first = text.replace(/^\uFEFF/, '').trimStart()[0];
  if (first !== '[' && first !== '{') return fileError(`the file is neither a zip nor JSON (it starts with ${JSON.stringify(text.trimStart().slice(0, 12))}); upload ${ACCEPTED_FORMATS}`);
  return parsePairsJson(text, decode, opts);
}

/** FNV-1a, 2 x 32 bits with different offsets: a cheap content key, not a cryptographic one. */
function contentKey(bytes: Uint8Array): string {
  let a = 0x811c9dc5;
  let b = 0x050c5d1f;
  for (let i = 0; i < bytes.length; i++) {
    a = Math.imul(a ^ bytes[i], 0x01000193);
    b = Math.imul(b ^ bytes[i], 0x01000193);
  }
  return `${bytes.length}:${(a >>> 0).toString(16)}:${(b >>> 0).toString(16)}`;
}

/**
 * Identity of a stored pair: caption and both images' bytes (PNG, as the studio stores them), in
 * either order, so the same pair uploaded twice, or with its images swapped, is one pair.
 */
export function pairIdentity(caption: string, image0: Uint8Array, image1: Uint8Array): string {
  const k0 = contentKey(image0);
  const k1 = contentKey(image1);
  return JSON.stringify([caption.trim(), k0 < k1 ? k0 : k1, k0 < k1 ? k1 : k0]);
}

/**
 * Leaves out the uploaded pairs the project already holds (same caption and images): they are
 * returned as errors on their line, so an upload of the same file twice adds nothing the second time.
 */
export function leaveOutStored<P extends { caption: string; image0: Uint8Array; image1: Uint8Array; line?: number }>(
  uploaded: readonly P[],
  stored: readonly { caption: string; image0: Uint8Array; image1: Uint8Array }[],
): { pairs: P[]; errors: PairLineError[] } {
  const have = new Set(stored.map((p) => pairIdentity(p.caption, p.image0, p.image1)));
  const pairs: P[] = [];
  const errors: PairLineError[] = [];
  for (const p of uploaded) {
    if (have.has(pairIdentity(p.caption, p.image0, p.image1))) errors.push({ line: p.line ?? 0, reason: 'this pair is already in the project (same caption and images); it was left out' });
    else pairs.push(p);
  }
  return { pairs, errors };
}
