// One shard of data-parallel UNet pretraining (unetShards.ts holds the logic): receives the job
// and the weights once, then for each step the updated weights, and answers its shard's gradient.
import { parentPort } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import type { Params } from '../../src/core/model/layers';
import { initNodeBackend } from './nodeBackend';
import { setFlatValues, shardGradient, type ShardReply, type ShardRequest, type UnetShardJob } from './unetShards';

let job: UnetShardJob | null = null;
let params: Params = {};
let shard = 0;
let shards = 1;

const reply = (message: ShardReply, transfer: ArrayBuffer[] = []) => parentPort!.postMessage(message, transfer);

parentPort!.on('message', async (message: ShardRequest) => {
  try {
    if (message.type === 'init') {
      await initNodeBackend(message.backend);
      job = message.job;
      shard = message.shard;
      shards = message.shards;
      params = Object.fromEntries(Object.entries(message.params).map(([name, p]) => [name, tf.tensor(p.values, p.shape, 'float32')]));
      reply({ type: 'ready' });
    } else if (message.type === 'step') {
      if (!job) throw new Error('step before init');
      setFlatValues(params, job.names, message.weights);
      const { value, grad } = shardGradient(params, job, message.step, shard, shards);
      const [loss, values] = await Promise.all([value.data(), grad.data()]);
      tf.dispose([value, grad]);
      const copy = Float32Array.from(values as Float32Array);
      reply({ type: 'grad', step: message.step, loss: loss[0], grad: copy }, [copy.buffer]);
    } else if (message.type === 'close') {
      process.exit(0);
    }
  } catch (e) {
    reply({ type: 'error', message: (e as Error).message });
  }
});
