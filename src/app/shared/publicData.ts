// Files shipped in public/data that the page reads: the dataset manifest, fetched once and turned
// into the studio's prompt sets by core (seed prompts, round pools, held-out prompts, labels),
// and the licence notice (for the credits).

import { publicUrl } from './settings';

import { checkPromptManifest, studioPrompts, type StudioPrompts } from '../../core/data/studioPrompts';

export const MANIFEST_PATH = 'data/emoji-32.json';
export const ATLAS_PATH = 'data/emoji-32.png';

async function fetchOk(path: string): Promise<Response> {
  const response = await fetch(publicUrl(path));
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status} ${response.statusText}`);
  return response;
}

let prompts: Promise<StudioPrompts> | undefined;

/** The studio's prompt sets, from one download of the manifest (a failed one is tried again next time). */
export function fetchStudioPrompts(): Promise<StudioPrompts> {
  prompts ??= fetchOk(MANIFEST_PATH)
    .then((r) => r.json())
    .then((json) => studioPrompts(checkPromptManifest(json, MANIFEST_PATH)))
    .catch((err: unknown) => {
      prompts = undefined;
      throw new Error(`The dataset's prompts could not be loaded (${err instanceof Error ? err.message : String(err)}).`);
    });
  return prompts;
}

/** The manifest and atlas the worker holds a run (or the evaluation) to. */
export const anchorDataUrls = () => ({ manifestUrl: publicUrl(MANIFEST_PATH), atlasUrl: publicUrl(ATLAS_PATH) });

export async function fetchNotice(): Promise<string> {
  return (await fetchOk('data/NOTICE.md')).text();
}
