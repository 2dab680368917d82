// The app's side of workers/model.worker.ts: one request, one promise. After the pattern of
// microbit ml-trainer's worker client: a map of pending requests keyed by id, an inactivity
// watchdog that any message from the worker resets, typed failure reasons, and a fresh worker
// after a crash (the caller is told, so it can say so and send init again).

import type {
  CancelRequest,
  EvalDoneReply,
  ModelSummary,
  ProgressReply,
  ReadyReply,
  ReplyFor,
  ResultReply,
  SailDoneReply,
  StreamReply,
  WorkerErrorReason,
  WorkerReply,
  WorkerRequest,
} from '../../protocol';

/**
 * Why a request failed: the worker's own reasons, plus those only the client can see: the
 * watchdog expired, the worker crashed, or the app ended the worker on purpose (terminate()).
 */
export type FailureReason = WorkerErrorReason | 'timeout' | 'worker-crashed' | 'restarted';

export class ModelRequestError extends Error {
  constructor(
    readonly reason: FailureReason,
    message: string,
  ) {
    super(message);
    this.name = 'ModelRequestError';
  }
}

type Replyable = Exclude<WorkerRequest, CancelRequest>;
/** A request as the caller writes it: the client assigns the id. */
type Body<R> = R extends WorkerRequest ? Omit<R, 'id'> : never;
/** The fields of request `K`, without its kind and id. */
export type ArgsOf<K extends Replyable['kind']> = Omit<Extract<Replyable, { kind: K }>, 'id' | 'kind'>;

/** A request in flight: its id (to cancel it) and its reply. */
export interface Job<T> {
  id: number;
  reply: Promise<T>;
}

interface Pending {
  resolve(reply: WorkerReply): void;
  reject(error: ModelRequestError): void;
  onProgress?: (done: number, total: number) => void;
  onStream?: (reply: StreamReply) => void;
}

export interface ModelClientOptions {
  /** Makes the worker; tests pass a fake. */
  createWorker?: () => Worker;
  /**
   * Silence longer than this while a request is pending counts as a hung worker. Generous:
   * SwiftShader WebGPU compiles shaders for many seconds before the first step reports.
   */
  inactivityMs?: number;
  /** Called once per crash or watchdog expiry, after the pending requests were rejected. */
  onFatal?: (error: ModelRequestError) => void;
}

const defaultCreateWorker = () =>
  new Worker(new URL('../../../workers/model.worker.ts', import.meta.url), { type: 'module', name: 'model' });

export class ModelClient {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private watchdog: ReturnType<typeof setTimeout> | undefined;
  private readonly createWorker: () => Worker;
  private readonly inactivityMs: number;
  private readonly onFatal: (error: ModelRequestError) => void;

  constructor(options: ModelClientOptions = {}) {
    this.createWorker = options.createWorker ?? defaultCreateWorker;
    this.inactivityMs = options.inactivityMs ?? 300_000;
    this.onFatal = options.onFatal ?? (() => {});
  }

  /** Starts the backend and loads the checkpoint at `modelUrl` (any loaded model is replaced). */
  init(args: ArgsOf<'init'>): Promise<ReadyReply> {
    return this.send({ kind: 'init', ...args }).reply;
  }

  /** `count` images of one prompt; `onProgress` per denoising step. Cancellable by id. */
  generate(args: ArgsOf<'generate'>, onProgress?: (done: number, total: number) => void): Job<ResultReply> {
    return this.send({ kind: 'generate', ...args }, onProgress);
  }

  /** The words of `prompt` the model's tokenizer does not know. */
  async checkPrompt(prompt: string): Promise<string[]> {
    return (await this.send({ kind: 'check-prompt', prompt }).reply).unknownWords;
  }

  /** One image per (prompt, seed) cell, on `args.model` or the loaded model. */
  renderGrid(args: ArgsOf<'render-grid'>, onProgress?: (done: number, total: number) => void): Promise<ResultReply> {
    return this.send({ kind: 'render-grid', ...args }, onProgress).reply;
  }

  /** Reads an exported checkpoint and says what it is; throws (reason 'bad-request') when it cannot be used. */
  async checkModel(config: string, weights: ArrayBuffer): Promise<ModelSummary> {
    return (await this.send({ kind: 'check-model', config, weights }).reply).model;
  }

  /** A SAIL run: the engine's events and each finished round arrive through `onStream`. Cancellable by id. */
  runSail(args: ArgsOf<'run-sail'>, onStream: (reply: StreamReply) => void): Job<SailDoneReply> {
    return this.send({ kind: 'run-sail', ...args }, undefined, onStream);
  }

  /** The evaluation with a simulated annotator; `onProgress` gets each progress message (with its stage). Cancellable by id. */
  runEval(args: ArgsOf<'run-eval'>, onProgress: (reply: ProgressReply) => void): Job<EvalDoneReply> {
    return this.send({ kind: 'run-eval', ...args }, undefined, (reply) => {
      if (reply.kind === 'progress') onProgress(reply);
    });
  }

  /**
   * Sends a request and settles with its reply: resolves with the success reply, rejects with
   * a ModelRequestError carrying the worker's reason (or 'timeout' / 'worker-crashed').
   * Returns the id as well, so the caller can cancel it.
   */
  private send<K extends keyof ReplyFor>(
    body: Body<Extract<Replyable, { kind: K }>> & { kind: K },
    onProgress?: (done: number, total: number) => void,
    onStream?: (reply: StreamReply) => void,
    transfer: Transferable[] = [],
  ): { id: number; reply: Promise<ReplyFor[K]> } {
    const worker = this.ensureWorker();
    const id = this.nextId++;
    const reply = new Promise<ReplyFor[K]>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (r: WorkerReply) => void, reject, onProgress, onStream });
    });
    worker.postMessage({ ...body, id } as WorkerRequest, transfer);
    this.armWatchdog();
    return { id, reply };
  }

  /** Asks the worker to stop request `targetId`; that request then rejects with reason 'cancelled'. */
  cancel(targetId: number): void {
    if (!this.worker || !this.pending.has(targetId)) return;
    const request: CancelRequest = { kind: 'cancel', id: this.nextId++, targetId };
    this.worker.postMessage(request);
  }

  /** Ends the worker and rejects whatever was pending (used when the backend choice changes). */
  terminate(): void {
    this.failAll(new ModelRequestError('restarted', 'The model worker was restarted.'));
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const worker = this.createWorker();
    worker.onmessage = (event: MessageEvent<WorkerReply>) => this.handleReply(event.data);
    worker.onerror = (event) => {
      event.preventDefault?.();
      const detail = event.message ? `: ${event.message}` : '';
      this.crash(new ModelRequestError('worker-crashed', `The model worker crashed${detail}.`));
    };
    worker.onmessageerror = () =>
      this.crash(new ModelRequestError('worker-crashed', 'The model worker sent a message that could not be read.'));
    this.worker = worker;
    return worker;
  }

  private handleReply(reply: WorkerReply): void {
    this.armWatchdog();
    const pending = this.pending.get(reply.id);
    if (!pending) return; // a reply to a request that was already failed by a crash or restart
    if (reply.kind === 'progress') {
      const { done, total } = reply as ProgressReply;
      pending.onProgress?.(done, total);
      pending.onStream?.(reply);
      return;
    }
    if (reply.kind === 'sail-event' || reply.kind === 'sail-round') {
      pending.onStream?.(reply);
      return;
    }
    this.pending.delete(reply.id);
    if (this.pending.size === 0) this.clearWatchdog();
    if (reply.kind === 'error') pending.reject(new ModelRequestError(reply.reason, reply.message));
    else pending.resolve(reply);
  }

  /** (Re)starts the inactivity countdown while anything is pending. */
  private armWatchdog(): void {
    this.clearWatchdog();
    if (this.pending.size === 0) return;
    this.watchdog = setTimeout(() => {
      const seconds = Math.round(this.inactivityMs / 1000);
      this.crash(new ModelRequestError('timeout', `The model worker did not answer for ${seconds} s.`));
    }, this.inactivityMs);
  }

  private clearWatchdog(): void {
    if (this.watchdog !== undefined) clearTimeout(this.watchdog);
    this.watchdog = undefined;
  }

  private crash(error: ModelRequestError): void {
    this.failAll(error);
    this.onFatal(error);
  }

  /** Terminates the worker (the next request spawns a fresh one) and rejects everything pending. */
  private failAll(error: ModelRequestError): void {
    this.clearWatchdog();
    this.worker?.terminate();
    this.worker = undefined;
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) p.reject(error);
  }
}
