// Files shipped in public/data that the page reads: the dataset manifest, fetched once and turned
// into the studio's prompt sets by core (seed prompts, round pools, held-out prompts, labels),
// and the licence notice (for the credits).

import { modelUrl, publicUrl } from './settings';

import { checkDrawableList, checkPromptManifest, studioPrompts, type DrawableList, type StudioPrompts } from '../../core/data/studioPrompts';

export const MANIFEST_PATH = 'data/emoji-32.json';
export const ATLAS_PATH = 'data/emoji-32.png';
/** Which prompts the shipped base draws recognisably (npm run drawable-prompts); read only when the page runs the shipped base. */
export const DRAWABLE_PATH = 'models/base/drawable.json';
const SHIPPED_MODEL = 'models/base/';

async function fetchOk(path: string): Promise<Response> {
  const response = await fetch(publicUrl(path));
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status} ${response.statusText}`);
  return response;
}

let prompts: Promise<StudioPrompts> | undefined;

/** The studio's prompt sets, from one download of the manifest (a failed one is tried again next time). */
export function fetchStudioPrompts(): Promise<StudioPrompts> {
  prompts ??= Promise.all([fetchOk(MANIFEST_PATH).then((r) => r.json()), fetchDrawable()])
    .then(([json, drawable]) => studioPrompts(checkPromptManifest(json, MANIFEST_PATH), drawable))
    .catch((err: unknown) => {
      prompts = undefined;
      throw new Error(`The dataset's prompts could not be loaded (${err instanceof Error ? err.message : String(err)}).`);
    });
  return prompts;
}

/** The shipped base's drawable list, or undefined when the page runs another model or the list is missing or unreadable (then every prompt is offered). */
async function fetchDrawable(): Promise<DrawableList | undefined> {
  if (modelUrl() !== publicUrl(SHIPPED_MODEL)) return undefined; // another checkpoint (?model=): its own drawing, no list
  try {
    const response = await fetch(publicUrl(DRAWABLE_PATH));
    if (response.status === 404) return undefined;
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    return checkDrawableList(await response.json(), DRAWABLE_PATH);
  } catch (err) {
    console.warn(`Offering every prompt: ${DRAWABLE_PATH} could not be read (${err instanceof Error ? err.message : String(err)}).`);
    return undefined;
  }
}

/** The manifest and atlas the worker holds a run (or the evaluation) to. */
export const anchorDataUrls = () => ({ manifestUrl: publicUrl(MANIFEST_PATH), atlasUrl: publicUrl(ATLAS_PATH) });

/** Attribution for what the shipped base was trained on beyond the dataset (a second rendering, say); optional. */
export const MODEL_NOTICE_PATH = 'models/base/NOTICE.md';

/** The dataset's licence notice, then the shipped base's own when it has one. */
export async function fetchNotice(): Promise<string> {
  const data = await (await fetchOk('data/NOTICE.md')).text();
  // Absent, the dev server may answer with its index page: only a text file counts.
  const model = await fetch(publicUrl(MODEL_NOTICE_PATH)).then((r) => (r.ok && !(r.headers.get('content-type') ?? '').includes('html') ? r.text() : ''), () => '');
  return model ? `${data.trimEnd()}\n\n${model}` : data;
}
