// The model worker's logic (src/core/service/modelService.ts) in Node: requests in, replies out,
// as the worker shell passes them, on the shipped checkpoint read through a file fetch. Every
// request gets exactly one final reply; bad input gets a typed reason; nothing leaks.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';

import { createModelService } from '../src/core/service/modelService';
import { parseCheckpoint } from '../src/core/io/checkpoint';
import type { PairRecord } from '../src/core/data/pairs';
import { DEFAULT_SAIL_SETTINGS } from '../src/core/sail/settings';
import type { WorkerReply, WorkerRequest } from '../src/protocol';
import { decodeNode } from '../scripts/lib/decodeNode';

const root = resolve(__dirname, '..');
const MODEL_URL = 'file:///public/models/base/';

/** Serves files of the repo for file:// URLs rooted at it. */
const fileFetch = (async (input: RequestInfo | URL) => {
  const path = String(input).replace('file://', '');
  try {
    return new Response(readFileSync(resolve(root, `.${path}`)));
  } catch {
    return new Response('not found', { status: 404, statusText: 'Not Found' });
  }
}) as typeof fetch;

function service() {
  const replies: WorkerReply[] = [];
  const svc = createModelService({
    post: (r) => void replies.push(r),
    fetch: fileFetch,
    decodeImage: async (blob) => {
      const { width, data } = await decodeNode(new Uint8Array(await blob.arrayBuffer()), 'atlas.png');
      return { pixels: data, width };
    },
  });
  const ask = async (req: WorkerRequest) => {
    const from = replies.length;
    await svc.handle(req);
    return replies.slice(from);
  };
  return { ask, replies };
}

describe('the model service', () => {
  it('answers before init with not-ready, then loads the model and answers every request once', async () => {
    const { ask } = service();
    expect(await ask({ kind: 'check-prompt', id: 1, prompt: 'red heart' })).toEqual([{ kind: 'error', id: 1, reason: 'not-ready', message: expect.stringMatching(/not loaded yet/) }]);

    const [ready] = await ask({ kind: 'init', id: 2, backendPreference: 'cpu', modelUrl: MODEL_URL });
    expect(ready).toMatchObject({ kind: 'ready', id: 2, activeBackend: 'cpu', model: { imageSize: 32 } });
    expect((ready as { model: { params: number } }).model.params).toBeGreaterThan(100_000);

    expect(await ask({ kind: 'check-prompt', id: 3, prompt: 'red heart zzqx' })).toEqual([{ kind: 'prompt-checked', id: 3, unknownWords: ['zzqx'] }]);

    const before = tf.memory().numTensors;
    const out = await ask({ kind: 'generate', id: 4, prompt: 'red heart', count: 2, seed: 5, guidance: 3, steps: 2 });
    const result = out.at(-1) as Extract<WorkerReply, { kind: 'result' }>;
    expect(out.slice(0, -1).every((r) => r.kind === 'progress')).toBe(true);
    expect(result).toMatchObject({ kind: 'result', id: 4, size: 32, backend: 'cpu' });
    expect(result.images.map((b) => b.byteLength)).toEqual([32 * 32 * 4, 32 * 32 * 4]);
    expect(new Uint8Array(result.images[0])).not.toEqual(new Uint8Array(result.images[1])); // different noise
    expect(tf.memory().numTensors).toBe(before);

    // Bad input: one error reply each, with a reason the app can act on.
    const [nan] = await ask({ kind: 'generate', id: 5, prompt: 'red heart', count: 1, seed: Number.NaN, guidance: 3, steps: 2 });
    expect(nan).toEqual({ kind: 'error', id: 5, reason: 'bad-request', message: 'seed must be a number.' });
    const [unknown] = await ask({ kind: 'make-coffee', id: 6 } as unknown as WorkerRequest);
    expect(unknown).toMatchObject({ kind: 'error', id: 6, reason: 'bad-request', message: expect.stringMatching(/Unknown request kind "make-coffee"/) });
    const [garbage] = await ask({ kind: 'check-model', id: 7, config: '{"not":"a config"}', weights: new ArrayBuffer(8) });
    expect(garbage).toMatchObject({ kind: 'error', id: 7, reason: 'bad-request', message: expect.stringMatching(/not a checkpoint the studio can use/) });
    const [badWeights] = await ask({ kind: 'render-grid', id: 8, cells: [{ prompt: 'red heart', seed: 1 }], guidance: 3, steps: 2, model: { weights: new ArrayBuffer(16) } });
    expect(badWeights).toMatchObject({ kind: 'error', id: 8, reason: 'bad-request', message: expect.stringMatching(/cannot be read/) });

    // The shipped checkpoint's own files pass check-model.
    const config = readFileSync(resolve(root, 'public/models/base/config.json'), 'utf8');
    const weights = readFileSync(resolve(root, 'public/models/base/model.safetensors'));
    const [checked] = await ask({ kind: 'check-model', id: 9, config, weights: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.length) as ArrayBuffer });
    expect(checked).toMatchObject({ kind: 'model-checked', id: 9, model: { imageSize: 32 } });
    expect(tf.memory().numTensors).toBe(before);
  }, 120_000);

  it('a cancel between steps ends a generation with reason cancelled', async () => {
    const { ask, replies } = service();
    await ask({ kind: 'init', id: 1, backendPreference: 'cpu', modelUrl: MODEL_URL });
    const atInit = replies.length;
    const running = ask({ kind: 'generate', id: 2, prompt: 'dog face', count: 1, seed: 1, guidance: 3, steps: 20 });
    await ask({ kind: 'cancel', id: 3, targetId: 2 });
    const out = await running;
    expect(out.at(-1)).toEqual({ kind: 'error', id: 2, reason: 'cancelled', message: 'Generation was cancelled.' });
    // Cancelled before all 20 steps had reported.
    expect(replies.slice(atInit).filter((r) => r.kind === 'progress').length).toBeLessThan(20);
  }, 120_000);

  it('a model URL that does not exist fails init with model-load-failed, naming it', async () => {
    const { ask } = service();
    const [reply] = await ask({ kind: 'init', id: 1, backendPreference: 'cpu', modelUrl: 'file:///public/models/nothing-here/' });
    expect(reply).toMatchObject({ kind: 'error', id: 1, reason: 'model-load-failed', message: expect.stringMatching(/nothing-here.*could not be loaded/) });
  }, 60_000);

  it('run-sail packages every round: weights the base config reads, self pairs and grid as RGBA, one sail-done, no leaks', async () => {
    const { ask } = service();
    await ask({ kind: 'init', id: 1, backendPreference: 'cpu', modelUrl: 'file:///test/fixtures/tiny-base/' });
    const config = readFileSync(resolve(root, 'test/fixtures/tiny-base/config.json'), 'utf8');
    // 8 labelled pairs of noise images (a brighter winner): enough for the loop's mechanics.
    let s = 7;
    const rand = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32);
    const image = (lift: number) => ({ width: 32, height: 32, data: Uint8Array.from({ length: 32 * 32 * 3 }, () => Math.min(255, Math.floor(rand() * 160 + lift))) });
    const seedPairs: PairRecord[] = Array.from({ length: 8 }, (_, i) => ({ caption: ['red heart', 'dog face'][i % 2], image0: image(80), image1: image(0), label0: 1, source: 'seed' }));
    const settings = { ...DEFAULT_SAIL_SETTINGS, rounds: 1, stepsPerRound: 3, batchSize: 4, promptsPerRound: 2, candidatesPerPrompt: 3, rewardDraws: 2, ddimSteps: 2, checksPerRound: 1 };
    const before = tf.memory();
    const out = await ask({ kind: 'run-sail', id: 2, seedPairs, promptPools: [['ghost', 'frog face']], settings, grid: [{ prompt: 'red heart', seed: 1 }, { prompt: 'ghost', seed: 2 }] });

    expect(out.at(-1)).toEqual({ kind: 'sail-done', id: 2, rounds: 2 });
    expect(out.some((r) => r.kind === 'sail-event')).toBe(true);
    const rounds = out.filter((r): r is Extract<WorkerReply, { kind: 'sail-round' }> => r.kind === 'sail-round');
    expect(rounds.map((r) => r.round)).toEqual([0, 1]);
    for (const r of rounds) {
      expect(r.id).toBe(2);
      expect(r.record.round).toBe(r.round);
      // The round's weights are a checkpoint of the base's config.
      const ck = parseCheckpoint(config, r.weights);
      expect(Object.keys(ck.params).length).toBeGreaterThan(10);
      tf.dispose(Object.values(ck.params));
      expect(r.grid.map((g) => g.byteLength)).toEqual([32 * 32 * 4, 32 * 32 * 4]);
      for (const p of r.selfPairs) {
        expect(['ghost', 'frog face']).toContain(p.prompt);
        expect([p.winner.byteLength, p.loser.byteLength]).toEqual([32 * 32 * 4, 32 * 32 * 4]);
        expect(Number.isFinite(p.margin)).toBe(true);
      }
    }
    expect(rounds[0].selfPairs).toEqual([]); // round 0 trains on the seed pairs alone
    expect(rounds[1].record.selfPairs.length).toBe(rounds[1].selfPairs.length);
    // Round 0's weights differ from round 1's start only by training: the two rounds' bytes differ.
    expect(Buffer.compare(Buffer.from(rounds[0].weights), Buffer.from(rounds[1].weights))).not.toBe(0);
    expect(tf.memory().numTensors).toBe(before.numTensors);
    expect(tf.memory().numBytes).toBe(before.numBytes);

    // A pair whose image is not the model's size: one bad-request reply, nothing kept.
    const bad = [{ ...seedPairs[0], image0: { width: 8, height: 8, data: new Uint8Array(8 * 8 * 3) } }, ...seedPairs.slice(1)];
    const failed = await ask({ kind: 'run-sail', id: 3, seedPairs: bad, promptPools: [['ghost']], settings });
    expect(failed.at(-1)).toMatchObject({ kind: 'error', id: 3 });
    expect(failed.some((r) => r.kind === 'sail-round')).toBe(false);
    expect(tf.memory().numTensors).toBe(before.numTensors);
  }, 180_000);
});
