// The model worker: owns TF.js and the checkpoint. A thin switch from a message to src/core;
// every request gets exactly one reply (progress messages aside), errors included.

import * as tf from '@tensorflow/tfjs-core';
import wasmUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimdUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreadedSimdUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';

import {
  CancelledError,
  countParams,
  disposeCheckpoint,
  fetchCheckpoint,
  generate,
  initBackend,
  unknownWords,
  type Checkpoint,
} from '../src/core';
import { parseCheckpoint, serializeCheckpoint } from '../src/core/io/checkpoint';
import { disposeParams } from '../src/core/model/layers';
import { runSail } from '../src/core/sail/loop';
import { encodePairs } from '../src/core/sail/prepare';
import type {
  ErrorReply,
  GenerateRequest,
  InitRequest,
  RunSailRequest,
  WorkerErrorReason,
  WorkerReply,
  WorkerRequest,
} from '../src/protocol';

// Vite fingerprints and serves the binaries; TF.js would otherwise look next to the worker script.
const wasmPaths = {
  'tfjs-backend-wasm.wasm': wasmUrl,
  'tfjs-backend-wasm-simd.wasm': wasmSimdUrl,
  'tfjs-backend-wasm-threaded-simd.wasm': wasmThreadedSimdUrl,
};

// The DOM lib is the project's; these are the two members of the worker scope used here.
const scope = self as unknown as {
  postMessage(message: WorkerReply, transfer: Transferable[]): void;
  onmessage: ((event: MessageEvent<WorkerRequest>) => void) | null;
};

let checkpoint: Checkpoint | undefined;
const cancelled = new Set<number>();

function post(reply: WorkerReply, transfer: Transferable[] = []): void {
  scope.postMessage(reply, transfer);
}

/** An error whose reply reason is known where it is thrown. */
class RequestFailure extends Error {
  constructor(
    readonly reason: WorkerErrorReason,
    message: string,
  ) {
    super(message);
  }
}

const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));

async function init(req: InitRequest): Promise<void> {
  const started = performance.now();
  if (checkpoint) disposeCheckpoint(checkpoint);
  checkpoint = undefined;
  const backend = await initBackend({ preference: req.backendPreference, wasmPaths }).catch((err: unknown) => {
    throw new RequestFailure('backend-failed', messageOf(err)); // names every backend tried and why it failed
  });
  checkpoint = await fetchCheckpoint(req.modelUrl).catch((err: unknown) => {
    throw new RequestFailure('model-load-failed', `The model at ${req.modelUrl} could not be loaded: ${messageOf(err)}`);
  });
  post({
    kind: 'ready',
    id: req.id,
    backend,
    activeBackend: tf.getBackend(),
    model: {
      params: countParams(checkpoint),
      imageSize: checkpoint.config.imageSize,
      sampling: checkpoint.config.sampling,
      provenance: checkpoint.config.provenance ?? {},
    },
    ms: performance.now() - started,
  });
}

async function runGenerate(req: GenerateRequest, ck: Checkpoint): Promise<void> {
  const started = performance.now();
  try {
    const { size, images } = await generate(ck, {
      prompt: req.prompt,
      count: req.count,
      seed: req.seed,
      guidance: req.guidance,
      steps: req.steps,
      onProgress: (done, total) => post({ kind: 'progress', id: req.id, done, total }),
      isCancelled: () => cancelled.has(req.id),
    });
    // Each image must own its whole buffer to be transferred; copy only the ones that do not.
    const buffers = images.map((img) =>
      img.byteOffset === 0 && img.byteLength === img.buffer.byteLength ? (img.buffer as ArrayBuffer) : img.slice().buffer,
    );
    const ms = performance.now() - started;
    post({ kind: 'result', id: req.id, images: buffers, size, ms, backend: tf.getBackend() }, buffers);
  } finally {
    cancelled.delete(req.id);
  }
}

/** SAIL on the loaded model as the base; the engine's events go to the app unchanged. */
async function runSailRequest(req: RunSailRequest, base: Checkpoint): Promise<void> {
  const weightsOf = (bytes: ArrayBuffer) => parseCheckpoint(base.config, bytes).params;
  const resumeFrom = req.resumeFrom && {
    round: req.resumeFrom.round,
    params: weightsOf(req.resumeFrom.weights),
    round0Params: req.resumeFrom.round0Weights ? weightsOf(req.resumeFrom.round0Weights) : undefined,
  };
  let rounds = 0;
  try {
    const seedPairs = await encodePairs(base, req.seedPairs);
    const result = await runSail({
      base,
      seedPairs,
      promptPools: req.promptPools,
      settings: req.settings,
      resumeFrom,
      isCancelled: () => cancelled.has(req.id),
      onEvent: (event) => post({ kind: 'sail-event', id: req.id, event }),
      onRoundDone: async ({ round, params, record, selfPairs }) => {
        const weights = (await serializeCheckpoint({ config: base.config, params })).safetensors.slice().buffer as ArrayBuffer;
        const pairs = selfPairs.map((p) => ({ prompt: p.prompt, margin: p.margin, winner: p.winnerImage.slice().buffer as ArrayBuffer, loser: p.loserImage.slice().buffer as ArrayBuffer }));
        post({ kind: 'sail-round', id: req.id, round, record, weights, selfPairs: pairs }, [weights, ...pairs.flatMap((p) => [p.winner, p.loser])]);
        rounds++;
      },
    });
    if (result.params !== base.params) disposeParams(result.params);
    post({ kind: 'sail-done', id: req.id, rounds });
  } finally {
    cancelled.delete(req.id);
  }
}

function requireCheckpoint(): Checkpoint {
  if (!checkpoint) throw new RequestFailure('not-ready', 'The model is not loaded yet; wait for it, or reload the page.');
  return checkpoint;
}

function checkGenerate(req: GenerateRequest): void {
  const numbers = { count: req.count, seed: req.seed, guidance: req.guidance, steps: req.steps };
  for (const [name, value] of Object.entries(numbers)) {
    if (typeof value !== 'number' || !Number.isFinite(value)) throw new RequestFailure('bad-request', `${name} must be a number.`);
  }
  if (typeof req.prompt !== 'string') throw new RequestFailure('bad-request', 'The prompt must be text.');
}

async function handle(req: WorkerRequest): Promise<void> {
  switch (req.kind) {
    case 'init':
      return init(req);
    case 'generate':
      checkGenerate(req);
      return runGenerate(req, requireCheckpoint());
    case 'check-prompt':
      post({ kind: 'prompt-checked', id: req.id, unknownWords: unknownWords(requireCheckpoint(), req.prompt) });
      return;
    case 'cancel':
      cancelled.add(req.targetId);
      return;
    case 'run-sail':
      return runSailRequest(req, requireCheckpoint());
    default: {
      const unknown = req as { kind?: unknown; id?: unknown };
      throw new RequestFailure('bad-request', `Unknown request kind ${JSON.stringify(unknown.kind)}.`);
    }
  }
}

function errorReply(id: number, err: unknown): ErrorReply {
  if (err instanceof RequestFailure) return { kind: 'error', id, reason: err.reason, message: err.message };
  if (err instanceof CancelledError) return { kind: 'error', id, reason: 'cancelled', message: 'Generation was cancelled.' };
  return { kind: 'error', id, reason: 'internal', message: `Something went wrong in the model worker: ${messageOf(err)}` };
}

scope.onmessage = (event: MessageEvent<WorkerRequest>) => {
  const req = event.data;
  handle(req).catch((err: unknown) => {
    const reply = errorReply(req.id, err);
    if (reply.reason === 'internal') console.warn('model worker:', req.kind, err);
    post(reply);
  });
};
