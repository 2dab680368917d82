// Data-parallel UNet pretraining (scripts/lib/unetShards.ts): equal shards' averaged gradients are
// the whole batch's gradient, and the worker-thread pool computes them.
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeConfig } from '../src/core/model/config';
import { disposeParams, type Params } from '../src/core/model/layers';
import { initParams, paramNames } from '../src/core/model/ldm';
import { buildVocab, diffusionBatch, disposeBatch, makeSchedule, unetStepLoss } from '../src/core/pretrain';
import { flatGradients } from '../src/core/train';
import { flatValues, setFlatValues, shardGradient, UnetShardPool, type UnetShardJob } from '../scripts/lib/unetShards';
import { useBackend } from './helpers';

const prompts = ['red heart', 'blue heart', 'grinning face', 'frog face', 'rocket'];

function setup(): { params: Params; job: UnetShardJob } {
  const config = makeConfig(buildVocab(prompts), 'tiny');
  const params = initParams(config, 3);
  const per = config.latentSize * config.latentSize * config.autoencoder.latentChannels;
  const latents = Float32Array.from({ length: prompts.length * per }, (_, i) => Math.sin(i * 0.37));
  return { params, job: { config, latents, prompts, variants: 1, seed: 5, batch: 8, cfgDropout: 0.25, names: paramNames(params, 'text', 'unet') } };
}

function fullGradient(params: Params, job: UnetShardJob, step: number) {
  const batch = diffusionBatch(job.latents, job.prompts, job.config, { batch: job.batch, seed: job.seed, step, cfgDropout: job.cfgDropout });
  const out = flatGradients(params, job.names, (p) => unetStepLoss(p, job.config, makeSchedule(job.config.schedule), batch));
  disposeBatch(batch);
  return out;
}

async function relError(a: tf.Tensor, b: tf.Tensor): Promise<number> {
  const r = tf.tidy(() => tf.div(tf.norm(tf.sub(a, b)), tf.norm(b)));
  const v = (await r.data())[0];
  r.dispose();
  return v;
}

describe('data-parallel UNet steps', () => {
  let pool: UnetShardPool | null = null;
  beforeAll(async () => {
    await useBackend('wasm');
  });
  afterAll(async () => {
    await pool?.close();
  });

  it('the mean of two equal shards is the whole batch: loss and flat gradient', async () => {
    const { params, job } = setup();
    const before = tf.memory().numTensors;
    const full = fullGradient(params, job, 7);
    const a = shardGradient(params, job, 7, 0, 2);
    const b = shardGradient(params, job, 7, 1, 2);
    const mean = tf.tidy(() => tf.div(tf.add(a.grad, b.grad), 2));
    expect(await relError(mean, full.grad)).toBeLessThan(1e-5);
    const [lf, la, lb] = await Promise.all([full.value.data(), a.value.data(), b.value.data()]);
    expect((la[0] + lb[0]) / 2).toBeCloseTo(lf[0], 5);
    // A shard is not the whole: the test could fail.
    expect(await relError(a.grad, full.grad)).toBeGreaterThan(1e-3);
    tf.dispose([full.value, full.grad, a.value, a.grad, b.value, b.grad, mean]);
    expect(tf.memory().numTensors).toBe(before);
    expect(() => shardGradient(params, job, 0, 0, 3)).toThrow(/equal shards/);
    disposeParams(params);
  });

  it('flat weights round-trip', async () => {
    const { params, job } = setup();
    const flat = await flatValues(params, job.names);
    const doubled = flat.map((v) => 2 * v);
    setFlatValues(params, job.names, doubled);
    expect(Array.from(await flatValues(params, job.names))).toEqual(Array.from(doubled));
    expect(() => setFlatValues(params, job.names, flat.subarray(1))).toThrow();
    disposeParams(params);
  });

  it('a pool of two threads gives the whole batch\'s gradient, step after step, without leaking', async () => {
    const { params, job } = setup();
    pool = await UnetShardPool.open(2, job, params, 'wasm');
    expect(pool.threads).toBe(2);
    const before = tf.memory();
    for (const step of [0, 1]) {
      const full = fullGradient(params, job, step);
      const viaPool = await pool.gradient(params, step);
      expect(await relError(viaPool.grad, full.grad)).toBeLessThan(1e-5);
      expect(viaPool.loss).toBeCloseTo((await full.value.data())[0], 5);
      tf.dispose([full.value, full.grad, viaPool.grad]);
      // New weights travel with the next step.
      setFlatValues(params, job.names, (await flatValues(params, job.names)).map((v) => v * 0.9));
    }
    expect(tf.memory().numTensors).toBe(before.numTensors);
    await pool.close();
    pool = null;
    disposeParams(params);
  });
});
