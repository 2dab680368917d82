// The fresh prompts of each SAIL round: the dataset's seeded, disjoint round pools
// (public/data/emoji-32.json, splits.sailPools), as the sail CLI reads them. A run with more
// rounds than pools reuses them in turn, as the CLI does.

import { publicUrl } from '../shared/settings';

interface Manifest {
  records: { prompt: string }[];
  splits: { sailPools?: number[][] };
}

let pools: Promise<string[][]> | undefined;

async function loadPools(): Promise<string[][]> {
  const response = await fetch(publicUrl('data/emoji-32.json'));
  if (!response.ok) throw new Error(`The round prompts could not be loaded (data/emoji-32.json: HTTP ${response.status}).`);
  const manifest = (await response.json()) as Manifest;
  const ids = manifest.splits?.sailPools;
  if (!Array.isArray(ids) || ids.length === 0) throw new Error('data/emoji-32.json has no SAIL round pools (splits.sailPools).');
  return ids.map((pool) => [...new Set(pool.map((id) => manifest.records[id]?.prompt).filter((p): p is string => typeof p === 'string'))]);
}

/** Fresh prompts of round k at index k - 1, for rounds 1..`rounds`. */
export async function fetchSailPools(rounds: number): Promise<string[][]> {
  pools ??= loadPools().catch((err: unknown) => {
    pools = undefined; // a failed download is tried again next time
    throw err;
  });
  const all = await pools;
  return Array.from({ length: rounds }, (_, k) => all[k % all.length]);
}
