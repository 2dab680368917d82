// The model worker's logic as an importable module: a request in, exactly one reply out
// (progress and stream messages aside), errors included and mapped to typed reasons. The worker
// file (workers/model.worker.ts) is a thin shell around it: the wasm binaries' URLs, the
// browser's image decoder, and `self.onmessage`. Node tests drive it directly
// (test/model-service.test.ts) with a file fetch and the cpu or wasm backend.

import * as tf from '@tensorflow/tfjs-core';

import type {
  CheckModelRequest,
  ErrorReply,
  GenerateRequest,
  InitRequest,
  ModelSummary,
  ModelWeights,
  RenderGridRequest,
  RunEvalRequest,
  RunSailRequest,
  WorkerErrorReason,
  WorkerReply,
  WorkerRequest,
} from '../../protocol';
import { initBackend } from '../backend';
import { fetchEvalInputs, runEvaluation } from '../eval/arms';
import { checkEvalSettings, quickTable } from '../eval/summary';
import { CancelledError, generate, unknownWords } from '../generate';
import { renderGrid } from '../grid';
import { countParams, disposeCheckpoint } from '../index';
import { fetchCheckpoint, parseCheckpoint, serializeCheckpoint } from '../io/checkpoint';
import { disposeParams } from '../model/layers';
import type { Checkpoint } from '../model/ldm';
import { anchorSetFor } from '../sail/anchor';
import { DriftError, NonFiniteLossError, runSail } from '../sail/loop';
import { encodePairs } from '../sail/prepare';
import type { AnchorSet } from '../sail/safety';
import { remoteHelper, type HelperPort } from './helperService';
import { DEFAULT_SAIL_SETTINGS } from '../sail/settings';

/** Pixels of a decoded image, RGBA, row-major. */
export interface DecodedImage {
  pixels: Uint8ClampedArray | Uint8Array;
  width: number;
}

export interface ModelServiceOptions {
  /** Where replies go (the worker's postMessage). */
  post(reply: WorkerReply, transfer?: Transferable[]): void;
  /** URLs of the wasm binaries (the worker's bundler fingerprints them). */
  wasmPaths?: Record<string, string>;
  /** Threads for wasm's threaded build when a request asks for all (the worker: every core on a cross-origin-isolated page); default 1. */
  wasmThreads?: number;
  /** Fetches checkpoints, the manifest, the atlas and the classifier; the global fetch by default. */
  fetch?: typeof fetch;
  /** Decodes the dataset atlas (PNG bytes) to RGBA: the browser's decoder in the worker, a PNG library in Node. */
  decodeImage(bytes: Blob): Promise<DecodedImage>;
  /**
   * Starts a helper worker (workers/helper.worker.ts) for half of each SAIL round's candidates, on
   * another core; absent where there is no second core. Used on wasm with one thread only.
   */
  spawnHelper?: () => HelperPort;
}

export interface ModelService {
  /** Answers one request (the reply, or an error reply, goes through `post`); never rejects. */
  handle(req: WorkerRequest): Promise<void>;
  /** The loaded checkpoint (undefined before init); the caller must not dispose it. */
  loaded(): Checkpoint | undefined;
}

/** One DPO step's numbers on a checkpoint (the e2e build's backend parity test; tree-shaken from production). */
export { dpoParityProbe } from '../sail/parityProbe';

/** Destroys the WebGPU device (the e2e build's test of a lost device; nothing else calls it). */
export function loseDevice(): void {
  if (tf.getBackend() !== 'webgpu') return;
  (tf.backend() as unknown as { device?: { destroy(): void } }).device?.destroy();
}

/** An error whose reply reason is known where it is thrown. */
export class RequestFailure extends Error {
  constructor(
    readonly reason: WorkerErrorReason,
    message: string,
  ) {
    super(message);
  }
}

const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));

export function summaryOf(ck: Checkpoint): ModelSummary {
  return {
    params: countParams(ck),
    imageSize: ck.config.imageSize,
    sampling: ck.config.sampling,
    provenance: ck.config.provenance ?? {},
  };
}

/** The reply for a failure that is not a lost device. */
export function errorReply(id: number, err: unknown): ErrorReply {
  if (err instanceof RequestFailure) return { kind: 'error', id, reason: err.reason, message: err.message };
  if (err instanceof CancelledError) return { kind: 'error', id, reason: 'cancelled', message: 'Generation was cancelled.' };
  if (err instanceof NonFiniteLossError) return { kind: 'error', id, reason: 'diverged', message: err.message };
  if (err instanceof DriftError) return { kind: 'error', id, reason: 'drifted', message: err.message };
  return { kind: 'error', id, reason: 'internal', message: `Something went wrong in the model worker: ${messageOf(err)}` };
}

/** Each image must own its whole buffer to be transferred; copies only the ones that do not. */
const ownBuffers = (images: Uint8ClampedArray[]) =>
  images.map((img) => (img.byteOffset === 0 && img.byteLength === img.buffer.byteLength ? (img.buffer as ArrayBuffer) : img.slice().buffer));

export function createModelService(options: ModelServiceOptions): ModelService {
  const fetchFn = options.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, init));
  const post = (reply: WorkerReply, transfer: Transferable[] = []) => options.post(reply, transfer);
  let checkpoint: Checkpoint | undefined;
  let wasmThreads: number | null = null;
  const cancelled = new Set<number>();

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

  /** A checkpoint for other weights than the loaded ones; the caller disposes it. */
  function checkpointFor(model: ModelWeights, loaded: Checkpoint): Checkpoint {
    try {
      return parseCheckpoint(model.config ?? loaded.config, model.weights);
    } catch (err) {
      throw new RequestFailure('bad-request', `These weights cannot be read: ${messageOf(err)}`);
    }
  }

  async function init(req: InitRequest): Promise<void> {
    const started = performance.now();
    if (checkpoint) disposeCheckpoint(checkpoint);
    checkpoint = undefined;
    const backend = await initBackend({ preference: req.backendPreference, wasmPaths: options.wasmPaths, wasmThreads: req.allThreads ? options.wasmThreads : 1 }).catch((err: unknown) => {
      throw new RequestFailure('backend-failed', messageOf(err)); // names every backend tried and why it failed
    });
    wasmThreads = backend.threads;
    checkpoint = await fetchCheckpoint(req.modelUrl, fetchFn).catch((err: unknown) => {
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

  /**
   * A second core for a run's candidates and steps where wasm runs on one thread here (the threaded
   * build has its own threads; WebGPU one GPU); started when the run first asks for it.
   */
  function helperFor(base: Checkpoint): ReturnType<typeof remoteHelper> | undefined {
    return options.spawnHelper && tf.getBackend() === 'wasm' && wasmThreads === 1 ? remoteHelper(options.spawnHelper, base) : undefined;
  }

  /** SAIL on the loaded model (or the project's imported base); the engine's events go to the app unchanged. */
  async function runSailRequest(req: RunSailRequest, loaded: Checkpoint): Promise<void> {
    const base = req.base ? checkpointFor(req.base, loaded) : loaded;
    const weightsOf = (bytes: ArrayBuffer) => parseCheckpoint(base.config, bytes).params;
    // Settings from an older caller may lack newer fields (the regularisers): the defaults fill them.
    const settings = { ...DEFAULT_SAIL_SETTINGS, ...req.settings };
    let rounds = 0;
    const helper = helperFor(base);
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
        helper,
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
      helper?.close();
      if (base !== loaded) disposeCheckpoint(base);
      cancelled.delete(req.id);
    }
  }

  /** The real emoji a run is held to: the manifest and the atlas (decoded by the browser's image decoder). */
  async function fetchAnchor(base: Checkpoint, data: { manifestUrl: string; atlasUrl: string }): Promise<AnchorSet> {
    const [manifest, blob] = await Promise.all([fetchFn(data.manifestUrl).then((r) => r.json()), fetchFn(data.atlasUrl).then((r) => r.blob())]);
    const { pixels, width } = await options.decodeImage(blob);
    return anchorSetFor(base, manifest, { pixels, width, channels: 4 });
  }

  /** The evaluation with a simulated annotator (issue 6) on the loaded model as the base. */
  async function runEvalRequest(req: RunEvalRequest, base: Checkpoint): Promise<void> {
    try {
      try {
        checkEvalSettings(req.settings);
      } catch (err) {
        throw new RequestFailure('bad-request', messageOf(err));
      }
      const inputs = await fetchEvalInputs(base, req.classifierUrl, req.manifestUrl, fetchFn).catch((err: unknown) => {
        throw new RequestFailure('model-load-failed', `The evaluation classifier or the prompt list could not be loaded: ${messageOf(err)}`);
      });
      if (req.atlasUrl) {
        inputs.anchor = await fetchAnchor(base, { manifestUrl: req.manifestUrl, atlasUrl: req.atlasUrl }).catch((err: unknown) => {
          disposeParams(inputs.classifier.params);
          throw new RequestFailure('model-load-failed', `The real emoji the evaluation holds models to could not be loaded: ${messageOf(err)}`);
        });
      }
      const helper = helperFor(base);
      try {
        const result = await runEvaluation(inputs, req.settings, {
          backend: tf.getBackend(),
          helper,
          isCancelled: () => cancelled.has(req.id),
          onProgress: (p) => post({ kind: 'progress', id: req.id, done: p.done, total: p.total, stage: p.stage }),
        });
        post({ kind: 'eval-done', id: req.id, result, table: quickTable(result) });
      } finally {
        helper?.close();
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

  async function dispatch(req: WorkerRequest): Promise<void> {
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

  return {
    async handle(req) {
      try {
        await dispatch(req);
      } catch (err: unknown) {
        const lost = err instanceof RequestFailure || err instanceof CancelledError ? undefined : await lostDevice();
        const reply: ErrorReply = lost ? { kind: 'error', id: req.id, reason: 'device-lost', message: `${lost}; the model worker restarts.` } : errorReply(req.id, err);
        if (reply.reason === 'internal') console.warn('model worker:', req.kind, err);
        post(reply);
      }
    },
    loaded: () => checkpoint,
  };
}
