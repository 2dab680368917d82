// The wasm Conv2DBackpropInput replacement equals the cpu backend's and leaks nothing.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
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
