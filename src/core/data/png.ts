// PNG encoding (8-bit RGB or RGBA) for the browser worker and Node alike, by fast-png: a
// maintained pure-JS codec (image-js) that runs in a worker without a canvas and in Node without
// native zlib, so both write the same bytes (pngjs needs Node's zlib and streams). Decoding is
// injected elsewhere (see pairs.ts). The CRC-32 below is PNG's and zip's checksum, which the
// project file and the upload checks use on their own.

import { encode } from 'fast-png';

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (ISO 3309, as PNG and zip use it). */
export function crc32(bytes: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/**
 * Encodes row-major 8-bit pixels as a PNG. RGB or RGBA is told by the data's length
 * (width*height*3 or width*height*4). The output depends only on the pixels: no timestamps.
 */
export function encodePng(image: { width: number; height: number; data: Uint8Array | Uint8ClampedArray }): Uint8Array {
  const { width, height, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 || width > 0x7fffffff || height > 0x7fffffff) {
    throw new Error(`encodePng: width and height must be positive integers, got ${width}x${height}`);
  }
  const pixels = width * height;
  const bpp = data.length === pixels * 3 ? 3 : data.length === pixels * 4 ? 4 : 0;
  if (bpp === 0) {
    throw new Error(`encodePng: ${width}x${height} needs ${pixels * 3} bytes (RGB) or ${pixels * 4} (RGBA), got ${data.length}`);
  }
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data.buffer, data.byteOffset, data.length);

  // No text or time chunks: the output depends only on the pixels.
  return encode({ width, height, data: bytes, channels: bpp, depth: 8 }, { zlib: { level: 9 } });
}
