// Files shipped in public/data that the page reads: the dataset manifest (for prompt
// suggestions) and the licence notice (for the credits).

import { publicUrl } from './settings';

import { promptLabels, type EmojiRecord } from '../../core/data/emoji';
import { onePerEmoji, type SpreadPrompt } from '../../core/data/promptSpread';

interface Manifest {
  records: EmojiRecord[];
  splits: { evaluation: number[] };
}

async function fetchOk(path: string): Promise<Response> {
  const response = await fetch(publicUrl(path));
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status} ${response.statusText}`);
  return response;
}

/**
 * The held-out evaluation prompts, one per emoji (at most one skin-tone variant), with their
 * categories; and every prompt's readable label (the page shows labels, the model reads prompts).
 */
export async function fetchEvaluationPrompts(): Promise<{ prompts: SpreadPrompt[]; labels: Record<string, string> }> {
  const manifest = (await (await fetchOk('data/emoji-32.json')).json()) as Manifest;
  if (!Array.isArray(manifest.records) || !Array.isArray(manifest.splits?.evaluation)) {
    throw new Error('data/emoji-32.json has no records or no evaluation split.');
  }
  return { prompts: onePerEmoji(manifest.records, manifest.splits.evaluation), labels: promptLabels(manifest.records) };
}

export async function fetchNotice(): Promise<string> {
  return (await fetchOk('data/NOTICE.md')).text();
}

/** `n` distinct items drawn at random (Fisher-Yates on a copy). */
export function sample<T>(items: readonly T[], n: number): T[] {
  const copy = [...items];
  const take = Math.min(n, copy.length);
  for (let i = 0; i < take; i++) {
    const j = i + Math.floor(Math.random() * (copy.length - i));
    [copy[i], copy[j]] = [copy[j], copy[i]];
  }
  return copy.slice(0, take);
}
