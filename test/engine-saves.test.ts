// Tensors saved for the backward pass without the engine's Identity launch and tape node
// (src/core/kernels/engineSaves.ts): a UNet's DPO gradients are bit-identical with and without
// it, it is the path that runs on a first-order tape, a nested tape (a second-order gradient)
// still gets the engine's clone and the right answer, and nothing is left behind.
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { installLeanGradientSaves, leanGradientSaveCount, setLeanGradientSaves } from '../src/core/kernels/engineSaves';
import { gaussianArray } from '../src/core/model/layers';
import { paramNames, textStates } from '../src/core/model/ldm';
import { makeSchedule } from '../src/core/diffusion/schedule';
import { winnerLoserMse } from '../src/core/sail/dpo';
import { memorySnapshot, tinyCheckpoint, useBackend, withKernelNames } from './helpers';

beforeAll(async () => {
  await useBackend('wasm');
  installLeanGradientSaves();
});

describe('lean gradient saves', () => {
  it('give bit-identical DPO gradients of a UNet, with a third fewer launches and no leak', async () => {
    const ck = tinyCheckpoint(3);
    const config = ck.config;
    const schedule = makeSchedule(config.schedule);
    const shape: [number, number, number] = [config.latentSize, config.latentSize, config.autoencoder.latentChannels];
    const per = shape[0] * shape[1] * shape[2];
    const b = 3;
    const batch = {
      winners: tf.tensor4d(gaussianArray(b * per, 1), [b, ...shape]),
      losers: tf.tensor4d(gaussianArray(b * per, 2), [b, ...shape]),
      noise: tf.tensor4d(gaussianArray(b * per, 3), [b, ...shape]),
      timesteps: Int32Array.from([10, 500, 990]),
      text: textStates(ck, ['grinning face', 'red heart', 'dog']),
    };
    const names = paramNames(ck.params, 'unet');
    const grads = async (lean: boolean) => {
      setLeanGradientSaves(lean);
      try {
        const { out, names: kernels } = withKernelNames(() => tf.tidy(() => {
          const { value, grads: g } = tf.valueAndGrads((...xs: tf.Tensor[]) => {
            const p = { ...ck.params };
            names.forEach((n, i) => (p[n] = xs[i]!));
            const m = winnerLoserMse(p, config, schedule, batch);
            return tf.mean(tf.sub(m.w, m.l)) as tf.Scalar;
          })(names.map((n) => ck.params[n]!));
          return [value, ...g];
        }));
        const values = await Promise.all(out.map((t) => t.data() as Promise<Float32Array>));
        tf.dispose(out);
        return { values, launches: kernels.length, identities: kernels.filter((k) => k === 'Identity').length };
      } finally {
        setLeanGradientSaves(true);
      }
    };
    await grads(true); // warm-up
    const before = memorySnapshot();
    const count0 = leanGradientSaveCount();
    const lean = await grads(true);
    expect(leanGradientSaveCount() - count0).toBeGreaterThan(100);
    expect(memorySnapshot()).toEqual(before);
    const engine = await grads(false);
    expect(memorySnapshot()).toEqual(before);
    expect(lean.values.length).toBe(engine.values.length);
    lean.values.forEach((v, i) => expect(Array.from(v)).toEqual(Array.from(engine.values[i]!)));
    expect(engine.identities).toBeGreaterThan(100);
    expect(lean.identities).toBeLessThan(engine.identities / 10);
    expect(lean.launches).toBeLessThan(engine.launches - 100);
    tf.dispose([batch.winners, batch.losers, batch.noise, batch.text.tokens, batch.text.mask, batch.text.pooled]);
  });

  it('leaves a second-order gradient to the engine clone, and gets it right', async () => {
    // d2/dx2 of x^3 summed = 6x: the inner gradient's saved tensors must carry the outer tape.
    const x = tf.tensor1d([0.5, -1.5, 2]);
    const count0 = leanGradientSaveCount();
    const g2 = tf.grad((y: tf.Tensor) => tf.sum(tf.grad((z: tf.Tensor) => tf.sum(tf.mul(tf.mul(z, z), z)))(y)));
    const got = await g2(x).data();
    expect(Array.from(got).map((v) => Math.round(v * 1e4) / 1e4)).toEqual([3, -9, 12]);
    // The outer tape is the first-order one: its saves are lean; the inner (depth 2) ones are not.
    expect(leanGradientSaveCount()).toBeGreaterThanOrEqual(count0);
    x.dispose();
  });
});

describe('text states memoised per prompt', () => {
  it('equal a direct encoding bit for bit, encode each prompt once, and are released when the cache closes', async () => {
    const { openTextCache, textStates, withTextCache } = await import('../src/core/model/ldm');
    const ck = tinyCheckpoint(4);
    const prompts = ['grinning face', 'red heart', 'dog', 'grinning face', null, 'frog cat'];
    const direct = textStates(ck, prompts);
    const want = await Promise.all([direct.tokens.data(), direct.mask.data(), direct.pooled.data()]);
    tf.dispose([direct.tokens, direct.mask, direct.pooled]);
    const before = memorySnapshot();
    await withTextCache(ck, async () => {
      const close = openTextCache(ck); // nested: the rows outlive it
      const early = textStates(ck, ['dog', 'red heart']);
      tf.dispose([early.tokens, early.mask, early.pooled]);
      close();
      const { out, names } = withKernelNames(() => textStates(ck, prompts));
      const got = await Promise.all([out.tokens.data(), out.mask.data(), out.pooled.data()]);
      got.forEach((g, i) => expect(Array.from(g)).toEqual(Array.from(want[i]!)));
      expect(out.tokens.shape).toEqual(direct.tokens.shape);
      tf.dispose([out.tokens, out.mask, out.pooled]);
      // Only the prompts not seen yet were encoded: a second call is three concatenations.
      const again = withKernelNames(() => textStates(ck, prompts));
      expect(again.names).toEqual(['Concat', 'Concat', 'Concat']);
      expect(names.length).toBeGreaterThan(3);
      tf.dispose([again.out.tokens, again.out.mask, again.out.pooled]);
    });
    expect(memorySnapshot()).toEqual(before);
  });
});
