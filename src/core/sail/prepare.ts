// From stored pairs (images) to training pairs (latents of the frozen base autoencoder).
import type { ImageRGB, PairRecord } from '../data/pairs';
import { preferenceOf } from '../data/pairs';
import type { Checkpoint } from '../model/ldm';
import { encodeToLatents, type PreferencePair } from './loop';

/** RGB bytes of a square image at the model's size -> floats in [-1, 1]. */
export function imageToUnit(image: ImageRGB, size: number): Float32Array {
  if (image.width !== size || image.height !== size) throw new Error(`Pair image is ${image.width}x${image.height}; the model takes ${size}x${size}`);
  return Float32Array.from(image.data, (v) => v / 127.5 - 1);
}

/**
 * Training pairs from preference records: ties (label 0.5) are skipped, as Diffusion-DPO on
 * Pick-a-Pic does; winner and loser are encoded in one batch.
 */
export async function encodePairs(base: Checkpoint, records: Pick<PairRecord, 'caption' | 'image0' | 'image1' | 'label0'>[]): Promise<PreferencePair[]> {
  const size = base.config.imageSize;
  const decided = records.map((r) => ({ caption: r.caption, pref: preferenceOf(r) })).filter((r) => r.pref !== null);
  if (decided.length === 0) return [];
  const per = size * size * 3;
  const images = new Float32Array(decided.length * 2 * per);
  decided.forEach((r, i) => {
    images.set(imageToUnit(r.pref!.winner, size), 2 * i * per);
    images.set(imageToUnit(r.pref!.loser, size), (2 * i + 1) * per);
  });
  const latents = await encodeToLatents(base, images);
  return decided.map((r, i) => ({ prompt: r.caption, winner: latents[2 * i], loser: latents[2 * i + 1] }));
}
