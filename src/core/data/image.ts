// Pixel helpers shared by the browser worker and Node: recognising PNG/JPEG bytes, box-filter
// resizing and compositing on white. No DOM, no TF.js: decoding itself is injected by the caller.

import { crc32 } from './png';

export type ImageFormat = 'png' | 'jpeg';

export interface SniffedImage {
  format: ImageFormat;
  /** From the file header, before decoding; absent when the header could not be read. */
  width?: number;
  height?: number;
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

export function isPng(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && PNG_SIGNATURE.every((b, i) => bytes[i] === b);
}

export function isJpeg(bytes: Uint8Array): boolean {
  return bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
}

const be16 = (b: Uint8Array, i: number) => (b[i] << 8) | b[i + 1];
const be32 = (b: Uint8Array, i: number) => ((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]) >>> 0;

/**
 * Says whether `bytes` is a PNG or JPEG and, where the header allows, its size, so that a
 * small file that would decode to an enormous bitmap can be refused before it is decoded.
 * Returns null for anything else.
 */
export function sniffImage(bytes: Uint8Array): SniffedImage | null {
  if (isPng(bytes)) {
    // The first chunk must be IHDR: length(4) = 13, "IHDR"(4), width(4), height(4), ..., CRC(4).
    // The size is trusted only when the chunk's CRC holds, so a damaged header is reported as
    // damaged by the decoder rather than as an absurd size.
    const ihdr = bytes.length >= 33 && be32(bytes, 8) === 13 && be32(bytes, 12) === 0x49484452 && be32(bytes, 29) === crc32(bytes.subarray(12, 29));
    return ihdr ? { format: 'png', width: be32(bytes, 16), height: be32(bytes, 20) } : { format: 'png' };
  }
  if (isJpeg(bytes)) {
    // Walk the marker segments to the first start-of-frame (SOF0..SOF15 except DHT C4, JPG C8, DAC CC).
    let i = 2;
    while (i + 9 < bytes.length) {
      if (bytes[i] !== 0xff) break;
      const marker = bytes[i + 1];
      if (marker === 0xff) {
        i++; // fill byte
        continue;
      }
      if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
        i += 2; // segments without a length
        continue;
      }
      if (marker === 0xda || marker === 0xd9) break; // scan data or end before any frame header
      if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
        return { format: 'jpeg', height: be16(bytes, i + 5), width: be16(bytes, i + 7) };
      }
      i += 2 + be16(bytes, i + 2);
    }
    return { format: 'jpeg' };
  }
  return null;
}

/**
 * Area-average (box) weights along one axis: output pixel o covers source interval
 * [o * src/dst, (o + 1) * src/dst) and each source pixel it overlaps counts in proportion to
 * the overlap. Computed in units of 1/dst so the overlaps are exact integers: at equal sizes
 * every weight is exactly 1, when upscaling an output pixel inside one source pixel copies it.
 */
function boxWeights(src: number, dst: number): { start: Int32Array; count: Int32Array; weights: Float64Array[] } {
  const start = new Int32Array(dst);
  const count = new Int32Array(dst);
  const weights: Float64Array[] = [];
  for (let o = 0; o < dst; o++) {
    const lo = o * src;
    const hi = (o + 1) * src;
    const first = Math.floor(lo / dst);
    const last = Math.min(src - 1, Math.ceil(hi / dst) - 1);
    const w = new Float64Array(last - first + 1);
    for (let i = first; i <= last; i++) {
      const overlap = Math.min((i + 1) * dst, hi) - Math.max(i * dst, lo);
      w[i - first] = overlap / src;
    }
    start[o] = first;
    count[o] = w.length;
    weights.push(w);
  }
  return { start, count, weights };
}

function checkSize(what: string, width: number, height: number): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new Error(`${what} size must be positive integers, got ${width}x${height}`);
  }
}

/**
 * Resizes RGBA pixels (row-major, 4 bytes per pixel) to dstWidth x dstHeight with an
 * area-average (box) filter, correct for down- and up-scaling alike. Colours are averaged
 * weighted by alpha (premultiplied), so the colour hidden under transparent pixels does not
 * bleed into the edges; compositing the result on white therefore equals resizing the
 * composited image (up to rounding). At equal sizes the output equals the input.
 */
export function resizeRGBA(
  src: Uint8Array | Uint8ClampedArray,
  srcWidth: number,
  srcHeight: number,
  dstWidth: number,
  dstHeight: number,
): Uint8Array {
  checkSize('source', srcWidth, srcHeight);
  checkSize('target', dstWidth, dstHeight);
  if (src.length !== srcWidth * srcHeight * 4) {
    throw new Error(`resizeRGBA: expected ${srcWidth * srcHeight * 4} bytes for ${srcWidth}x${srcHeight} RGBA, got ${src.length}`);
  }
  const wx = boxWeights(srcWidth, dstWidth);
  const wy = boxWeights(srcHeight, dstHeight);

  // Horizontal pass: srcHeight rows of dstWidth premultiplied (r*a, g*a, b*a, a).
  const rows = new Float64Array(srcHeight * dstWidth * 4);
  for (let y = 0; y < srcHeight; y++) {
    const rowIn = y * srcWidth * 4;
    const rowOut = y * dstWidth * 4;
    for (let ox = 0; ox < dstWidth; ox++) {
      const w = wx.weights[ox];
      let r = 0, g = 0, b = 0, a = 0;
      for (let k = 0, p = rowIn + wx.start[ox] * 4; k < wx.count[ox]; k++, p += 4) {
        const wa = w[k] * src[p + 3];
        r += wa * src[p];
        g += wa * src[p + 1];
        b += wa * src[p + 2];
        a += wa;
      }
      const q = rowOut + ox * 4;
      rows[q] = r;
      rows[q + 1] = g;
      rows[q + 2] = b;
      rows[q + 3] = a;
    }
  }

  // Vertical pass, then back from premultiplied.
  const out = new Uint8Array(dstWidth * dstHeight * 4);
  for (let oy = 0; oy < dstHeight; oy++) {
    const w = wy.weights[oy];
    for (let ox = 0; ox < dstWidth; ox++) {
      let r = 0, g = 0, b = 0, a = 0;
      for (let k = 0, p = (wy.start[oy] * dstWidth + ox) * 4; k < wy.count[oy]; k++, p += dstWidth * 4) {
        r += w[k] * rows[p];
        g += w[k] * rows[p + 1];
        b += w[k] * rows[p + 2];
        a += w[k] * rows[p + 3];
      }
      const q = (oy * dstWidth + ox) * 4;
      if (a > 0) {
        out[q] = Math.min(255, Math.round(r / a));
        out[q + 1] = Math.min(255, Math.round(g / a));
        out[q + 2] = Math.min(255, Math.round(b / a));
      }
      out[q + 3] = Math.min(255, Math.round(a));
    }
  }
  return out;
}

/** RGBA (4 bytes per pixel) to RGB (3 bytes per pixel) over a white background: c' = c*a + 255*(1-a). */
export function compositeOnWhite(rgba: Uint8Array | Uint8ClampedArray): Uint8Array {
  if (rgba.length % 4 !== 0) throw new Error(`compositeOnWhite: RGBA length must be a multiple of 4, got ${rgba.length}`);
  const n = rgba.length / 4;
  const rgb = new Uint8Array(n * 3);
  for (let i = 0, p = 0, q = 0; i < n; i++, p += 4, q += 3) {
    const a = rgba[p + 3];
    const white = 255 * (255 - a);
    rgb[q] = Math.round((rgba[p] * a + white) / 255);
    rgb[q + 1] = Math.round((rgba[p + 1] * a + white) / 255);
    rgb[q + 2] = Math.round((rgba[p + 2] * a + white) / 255);
  }
  return rgb;
}
