// Self pairs "against the base" (SailSettings.pairing = 'against-base', src/core/sail/loop.ts
// annotateChunks): a prompt's N candidates are N/2 samples of the current model and the base's
// samples from the same N/2 noises, so a pair's two images differ in what the fine-tuning changed.
// Checked here: each half is exactly what that model samples from that noise, a pair is one noise's
// two images, an odd N is refused, and nothing is left behind.
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeSchedule } from '../src/core/diffusion/schedule';
import { sampleLatents } from '../src/core/generate';
import { disposeParams, type Params } from '../src/core/model/layers';
import type { Checkpoint } from '../src/core/model/ldm';
import { annotateChunks, candidateChunks, candidateNoise, selfAnnotate, type SailSettings } from '../src/core/sail/loop';
import { DEFAULT_SAIL_SETTINGS } from '../src/core/sail/settings';
import { loadCheckpointDir } from '../scripts/lib/checkpointFs';
import { useBackend } from './helpers';

let base: Checkpoint;
let tuned: Params;
const prompts = ['grinning face', 'red heart', 'dog face', 'rocket', 'banana', 'ghost'];
const settings: SailSettings = { ...DEFAULT_SAIL_SETTINGS, pairing: 'against-base', candidatesPerPrompt: 8, rewardDraws: 3, ddimSteps: 2, minSignAgreement: 0, selfKeepFraction: 1 };

beforeAll(async () => {
  await useBackend('wasm');
  base = loadCheckpointDir('test/fixtures/tiny-base');
  // "Fine-tuned": every UNet weight nudged, so the model's samples differ from the base's.
  tuned = Object.fromEntries(Object.entries(base.params).map(([k, v]) => [k, k.startsWith('unet') ? tf.tidy(() => tf.mul(v, 1.05)) : tf.clone(v)]));
});

async function maxAbsDiff(x: tf.Tensor, y: tf.Tensor): Promise<number> {
  const [a, b] = [Array.from(await x.data()), Array.from(await y.data())];
  return a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
}

describe('self pairs against the base', () => {
  it("samples the model's half and the base's half from the same noises, and pairs one noise's two images", async () => {
    const before = tf.memory().numTensors;
    const h = settings.candidatesPerPrompt / 2;
    const chunks = candidateChunks(prompts.length, settings.candidatesPerPrompt);
    const req = { generator: tuned, judge: tuned, prompts, chunks: [chunks[1]], settings, round: 1 };
    const { chunks: [got] } = await annotateChunks({ base, schedule: makeSchedule(base.config.schedule), req });
    const pi = chunks[1][1]; // the chunk's second prompt
    const noise = candidateNoise(base, settings.seed, 1, pi, h, settings.candidateNoiseShare);
    const sampling = { guidance: settings.candidateGuidance!, steps: settings.ddimSteps };
    const mine = await sampleLatents({ config: base.config, params: tuned }, Array(h).fill(prompts[pi]), noise, sampling);
    const theirs = await sampleLatents(base, Array(h).fill(prompts[pi]), noise, sampling);
    const slice = (from: number) => tf.tidy(() => tf.slice(got.latents, [from, 0, 0, 0], [h, -1, -1, -1]));
    const [a, b] = [slice(2 * h), slice(3 * h)];
    // Sampled in one batch with other prompts: equal up to float rounding.
    expect(await maxAbsDiff(a, mine)).toBeLessThan(1e-4);
    expect(await maxAbsDiff(b, theirs)).toBeLessThan(1e-4);
    expect(await maxAbsDiff(mine, theirs)).toBeGreaterThan(1e-3);
    expect(got.perDraw.length).toBe(chunks[1].length * settings.candidatesPerPrompt * settings.rewardDraws);
    tf.dispose([got.latents, noise, mine, theirs, a, b]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("a self pair is one noise's model image against its base image (either way round)", async () => {
    const before = tf.memory().numTensors;
    const { pairs } = await selfAnnotate({ base, schedule: makeSchedule(base.config.schedule), generator: tuned, judge: tuned, prompts, settings, round: 1 });
    expect(pairs.length).toBe(prompts.length);
    const h = settings.candidatesPerPrompt / 2;
    for (const p of pairs) {
      const pi = prompts.indexOf(p.prompt);
      const noise = candidateNoise(base, settings.seed, 1, pi, h, settings.candidateNoiseShare);
      const sampling = { guidance: settings.candidateGuidance!, steps: settings.ddimSteps };
      const mine = await sampleLatents({ config: base.config, params: tuned }, Array(h).fill(p.prompt), noise, sampling);
      const theirs = await sampleLatents(base, Array(h).fill(p.prompt), noise, sampling);
      const [m, t] = [(await mine.data()) as Float32Array, (await theirs.data()) as Float32Array];
      tf.dispose([noise, mine, theirs]);
      const per = p.winner.length;
      const close = (x: Float32Array, all: Float32Array, j: number) => x.every((v, i) => Math.abs(v - all[j * per + i]) < 1e-4);
      // Some j: {winner, loser} = {model's j, base's j}.
      const j = Array.from({ length: h }, (_, k) => k).find((k) => (close(p.winner, m, k) && close(p.loser, t, k)) || (close(p.winner, t, k) && close(p.loser, m, k)));
      expect(j, `${p.prompt}: winner and loser come from one noise`).toBeDefined();
      expect(p.margin).toBeGreaterThanOrEqual(0);
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses an odd number of candidates per prompt', async () => {
    const before = tf.memory().numTensors;
    const odd = { ...settings, candidatesPerPrompt: 5 };
    await expect(annotateChunks({ base, schedule: makeSchedule(base.config.schedule), req: { generator: tuned, judge: tuned, prompts, chunks: [[0]], settings: odd, round: 1 } })).rejects.toThrow(/even number of candidates per prompt, not 5/);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('frees the nudged weights', () => {
    disposeParams(tuned);
  });
});
