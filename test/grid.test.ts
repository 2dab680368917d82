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

  it("gives a cell with image k image k of its seed's generation: the Label tab's pairs, several in one batch", async () => {
    const ck = tinyCheckpoint(4);
    const opts = { guidance: 3, steps: 2 };
    const seeds = [7, 8, 9];
    const cells = seeds.flatMap((seed, i) => [0, 1].map((image) => ({ prompt: i === 1 ? 'dog face' : 'red heart', seed, image })));
    const images = await renderGrid(ck, cells, opts);
    expect(images).toHaveLength(6);
    for (const [i, seed] of seeds.entries()) {
      const pair = await generate(ck, { prompt: cells[2 * i].prompt, count: 2, seed, ...opts });
      for (const k of [0, 1]) {
        const diff = Math.max(...images[2 * i + k].map((v, j) => Math.abs(v - pair.images[k][j])));
        expect(diff).toBeLessThanOrEqual(1);
      }
    }
    expect(images[0]).not.toEqual(images[1]); // the two images of a pair start from different noise
    tf.dispose(Object.values(ck.params));
  });
});
