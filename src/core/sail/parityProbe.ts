// One Diffusion-DPO step's numbers, reproducible on any backend: the same checkpoint gives the
// same loss and gradients wherever it runs, up to float rounding. The e2e tests run it in the
// worker on wasm and on WebGPU and compare (a backend that computes something else shows here
// before it shows as a worse run). Every input is drawn from a seeded JavaScript generator and
// uploaded, so no backend's random ops take part.
import * as tf from '@tensorflow/tfjs-core';

import { makeSchedule } from '../diffusion/schedule';
import { gaussianArray } from '../model/layers';
import { paramNames, textStates, type Checkpoint } from '../model/ldm';
import { dpoInside, dpoLossFromInside, winnerLoserMse, type DpoBatch } from './dpo';

export interface ParityProbe {
  /** The DPO loss of the batch (reference differences fixed at zero, beta 100). */
  loss: number;
  /** The parameter the gradient is of: the UNet's first convolution weight. */
  gradName: string;
  /** Its gradient, flattened. */
  grad: Float32Array;
}

const PROMPTS = ['red heart', 'grinning face', 'dog face', 'rocket'];

/** The loss and one conv weight's gradient of one DPO step on 4 fixed pairs; disposes what it makes. */
export async function dpoParityProbe(ck: Checkpoint, seed = 1): Promise<ParityProbe> {
  const convs = paramNames(ck.params, 'unet').filter((n) => ck.params[n]!.rank === 4);
  if (convs.length === 0) throw new Error('The checkpoint has no UNet convolution');
  const gradName = convs[0]!;
  const c = ck.config.autoencoder.latentChannels;
  const size = ck.config.latentSize;
  const shape: [number, number, number, number] = [PROMPTS.length, size, size, c];
  const n = shape.reduce((a, b) => a * b, 1);
  const schedule = makeSchedule(ck.config.schedule);
  const text = textStates(ck, PROMPTS);
  const batch: DpoBatch = {
    winners: tf.tensor4d(gaussianArray(n, seed), shape),
    losers: tf.tensor4d(gaussianArray(n, seed + 1), shape),
    noise: tf.tensor4d(gaussianArray(n, seed + 2), shape),
    timesteps: Int32Array.from([0.1, 0.35, 0.6, 0.85], (f) => Math.floor(f * ck.config.schedule.trainSteps)),
    text,
  };
  try {
    const { value, grads } = tf.tidy(() =>
      tf.valueAndGrads((w: tf.Tensor) => {
        const { w: mw, l: ml } = winnerLoserMse({ ...ck.params, [gradName]: w }, ck.config, schedule, batch);
        const policyDiff = tf.sub(mw, ml) as tf.Tensor1D;
        return dpoLossFromInside(dpoInside(policyDiff, tf.zerosLike(policyDiff), 100));
      })([ck.params[gradName]!]),
    );
    const [loss, grad] = await Promise.all([value.data(), grads[0]!.data()]);
    tf.dispose([value, ...grads]);
    return { loss: loss[0]!, gradName, grad: grad as Float32Array };
  } finally {
    tf.dispose([batch.winners, batch.losers, batch.noise, text.tokens, text.mask, text.pooled]);
  }
}
