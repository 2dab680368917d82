// Training-time variations of an emoji that keep what it is: a little smaller or larger, off
// centre, brighter or darker, more or less contrast and saturation, warmer or cooler. Each emoji is
// one image, so a base trained on the images alone draws every prompt nearly the same way (the
// within-prompt diversity fell from 0.250 to 0.169 as the model fitted them better), and a user
// comparing two candidates of a prompt has little to choose between. Pretraining on these variants
// gives each prompt a spread of renderings along the axes people state tastes in.
//
// Images are [size*size*3] in [-1, 1] on a white background (the atlas is composited on white).
// The colour changes apply to the emoji only: the background is the near-white region connected to
// the border (white parts inside an emoji, such as eyes or a ghost, are not connected and keep
// their colour change).
import { hashSeed, mulberry32 } from '../random';

export interface Augmentation {
  /** Scale about the centre (1 = as is). */
  scale: number;
  /** Shift in pixels, x right and y down. */
  dx: number;
  dy: number;
  /** Added to the emoji's pixels (images in [-1, 1]). */
  brightness: number;
  /** Multiplies the emoji's pixels' distance from their mean. */
  contrast: number;
  /** Multiplies each pixel's distance from its grey (0: grey, 1: as is). */
  saturation: number;
  /** Added to red and taken from blue. */
  warmth: number;
}

export const IDENTITY_AUGMENTATION: Augmentation = { scale: 1, dx: 0, dy: 0, brightness: 0, contrast: 1, saturation: 1, warmth: 0 };

/** Ranges of the random variations: each is drawn uniformly in [-r, r] around the identity. */
export interface AugmentRanges {
  scale: number;
  shift: number;
  brightness: number;
  contrast: number;
  saturation: number;
  warmth: number;
}

/** Mild enough that a variant is the same emoji (no hue rotation: "red heart" and "blue heart" are different emoji). */
export const DEFAULT_AUGMENT_RANGES: AugmentRanges = { scale: 0.12, shift: 2, brightness: 0.12, contrast: 0.2, saturation: 0.3, warmth: 0.12 };

/** The variation of draw `variant` of image `index` for a seed: a pure function of the three. */
export function drawAugmentation(seed: number, index: number, variant: number, r: AugmentRanges = DEFAULT_AUGMENT_RANGES): Augmentation {
  const rand = mulberry32(hashSeed(seed, 7919, index, variant));
  const u = () => 2 * rand() - 1;
  return {
    scale: 1 + r.scale * u(),
    dx: r.shift * u(),
    dy: r.shift * u(),
    brightness: r.brightness * u(),
    contrast: 1 + r.contrast * u(),
    saturation: 1 + r.saturation * u(),
    warmth: r.warmth * u(),
  };
}

const WHITE = 1 - 6 / 127.5; // a channel at 249 or above counts as white

/** 1 where a pixel is background: near-white and connected to the border (4-neighbour flood fill). */
export function backgroundMask(image: Float32Array, size: number): Uint8Array {
  const mask = new Uint8Array(size * size);
  const white = (p: number) => image[3 * p] >= WHITE && image[3 * p + 1] >= WHITE && image[3 * p + 2] >= WHITE;
  const stack: number[] = [];
  for (let i = 0; i < size; i++) stack.push(i, (size - 1) * size + i, i * size, i * size + size - 1);
  while (stack.length) {
    const p = stack.pop()!;
    if (mask[p] || !white(p)) continue;
    mask[p] = 1;
    const x = p % size;
    const y = (p - x) / size;
    if (x > 0) stack.push(p - 1);
    if (x < size - 1) stack.push(p + 1);
    if (y > 0) stack.push(p - size);
    if (y < size - 1) stack.push(p + size);
  }
  return mask;
}

const clamp = (v: number) => (v < -1 ? -1 : v > 1 ? 1 : v);

/** One image ([size*size*3] in [-1, 1]) under an augmentation; returns a new array. */
export function augmentImage(image: Float32Array, size: number, a: Augmentation): Float32Array {
  const bg = backgroundMask(image, size);
  // Colour, on the emoji's pixels only.
  const coloured = Float32Array.from(image);
  let sum = 0;
  let count = 0;
  for (let p = 0; p < size * size; p++) {
    if (bg[p]) continue;
    sum += image[3 * p] + image[3 * p + 1] + image[3 * p + 2];
    count += 3;
  }
  const mean = count ? sum / count : 0;
  for (let p = 0; p < size * size; p++) {
    if (bg[p]) continue;
    const rgb = [0, 1, 2].map((c) => (image[3 * p + c] - mean) * a.contrast + mean + a.brightness);
    const grey = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2];
    for (let c = 0; c < 3; c++) {
      const v = grey + (rgb[c] - grey) * a.saturation + (c === 0 ? a.warmth : c === 2 ? -a.warmth : 0);
      coloured[3 * p + c] = clamp(v);
    }
  }
  if (a.scale === 1 && a.dx === 0 && a.dy === 0) return coloured;
  // Geometry: output pixel (x, y) reads the source at the inverse map, bilinear, white outside.
  const out = new Float32Array(size * size * 3);
  const centre = (size - 1) / 2;
  const at = (x: number, y: number, c: number) => (x < 0 || y < 0 || x >= size || y >= size ? 1 : coloured[3 * (y * size + x) + c]);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const sx = (x - centre - a.dx) / a.scale + centre;
      const sy = (y - centre - a.dy) / a.scale + centre;
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const fx = sx - x0;
      const fy = sy - y0;
      for (let c = 0; c < 3; c++) {
        const top = at(x0, y0, c) * (1 - fx) + at(x0 + 1, y0, c) * fx;
        const bottom = at(x0, y0 + 1, c) * (1 - fx) + at(x0 + 1, y0 + 1, c) * fx;
        out[3 * (y * size + x) + c] = top * (1 - fy) + bottom * fy;
      }
    }
  }
  return out;
}

/**
 * `variants` copies of every image, variant-major: copy 0 is the images as they are, copy v > 0
 * image i under drawAugmentation(seed, i, v). [variants * n * size*size*3].
 */
export function augmentDataset(images: Float32Array, size: number, variants: number, seed: number, ranges: AugmentRanges = DEFAULT_AUGMENT_RANGES): Float32Array {
  const per = size * size * 3;
  const n = images.length / per;
  const out = new Float32Array(variants * images.length);
  out.set(images, 0);
  for (let v = 1; v < variants; v++) {
    for (let i = 0; i < n; i++) out.set(augmentImage(images.subarray(i * per, (i + 1) * per), size, drawAugmentation(seed, i, v, ranges)), (v * n + i) * per);
  }
  return out;
}

/**
 * Variants for a second rendering drawn at one example in `oneIn`: copies 0..oneIn-2 are `own`
 * (the dataset's images or latents), copy oneIn-1 is `twin` (the same records in the other style),
 * variant-major like augmentDataset, so a sampler that draws a variant uniformly draws the twin with
 * probability 1/oneIn. [oneIn * own.length].
 */
export function secondRenderingVariants(own: Float32Array, twin: Float32Array, oneIn: number): Float32Array {
  if (twin.length !== own.length) throw new Error(`the second rendering has ${twin.length} values, the dataset's ${own.length}`);
  if (!Number.isInteger(oneIn) || oneIn < 2) throw new Error(`one example in ${oneIn}: need an integer of at least 2`);
  const out = new Float32Array(oneIn * own.length);
  for (let v = 0; v < oneIn - 1; v++) out.set(own, v * own.length);
  out.set(twin, (oneIn - 1) * own.length);
  return out;
}
