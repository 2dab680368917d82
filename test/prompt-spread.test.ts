// Suggestions and blind A/B prompts: one per emoji, drawn across categories.
import { describe, expect, it } from 'vitest';
import { drawAcrossCategories, onePerEmoji } from '../src/core/data/promptSpread';
import { mulberry32 } from '../src/core/random';
import { loadEmojiDataset } from '../scripts/lib/png';

describe('prompts spread across the data set', () => {
  const data = loadEmojiDataset('public/data');
  const items = onePerEmoji(data.manifest.records, data.manifest.splits.evaluation);

  it('keeps at most one image per emoji, preferring the base over a skin-tone variant', () => {
    const bases = new Set(data.manifest.splits.evaluation.map((id) => data.manifest.records[id].baseUnified));
    expect(items).toHaveLength(bases.size);
    expect(new Set(items.map((i) => i.prompt)).size).toBe(items.length);
    const skinToned = items.filter((i) => /skin tone/.test(i.prompt)).length;
    expect(skinToned / items.length).toBeLessThan(0.2);
  });

  it('draws categories round-robin: 8 draws cover at least 6 categories, and no prompt twice', () => {
    const rand = mulberry32(5);
    const drawn = drawAcrossCategories(items, 8, rand);
    expect(new Set(drawn).size).toBe(8);
    const cat = new Map(items.map((i) => [i.prompt, i.category]));
    expect(new Set(drawn.map((p) => cat.get(p))).size).toBeGreaterThanOrEqual(Math.min(6, new Set(items.map((i) => i.category)).size));
    // Unlike a uniform draw, People & Body cannot take most of them.
    expect(drawn.filter((p) => cat.get(p) === 'People & Body').length).toBeLessThanOrEqual(2);
  });
});
