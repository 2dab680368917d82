// The studio's prompt sets from the real manifest, with and without the base model's drawable list.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkDrawableList, checkPromptManifest, MIN_DRAWABLE, studioPrompts, type DrawableList } from '../src/core/data/studioPrompts';
import { sampleImages } from '../src/core/eval/quality';
import { measureDrawable, retrievalRank } from '../src/core/eval/recognisable';
import { tinyCheckpoint, useBackend } from './helpers';

const manifest = checkPromptManifest(JSON.parse(readFileSync('public/data/emoji-32.json', 'utf8')));

describe('studio prompts and the drawable list', () => {
  const all = studioPrompts(manifest);

  it('without a list: every seed prompt, held-out prompts disjoint from seed and pools', () => {
    expect(all.drawable).toBeNull();
    const held = new Set(all.evaluation.map((p) => p.prompt));
    expect(all.seed.some((p) => held.has(p))).toBe(false);
    expect(all.sailPools.flat().some((p) => held.has(p))).toBe(false);
  });

  it('with a list: each set keeps the prompts drawn recognisably, and says how many remain', () => {
    // Every third prompt drawn once, the others never.
    const names = [...all.seed, ...all.sailPools.flat(), ...all.evaluation.map((p) => p.prompt)];
    const list: DrawableList = { samples: 2, prompts: Object.fromEntries(names.map((p, i) => [p, i % 3 === 0 ? 1 : 0])) };
    const narrowed = studioPrompts(manifest, list);
    expect(narrowed.seed.length).toBeGreaterThanOrEqual(MIN_DRAWABLE.seed);
    expect(narrowed.seed.every((p) => list.prompts[p] === 1)).toBe(true);
    expect(narrowed.seed.length).toBe(all.seed.filter((p) => list.prompts[p] === 1).length);
    expect(narrowed.drawable).toEqual({ seed: narrowed.seed.length, of: all.seed.length });
    expect(narrowed.evaluation.every((p) => list.prompts[p.prompt] === 1)).toBe(true);
    narrowed.sailPools.forEach((pool, k) => {
      // A pool keeps its drawable prompts when enough remain, else all of them.
      const drawable = all.sailPools[k].filter((p) => list.prompts[p] === 1);
      expect(pool).toEqual(drawable.length >= Math.min(MIN_DRAWABLE.pool, all.sailPools[k].length) ? drawable : all.sailPools[k]);
    });
    expect(narrowed.labels).toEqual(all.labels);
  });

  it('a list that would leave too few prompts is not applied', () => {
    const list: DrawableList = { samples: 2, prompts: Object.fromEntries(all.seed.slice(0, MIN_DRAWABLE.seed - 1).map((p) => [p, 2])) };
    const narrowed = studioPrompts(manifest, list);
    expect(narrowed.seed).toEqual(all.seed);
    expect(narrowed.drawable).toBeNull();
    expect(narrowed.evaluation).toEqual(all.evaluation);
  });

  it('checkDrawableList refuses what is not a list, a newer version and impossible counts', () => {
    const ok = { format: 'sail-studio-drawable', version: 1, samples: 2, prompts: { 'red heart': 2, ghost: 0 } };
    expect(checkDrawableList(ok)).toEqual({ samples: 2, prompts: ok.prompts });
    expect(() => checkDrawableList({ ...ok, format: 'x' })).toThrow(/not a drawable-prompts file/);
    expect(() => checkDrawableList({ ...ok, version: 2 })).toThrow(/version 2/);
    expect(() => checkDrawableList({ ...ok, prompts: { ghost: 3 } })).toThrow(/3 recognisable samples of 2/);
    expect(() => checkDrawableList({ ...ok, prompts: [] })).toThrow(/no prompts/);
    expect(() => checkDrawableList(null)).toThrow();
  });
});

describe('retrieval rank', () => {
  it('counts the gallery images strictly nearer than the own one', () => {
    const per = 2;
    const gallery = Float32Array.of(0, 0, 1, 1, 2, 2, 5, 5);
    expect(retrievalRank(Float32Array.of(1.1, 1.1), gallery, per, 1)).toBe(0);
    expect(retrievalRank(Float32Array.of(1.1, 1.1), gallery, per, 3)).toBe(3);
    expect(retrievalRank(Float32Array.of(1.6, 1.6), gallery, per, 1)).toBe(1);
  });

  it('measureDrawable: a prompt whose own gallery image is its sample is a hit, a stranger is not', async () => {
    await useBackend('wasm');
    const ck = tinyCheckpoint(3);
    const per = 32 * 32 * 3;
    const opts = { samples: 1, k: 1, seed: 5, steps: 2, guidance: 2, batch: 4 };
    const { data } = await sampleImages(ck, ['red heart'], 1, opts);
    // Gallery: two far images, then the sample itself.
    const gallery = new Float32Array(3 * per);
    gallery.fill(1, 0, per);
    gallery.fill(-1, per, 2 * per);
    gallery.set(data, 2 * per);
    const r = await measureDrawable(ck, [{ prompt: 'red heart', category: 'x', galleryIndex: 2 }, { prompt: 'red heart', category: 'x', galleryIndex: 0 }], gallery, opts);
    expect(r[0]).toEqual({ prompt: 'red heart', category: 'x', hits: 1, bestRank: 0 });
    expect(r[1].hits).toBe(0);
    expect(r[1].bestRank).toBeGreaterThan(0);
    Object.values(ck.params).forEach((t) => t.dispose());
  });
});
