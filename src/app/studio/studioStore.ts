// The studio's state and the named actions that change it. All model work goes through the
// worker client; this file holds no TF.js.

import { create } from 'zustand';

import type { BackendChoice, BackendPreference, ModelSummary } from '../../protocol';
import { clampTo, type LimitName } from '../shared/limits';
import { ModelClient, ModelRequestError } from '../shared/modelClient';
import { drawAcrossCategories, type SpreadPrompt } from '../../core/data/promptSpread';
import { fetchNotice, fetchStudioPrompts } from '../shared/publicData';
import { initialBackendPreference, modelUrl, allThreadsAsked, saveBackendPreference } from '../shared/settings';

export type WorkerStatus = 'starting' | 'ready' | 'failed';

export interface GenerationResult {
  prompt: string;
  seed: number;
  guidance: number;
  steps: number;
  size: number;
  /** RGBA, size*size*4 each. */
  images: Uint8ClampedArray[];
  ms: number;
  backend: string;
}

export interface Generation {
  status: 'idle' | 'running' | 'cancelling';
  /** The worker request id while running, for cancel. */
  requestId: number | null;
  done: number;
  total: number;
  /** How the last generation ended, shown beside the progress bar. */
  outcome: 'none' | 'finished' | 'cancelled' | 'failed';
}

export interface AppError {
  id: number;
  message: string;
}

export interface StudioState {
  backendPreference: BackendPreference;
  modelUrl: string;
  workerStatus: WorkerStatus;
  /** What backend selection chose and why; null until the worker is ready. */
  backend: BackendChoice | null;
  /** tf.getBackend() in the worker. */
  activeBackend: string | null;
  model: ModelSummary | null;
  /** Worker start-up time (backend plus checkpoint), ms. */
  initMs: number | null;

  prompt: string;
  count: number;
  seed: number;
  guidance: number;
  steps: number;
  unknownWords: string[];

  generation: Generation;
  result: GenerationResult | null;

  errors: AppError[];
  /** Held-out prompts, one per emoji, with their categories (suggestions and blind A/B draw across categories). */
  evaluationPrompts: SpreadPrompt[];
  suggestions: string[];
  /** Prompt -> the readable name the page shows for it (from the manifest; unknown prompts show as typed). */
  promptLabels: Record<string, string>;
  notice: { status: 'loading' | 'loaded' | 'failed'; text: string };
}

export interface StudioActions {
  /** (Re)starts the worker with the current backend preference and loads the model. */
  startWorker(): void;
  setBackendPreference(preference: BackendPreference): void;
  setPrompt(prompt: string): void;
  /** Sets a numeric control, clamped into its range. */
  setNumber(name: LimitName, value: number): void;
  randomizeSeed(): void;
  generate(): Promise<void>;
  cancel(): void;
  reportError(message: string): void;
  dismissError(id: number): void;
  loadSuggestions(): Promise<void>;
  shuffleSuggestions(): void;
  loadNotice(): Promise<void>;
}

const SUGGESTION_COUNT = 6;
/** After this many crashes in a row without a successful start, stop restarting by itself. */
const MAX_AUTO_RESTARTS = 2;
const PROMPT_CHECK_DELAY_MS = 250;

const idleGeneration: Generation = { status: 'idle', requestId: null, done: 0, total: 0, outcome: 'none' };

/** Failures the worker client reports once through onFatal (or that the app caused itself). */
const isWorkerLoss = (err: unknown) =>
  err instanceof ModelRequestError && (err.reason === 'worker-crashed' || err.reason === 'timeout' || err.reason === 'restarted');

const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));

let sharedClient: ModelClient | undefined;

/**
 * The one model-worker client of the page, for the other stores (projects, runs, evaluation):
 * they send their requests through it, so a crash and a restart reach every tab alike.
 */
export function modelClient(): ModelClient {
  if (!sharedClient) useStudio.getState();
  return sharedClient!;
}

export const useStudio = create<StudioState & StudioActions>()((set, get) => {
  let nextErrorId = 1;
  let crashesInARow = 0;
  let promptCheckTimer: ReturnType<typeof setTimeout> | undefined;
  /** Whether the user set steps or guidance; if not, each loaded model's own defaults apply. */
  let samplingEdited = false;

  const client = new ModelClient({
    onFatal: (error) => {
      set({ generation: { ...get().generation, status: 'idle', requestId: null, outcome: 'failed' } });
      if (crashesInARow < MAX_AUTO_RESTARTS) {
        crashesInARow++;
        get().reportError(`${error.message} Restarting it.`);
        get().startWorker();
      } else {
        get().reportError(`${error.message} It failed ${crashesInARow + 1} times in a row; press Restart to try again.`);
        set({ workerStatus: 'failed' });
      }
    },
  });
  sharedClient = client;
  // Test hook: lets e2e specs drive worker requests directly (run-sail).
  // Only in the e2e build (vite build --mode e2e).
  if (import.meta.env.MODE === 'e2e') (globalThis as { __sailStudioClient?: ModelClient }).__sailStudioClient = client;

  const checkPrompt = () => {
    clearTimeout(promptCheckTimer);
    promptCheckTimer = setTimeout(() => {
      const { prompt, workerStatus } = get();
      if (workerStatus !== 'ready') return;
      if (!prompt.trim()) return set({ unknownWords: [] });
      client.checkPrompt(toModelPrompt(prompt)).then(
        (unknownWords) => {
          if (get().prompt === prompt) set({ unknownWords });
        },
        () => {}, // a hint only: a failure here shows up again on Generate
      );
    }, PROMPT_CHECK_DELAY_MS);
  };

  return {
    backendPreference: initialBackendPreference(),
    modelUrl: modelUrl(),
    workerStatus: 'starting',
    backend: null,
    activeBackend: null,
    model: null,
    initMs: null,

    prompt: '',
    count: 4,
    seed: 1,
    guidance: 4,
    steps: 25,
    unknownWords: [],

    generation: idleGeneration,
    result: null,

    errors: [],
    evaluationPrompts: [],
    suggestions: [],
    promptLabels: {},
    notice: { status: 'loading', text: '' },

    startWorker() {
      client.terminate();
      set({ workerStatus: 'starting', backend: null, activeBackend: null, model: null, initMs: null, generation: idleGeneration });
      const { backendPreference, modelUrl } = get();
      client.init({ backendPreference, modelUrl, allThreads: allThreadsAsked() }).then(
        (ready) => {
          crashesInARow = 0;
          set({ workerStatus: 'ready', backend: ready.backend, activeBackend: ready.activeBackend, model: ready.model, initMs: ready.ms });
          if (!samplingEdited) set({ steps: ready.model.sampling.steps, guidance: ready.model.sampling.guidance });
          checkPrompt();
        },
        (err: unknown) => {
          if (isWorkerLoss(err)) return;
          set({ workerStatus: 'failed' });
          get().reportError(messageOf(err));
        },
      );
    },

    setBackendPreference(preference) {
      if (preference === get().backendPreference) return;
      saveBackendPreference(preference);
      set({ backendPreference: preference });
      crashesInARow = 0;
      get().startWorker();
    },

    setPrompt(prompt) {
      set({ prompt });
      checkPrompt();
    },

    setNumber(name, value) {
      if (!Number.isFinite(value)) return;
      if (name === 'steps' || name === 'guidance') samplingEdited = true;
      set({ [name]: clampTo(name, value) } as Pick<StudioState, LimitName>);
    },

    randomizeSeed() {
      get().setNumber('seed', Math.floor(Math.random() * 2 ** 31));
    },

    async generate() {
      const { workerStatus, generation, count, seed, guidance, steps } = get();
      const prompt = toModelPrompt(get().prompt);
      if (workerStatus !== 'ready' || generation.status !== 'idle') return;
      if (!prompt) return get().reportError('Type a prompt first (or pick a suggestion).');
      const { id, reply } = client.generate({ prompt, count, seed, guidance, steps }, (done, total) => {
        if (get().generation.requestId === id) set({ generation: { ...get().generation, done, total } });
      });
      set({ generation: { status: 'running', requestId: id, done: 0, total: steps, outcome: 'none' } });
      try {
        const result = await reply;
        set({
          result: {
            prompt,
            seed,
            guidance,
            steps,
            size: result.size,
            images: result.images.map((buffer) => new Uint8ClampedArray(buffer)),
            ms: result.ms,
            backend: result.backend,
          },
          // The bar ends full: progress messages may be throttled or arrive before the last decode.
          generation: { ...get().generation, done: Math.max(1, get().generation.total), total: Math.max(1, get().generation.total), status: 'idle', requestId: null, outcome: 'finished' },
        });
      } catch (err) {
        if (isWorkerLoss(err)) return; // onFatal or startWorker has already said what happened
        const cancelled = err instanceof ModelRequestError && err.reason === 'cancelled';
        set({ generation: { ...get().generation, status: 'idle', requestId: null, outcome: cancelled ? 'cancelled' : 'failed' } });
        if (!cancelled) get().reportError(messageOf(err));
      }
    },

    cancel() {
      const { generation } = get();
      if (generation.status !== 'running' || generation.requestId === null) return;
      client.cancel(generation.requestId);
      set({ generation: { ...generation, status: 'cancelling' } });
    },

    reportError(message) {
      set({ errors: [...get().errors, { id: nextErrorId++, message }] });
    },

    dismissError(id) {
      set({ errors: get().errors.filter((e) => e.id !== id) });
    },

    async loadSuggestions() {
      try {
        const { evaluation: evaluationPrompts, labels: promptLabels } = await fetchStudioPrompts();
        set({ evaluationPrompts, promptLabels, suggestions: drawAcrossCategories(evaluationPrompts, SUGGESTION_COUNT) });
      } catch (err) {
        console.warn('No prompt suggestions:', err);
      }
    },

    shuffleSuggestions() {
      set({ suggestions: drawAcrossCategories(get().evaluationPrompts, SUGGESTION_COUNT) });
    },

    async loadNotice() {
      try {
        set({ notice: { status: 'loaded', text: await fetchNotice() } });
      } catch (err) {
        set({ notice: { status: 'failed', text: `The licence notice could not be loaded (${messageOf(err)}).` } });
      }
    },
  };
});

let reverse: { from: Record<string, string>; map: Map<string, string> } | null = null;

/**
 * The prompt the model reads for what the user typed or picked: a known label (a suggestion's
 * text) becomes its emoji's prompt; anything else goes to the model as typed.
 */
export function toModelPrompt(text: string): string {
  const labels = useStudio.getState().promptLabels;
  if (reverse?.from !== labels) {
    const map = new Map<string, string>();
    for (const [prompt, label] of Object.entries(labels)) if (!map.has(label)) map.set(label, prompt);
    reverse = { from: labels, map };
  }
  const trimmed = text.trim();
  return reverse.map.get(trimmed) ?? trimmed;
}
