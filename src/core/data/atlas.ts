// Cutting training images out of the emoji atlas (public/data/emoji-32.png), without TF.js, so
// that Node (pngjs) and the browser (canvas getImageData) share it and the caller decides when
// the pixels become a tensor.

import { EMOJI_SIZE, atlasCell } from './emoji';

/**
 * Returns the images `ids` as one Float32Array shaped [ids.length, 32, 32, 3] (NHWC, RGB),
 * scaled from 0..255 to [-1, 1]. `pixels` is the decoded atlas, row-major, `width` pixels per
 * row, `channels` bytes per pixel (4 for RGBA as pngjs and canvas decode it, 3 for RGB); any
 * alpha is ignored because the atlas is already composited on white.
 */
export function cutAtlas(
  pixels: Uint8Array | Uint8ClampedArray,
  width: number,
  channels: number,
  columns: number,
  ids: readonly number[],
): Float32Array {
  if (channels !== 3 && channels !== 4) throw new Error(`cutAtlas takes 3 or 4 channels, got ${channels}`);
  if (columns * EMOJI_SIZE > width) throw new Error(`atlas of width ${width} cannot hold ${columns} columns`);
  const height = Math.floor(pixels.length / (width * channels));
  const cellValues = EMOJI_SIZE * EMOJI_SIZE * 3;
  const out = new Float32Array(ids.length * cellValues);
  ids.forEach((id, n) => {
    const { x, y } = atlasCell(id, columns);
    if (!Number.isInteger(id) || id < 0 || y + EMOJI_SIZE > height) {
      throw new Error(`emoji id ${id} is outside the atlas (${width}x${height}, ${columns} columns)`);
    }
    let o = n * cellValues;
    for (let row = 0; row < EMOJI_SIZE; row++) {
      let p = ((y + row) * width + x) * channels;
      for (let col = 0; col < EMOJI_SIZE; col++, p += channels) {
        out[o++] = pixels[p] / 127.5 - 1;
        out[o++] = pixels[p + 1] / 127.5 - 1;
        out[o++] = pixels[p + 2] / 127.5 - 1;
      }
    }
  });
  return out;
}
