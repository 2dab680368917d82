// The DPO parity probe (src/core/sail/parityProbe.ts), which the e2e tests run in the worker on
// wasm and on WebGPU: the same numbers on wasm and cpu, the gradient right by finite differences,
// nothing left behind.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';

import { dpoParityProbe } from '../src/core/sail/parityProbe';
import { loadCheckpointDir } from '../scripts/lib/checkpointFs';
import { useBackend } from './helpers';

const relativeL2 = (a: Float32Array, b: Float32Array) => {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / den);
};

describe('dpoParityProbe', () => {
  it('gives the same loss and conv gradient on wasm and cpu, leaves no tensors, and its gradient matches finite differences', async () => {
    await useBackend('wasm');
    const ck = loadCheckpointDir('test/fixtures/tiny-base');
    const before = tf.memory().numTensors;
    const onWasm = await dpoParityProbe(ck);
    expect(tf.memory().numTensors).toBe(before);
    expect(onWasm.gradName).toMatch(/^unet\./);
    expect(Number.isFinite(onWasm.loss)).toBe(true);
    // Repeatable: the inputs come from a seeded generator, not the backend.
    expect((await dpoParityProbe(ck)).loss).toBe(onWasm.loss);

    // A step along the gradient changes the loss by about |g|^2 * h (the gradient is the right one).
    const g = onWasm.grad;
    const norm2 = g.reduce((a, v) => a + v * v, 0);
    expect(norm2).toBeGreaterThan(0);
    const h = 1e-2 / Math.sqrt(norm2);
    const w = ck.params[onWasm.gradName]!;
    const wv = (await w.data()) as Float32Array;
    const shifted = (sign: number) => tf.tensor(wv.map((v, i) => v + sign * h * g[i]!), w.shape);
    const plus = shifted(1);
    const minus = shifted(-1);
    const lossPlus = (await dpoParityProbe({ ...ck, params: { ...ck.params, [onWasm.gradName]: plus } })).loss;
    const lossMinus = (await dpoParityProbe({ ...ck, params: { ...ck.params, [onWasm.gradName]: minus } })).loss;
    tf.dispose([plus, minus]);
    const numeric = (lossPlus - lossMinus) / (2 * h);
    expect(Math.abs(numeric - norm2) / norm2).toBeLessThan(0.05);

    await useBackend('cpu');
    const cpuCk = loadCheckpointDir('test/fixtures/tiny-base');
    const onCpu = await dpoParityProbe(cpuCk);
    expect(Math.abs(onCpu.loss - onWasm.loss) / Math.abs(onCpu.loss)).toBeLessThan(1e-4);
    expect(relativeL2(onWasm.grad, onCpu.grad)).toBeLessThan(1e-3);
    tf.dispose(Object.values(cpuCk.params));
  });
});
