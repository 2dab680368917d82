// Prompts a user is shown (suggestions, blind A/B trials) spread across the data set: at most one
// image per emoji (the base, or one skin-tone variant when only variants are in the list), and
// drawn category by category, so a win rate is not decided by six near-identical skin tones of
// one hand (People & Body is over half the images).
import type { EmojiRecord } from './emoji';

export interface SpreadPrompt {
  prompt: string;
  category: string;
}

/** One prompt per emoji among `ids`: the base emoji's when it is there, else its first variant's. */
export function onePerEmoji(records: readonly Pick<EmojiRecord, 'id' | 'prompt' | 'category' | 'skinTone' | 'baseUnified'>[], ids: readonly number[]): SpreadPrompt[] {
  const byBase = new Map<string, Pick<EmojiRecord, 'prompt' | 'category' | 'skinTone'>>();
  const byId = new Map(records.map((r) => [r.id, r]));
  for (const id of ids) {
    const r = byId.get(id);
    if (!r) continue;
    const have = byBase.get(r.baseUnified);
    if (!have || (have.skinTone !== null && r.skinTone === null)) byBase.set(r.baseUnified, r);
  }
  return [...byBase.values()].map((r) => ({ prompt: r.prompt, category: r.category }));
}

/**
 * `n` distinct prompts drawn across categories: categories in a random order, round-robin, a
 * random unused prompt from each. `rand` returns uniform [0, 1).
 */
export function drawAcrossCategories(items: readonly SpreadPrompt[], n: number, rand: () => number = Math.random): string[] {
  const groups = new Map<string, string[]>();
  for (const it of items) {
    if (!groups.has(it.category)) groups.set(it.category, []);
    groups.get(it.category)!.push(it.prompt);
  }
  const order = [...groups.keys()];
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const out: string[] = [];
  while (out.length < n && order.some((c) => groups.get(c)!.length > 0)) {
    for (const c of order) {
      const g = groups.get(c)!;
      if (g.length === 0 || out.length >= n) continue;
      out.push(g.splice(Math.floor(rand() * g.length), 1)[0]);
    }
  }
  return out;
}
