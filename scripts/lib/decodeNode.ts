// The Node ImageDecoder for src/core/data/pairs.ts: pngjs for PNG, jpeg-js for JPEG, chosen by
// the file's magic bytes (the browser uses createImageBitmap + OffscreenCanvas instead).

import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { isJpeg, isPng } from '../../src/core/data/image';
import type { ImageDecoder } from '../../src/core/data/pairs';

/** Decodes a PNG or JPEG to 8-bit RGBA; throws "not a PNG or JPEG image" for anything else. */
export const decodeNode: ImageDecoder = async (bytes) => {
  if (isPng(bytes)) {
    // pngjs expands every colour type and bit depth to 8-bit RGBA.
    const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
    return { width: png.width, height: png.height, data: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.length) };
  }
  if (isJpeg(bytes)) {
    const image = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: 100, maxMemoryUsageInMB: 1024 });
    return { width: image.width, height: image.height, data: image.data };
  }
  throw new Error('not a PNG or JPEG image');
};
