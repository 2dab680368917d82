// Files shipped in public/data that the page reads: the dataset manifest (for prompt
// suggestions) and the licence notice (for the credits).

import { publicUrl } from './settings';

interface ManifestRecord {
  id: string | number;
  prompt: string;
}

interface Manifest {
  records: ManifestRecord[];
  splits: { evaluation: (string | number)[] };
}

async function fetchOk(path: string): Promise<Response> {
  const response = await fetch(publicUrl(path));
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status} ${response.statusText}`);
  return response;
}

/** The held-out evaluation prompts, in manifest order, without duplicates. */
export async function fetchEvaluationPrompts(): Promise<string[]> {
  const manifest = (await (await fetchOk('data/emoji-32.json')).json()) as Manifest;
  if (!Array.isArray(manifest.records) || !Array.isArray(manifest.splits?.evaluation)) {
    throw new Error('data/emoji-32.json has no records or no evaluation split.');
  }
  const evaluation = new Set(manifest.splits.evaluation.map(String));
  const prompts = manifest.records.filter((r) => evaluation.has(String(r.id))).map((r) => r.prompt);
  return [...new Set(prompts)];
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
