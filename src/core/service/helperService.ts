// A second model worker for a SAIL run (issue 11: both cores). The run's worker hands it half of a
// round's candidate chunks, which it samples and scores with annotateChunks on its own copy of the
// base (the same function on the same seeded noise: the round's pairs are the ones one worker
// alone would make), and half of every DPO step, which it differentiates with shardGradient at
// the weights it is sent (the summed gradients are the step's, up to float rounding).
//
// The helper side (createHelperService) is what workers/helper.worker.ts runs; the run's side
// (remoteHelper) is a CandidateHelper over a port to it. Both are plain modules: Node tests wire
// them together in one process (test/helper-worker.test.ts).
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../backend';
import { makeSchedule } from '../diffusion/schedule';
import { parseCheckpoint, serializeCheckpoint } from '../io/checkpoint';
import type { ModelConfig } from '../model/config';
import { disposeParams, type Params } from '../model/layers';
import { openTextCache, type Checkpoint } from '../model/ldm';
import { annotateChunks, type AnnotateRequest, type CandidateHelper, type ChunkAnnotation, type SailSettings } from '../sail/loop';
import { shardGradient, type GradientHelper, type ShardLossSettings, type ShardTotals, type StepShard } from '../sail/shardStep';
import { tensorsFromValues } from '../train';
import { denoiseBatchOf, denoiseMse, disposeDenoiseBatch, type DenoiseBatch, type DenoiseData } from '../sail/safety';

export type HelperRequest =
  | { kind: 'helper-init'; id: number; config: ModelConfig; weights: ArrayBuffer }
  | { kind: 'helper-begin-round'; id: number; names: string[]; reference: ArrayBuffer; check?: DenoiseData }
  | { kind: 'helper-gradient'; id: number; weights: ArrayBuffer; shard: StepShard; totals: ShardTotals; settings: ShardLossSettings }
  | { kind: 'helper-check'; id: number; weights: ArrayBuffer }
  | { kind: 'helper-annotate'; id: number; generator: ArrayBuffer; judge: ArrayBuffer | null; prompts: string[]; chunks: number[][]; settings: SailSettings; round: number };

export type HelperReply =
  | { kind: 'helper-ready'; id: number }
  | { kind: 'helper-annotated'; id: number; latents: ArrayBuffer[]; perDraw: ArrayBuffer[] }
  | { kind: 'helper-gradient-done'; id: number; loss: number; grad: ArrayBuffer; inside: ArrayBuffer }
  | { kind: 'helper-check-done'; id: number; mse: ArrayBuffer }
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
  // A round's trained names, and the policy (sent every step) and frozen reference over the base's other parameters.
  let names: string[] = [];
  let policy: Params | null = null;
  let reference: Params | null = null;
  // The round's share of the checks' images, made into tensors once.
  let check: DenoiseBatch | null = null;
  // A round's prompts are encoded once (the text encoder is frozen): open from begin-round to the next release.
  let closeTextCache: (() => void) | null = null;
  const releaseRound = () => {
    closeTextCache?.();
    closeTextCache = null;
    for (const p of [policy, reference]) if (p) names.forEach((n) => p[n].dispose());
    policy = reference = null;
    if (check) disposeDenoiseBatch(check);
    check = null;
  };
  /** The base's parameters with `names` taken from flat values (tensors this service owns). */
  const withValues = (flat: ArrayBuffer, old: Params | null): Params => {
    if (old) names.forEach((n) => old[n].dispose());
    const tensors = tensorsFromValues(new Float32Array(flat), names.map((n) => base!.params[n].shape));
    const p: Params = { ...base!.params };
    names.forEach((n, i) => (p[n] = tensors[i]));
    return p;
  };

  async function gradient(req: Extract<HelperRequest, { kind: 'helper-gradient' }>): Promise<void> {
    if (!base || !reference) throw new Error('the helper has no round begun');
    policy = withValues(req.weights, policy);
    const r = await shardGradient({ base, schedule: makeSchedule(base.config.schedule), policy, reference, names, shard: req.shard, totals: req.totals, settings: req.settings });
    const grad = ((await r.grad.data()) as Float32Array).slice().buffer as ArrayBuffer;
    r.grad.dispose();
    const inside = r.inside.slice().buffer as ArrayBuffer;
    options.post({ kind: 'helper-gradient-done', id: req.id, loss: r.loss, grad, inside }, [grad, inside]);
  }

  async function checkMse(req: Extract<HelperRequest, { kind: 'helper-check' }>): Promise<void> {
    if (!base || !reference || !check) throw new Error('the helper has no round with checks begun');
    policy = withValues(req.weights, policy);
    const [b, p] = [base, policy];
    const mse = tf.tidy(() => denoiseMse(p, b.config, makeSchedule(b.config.schedule), check!));
    const values = ((await mse.data()) as Float32Array).slice().buffer as ArrayBuffer;
    mse.dispose();
    options.post({ kind: 'helper-check-done', id: req.id, mse: values }, [values]);
  }

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
      releaseRound();
      if (base) disposeParams(base.params);
      base = undefined;
    },
    async handle(req) {
      try {
        if (req.kind === 'helper-init') {
          if ((options.backend ?? 'wasm') === 'wasm') await initBackend({ preference: 'wasm', wasmPaths: options.wasmPaths, wasmThreads: 1 });
          releaseRound();
          if (base) disposeParams(base.params);
          base = parseCheckpoint(req.config, req.weights);
          options.post({ kind: 'helper-ready', id: req.id });
        } else if (req.kind === 'helper-annotate') {
          await annotate(req);
        } else if (req.kind === 'helper-begin-round') {
          if (!base) throw new Error('the helper has no base model yet');
          releaseRound();
          names = req.names;
          closeTextCache = openTextCache(base);
          reference = withValues(req.reference, null);
          if (req.check) check = denoiseBatchOf(base, req.check);
          options.post({ kind: 'helper-ready', id: req.id });
        } else if (req.kind === 'helper-gradient') {
          await gradient(req);
        } else if (req.kind === 'helper-check') {
          await checkMse(req);
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
export function remoteHelper(spawn: () => HelperPort, base: Checkpoint): CandidateHelper & GradientHelper & { close(): void } {
  let port: HelperPort | null = null;
  let broken: string | null = null;
  let ready: Promise<void> | null = null;
  let started = false;
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
      started = true;
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
    async beginRound(req: { names: string[]; reference: Float32Array; check?: DenoiseData }): Promise<void> {
      await start();
      const reference = ownBuffer(new Uint8Array(req.reference.buffer, req.reference.byteOffset, req.reference.byteLength));
      await request({ kind: 'helper-begin-round', id: nextId++, names: req.names, reference, ...(req.check ? { check: req.check } : {}) }, [reference]);
    },
    checkMse(req) {
      // Posted at once, as gradient's request is: the caller computes its own share right after.
      const send = () => {
        const weights = ownBuffer(new Uint8Array(req.weights.buffer, req.weights.byteOffset, req.weights.byteLength));
        return request({ kind: 'helper-check', id: nextId++, weights }, [weights]);
      };
      return (started ? send() : start().then(send)).then((reply) => {
        if (reply.kind !== 'helper-check-done') throw new Error(`unexpected helper reply ${reply.kind}`);
        return new Float32Array(reply.mse);
      });
    },
    gradient(req) {
      // Posted before this returns once the helper has started: the caller then computes its own
      // share synchronously (wasm kernels do not yield), and a post left to a microtask would wait
      // for all of it, so the two shares would run one after the other.
      const send = () => {
        const weights = ownBuffer(new Uint8Array(req.weights.buffer, req.weights.byteOffset, req.weights.byteLength));
        return request({ kind: 'helper-gradient', id: nextId++, weights, shard: req.shard, totals: req.totals, settings: req.settings }, [weights]);
      };
      return (started ? send() : start().then(send)).then((reply) => {
        if (reply.kind !== 'helper-gradient-done') throw new Error(`unexpected helper reply ${reply.kind}`);
        return { loss: reply.loss, grad: new Float32Array(reply.grad), inside: new Float32Array(reply.inside) };
      });
    },
    close() {
      port?.terminate();
      port = null;
      fail('the helper was closed');
    },
  };
}

