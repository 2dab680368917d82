// The Evaluate tab's state: the evaluation of issue 6 (simulated annotator, every arm, 95%
// intervals) run in the model worker on the loaded model. No TF.js here: the worker runs
// src/core/eval, this store sends the request, follows its progress and keeps the result.

import { create } from 'zustand';

import { checkEvalSettings, DEFAULT_EVAL_SETTINGS, QUICK_EVAL_SETTINGS, type EvalResult, type EvalSettings } from '../../core/eval/summary';
import { ModelRequestError } from '../shared/modelClient';
import { publicUrl } from '../shared/settings';
import { modelClient, useStudio } from '../studio/studioStore';

export type EvalPreset = 'quick' | 'standard';

/**
 * Quick: the CI settings (seconds on the tiny test model, a few minutes on the base). Standard:
 * the settings of docs/results.md with one repeat (expect an hour or more on a laptop CPU).
 */
export const EVAL_PRESETS: Record<EvalPreset, EvalSettings> = {
  quick: QUICK_EVAL_SETTINGS,
  standard: { ...DEFAULT_EVAL_SETTINGS, repeats: 1 },
};

export interface EvalRunState {
  status: 'idle' | 'running' | 'cancelling';
  requestId: number | null;
  done: number;
  total: number;
  stage: string;
  startedAt: number | null;
  outcome: 'none' | 'finished' | 'cancelled' | 'failed';
}

export interface EvalState {
  preset: EvalPreset;
  settings: EvalSettings;
  run: EvalRunState;
  result: EvalResult | null;
  /** The quick table the worker made (the same text `npm run eval` prints for these settings). */
  table: string;
  /** Wall time of the last finished run in the page, ms. */
  ms: number | null;
  /** Why the settings or the last run failed, in words. */
  error: string | null;
}

export interface EvalActions {
  choosePreset(preset: EvalPreset): void;
  setSetting<K extends keyof EvalSettings>(key: K, value: EvalSettings[K]): void;
  start(): Promise<void>;
  cancel(): void;
}

const idleRun: EvalRunState = { status: 'idle', requestId: null, done: 0, total: 0, stage: '', startedAt: null, outcome: 'none' };

const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));

export const useEval = create<EvalState & EvalActions>()((set, get) => ({
  preset: 'quick',
  settings: EVAL_PRESETS.quick,
  run: idleRun,
  result: null,
  table: '',
  ms: null,
  error: null,

  choosePreset(preset) {
    set({ preset, settings: EVAL_PRESETS[preset], error: null });
  },

  setSetting(key, value) {
    set({ settings: { ...get().settings, [key]: value }, error: null });
  },

  async start() {
    const { settings, run } = get();
    if (run.status !== 'idle' || useStudio.getState().workerStatus !== 'ready') return;
    try {
      checkEvalSettings(settings);
    } catch (err) {
      return set({ error: messageOf(err) });
    }
    const { id, reply } = modelClient().runEval(
      { settings, classifierUrl: publicUrl('models/classifier/'), manifestUrl: publicUrl('data/emoji-32.json'), atlasUrl: publicUrl('data/emoji-32.png') },
      (message) => {
        if (get().run.requestId !== id) return;
        set({ run: { ...get().run, done: message.done, total: message.total, stage: message.stage ?? get().run.stage } });
      },
    );
    const startedAt = Date.now();
    set({ run: { ...idleRun, status: 'running', requestId: id, startedAt, stage: 'starting' }, error: null });
    try {
      const done = await reply;
      set({ result: done.result, table: done.table, ms: Date.now() - startedAt, run: { ...get().run, status: 'idle', requestId: null, done: get().run.total, outcome: 'finished' } });
    } catch (err) {
      const cancelled = err instanceof ModelRequestError && err.reason === 'cancelled';
      // The last finished table stays: a failed or cancelled run loses nothing the user had.
      set({ run: { ...get().run, status: 'idle', requestId: null, outcome: cancelled ? 'cancelled' : 'failed' }, error: cancelled ? null : `The evaluation stopped: ${messageOf(err)}` });
    }
  },

  cancel() {
    const { run } = get();
    if (run.status !== 'running' || run.requestId === null) return;
    modelClient().cancel(run.requestId);
    set({ run: { ...run, status: 'cancelling' } });
  },
}));
