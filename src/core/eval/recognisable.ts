// Which prompts the model draws recognisably, measured without a person (issue 12): a sample
// counts as recognisable when the real image of its own emoji is among the `k` nearest of all the
// real base emoji (1,911 here) by pixel distance. A textured blob is near no emoji in particular,
// so its own ranks at random (top 10 of 1,906 by chance: 0.5%); a drawing of the emoji puts its own
// first or close. Pixel distance at 32x32 is crude (a right shape in a wrong colour misses), so
// this is a floor, read beside the grid, not a verdict.
import type { Checkpoint } from '../model/ldm';
import { sampleImages } from './quality';

/** Rank (0 = nearest) of gallery image `target` by squared distance to `sample` (length per). */
export function retrievalRank(sample: Float32Array, gallery: Float32Array, per: number, target: number): number {
  const m = gallery.length / per;
  const dist = new Float64Array(m);
  for (let j = 0; j < m; j++) {
    let s = 0;
    const off = j * per;
    for (let k = 0; k < per; k++) {
      const d = sample[k] - gallery[off + k];
      s += d * d;
    }
    dist[j] = s;
  }
  const own = dist[target];
  let rank = 0;
  for (let j = 0; j < m; j++) if (dist[j] < own) rank++;
  return rank;
}

export interface DrawableOptions {
  samples: number;
  k: number;
  seed: number;
  steps: number;
  guidance: number;
  batch: number;
  onProgress?: (done: number, total: number) => void;
}

export interface DrawablePrompt {
  prompt: string;
  category: string;
  /** Samples whose own emoji is among the k nearest, of `samples`. */
  hits: number;
  /** Best rank over the samples (0 = its own emoji is the nearest). */
  bestRank: number;
}

/**
 * For every prompt of `items` (with the index of its real image in `gallery`), `samples` samples
 * from the noise of images 0.. of `seed`, each ranked against the whole gallery.
 */
export async function measureDrawable(
  ck: Checkpoint,
  items: readonly { prompt: string; category: string; galleryIndex: number }[],
  gallery: Float32Array,
  opts: DrawableOptions,
): Promise<DrawablePrompt[]> {
  const size = ck.config.imageSize;
  const per = size * size * 3;
  const out: DrawablePrompt[] = [];
  const chunk = Math.max(1, Math.floor(256 / opts.samples));
  for (let start = 0; start < items.length; start += chunk) {
    const part = items.slice(start, start + chunk);
    const { data } = await sampleImages(ck, part.map((p) => p.prompt), opts.samples, opts);
    part.forEach((it, i) => {
      let hits = 0;
      let bestRank = Infinity;
      for (let j = 0; j < opts.samples; j++) {
        const idx = i * opts.samples + j;
        const rank = retrievalRank(data.subarray(idx * per, (idx + 1) * per), gallery, per, it.galleryIndex);
        if (rank < opts.k) hits++;
        bestRank = Math.min(bestRank, rank);
      }
      out.push({ prompt: it.prompt, category: it.category, hits, bestRank });
    });
    opts.onProgress?.(Math.min(start + chunk, items.length), items.length);
  }
  return out;
}
