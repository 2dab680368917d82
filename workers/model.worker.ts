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
import { renderGrid } from '../src/core/grid';
import { parseCheckpoint, serializeCheckpoint } from '../src/core/io/checkpoint';
import { disposeParams } from '../src/core/model/layers';
import { DriftError, NonFiniteLossError, runSail } from '../src/core/sail/loop';
import { anchorSetFor } from '../src/core/sail/anchor';
import { DEFAULT_SAIL_SETTINGS } from '../src/core/sail/settings';
import type { AnchorSet } from '../src/core/sail/safety';
import { encodePairs } from '../src/core/sail/prepare';
import { fetchEvalInputs, runEvaluation } from '../src/core/eval/arms';
import { checkEvalSettings, quickTable } from '../src/core/eval/summary';
import type {
  CheckModelRequest,
  ErrorReply,
  GenerateRequest,
  InitRequest,
  LoseDeviceRequest,
  ModelSummary,
  ModelWeights,
  RenderGridRequest,
  RunEvalRequest,
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

function summaryOf(ck: Checkpoint): ModelSummary {
  return {
    params: countParams(ck),
    imageSize: ck.config.imageSize,
    sampling: ck.config.sampling,
    provenance: ck.config.provenance ?? {},
  };
}

/**
 * On WebGPU a lost device (driver reset, GPU process crash) leaves every later op failing; the
 * worker then ends itself with an uncaught error, and the client restarts it as after a crash.
 */
let deviceLoss: Promise<string> | undefined;
let deviceLost: string | undefined;

function watchDeviceLoss(): void {
  deviceLoss = undefined;
  if (tf.getBackend() !== 'webgpu') return;
  const device = (tf.backend() as unknown as { device?: { lost?: Promise<{ message: string }> } }).device;
  deviceLoss = device?.lost?.then((info) => {
    deviceLost = `The GPU device was lost (${info.message || 'no reason given'})`;
    setTimeout(() => {
      throw new Error(deviceLost);
    });
    return deviceLost;
  });
}

/**
 * Whether a failure was the device going away: the op in flight fails first (a buffer unmapped
 * before its mapping resolved), and `device.lost` resolves just after; wait briefly for it.
 */
async function lostDevice(): Promise<string | undefined> {
  if (!deviceLoss || deviceLost) return deviceLost;
  return Promise.race([deviceLoss, new Promise<undefined>((resolve) => setTimeout(resolve, 200))]);
}

function loseDevice(): void {
  if (tf.getBackend() !== 'webgpu') return;
  (tf.backend() as unknown as { device?: { destroy(): void } }).device?.destroy();
}

/** A checkpoint for other weights than the loaded ones; the caller disposes it. */
function checkpointFor(model: ModelWeights, loaded: Checkpoint): Checkpoint {
  try {
    return parseCheckpoint(model.config ?? loaded.config, model.weights);
  } catch (err) {
    throw new RequestFailure('bad-request', `These weights cannot be read: ${messageOf(err)}`);
  }
}

/** Each image must own its whole buffer to be transferred; copies only the ones that do not. */
const ownBuffers = (images: Uint8ClampedArray[]) =>
  images.map((img) => (img.byteOffset === 0 && img.byteLength === img.buffer.byteLength ? (img.buffer as ArrayBuffer) : img.slice().buffer));

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
  watchDeviceLoss();
  post({ kind: 'ready', id: req.id, backend, activeBackend: tf.getBackend(), model: summaryOf(checkpoint), ms: performance.now() - started });
}

async function runGenerate(req: GenerateRequest, loaded: Checkpoint): Promise<void> {
  const started = performance.now();
  const ck = req.model ? checkpointFor(req.model, loaded) : loaded;
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
    const buffers = ownBuffers(images);
    const ms = performance.now() - started;
    post({ kind: 'result', id: req.id, images: buffers, size, ms, backend: tf.getBackend() }, buffers);
  } finally {
    if (ck !== loaded) disposeCheckpoint(ck);
    cancelled.delete(req.id);
  }
}

async function runRenderGrid(req: RenderGridRequest, loaded: Checkpoint): Promise<void> {
  const started = performance.now();
  const ck = req.model ? checkpointFor(req.model, loaded) : loaded;
  try {
    const images = await renderGrid(ck, req.cells, {
      guidance: req.guidance,
      steps: req.steps,
      onProgress: (done, total) => post({ kind: 'progress', id: req.id, done, total }),
      isCancelled: () => cancelled.has(req.id),
    });
    const buffers = ownBuffers(images);
    post({ kind: 'result', id: req.id, images: buffers, size: ck.config.imageSize, ms: performance.now() - started, backend: tf.getBackend() }, buffers);
  } finally {
    if (ck !== loaded) disposeCheckpoint(ck);
    cancelled.delete(req.id);
  }
}

function checkModel(req: CheckModelRequest): void {
  let ck: Checkpoint;
  try {
    ck = parseCheckpoint(req.config, req.weights);
  } catch (err) {
    throw new RequestFailure('bad-request', `This is not a checkpoint the studio can use: ${messageOf(err)}`);
  }
  const model = summaryOf(ck);
  disposeCheckpoint(ck);
  post({ kind: 'model-checked', id: req.id, model });
}

/** SAIL on the loaded model (or the project's imported base); the engine's events go to the app unchanged. */
async function runSailRequest(req: RunSailRequest, loaded: Checkpoint): Promise<void> {
  const base = req.base ? checkpointFor(req.base, loaded) : loaded;
  const weightsOf = (bytes: ArrayBuffer) => parseCheckpoint(base.config, bytes).params;
  // Settings from an older caller may lack newer fields (the regularisers): the defaults fill them.
  const settings = { ...DEFAULT_SAIL_SETTINGS, ...req.settings };
  let rounds = 0;
  try {
    const seedPairs = await encodePairs(base, req.seedPairs);
    // Parsed after the seed pairs so a bad pair cannot leak them: runSail owns them from here.
    const resumeFrom = req.resumeFrom && {
      round: req.resumeFrom.round,
      params: weightsOf(req.resumeFrom.weights),
      round0Params: req.resumeFrom.round0Weights ? weightsOf(req.resumeFrom.round0Weights) : undefined,
    };
    const anchor = req.anchorData ? await fetchAnchor(base, req.anchorData).catch(() => undefined) : undefined;
    const result = await runSail({
      base,
      seedPairs,
      anchor,
      promptPools: req.promptPools,
      settings,
      resumeFrom,
      isCancelled: () => cancelled.has(req.id),
      onEvent: (event) => post({ kind: 'sail-event', id: req.id, event }),
      onRoundDone: async ({ round, params, record, selfPairs }) => {
        const weights = (await serializeCheckpoint({ config: base.config, params })).safetensors.slice().buffer as ArrayBuffer;
        const pairs = selfPairs.map((p) => ({ prompt: p.prompt, margin: p.margin, winner: p.winnerImage.slice().buffer as ArrayBuffer, loser: p.loserImage.slice().buffer as ArrayBuffer }));
        const grid = ownBuffers(await renderGrid({ config: base.config, params }, req.grid ?? [], { guidance: settings.guidance, steps: settings.ddimSteps }));
        post({ kind: 'sail-round', id: req.id, round, record, weights, selfPairs: pairs, grid }, [weights, ...pairs.flatMap((p) => [p.winner, p.loser]), ...grid]);
        rounds++;
      },
    });
    if (result.params !== base.params) disposeParams(result.params);
    post({ kind: 'sail-done', id: req.id, rounds });
  } finally {
    if (base !== loaded) disposeCheckpoint(base);
    cancelled.delete(req.id);
  }
}

/** The real emoji a run is held to: the manifest and the atlas (decoded by the browser's image decoder). */
async function fetchAnchor(base: Checkpoint, data: { manifestUrl: string; atlasUrl: string }): Promise<AnchorSet> {
  const [manifest, blob] = await Promise.all([fetch(data.manifestUrl).then((r) => r.json()), fetch(data.atlasUrl).then((r) => r.blob())]);
  const bitmap = await createImageBitmap(blob);
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('no 2d context');
  ctx.drawImage(bitmap, 0, 0);
  const pixels = ctx.getImageData(0, 0, bitmap.width, bitmap.height).data;
  return anchorSetFor(base, manifest, { pixels, width: bitmap.width, channels: 4 });
}

/** The evaluation with a simulated annotator (issue 6) on the loaded model as the base. */
async function runEvalRequest(req: RunEvalRequest, base: Checkpoint): Promise<void> {
  try {
    try {
      checkEvalSettings(req.settings);
    } catch (err) {
      throw new RequestFailure('bad-request', messageOf(err));
    }
    const inputs = await fetchEvalInputs(base, req.classifierUrl, req.manifestUrl).catch((err: unknown) => {
      throw new RequestFailure('model-load-failed', `The evaluation classifier or the prompt list could not be loaded: ${messageOf(err)}`);
    });
    if (req.atlasUrl) {
      inputs.anchor = await fetchAnchor(base, { manifestUrl: req.manifestUrl, atlasUrl: req.atlasUrl }).catch((err: unknown) => {
        disposeParams(inputs.classifier.params);
        throw new RequestFailure('model-load-failed', `The real emoji the evaluation holds models to could not be loaded: ${messageOf(err)}`);
      });
    }
    try {
      const result = await runEvaluation(inputs, req.settings, {
        backend: tf.getBackend(),
        isCancelled: () => cancelled.has(req.id),
        onProgress: (p) => post({ kind: 'progress', id: req.id, done: p.done, total: p.total, stage: p.stage }),
      });
      post({ kind: 'eval-done', id: req.id, result, table: quickTable(result) });
    } finally {
      disposeParams(inputs.classifier.params);
    }
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

async function handle(req: WorkerRequest | LoseDeviceRequest): Promise<void> {
  // Test hook, compiled only into the e2e build: the production bundle has neither it nor its name.
  if (import.meta.env.MODE === 'e2e' && req.kind === 'lose-device') return loseDevice();
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
    case 'run-eval':
      return runEvalRequest(req, requireCheckpoint());
    case 'run-sail':
      return runSailRequest(req, requireCheckpoint());
    case 'render-grid':
      return runRenderGrid(req, requireCheckpoint());
    case 'check-model':
      return checkModel(req);
    default: {
      const unknown = req as { kind?: unknown; id?: unknown };
      throw new RequestFailure('bad-request', `Unknown request kind ${JSON.stringify(unknown.kind)}.`);
    }
  }
}

function errorReply(id: number, err: unknown): ErrorReply {
  if (err instanceof RequestFailure) return { kind: 'error', id, reason: err.reason, message: err.message };
  if (err instanceof CancelledError) return { kind: 'error', id, reason: 'cancelled', message: 'Generation was cancelled.' };
  if (err instanceof NonFiniteLossError) return { kind: 'error', id, reason: 'diverged', message: err.message };
  if (err instanceof DriftError) return { kind: 'error', id, reason: 'drifted', message: err.message };
  return { kind: 'error', id, reason: 'internal', message: `Something went wrong in the model worker: ${messageOf(err)}` };
}

scope.onmessage = (event: MessageEvent<WorkerRequest>) => {
  const req = event.data;
  handle(req).catch(async (err: unknown) => {
    const lost = err instanceof RequestFailure || err instanceof CancelledError ? undefined : await lostDevice();
    const reply: ErrorReply = lost ? { kind: 'error', id: req.id, reason: 'device-lost', message: `${lost}; the model worker restarts.` } : errorReply(req.id, err);
    if (reply.reason === 'internal') console.warn('model worker:', req.kind, err);
    post(reply);
  });
};
