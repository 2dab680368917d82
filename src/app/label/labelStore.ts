// Labelling seed pairs by clicking: the studio draws a prompt (or takes the user's), the model
// worker makes two images of it from different noise, the user picks the better one, calls a
// tie, skips, or undoes. The next pairs are generated, several in one batch, while the user
// judges the current one, so a click moves straight on. Stored pairs go to the current project through useProjects.

import { PAIR_GUIDANCE } from '../../core/sail/settings';
import { create } from 'zustand';

import type { ModelWeights } from '../../protocol';
import { ModelRequestError } from '../shared/modelClient';
import { rgbaToPng } from '../shared/pngImages';
import { useProjects, type StoredPair } from '../project/projectStore';
import { fetchStudioPrompts } from '../shared/publicData';
import { projectBase } from '../project/checkpoints';
import { studioDb } from '../storage/db';
import { modelClient, toModelPrompt, useStudio } from '../studio/studioStore';

/** Two images of one prompt, waiting for a judgement. */
export interface Candidate {
  key: number;
  prompt: string;
  seed: number;
  size: number;
  /** RGBA, size*size*4 each: image 1 (left) and image 2 (right). */
  images: [Uint8ClampedArray, Uint8ClampedArray];
}

export type Judgement = 'left' | 'right' | 'tie';

interface Labelled {
  candidate: Candidate;
  pairId: string;
}

export interface LabelState {
  /** pending[0] is shown; the rest are generated ahead. */
  pending: Candidate[];
  generating: boolean;
  /** Why the last generation failed, shown with a Retry button. */
  failure: string | null;
  /** The user's prompt; null = prompts drawn from the dataset. */
  customPrompt: string | null;
  /** Words of the user's prompt the model's tokenizer does not know (it reads them as unknown). */
  unknownWords: string[];
  /** Pairs labelled in this visit, newest last: what Undo takes back. */
  history: Labelled[];
  /** A judgement is being stored. */
  saving: boolean;
}

export interface LabelActions {
  /** The Label tab is open (true) or closed: pairs are generated only while it is open, so the
   * other tabs (a run, a generation) get the worker to themselves. */
  setActive(active: boolean): void;
  /** Keeps the queue filled; called when the tab opens and after every change. */
  fill(): void;
  judge(judgement: Judgement): Promise<void>;
  skip(): void;
  undo(): Promise<void>;
  /** Pairs for this prompt from now on (null or empty: back to drawn prompts). */
  setCustomPrompt(prompt: string | null): void;
  retry(): void;
}

/** Pairs kept ready, the shown one included: a quick judge clicks faster than a pair is drawn
 * (about 1 s on wasm here) for a few pairs in a row. */
const QUEUE = 4;
/** The queue refills once it holds this many pairs or fewer. */
const REFILL_AT = 2;

/** How many pairs the next request draws: one when nothing is shown yet (the first pair soonest),
 * else enough to fill the queue, sampled as one batch (issue 11: batched Label generation). */
export function pairsToRequest(pending: number): number {
  if (pending > REFILL_AT) return 0;
  return pending === 0 ? 1 : QUEUE - pending;
}

/** Seed prompts (core's studioPrompts: outside the held-out and round-pool splits, no skin-tone variants). */
const promptsOnce = async () => (await fetchStudioPrompts()).seed;

const randomSeed = () => Math.floor(Math.random() * 2 ** 31);
const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));

const LABEL_OF: Record<Judgement, StoredPair['label0']> = { left: 1, right: 0, tie: 0.5 };

export const useLabelling = create<LabelState & LabelActions>()((set, get) => {
  let nextKey = 1;
  let active = false;
  /** Bumped when the queue is thrown away (a new prompt): results of older requests are dropped. */
  let generation = 0;

  /** The project's imported base, read once per project (a project's base never changes). */
  let base: { projectId: string; model: Promise<ModelWeights | undefined> } | undefined;
  function baseOf(projectId: string | null): Promise<ModelWeights | undefined> {
    if (!projectId) return Promise.resolve(undefined);
    if (base?.projectId !== projectId) base = { projectId, model: studioDb().then((db) => projectBase(db, projectId)) };
    return base.model;
  }

  /** `count` pairs in one request: images 0 and 1 of a fresh seed per pair, one prompt each. */
  async function makeCandidates(count: number): Promise<Candidate[]> {
    const { customPrompt } = get();
    const all = customPrompt ? [customPrompt] : await promptsOnce();
    const drawn = Array.from({ length: count }, () => ({ prompt: all[Math.floor(Math.random() * all.length)], seed: randomSeed() }));
    const { model } = useStudio.getState();
    const sampling = model?.sampling ?? { steps: 25, guidance: 4 };
    // The two images of a pair start from different noise of the same seeded stream (images 0 and
    // 1 of generate(seed)), and every pair of the request shares one sampling batch. Pairs are
    // drawn by the project's own base, so an imported model is the one being labelled.
    const weights = await baseOf(useProjects.getState().currentProjectId);
    const cells = drawn.flatMap(({ prompt, seed }) => [0, 1].map((image) => ({ prompt, seed, image })));
    // Pairs are drawn at the pair guidance (core/sail/settings.ts), where a prompt's two images differ more.
    const reply = await modelClient().renderGrid({ cells, guidance: PAIR_GUIDANCE, steps: sampling.steps, model: weights });
    const images = reply.images.map((buffer) => new Uint8ClampedArray(buffer));
    return drawn.map(({ prompt, seed }, i) => ({ key: nextKey++, prompt, seed, size: reply.size, images: [images[2 * i], images[2 * i + 1]] }));
  }

  return {
    pending: [],
    generating: false,
    failure: null,
    customPrompt: null,
    unknownWords: [],
    history: [],
    saving: false,

    setActive(value) {
      active = value;
      if (active) get().fill();
    },

    fill() {
      const { pending, generating, failure } = get();
      const count = pairsToRequest(pending.length);
      if (!active || generating || failure || count === 0) return;
      if (useStudio.getState().workerStatus !== 'ready') return;
      const mine = generation;
      set({ generating: true });
      makeCandidates(count).then(
        (candidates) => {
          if (mine !== generation) return;
          set({ pending: [...get().pending, ...candidates], generating: false });
          get().fill();
        },
        (err: unknown) => {
          if (mine !== generation) return;
          // A crash or restart is reported by the worker's owner; the queue refills once it is ready.
          const lost = err instanceof ModelRequestError && ['worker-crashed', 'timeout', 'restarted'].includes(err.reason);
          set({ generating: false, failure: lost ? null : `The next pair could not be generated: ${messageOf(err)}` });
        },
      );
    },

    async judge(judgement) {
      const { pending, saving } = get();
      const candidate = pending[0];
      if (!candidate || saving || useProjects.getState().status !== 'ready') return;
      set({ saving: true });
      const pair: StoredPair = {
        id: crypto.randomUUID(),
        caption: candidate.prompt,
        image0: rgbaToPng(candidate.images[0], candidate.size),
        image1: rgbaToPng(candidate.images[1], candidate.size),
        label0: LABEL_OF[judgement],
        source: 'seed',
        createdAt: Date.now(),
      };
      const stored = await useProjects.getState().addPairs([pair]);
      // Not stored (full storage, say): the pair stays on screen so the judgement can be retried.
      if (stored) set({ pending: get().pending.filter((c) => c !== candidate), history: [...get().history, { candidate, pairId: pair.id }] });
      set({ saving: false });
      get().fill();
    },

    skip() {
      if (get().saving) return;
      set({ pending: get().pending.slice(1) });
      get().fill();
    },

    async undo() {
      const { history, saving } = get();
      const last = history[history.length - 1];
      if (!last || saving) return;
      set({ saving: true });
      const deleted = await useProjects.getState().deletePair(last.pairId);
      if (deleted) set({ history: history.slice(0, -1), pending: [last.candidate, ...get().pending] });
      set({ saving: false });
    },

    setCustomPrompt(prompt) {
      const trimmed = (prompt?.trim() && toModelPrompt(prompt)) || null;
      generation++;
      set({ customPrompt: trimmed, unknownWords: [], pending: [], generating: false, failure: null });
      get().fill();
      if (trimmed && useStudio.getState().workerStatus === 'ready') {
        modelClient()
          .checkPrompt(trimmed)
          .then(
            (unknownWords) => get().customPrompt === trimmed && set({ unknownWords }),
            () => {}, // a hint only
          );
      }
    },

    retry() {
      set({ failure: null });
      get().fill();
    },
  };
});
