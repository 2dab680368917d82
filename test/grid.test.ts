// The fixed prompt x seed grid behind the Run tab's round grids and the Compare tab.
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { generate } from '../src/core/generate';
import { renderGrid } from '../src/core/grid';
import { tinyCheckpoint, useBackend } from './helpers';

describe('renderGrid', () => {
  beforeAll(() => useBackend('wasm'));

  it("gives each cell image 0 of its seed's generation, whatever the batch, and leaks nothing", async () => {
    const ck = tinyCheckpoint(3);
    const opts = { guidance: 3, steps: 3 };
    const cells = Array.from({ length: 10 }, (_, i) => ({ prompt: i % 2 ? 'red heart' : 'dog face', seed: 100 + i })); // two chunks of 8
    const before = tf.memory().numTensors;
    const progress: number[] = [];
    const images = await renderGrid(ck, cells, { ...opts, onProgress: (done) => progress.push(done) });
    expect(tf.memory().numTensors).toBe(before);
    expect(images).toHaveLength(10);
    expect(progress).toEqual([1, 2, 3, 4, 5, 6]);
    for (const i of [0, 9]) {
      const alone = await generate(ck, { prompt: cells[i].prompt, count: 1, seed: cells[i].seed, ...opts });
      const diff = Math.max(...images[i].map((v, j) => Math.abs(v - alone.images[0][j])));
      expect(diff).toBeLessThanOrEqual(1); // batching may move a pixel by one rounding step
    }
    expect(images[0]).not.toEqual(images[2]); // other seed, other image
    tf.dispose(Object.values(ck.params));
  });
});
