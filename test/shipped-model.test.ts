// The checkpoint the studio loads by default (public/models/base): it parses, holds exactly the
// parameters its config declares with their shapes, and samples finite, non-constant images.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { generate } from '../src/core/generate';
import { expectedParamShapes, parseCheckpoint } from '../src/core/io/checkpoint';
import { readSafetensors } from '../src/core/io/safetensors';
import { disposeParams } from '../src/core/model/layers';
import { memorySnapshot, useBackend } from './helpers';

const DIR = 'public/models/base';

beforeAll(async () => {
  await useBackend('wasm');
});

describe('the shipped base checkpoint', () => {
  const configRaw = JSON.parse(readFileSync(`${DIR}/config.json`, 'utf8'));
  const bytes = readFileSync(`${DIR}/model.safetensors`);

  it('records the command and seed that made it', () => {
    expect(configRaw.provenance.command).toMatch(/^npm run pretrain -- /);
    expect(typeof configRaw.provenance.seed).toBe('number');
    expect(configRaw.provenance.phase).toBe('done');
  });

  it('holds exactly the parameter names and shapes its config declares', () => {
    const ck = parseCheckpoint(configRaw, bytes);
    const expected = expectedParamShapes(ck.config);
    const stored = readSafetensors(bytes);
    const storedShapes = Object.fromEntries(Object.entries(stored.tensors).map(([name, t]) => [name, t.shape]));
    expect(Object.keys(storedShapes).sort()).toEqual(Object.keys(expected).sort());
    for (const [name, shape] of Object.entries(expected)) expect(storedShapes[name], name).toEqual(shape);
    disposeParams(ck.params);
  });

  it('a config\'s guidance bands and rescale change its samples, deterministically and leak-free', async () => {
    const ck = parseCheckpoint(configRaw, bytes);
    const opts = { prompt: 'red heart', count: 1, seed: 3, steps: 4, guidance: 6 };
    const plain = await generate(ck, opts);
    const tuned = { ...ck, config: { ...ck.config, sampling: { ...ck.config.sampling, guidanceRescale: 0.7, guidanceBands: [{ from: 600, to: 1000, factor: 0.25 }] } } };
    await generate(tuned, opts);
    const before = memorySnapshot();
    const a = await generate(tuned, opts);
    expect(memorySnapshot()).toEqual(before);
    const b = await generate(tuned, opts);
    expect(a.images[0]).toEqual(b.images[0]);
    let diff = 0;
    for (let i = 0; i < a.images[0].length; i++) diff += Math.abs(a.images[0][i] - plain.images[0][i]);
    expect(diff / a.images[0].length).toBeGreaterThan(1);
    disposeParams(ck.params);
  });

  it('samples finite images that depend on the prompt', async () => {
    const ck = parseCheckpoint(configRaw, bytes);
    const heart = await generate(ck, { prompt: 'red heart', count: 2, seed: 3, steps: 8, guidance: 4 });
    const frog = await generate(ck, { prompt: 'frog face', count: 2, seed: 3, steps: 8, guidance: 4 });
    for (const img of [...heart.images, ...frog.images]) {
      expect(img.length).toBe(32 * 32 * 4);
      expect(img.every(Number.isFinite)).toBe(true);
      expect(new Set(img).size).toBeGreaterThan(16);
    }
    expect(heart.images[0]).not.toEqual(frog.images[0]);
    disposeParams(ck.params);
  });
});
