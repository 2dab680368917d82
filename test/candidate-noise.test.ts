// The candidates' initial noise (src/core/sail/loop.ts candidateNoise): independent at rho = 0,
// exactly the noise the loop drew before the setting existed; at rho > 0 unit variance and a
// correlation of rho between two candidates of one prompt, none across prompts.
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';

import { initialNoise } from '../src/core/generate';
import type { Checkpoint } from '../src/core/model/ldm';
import { hashSeed } from '../src/core/random';
import { candidateNoise } from '../src/core/sail/loop';
import { useBackend } from './helpers';

// initialNoise reads only the latent shape; a config of a larger latent gives the statistics room.
const ck = { config: { latentSize: 16, autoencoder: { latentChannels: 4 } } } as unknown as Checkpoint;

function corr(a: Float32Array, b: Float32Array): number {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / Math.sqrt(aa * bb);
}

describe('candidate noise', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  it('rho = 0 is the independent noise the loop always drew', async () => {
    const before = tf.memory().numTensors;
    const a = candidateNoise(ck, 1, 1, 3, 4, 0);
    const b = initialNoise(ck, hashSeed(1, 1, 10, 3), 4);
    expect(Array.from(await a.data())).toEqual(Array.from(await b.data()));
    tf.dispose([a, b]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rho = 0.6: unit variance, candidates of a prompt correlated by rho, prompts independent', async () => {
    const before = tf.memory().numTensors;
    const per = 16 * 16 * 4;
    const x = candidateNoise(ck, 2, 1, 0, 8, 0.6);
    const y = candidateNoise(ck, 2, 1, 1, 8, 0.6);
    const xs = (await x.data()) as Float32Array;
    const ys = (await y.data()) as Float32Array;
    tf.dispose([x, y]);
    expect(tf.memory().numTensors).toBe(before);
    const variance = xs.reduce((s, v) => s + v * v, 0) / xs.length;
    expect(Math.abs(variance - 1)).toBeLessThan(0.1); // 8192 draws: the sd of the estimate is 0.016 x (1 + rho)
    const within: number[] = [];
    for (let i = 0; i < 8; i++) for (let j = i + 1; j < 8; j++) within.push(corr(xs.subarray(i * per, (i + 1) * per), xs.subarray(j * per, (j + 1) * per)));
    const mean = within.reduce((s, v) => s + v, 0) / within.length;
    expect(Math.abs(mean - 0.6)).toBeLessThan(0.08);
    expect(Math.abs(corr(xs.subarray(0, per), ys.subarray(0, per)))).toBeLessThan(0.12); // 4.8 sd of independent draws
  });
});
