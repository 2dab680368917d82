// The messages between the app and workers/model.worker.ts. Types only: both sides import this
// file and it must add no code to either bundle (the core types come in with `import type`).
// Every message carries `kind` (the discriminant) and `id`; a reply's id is its request's id.

import type { BackendChoice, BackendPreference } from './core/backend';
import type { PairRecord } from './core/data/pairs';
import type { GridCell } from './core/grid';
import type { RoundRecord, SailEvent, SailSettings } from './core/sail/loop';
import type { EvalResult, EvalSettings } from './core/eval/summary';

export type { AdapterSummary, BackendChoice, BackendName, BackendPreference } from './core/backend';
export type { GridCell } from './core/grid';

// ---- requests: app -> worker ----

/** Pick a backend and load a checkpoint. The first request a worker gets; sent again after a respawn. */
export interface InitRequest {
  kind: 'init';
  id: number;
  backendPreference: BackendPreference;
  /** Folder holding config.json and model.safetensors, absolute, ending with '/'. */
  modelUrl: string;
  /** Run wasm on every core where the page allows it (`?threads=all`); else one thread. */
  allThreads?: boolean;
}

export interface GenerateRequest {
  kind: 'generate';
  id: number;
  prompt: string;
  /** Images to make, 1-16. */
  count: number;
  seed: number;
  /** Classifier-free guidance scale; 1 means no guidance. */
  guidance: number;
  /** DDIM steps. */
  steps: number;
  /** Other weights than the loaded ones (a project's imported base); omitted: the loaded model. */
  model?: ModelWeights;
}

/** Which words of a prompt the model's tokenizer does not know (they become UNK). */
export interface CheckPromptRequest {
  kind: 'check-prompt';
  id: number;
  prompt: string;
}

/** Stop the request `targetId` at its next step; that request then answers with error 'cancelled'. */
export interface CancelRequest {
  kind: 'cancel';
  id: number;
  targetId: number;
}

/**
 * Weights a request runs on instead of the loaded checkpoint: a round's checkpoint, or a
 * project's imported base. Copied, not transferred, so the app keeps its own bytes.
 */
export interface ModelWeights {
  /** config.json content of an imported base; omitted: the loaded checkpoint's config. */
  config?: unknown;
  /** model.safetensors bytes. */
  weights: ArrayBuffer;
}

/**
 * One image per prompt x seed cell (image `image`, default 0, of that seed's noise), on `model` or the loaded
 * checkpoint: Compare and the grid before round 0. Answers `result`, images in cell order.
 */
export interface RenderGridRequest {
  kind: 'render-grid';
  id: number;
  cells: GridCell[];
  guidance: number;
  steps: number;
  model?: ModelWeights;
}

/** Reads an exported checkpoint (config.json text + model.safetensors) and checks it; changes nothing. */
export interface CheckModelRequest {
  kind: 'check-model';
  id: number;
  config: string;
  weights: ArrayBuffer;
}

/**
 * Run SAIL on the loaded model as the base: round 0 on the seed pairs, then `settings.rounds`
 * self-amplifying rounds, or continue after `resumeFrom`. Streams `sail-event` (the engine's
 * events, unchanged) and one `sail-round` per finished round, then answers `sail-done`.
 */
export interface RunSailRequest {
  kind: 'run-sail';
  id: number;
  seedPairs: PairRecord[];
  /** Fresh prompts of round k at index k - 1. */
  promptPools: string[][];
  settings: SailSettings;
  /** The last finished round's weights (model.safetensors bytes) to continue from. */
  resumeFrom?: { round: number; weights: ArrayBuffer; round0Weights?: ArrayBuffer };
  /** The project's imported base, used instead of the loaded checkpoint (round weights then share its config). */
  base?: ModelWeights;
  /** Cells rendered after each round (guidance and DDIM steps of `settings`) into `sail-round`'s grid. */
  grid?: GridCell[];
  /**
   * The dataset (manifest and atlas URLs) whose real emoji the run is held to: the prior term and
   * the drift measure. Without it, or when it cannot be read, the seed pairs' own images are used.
   */
  anchorData?: { manifestUrl: string; atlasUrl: string };
}

/**
 * The evaluation of issue 6 with a simulated annotator, on the loaded model as the base: every
 * arm, every repeat. Streams `progress` (with `stage`) and answers `eval-done`.
 */
export interface RunEvalRequest {
  kind: 'run-eval';
  id: number;
  settings: EvalSettings;
  /** Folder of the evaluation classifier (config.json + model.safetensors), ending with '/'. */
  classifierUrl: string;
  /** The dataset manifest (emoji-32.json): the prompt splits. */
  manifestUrl: string;
  /** The dataset atlas (emoji-32.png): the real emoji every trained arm is held to, as in `npm run eval`. */
  atlasUrl?: string;
}

export type WorkerRequest = InitRequest | GenerateRequest | CheckPromptRequest | CancelRequest | RunSailRequest | RenderGridRequest | CheckModelRequest | RunEvalRequest;

// ---- replies: worker -> app ----

export interface ModelSummary {
  /** Number of parameters (all networks). */
  params: number;
  /** Side of the square images the model makes, in pixels. */
  imageSize: number;
  /** The checkpoint's own sampling defaults, which the form starts from. */
  sampling: { steps: number; guidance: number };
  /** config.json's `provenance`, as written by the command that made the checkpoint (JSON data). */
  provenance: Record<string, unknown>;
}

export interface ReadyReply {
  kind: 'ready';
  id: number;
  /** What backend selection chose and why. */
  backend: BackendChoice;
  /** tf.getBackend() after loading: the backend the worker actually runs on. */
  activeBackend: string;
  model: ModelSummary;
  /** Milliseconds from the init request to ready (backend start-up plus checkpoint download). */
  ms: number;
}

export interface ProgressReply {
  kind: 'progress';
  id: number;
  done: number;
  total: number;
  /** What runs now, in words (run-eval). */
  stage?: string;
}

export interface ResultReply {
  kind: 'result';
  id: number;
  /** One RGBA image per buffer, size*size*4 bytes each; transferred, not copied. */
  images: ArrayBuffer[];
  size: number;
  /** Milliseconds the generation took inside the worker. */
  ms: number;
  /** tf.getBackend() while generating. */
  backend: string;
}

export interface ModelCheckedReply {
  kind: 'model-checked';
  id: number;
  model: ModelSummary;
}

export interface PromptCheckedReply {
  kind: 'prompt-checked';
  id: number;
  unknownWords: string[];
}

/**
 * Why a request failed.
 * - backend-failed: no TF.js backend could start (init).
 * - model-load-failed: the checkpoint could not be fetched or read (init).
 * - not-ready: a request came before a successful init.
 * - cancelled: a cancel request stopped it.
 * - diverged: a SAIL run's loss became NaN or infinite (the message names the round and step).
 * - drifted: a SAIL round drifted past the bound from the base (it would stop drawing what it
 *   could); the round was not kept, the rounds before it were.
 * - device-lost: the WebGPU device went away mid-request; the worker then ends itself and the
 *   client restarts it.
 * - bad-request: the request's fields are out of range; the message says which.
 * - internal: anything else; the message is the underlying error's.
 */
export type WorkerErrorReason =
  | 'backend-failed'
  | 'model-load-failed'
  | 'not-ready'
  | 'cancelled'
  | 'diverged'
  | 'drifted'
  | 'device-lost'
  | 'bad-request'
  | 'internal';

export interface ErrorReply {
  kind: 'error';
  id: number;
  reason: WorkerErrorReason;
  /** A sentence a user can act on. */
  message: string;
}

/** One event of a SAIL run, as the engine emitted it. */
export interface SailEventReply {
  kind: 'sail-event';
  id: number;
  event: SailEvent;
}

/** A finished SAIL round: everything the app stores to never lose it. */
export interface SailRoundReply {
  kind: 'sail-round';
  id: number;
  round: number;
  record: RoundRecord;
  /** model.safetensors of M_{round+1} (the config is the base model's); transferred. */
  weights: ArrayBuffer;
  /** The round's self pairs, winner and loser as 32x32 RGBA; transferred. */
  selfPairs: { prompt: string; margin: number; winner: ArrayBuffer; loser: ArrayBuffer }[];
  /** The request's grid cells after this round, 32x32 RGBA each, in cell order; transferred. */
  grid: ArrayBuffer[];
}

export interface SailDoneReply {
  kind: 'sail-done';
  id: number;
  /** Rounds finished by this request. */
  rounds: number;
}

/** Replies that come before a request's final answer. */
export type StreamReply = ProgressReply | SailEventReply | SailRoundReply;

/** The finished evaluation: raw figures and the quick table the CLI prints for the same run. */
export interface EvalDoneReply {
  kind: 'eval-done';
  id: number;
  result: EvalResult;
  table: string;
}

export type WorkerReply = ReadyReply | ProgressReply | ResultReply | PromptCheckedReply | ModelCheckedReply | ErrorReply | SailEventReply | SailRoundReply | SailDoneReply | EvalDoneReply;

/** The reply each request settles with when it succeeds. */
export interface ReplyFor {
  init: ReadyReply;
  generate: ResultReply;
  'check-prompt': PromptCheckedReply;
  'run-sail': SailDoneReply;
  'render-grid': ResultReply;
  'check-model': ModelCheckedReply;
  'run-eval': EvalDoneReply;
}
