// The wasm Conv2DBackpropInput replacement equals the cpu backend's and leaks nothing.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { channelSumKernelAvailable } from '../src/core/kernels/channelSumWasm';
import { addBias, scaleShift } from '../src/core/model/layers';
import { useBackend } from './helpers';

async function inputGrad(xShape: [number, number, number, number], k: number, cout: number, stride: 1 | 2, pad: 'same' | 'valid') {
  const x = tf.tensor4d(Float32Array.from({ length: xShape.reduce((a, b) => a * b) }, (_, i) => Math.sin(i * 0.31)), xShape);
  const w = tf.tensor4d(Float32Array.from({ length: k * k * xShape[3] * cout }, (_, i) => Math.cos(i * 0.17)), [k, k, xShape[3], cout]);
  const g = tf.grad((xx: tf.Tensor) => tf.sum(tf.square(tf.conv2d(xx as tf.Tensor4D, w, stride, pad))))(x);
  const out = Array.from(await g.data());
  tf.dispose([x, w, g]);
  return out;
}

describe('wasm Conv2DBackpropInput via Conv2D', () => {
  const cases: [[number, number, number, number], number, number, 1 | 2, 'same' | 'valid'][] = [
    [[2, 8, 8, 5], 3, 7, 1, 'same'],
    [[2, 8, 8, 5], 3, 7, 2, 'same'],
    [[2, 9, 7, 3], 3, 4, 2, 'same'],
    [[2, 8, 8, 5], 3, 6, 1, 'valid'],
    [[2, 9, 9, 3], 3, 4, 2, 'valid'],
    [[1, 4, 4, 6], 1, 3, 1, 'same'],
  ];
  it.each(cases)('x %j k=%i cout=%i stride %i pad %s matches cpu within 1e-4', async (shape, k, cout, stride, pad) => {
    await useBackend('cpu');
    const cpu = await inputGrad(shape, k, cout, stride, pad);
    await useBackend('wasm');
    const before = tf.memory().numTensors;
    const wasm = await inputGrad(shape, k, cout, stride, pad);
    expect(tf.memory().numTensors).toBe(before);
    const scale = Math.max(...cpu.map(Math.abs));
    expect(scale).toBeGreaterThan(0);
    expect(Math.max(...cpu.map((v, i) => Math.abs(v - wasm[i]))) / scale).toBeLessThan(1e-4);
  });

  it('leaves no data behind on the wasm backend across 20 gradients', async () => {
    await useBackend('wasm');
    await inputGrad([2, 8, 8, 5], 3, 7, 2, 'same');
    const ids = (tf.backend() as unknown as { numDataIds(): number }).numDataIds();
    for (let i = 0; i < 20; i++) await inputGrad([2, 8, 8, 5], 3, 7, 2, 'same');
    expect((tf.backend() as unknown as { numDataIds(): number }).numDataIds()).toBe(ids);
  });
});

describe('wasm BatchMatMul with transposed operands', () => {
  it.each([
    [false, true],
    [true, false],
    [true, true],
  ])('transposeA=%s transposeB=%s matches cpu, forward and gradient', async (ta, tb) => {
    const run = async () => {
      const a = tf.tensor2d(Float32Array.from({ length: 6 * 5 }, (_, i) => Math.sin(i)), ta ? [5, 6] : [6, 5]);
      const b = tf.tensor2d(Float32Array.from({ length: 5 * 4 }, (_, i) => Math.cos(i)), tb ? [4, 5] : [5, 4]);
      const [ga, gb] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.square(tf.matMul(x, y, ta, tb))))([a, b]);
      const y = tf.matMul(a, b, ta, tb);
      const out = [...(await y.data()), ...(await ga.data()), ...(await gb.data())];
      tf.dispose([a, b, ga, gb, y]);
      return out;
    };
    await useBackend('cpu');
    const cpu = await run();
    await useBackend('wasm');
    const before = tf.memory().numTensors;
    const wasm = await run();
    expect(tf.memory().numTensors).toBe(before);
    expect(Math.max(...cpu.map((v, i) => Math.abs(v - wasm[i])))).toBeLessThan(1e-4);
  });
});

describe('wasm channel sum (bias and scale/shift gradients) and UnsortedSegmentSum as loops', () => {
  const values = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + seed));
  const backendIds = () => (tf.backend() as unknown as { numDataIds(): number }).numDataIds();

  it.each([
    [[64, 8, 8, 48]],
    [[1024, 96]],
    [[3, 5]],
  ])('addBias and scaleShift gradients on x %j match cpu (the matMul route) within 1e-5 relative, and leak nothing', async (shape) => {
    const c = shape[shape.length - 1];
    const size = shape.reduce((a, b) => a * b);
    const run = async () => {
      const x = tf.tensor(values(size, 1), shape);
      const g = tf.tensor1d(values(c, 2));
      const b = tf.tensor1d(values(c, 3));
      const r = tf.tensor(values(size, 4), shape);
      const grads = tf.grads((gg: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.mul(addBias(scaleShift(x, gg, bb), bb), r)))([g, b]);
      const out = [...(await grads[0].data()), ...(await grads[1].data())];
      tf.dispose([x, g, b, r, ...grads]);
      return out;
    };
    await useBackend('cpu');
    const cpu = await run();
    await useBackend('wasm');
    expect(channelSumKernelAvailable('wasm')).toBe(true);
    await run();
    const ids = backendIds();
    const before = tf.memory().numTensors;
    const wasm = await run();
    expect(tf.memory().numTensors).toBe(before);
    expect(backendIds()).toBe(ids);
    const scale = Math.max(...cpu.map(Math.abs));
    expect(scale).toBeGreaterThan(1);
    expect(Math.max(...cpu.map((v, i) => Math.abs(v - wasm[i]))) / scale).toBeLessThan(1e-5);
  });

  it('the token-embedding gradient at the text encoder\'s batch and vocabulary (1,024 ids of 2,236; 8 wide: the cpu reference is slow) matches cpu and leaks nothing', async () => {
    const n = 1024;
    const S = 2236;
    const D = 8;
    const run = async () => {
      const table = tf.tensor2d(values(S * D, 5), [S, D]);
      // Token ids as a batch of prompts has them: few distinct words, many repeats, PAD (0) most of all.
      const ids = tf.tensor1d(Int32Array.from({ length: n }, (_, i) => (i % 16 > 5 ? 0 : (i * 7919) % 300)), 'int32');
      const r = tf.tensor2d(values(n * D, 6), [n, D]);
      const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, ids), r)))(table);
      const out = (await g.data()) as Float32Array;
      tf.dispose([table, ids, r, g]);
      return out;
    };
    await useBackend('cpu');
    const cpu = await run();
    await useBackend('wasm');
    await run();
    const ids = backendIds();
    const wasm = await run();
    expect(backendIds()).toBe(ids);
    let worst = 0;
    for (let i = 0; i < cpu.length; i++) worst = Math.max(worst, Math.abs(cpu[i] - wasm[i]));
    expect(worst).toBeLessThan(1e-4);
    expect(Math.max(...Array.from(cpu.slice(0, D), Math.abs))).toBeGreaterThan(1); // PAD's row gathers hundreds of rows
    expect(Array.from(wasm.slice(300 * D, 302 * D))).toEqual(new Array(2 * D).fill(0)); // ids past 299 never occur
  });
});

describe('wasm Identity shares its input\'s data', () => {
  it('a clone reads the same values after the original is disposed, adds no buffer, and frees it with the last reference', async () => {
    await useBackend('wasm');
    const backend = tf.backend() as unknown as { numDataIds(): number };
    const before = backend.numDataIds();
    const x = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]);
    const y = tf.clone(x);
    expect(backend.numDataIds()).toBe(before + 1);
    x.dispose();
    expect(Array.from(await y.data())).toEqual([1, 2, 3, 4, 5, 6]);
    expect(y.shape).toEqual([2, 3]);
    y.dispose();
    expect(backend.numDataIds()).toBe(before);
  });

  it('gradients through saved tensors (engine.clone) match cpu and leave nothing behind', async () => {
    const run = async () => {
      const x = tf.tensor2d(Float32Array.from({ length: 12 }, (_, i) => Math.sin(i)), [3, 4]);
      const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.exp(t), tf.sigmoid(tf.square(t)))))(x);
      const out = Array.from(await g.data());
      tf.dispose([x, g]);
      return out;
    };
    await useBackend('cpu');
    const cpu = await run();
    await useBackend('wasm');
    await run();
    const ids = (tf.backend() as unknown as { numDataIds(): number }).numDataIds();
    const wasm = await run();
    expect((tf.backend() as unknown as { numDataIds(): number }).numDataIds()).toBe(ids);
    expect(Math.max(...cpu.map((v, i) => Math.abs(v - wasm[i])))).toBeLessThan(1e-5);
  });
});
