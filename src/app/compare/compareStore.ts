// The Compare tab: any two checkpoints of the project (its base, or any finished round of any
// run) rendered on the same prompt and the same noise, side by side; and a blind A/B mode in
// which the user picks the better image without knowing which checkpoint made it, for a win
// rate with its Wilson 95% interval. The tally of each pair of checkpoints is kept with the
// project in IndexedDB (key tally:<projectId>; it goes with the project when it is deleted or
// exported). A tally an older release kept in localStorage moves there the first time it is read.

import { create } from 'zustand';

import { wilsonInterval, type WinRate } from '../../core/stats';
import type { GridCell } from '../../protocol';
import { ModelRequestError } from '../shared/modelClient';
import { useProjects } from '../project/projectStore';
import { checkpointModel, checkpointOptions, type CheckpointKey } from '../project/checkpoints';
import { modelClient, toModelPrompt, useStudio } from '../studio/studioStore';
import { blindPrompt, countJudgement, type BlindJudgement as Judgement } from './blindCredit';
import { studioDb } from '../storage/db';
import { EMPTY_TALLY, isTally, type Tally } from '../storage/schema';

export interface Rendered {
  cells: GridCell[];
  size: number;
  /** RGBA per cell, for checkpoint A and checkpoint B. */
  a: Uint8ClampedArray[];
  b: Uint8ClampedArray[];
}

export type { BlindJudgement as Judgement } from './blindCredit';

export type { Tally };

export interface BlindTrial {
  cell: GridCell;
  size: number;
  /** Whether checkpoint B is shown on the left. */
  bOnLeft: boolean;
  left: Uint8ClampedArray;
  right: Uint8ClampedArray;
}

export interface CompareState {
  /** The project these picks belong to. */
  projectId: string | null;
  a: CheckpointKey;
  b: CheckpointKey;
  prompt: string;
  seed: number;
  /** Images per side: seeds seed, seed+1, ... */
  count: number;
  status: 'idle' | 'rendering';
  rendered: (Rendered & { labels: [string, string] }) | null;
  blind: { on: boolean; trial: BlindTrial | null; loading: boolean; tally: Tally; last: Judgement | null };
  failure: string | null;
}

export interface CompareActions {
  /** Base vs base for another project (with its own tallies); nothing changes for the same one. */
  openProject(projectId: string | null): void;
  pick(side: 'a' | 'b', key: CheckpointKey): void;
  setPrompt(prompt: string): void;
  setSeed(seed: number): void;
  render(): Promise<void>;
  startBlind(): Promise<void>;
  stopBlind(): void;
  judge(judgement: Judgement): Promise<void>;
  resetTally(): void;
}

const IMAGES_PER_SIDE = 4;
/** Where releases before the project file kept the tallies; read once, then moved into IndexedDB. */
const LEGACY_TALLY_KEY = 'sail-studio.blind-ab';
const emptyTally = EMPTY_TALLY;

const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));
const pairOf = (a: string, b: string) => `${a}|${b}`;

/** Takes (and removes) a tally an older release left in localStorage. */
function takeLegacyTally(projectId: string, a: string, b: string): Tally | null {
  try {
    const all = JSON.parse(window.localStorage.getItem(LEGACY_TALLY_KEY) ?? '{}') as Record<string, unknown>;
    const id = `${projectId}|${pairOf(a, b)}`;
    const t = all?.[id];
    if (!isTally(t)) return null;
    delete all[id];
    if (Object.keys(all).length === 0) window.localStorage.removeItem(LEGACY_TALLY_KEY);
    else window.localStorage.setItem(LEGACY_TALLY_KEY, JSON.stringify(all));
    return t;
  } catch {
    return null;
  }
}

/** The stored tally of checkpoints a and b of a project. */
export async function storedTally(projectId: string, a: string, b: string): Promise<Tally> {
  const db = await studioDb();
  const stored = (await db.getTallies(projectId))[pairOf(a, b)];
  if (isTally(stored)) return stored;
  const legacy = takeLegacyTally(projectId, a, b);
  return legacy ? db.updateTally(projectId, pairOf(a, b), () => legacy) : emptyTally;
}

/** B's win rate over A: ties count half a win for each side. */
export function winRate(t: Tally): WinRate {
  return wilsonInterval(t.b + t.ties / 2, t.a + t.b + t.ties);
}

export const useCompare = create<CompareState & CompareActions>()((set, get) => {
  const projectId = () => useProjects.getState().currentProjectId;
  const settings = () => {
    const model = useStudio.getState().model;
    return { guidance: model?.sampling.guidance ?? 4, steps: model?.sampling.steps ?? 25 };
  };

  const renderBoth = async (cells: GridCell[]): Promise<Rendered> => {
    const id = projectId();
    if (!id) throw new Error('Open a project first.');
    const { a, b } = get();
    const db = await studioDb();
    const [modelA, modelB] = await Promise.all([checkpointModel(db, id, a), checkpointModel(db, id, b)]);
    const client = modelClient();
    // One after the other: the worker is one thread, and A then B keeps the page's order.
    const ra = await client.renderGrid({ cells, ...settings(), model: modelA });
    const rb = await client.renderGrid({ cells, ...settings(), model: modelB });
    return { cells, size: ra.size, a: ra.images.map((x) => new Uint8ClampedArray(x)), b: rb.images.map((x) => new Uint8ClampedArray(x)) };
  };

  /** A prompt and seed the user has not seen together: a held-out prompt only. */
  const drawCell = async (): Promise<GridCell> => {
    // A random category first, then a prompt in it: one emoji per category draw, not six skin tones of one hand.
    return { prompt: blindPrompt(useStudio.getState().evaluationPrompts), seed: Math.floor(Math.random() * 2 ** 31) };
  };

  const makeTrial = async (): Promise<BlindTrial> => {
    const cell = await drawCell();
    const r = await renderBoth([cell]);
    const bOnLeft = Math.random() < 0.5;
    return { cell, size: r.size, bOnLeft, left: bOnLeft ? r.b[0] : r.a[0], right: bOnLeft ? r.a[0] : r.b[0] };
  };

  /** The trial after the one on show, made while the user looks, so a judgement moves straight on. */
  let ahead: { key: string; trial: Promise<BlindTrial> } | null = null;

  const nextTrial = async () => {
    const key = `${projectId()}|${get().a}|${get().b}`;
    const upcoming = ahead?.key === key ? ahead.trial : makeTrial();
    ahead = null;
    set({ blind: { ...get().blind, loading: true, trial: null } });
    try {
      const trial = await upcoming;
      if (!get().blind.on) return;
      set({ blind: { ...get().blind, loading: false, trial } });
      const prefetch = makeTrial();
      prefetch.catch(() => {}); // reported when it is shown
      ahead = { key, trial: prefetch };
    } catch (err) {
      set({ blind: { ...get().blind, loading: false, on: false }, failure: failureText(err) });
    }
  };

  /** Reads the shown pair's stored tally; ignored if the user has moved on meanwhile. */
  const loadTally = async () => {
    const id = projectId();
    const { a, b } = get();
    if (!id) return;
    try {
      const tally = await storedTally(id, a, b);
      if (get().projectId === id && get().a === a && get().b === b) set({ blind: { ...get().blind, tally } });
    } catch (err) {
      set({ failure: `The blind A/B tally could not be read (${messageOf(err)}).` });
    }
  };

  const failureText = (err: unknown) =>
    err instanceof ModelRequestError && (err.reason === 'worker-crashed' || err.reason === 'restarted')
      ? `${err.message} Try again once the model has restarted.`
      : `The images could not be made: ${messageOf(err)}`;

  return {
    projectId: null,
    a: 'base',
    b: 'base',
    prompt: '',
    seed: 1,
    count: IMAGES_PER_SIDE,
    status: 'idle',
    rendered: null,
    blind: { on: false, trial: null, loading: false, tally: emptyTally, last: null },
    failure: null,

    openProject(id) {
      if (id === get().projectId) return;
      set({ projectId: id, a: 'base', b: 'base', rendered: null, failure: null, blind: { on: false, trial: null, loading: false, tally: emptyTally, last: null } });
    },

    pick(side, key) {
      set({ [side]: key, rendered: null, blind: { ...get().blind, on: false, trial: null, tally: emptyTally, last: null } });
      void loadTally();
    },

    setPrompt(prompt) {
      set({ prompt });
    },

    setSeed(seed) {
      if (Number.isInteger(seed) && seed >= 0 && seed < 2 ** 31) set({ seed });
    },

    async render() {
      const { prompt, seed, count, status, a, b } = get();
      if (status !== 'idle') return;
      if (!prompt.trim()) return set({ failure: 'Type a prompt to compare on (or pick a suggestion).' });
      const cells = Array.from({ length: count }, (_, i) => ({ prompt: toModelPrompt(prompt), seed: seed + i }));
      set({ status: 'rendering', failure: null });
      try {
        const r = await renderBoth(cells);
        const options = checkpointOptions(useProjects.getState().projects.find((p) => p.id === projectId()));
        const label = (key: string) => options.find((o) => o.key === key)?.label ?? key;
        set({ rendered: { ...r, labels: [label(a), label(b)] } });
      } catch (err) {
        set({ failure: failureText(err) });
      } finally {
        set({ status: 'idle' });
      }
    },

    async startBlind() {
      const { a, b } = get();
      if (a === b) return set({ failure: 'Pick two different checkpoints for a blind test.' });
      set({ failure: null, blind: { ...get().blind, on: true, last: null } });
      await Promise.all([loadTally(), nextTrial()]);
    },

    stopBlind() {
      set({ blind: { ...get().blind, on: false, trial: null } });
    },

    async judge(judgement) {
      const { blind, a, b } = get();
      const id = projectId();
      if (!blind.on || !blind.trial || blind.loading || !id) return;
      const bOnLeft = blind.trial.bOnLeft;
      const count = (t: Tally): Tally => countJudgement(t, judgement, bOnLeft);
      set({ blind: { ...blind, tally: count(blind.tally), last: judgement } });
      // Counted from what is stored, in one transaction; the page shows the stored result.
      const saved = studioDb()
        .then((db) => db.updateTally(id, pairOf(a, b), count))
        .then(
          (tally) => {
            if (get().projectId === id && get().a === a && get().b === b) set({ blind: { ...get().blind, tally } });
          },
          (err: unknown) => set({ failure: `This judgement was not saved (${messageOf(err)}); it counts on this page only.` }),
        );
      await Promise.all([saved, nextTrial()]);
    },

    resetTally() {
      const id = projectId();
      const { a, b } = get();
      set({ blind: { ...get().blind, tally: emptyTally } });
      if (id) {
        void studioDb()
          .then((db) => db.updateTally(id, pairOf(a, b), () => emptyTally))
          .catch((err: unknown) => set({ failure: `The tally could not be reset (${messageOf(err)}).` }));
      }
    },
  };
});
