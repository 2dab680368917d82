// Which prompts the evaluation uses for what, from the dataset manifest (no TF.js: the app and
// the worker both call it). Base emoji only (skin-tone variants repeat their base), and only
// categories the evaluation classifier knows, so every prompt has a fidelity label.
//   seed      prompts of the simulated seed pairs: outside every SAIL pool and the evaluation split
//   pools     one fresh pool per SAIL round (the manifest's sailPools)
//   evaluation held-out prompts, never used to make pairs, spread over the categories
import type { EmojiManifest } from '../data/emoji';
import { hashSeed, mulberry32 } from '../random';

export interface EvalPrompt {
  prompt: string;
  /** Index of its category in the classifier's categories. */
  label: number;
}

export interface EvalPromptSets {
  seed: string[];
  pools: string[][];
  /** Ordered round-robin over the categories, so a prefix covers them evenly. */
  evaluation: EvalPrompt[];
  /** Category index of every prompt above. */
  labels: Record<string, number>;
}

export function evalPromptSets(manifest: Pick<EmojiManifest, 'records' | 'splits'>, categories: readonly string[]): EvalPromptSets {
  const labels: Record<string, number> = {};
  const usable = (id: number) => {
    const r = manifest.records[id];
    return r.skinTone === null && categories.includes(r.category);
  };
  const promptsOf = (ids: readonly number[]) =>
    ids.filter(usable).map((id) => {
      const r = manifest.records[id];
      labels[r.prompt] = categories.indexOf(r.category);
      return r.prompt;
    });
  const reserved = new Set([...manifest.splits.sailPools.flat(), ...manifest.splits.evaluation]);
  const seed = promptsOf(manifest.records.map((r) => r.id).filter((id) => !reserved.has(id)));
  const pools = manifest.splits.sailPools.map((pool) => promptsOf(pool));
  const byCategory = categories.map((_, c) => promptsOf(manifest.splits.evaluation).filter((p) => labels[p] === c));
  const evaluation: EvalPrompt[] = [];
  for (let i = 0; byCategory.some((list) => i < list.length); i++) {
    byCategory.forEach((list, label) => {
      if (i < list.length) evaluation.push({ prompt: list[i], label });
    });
  }
  return { seed, pools, evaluation, labels };
}

/** A seeded shuffle (Fisher-Yates) of a copy: each repeat sees its own prompt order. */
export function shuffledFor<T>(items: readonly T[], seed: number, stream: number): T[] {
  const out = [...items];
  const rand = mulberry32(hashSeed(seed, stream));
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}
