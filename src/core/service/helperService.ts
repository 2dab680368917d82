// A second model worker for the candidates of a SAIL round (issue 11: both cores). The run's worker
// hands it half of a round's chunks; it samples and scores them with annotateChunks on its own
// copy of the base, on another core, and sends back latents and per-draw rewards. The same function
// on the same seeded noise: the round's pairs are the ones one worker alone would make.
//
// The helper side (createHelperService) is what workers/helper.worker.ts runs; the run's side
// (remoteHelper) is a CandidateHelper over a port to it. Both are plain modules: Node tests wire
// them together in one process (test/helper-worker.test.ts).
import { initBackend } from '../backend';
import { makeSchedule } from '../diffusion/schedule';
import { parseCheckpoint, serializeCheckpoint } from '../io/checkpoint';
import type { ModelConfig } from '../model/config';
import { disposeParams, type Params } from '../model/layers';
import type { Checkpoint } from '../model/ldm';
import { annotateChunks, type AnnotateRequest, type CandidateHelper, type ChunkAnnotation, type SailSettings } from '../sail/loop';

export type HelperRequest =
  | { kind: 'helper-init'; id: number; config: ModelConfig; weights: ArrayBuffer }
  | { kind: 'helper-annotate'; id: number; generator: ArrayBuffer; judge: ArrayBuffer | null; prompts: string[]; chunks: number[][]; settings: SailSettings; round: number };

export type HelperReply =
  | { kind: 'helper-ready'; id: number }
  | { kind: 'helper-annotated'; id: number; latents: ArrayBuffer[]; perDraw: ArrayBuffer[] }
  | { kind: 'helper-error'; id: number; message: string };

const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** The helper worker's logic: init with the base, then annotate requests; one reply per request. */
export function createHelperService(options: {
  post(reply: HelperReply, transfer?: Transferable[]): void;
  wasmPaths?: Record<string, string>;
  /** The backend to run on: wasm (the worker), or whatever is already set (tests in one process). */
  backend?: 'wasm' | 'current';
}): { handle(req: HelperRequest): Promise<void>; dispose(): void } {
  let base: Checkpoint | undefined;

  async function annotate(req: Extract<HelperRequest, { kind: 'helper-annotate' }>): Promise<void> {
    if (!base) throw new Error('the helper has no base model yet');
    const generator = parseCheckpoint(base.config, req.generator).params;
    const judge: Params = req.judge ? parseCheckpoint(base.config, req.judge).params : generator;
    try {
      const job: AnnotateRequest = { generator, judge, prompts: req.prompts, chunks: req.chunks, settings: req.settings, round: req.round };
      const { chunks } = await annotateChunks({ base, schedule: makeSchedule(base.config.schedule), req: job });
      const latents: ArrayBuffer[] = [];
      for (const c of chunks) {
        latents.push(((await c.latents.data()) as Float32Array).slice().buffer as ArrayBuffer);
        c.latents.dispose();
      }
      const perDraw = chunks.map((c) => c.perDraw.slice().buffer as ArrayBuffer);
      options.post({ kind: 'helper-annotated', id: req.id, latents, perDraw }, [...latents, ...perDraw]);
    } finally {
      disposeParams(generator);
      if (judge !== generator) disposeParams(judge);
    }
  }

  return {
    dispose() {
      if (base) disposeParams(base.params);
      base = undefined;
    },
    async handle(req) {
      try {
        if (req.kind === 'helper-init') {
          if ((options.backend ?? 'wasm') === 'wasm') await initBackend({ preference: 'wasm', wasmPaths: options.wasmPaths, wasmThreads: 1 });
          if (base) disposeParams(base.params);
          base = parseCheckpoint(req.config, req.weights);
          options.post({ kind: 'helper-ready', id: req.id });
        } else if (req.kind === 'helper-annotate') {
          await annotate(req);
        } else {
          throw new Error(`unknown helper request ${JSON.stringify((req as { kind?: unknown }).kind)}`);
        }
      } catch (err) {
        options.post({ kind: 'helper-error', id: req.id, message: messageOf(err) });
      }
    },
  };
}

/** A channel to a helper worker: the worker's postMessage, its replies and failures, terminate. */
export interface HelperPort {
  post(req: HelperRequest, transfer: Transferable[]): void;
  onReply(cb: (reply: HelperReply) => void): void;
  /** The worker failed outright (an uncaught error, a script that would not load). */
  onFail(cb: (message: string) => void): void;
  terminate(): void;
}

const ownBuffer = (bytes: Uint8Array): ArrayBuffer => bytes.slice().buffer as ArrayBuffer;

/**
 * A CandidateHelper over a helper worker, started on the first request (sent the base once) and
 * ended by close(). A failed worker rejects every request from then on: the run then samples
 * those candidates itself (selfAnnotate), so a helper can slow a round but never break it.
 */
export function remoteHelper(spawn: () => HelperPort, base: Checkpoint): CandidateHelper & { close(): void } {
  let port: HelperPort | null = null;
  let broken: string | null = null;
  let ready: Promise<void> | null = null;
  let nextId = 1;
  const pending = new Map<number, { resolve: (r: HelperReply) => void; reject: (e: Error) => void }>();

  const fail = (message: string) => {
    broken = message;
    for (const p of pending.values()) p.reject(new Error(message));
    pending.clear();
  };
  const request = (req: HelperRequest, transfer: Transferable[]): Promise<HelperReply> => {
    if (broken) return Promise.reject(new Error(broken));
    return new Promise((resolve, reject) => {
      pending.set(req.id, { resolve, reject });
      port!.post(req, transfer);
    });
  };
  const start = (): Promise<void> => {
    if (ready) return ready;
    ready = (async () => {
      port = spawn();
      port.onReply((reply) => {
        const p = pending.get(reply.id);
        if (!p) return;
        pending.delete(reply.id);
        if (reply.kind === 'helper-error') p.reject(new Error(reply.message));
        else p.resolve(reply);
      });
      port.onFail((message) => fail(`the helper worker failed: ${message}`));
      const weights = ownBuffer((await serializeCheckpoint(base)).safetensors);
      await request({ kind: 'helper-init', id: nextId++, config: base.config, weights }, [weights]);
    })();
    return ready;
  };

  return {
    async annotate(req: AnnotateRequest): Promise<ChunkAnnotation<Float32Array>[]> {
      await start();
      const bytes = async (params: Params) => ownBuffer((await serializeCheckpoint({ config: base.config, params })).safetensors);
      const generator = await bytes(req.generator);
      const judge = req.judge === req.generator ? null : await bytes(req.judge);
      const reply = await request(
        { kind: 'helper-annotate', id: nextId++, generator, judge, prompts: req.prompts, chunks: req.chunks, settings: req.settings, round: req.round },
        judge ? [generator, judge] : [generator],
      );
      if (reply.kind !== 'helper-annotated') throw new Error(`unexpected helper reply ${reply.kind}`);
      return reply.latents.map((l, i) => ({ latents: new Float32Array(l), perDraw: new Float32Array(reply.perDraw[i]) }));
    },
    close() {
      port?.terminate();
      port = null;
      fail('the helper was closed');
    },
  };
}

