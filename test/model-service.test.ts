// The model worker's logic (src/core/service/modelService.ts) in Node: requests in, replies out,
// as the worker shell passes them, on the shipped checkpoint read through a file fetch. Every
// request gets exactly one final reply; bad input gets a typed reason; nothing leaks.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';

import { createModelService } from '../src/core/service/modelService';
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
});
