// Data-parallel UNet pretraining steps over Node worker threads (both cores of this machine).
// Every process builds the same batch for a step (diffusionBatch is a pure function of seed and
// step) and differentiates the loss of its own equal share of the rows at the same weights; the
// main thread averages the flat gradients, and Adam, clipping and the EMA run once, on the main
// thread, which sends the updated weights with the next step. The mean of equal shards' mean
// losses is the batch's mean loss, so the step is the one-thread step up to float rounding.
//
// The worker side is unetShardWorker.ts; this file holds everything it does (shardGradient), so a
// Node test reaches it without a thread.
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import type { ModelConfig } from '../../src/core/model/config';
import type { Params } from '../../src/core/model/layers';
import { diffusionBatch, disposeBatch, makeSchedule, sliceBatch, unetStepLoss } from '../../src/core/pretrain';
import { flatGradients, flatValues, tensorsFromValues } from '../../src/core/train';

/** What every shard needs to build a step's batch. */
export interface UnetShardJob {
  config: ModelConfig;
  latents: Float32Array;
  prompts: string[];
  cdf?: Float64Array;
  variants: number;
  seed: number;
  batch: number;
  cfgDropout: number;
  /** The trained parameters, in the order of the flat buffers (the Adam state's names). */
  names: string[];
}

export { flatValues } from '../../src/core/train';

/** params[names] replaced by tensors cut from `flat` (old ones disposed). */
export function setFlatValues(params: Params, names: string[], flat: Float32Array): void {
  const next = tensorsFromValues(flat, names.map((n) => params[n].shape));
  names.forEach((n, i) => {
    params[n].dispose();
    params[n] = next[i];
  });
}

/** Shard `shard` of `shards` of step `step`'s batch: its mean loss and flat gradient (the caller disposes them). */
export function shardGradient(params: Params, job: UnetShardJob, step: number, shard: number, shards: number): { value: tf.Scalar; grad: tf.Tensor1D } {
  if (job.batch % shards !== 0) throw new Error(`batch ${job.batch} does not split into ${shards} equal shards`);
  const per = job.batch / shards;
  const schedule = makeSchedule(job.config.schedule);
  const full = diffusionBatch(job.latents, job.prompts, job.config, { batch: job.batch, seed: job.seed, step, cfgDropout: job.cfgDropout, cdf: job.cdf, variants: job.variants });
  const mine = sliceBatch(full, shard * per, per);
  disposeBatch(full);
  try {
    return flatGradients(params, job.names, (p) => unetStepLoss(p, job.config, schedule, mine));
  } finally {
    disposeBatch(mine);
  }
}

/** Messages between the pool and a worker. */
export type ShardRequest =
  | { type: 'init'; job: UnetShardJob; params: Record<string, { shape: number[]; values: Float32Array }>; backend: string; shard: number; shards: number }
  | { type: 'step'; step: number; weights: Float32Array }
  | { type: 'close' };
export type ShardReply = { type: 'ready' } | { type: 'grad'; step: number; loss: number; grad: Float32Array } | { type: 'error'; message: string };

const WORKER_URL = new URL('./unetShardWorker.mjs', import.meta.url);

/** Worker threads that each compute one shard of every step; shard 0 is the caller's. */
export class UnetShardPool {
  private constructor(
    private readonly workers: Worker[],
    private readonly job: UnetShardJob,
  ) {}

  /** Starts `threads - 1` workers holding the job and the weights of `params` (the UNet's loss reads text + UNet only). */
  static async open(threads: number, job: UnetShardJob, params: Params, backend: string): Promise<UnetShardPool> {
    if (!Number.isInteger(threads) || threads < 2) throw new Error(`a shard pool needs at least 2 threads, got ${threads}`);
    if (job.batch % threads !== 0) throw new Error(`--batch ${job.batch} does not split into ${threads} equal shards`);
    const needed: Record<string, { shape: number[]; values: Float32Array }> = {};
    for (const [name, t] of Object.entries(params)) {
      if (name.startsWith('ae.')) continue;
      needed[name] = { shape: t.shape, values: (await t.data()) as Float32Array };
    }
    const workers = Array.from({ length: threads - 1 }, () => new Worker(WORKER_URL));
    const pool = new UnetShardPool(workers, job);
    try {
      await Promise.all(workers.map((w, i) => pool.request(w, { type: 'init', job, params: needed, backend, shard: i + 1, shards: threads })));
    } catch (e) {
      await pool.close();
      throw e;
    }
    return pool;
  }

  get threads(): number {
    return this.workers.length + 1;
  }

  private request(worker: Worker, message: ShardRequest): Promise<ShardReply> {
    return new Promise((resolve, reject) => {
      const onMessage = (reply: ShardReply) => {
        cleanup();
        if (reply.type === 'error') reject(new Error(`shard worker: ${reply.message}`));
        else resolve(reply);
      };
      const onError = (e: Error) => {
        cleanup();
        reject(e);
      };
      const onExit = (code: number) => {
        cleanup();
        reject(new Error(`shard worker exited with code ${code}`));
      };
      const cleanup = () => {
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
      };
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
      worker.postMessage(message);
    });
  }

  /**
   * Step `step` at the current params[job.names]: the workers' shards and this thread's shard 0,
   * averaged. Returns the batch's mean loss and the mean flat gradient (the caller disposes it).
   */
  async gradient(params: Params, step: number): Promise<{ loss: number; grad: tf.Tensor1D }> {
    const weights = await flatValues(params, this.job.names);
    // Posted before this thread starts its own shard, which blocks it until done.
    const remote = this.workers.map((w) => this.request(w, { type: 'step', step, weights }));
    const local = shardGradient(params, this.job, step, 0, this.threads);
    try {
      const replies = (await Promise.all(remote)) as Extract<ShardReply, { type: 'grad' }>[];
      const localLoss = (await local.value.data())[0];
      const grad = tf.tidy(() => tf.div(replies.reduce<tf.Tensor1D>((sum, r) => tf.add(sum, tf.tensor1d(r.grad)), local.grad), this.threads)) as tf.Tensor1D;
      return { loss: replies.reduce((sum, r) => sum + r.loss, localLoss) / this.threads, grad };
    } finally {
      tf.dispose([local.value, local.grad]);
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
