// The anchor set: real emoji the fine-tuning is held to (the prior term) and measured against
// (drift). Drawn from the pretraining images across categories and subcategories, base emoji only
// (a skin-tone variant is a near-duplicate of its base), seeded, so every run of the studio and
// every CLI measures drift on the same images.
import type { EmojiManifest } from '../data/emoji';
import { cutAtlas } from '../data/atlas';
import type { Checkpoint } from '../model/ldm';
import { hashSeed, mulberry32 } from '../random';
import { encodeToLatents } from './loop';
import type { AnchorSet } from './safety';

/** Images in the anchor set by default: 32 are the fixed drift set, all feed the prior term. */
export const ANCHOR_SIZE = 64;

/**
 * Record ids of the anchor: round-robin over subcategories (in a seeded order), one base emoji at a
 * time from each, until `count`. Excludes the evaluation split so drift never trains on it.
 */
export function anchorIds(manifest: Pick<EmojiManifest, 'records' | 'splits'>, count = ANCHOR_SIZE, seed = 1): number[] {
  const evaluation = new Set(manifest.splits.evaluation);
  const bySub = new Map<string, number[]>();
  for (const r of manifest.records) {
    if (r.skinTone !== null || evaluation.has(r.id)) continue;
    const key = `${r.category}/${r.subcategory}`;
    if (!bySub.has(key)) bySub.set(key, []);
    bySub.get(key)!.push(r.id);
  }
  const rand = mulberry32(hashSeed(seed, 31));
  const shuffle = <T>(a: T[]): T[] => {
    for (let i = a.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [a[i], a[j]] = [a[j], a[i]];
    }
    return a;
  };
  const queues = shuffle([...bySub.keys()].sort()).map((k) => shuffle([...bySub.get(k)!]));
  const out: number[] = [];
  while (out.length < count && queues.some((q) => q.length > 0)) {
    for (const q of queues) {
      const id = q.shift();
      if (id !== undefined && out.length < count) out.push(id);
    }
  }
  return out;
}

/** The anchor set of a base model: the anchor images cut from the atlas and encoded by its autoencoder. */
export async function anchorSetFor(
  base: Checkpoint,
  manifest: Pick<EmojiManifest, 'records' | 'splits' | 'columns'>,
  atlas: { pixels: Uint8Array | Uint8ClampedArray; width: number; channels: number },
  count = ANCHOR_SIZE,
): Promise<AnchorSet> {
  if (base.config.imageSize !== 32) return { latents: [], prompts: [] };
  const ids = anchorIds(manifest, count);
  const images = cutAtlas(atlas.pixels, atlas.width, atlas.channels, manifest.columns, ids);
  const latents = await encodeToLatents(base, images);
  return { latents, prompts: ids.map((id) => manifest.records[id].prompt) };
}

