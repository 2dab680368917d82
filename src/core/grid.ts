// A fixed grid of prompt x seed cells, one image each, from any weights: the Run tab's "how the
// model looks after this round" and the Compare tab's side by side. Cell (prompt, seed) starts
// from the noise of image 0 of `generate(seed)`, so two checkpoints rendered on the same cells
// share their noise exactly and differ only by their weights.
import * as tf from '@tensorflow/tfjs-core';
import { initialNoise, sampleLatents, toRgba } from './generate';
import { decodeLatents, type Checkpoint } from './model/ldm';

export interface GridCell {
  prompt: string;
  seed: number;
  /** Which image of the seed's stream: image k of `generate(seed)` (default 0). The Label tab asks
   * for images 0 and 1 of several seeds in one call, so its pairs are sampled as one batch. */
  image?: number;
}

/** Cells sampled together at most (x2 for guidance): bounds memory on a large grid. */
const CHUNK = 8;

/**
 * One RGBA image (size*size*4 bytes) per cell, in order. Progress counts DDIM steps over all
 * chunks. Every tensor made here is disposed before it returns or throws.
 */
export async function renderGrid(
  ck: Checkpoint,
  cells: GridCell[],
  opts: { guidance: number; steps: number; onProgress?: (done: number, total: number) => void; isCancelled?: () => boolean },
): Promise<Uint8ClampedArray[]> {
  if (cells.length === 0) return [];
  const chunks = Math.ceil(cells.length / CHUNK);
  const total = chunks * opts.steps;
  const out: Uint8ClampedArray[] = [];
  for (let c = 0; c < chunks; c++) {
    const part = cells.slice(c * CHUNK, (c + 1) * CHUNK);
    const noise = tf.tidy(() => tf.concat(part.map((cell) => initialNoise(ck, cell.seed, 1, cell.image ?? 0)), 0) as tf.Tensor4D);
    let latents: tf.Tensor4D;
    try {
      latents = await sampleLatents(ck, part.map((cell) => cell.prompt), noise, {
        guidance: opts.guidance,
        steps: opts.steps,
        isCancelled: opts.isCancelled,
        onStep: (done) => opts.onProgress?.(c * opts.steps + done, total),
      });
    } finally {
      noise.dispose();
    }
    const decoded = decodeLatents(ck, latents);
    latents.dispose();
    try {
      out.push(...(await toRgba(decoded)));
    } finally {
      decoded.dispose();
    }
  }
  return out;
}
