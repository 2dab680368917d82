// Half of a SAIL round's candidates on a second worker (src/core/service/helperService.ts): the
// round's self pairs are bit for bit those one worker makes alone; a helper that fails costs time,
// not the round; nothing is left behind. The helper runs in this process here (the same service
// the helper worker runs, over an in-process port); Chromium runs it as a real worker (e2e).
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeSchedule } from '../src/core/diffusion/schedule';
import type { Checkpoint } from '../src/core/model/ldm';
import { candidateChunks, selfAnnotate, trainDpoRound, type PreferencePair, type SailSettings } from '../src/core/sail/loop';
import type { AnchorSet } from '../src/core/sail/safety';
import { DEFAULT_SAIL_SETTINGS } from '../src/core/sail/settings';
import { createHelperService, remoteHelper, type HelperPort, type HelperReply } from '../src/core/service/helperService';
import { loadCheckpointDir } from '../scripts/lib/checkpointFs';
import { lightDarkPairs, useBackend } from './helpers';

let base: Checkpoint;
let anchor: AnchorSet;
let pairs: PreferencePair[];
const prompts = ['grinning face', 'red heart', 'dog face', 'rocket', 'banana', 'ghost', 'frog face', 'tree', 'baby', 'soccer ball', 'red apple', 'warning sign'];
const settings: SailSettings = { ...DEFAULT_SAIL_SETTINGS, candidatesPerPrompt: 8, rewardDraws: 3, ddimSteps: 2, minSignAgreement: 0, selfKeepFraction: 1 };

beforeAll(async () => {
  await useBackend('wasm');
  base = loadCheckpointDir('test/fixtures/tiny-base');
  ({ anchor, pairs } = await lightDarkPairs(base, 320));
});

/** A helper "worker" in this process: the helper service behind a port, replies on a later turn. */
function inProcessPort(opts: { failAfterInit?: boolean } = {}): HelperPort & { requests: string[] } {
  let reply: (r: HelperReply) => void = () => {};
  let fail: (m: string) => void = () => {};
  const requests: string[] = [];
  const service = createHelperService({ post: (r) => setTimeout(() => reply(r), 0), backend: 'current' });
  return {
    requests,
    post: (req) => {
      requests.push(req.kind);
      if (opts.failAfterInit && req.kind === 'helper-annotate') return void setTimeout(() => fail('crashed (test)'), 0);
      void service.handle(req);
    },
    onReply: (cb) => void (reply = cb),
    onFail: (cb) => void (fail = cb),
    terminate: () => service.dispose(),
  };
}

const annotate = (helper?: Parameters<typeof selfAnnotate>[0]['helper']) =>
  selfAnnotate({ base, schedule: makeSchedule(base.config.schedule), generator: base.params, judge: base.params, prompts, settings, round: 1, helper });

describe('a helper worker for the candidates', () => {
  it('splits the chunks of a round between the two workers', () => {
    expect(candidateChunks(prompts.length, 8)).toEqual([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]);
    expect(candidateChunks(5, 16)).toEqual([[0, 1], [2, 3], [4]]);
  });

  it('gives the self pairs one worker gives, bit for bit, and leaves no tensor behind', async () => {
    const before = tf.memory().numTensors;
    const alone = await annotate();
    const port = inProcessPort();
    const helper = remoteHelper(() => port, base);
    const split = await annotate(helper);
    helper.close();
    expect(port.requests).toEqual(['helper-init', 'helper-annotate']);
    expect(alone.workers).toBe(1);
    expect(split.workers).toBe(2);
    expect(split.pairs.length).toBe(prompts.length);
    expect(split.pairs.map((p) => p.prompt)).toEqual(alone.pairs.map((p) => p.prompt));
    expect(split.pairs.map((p) => p.margin)).toEqual(alone.pairs.map((p) => p.margin));
    split.pairs.forEach((p, i) => {
      expect(Array.from(p.winner)).toEqual(Array.from(alone.pairs[i].winner));
      expect(Array.from(p.loser)).toEqual(Array.from(alone.pairs[i].loser));
      expect(Array.from(p.winnerImage)).toEqual(Array.from(alone.pairs[i].winnerImage));
    });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a helper that fails mid-round costs time, not the round: this worker samples its chunks, the same pairs', async () => {
    const before = tf.memory().numTensors;
    const alone = await annotate();
    const port = inProcessPort({ failAfterInit: true });
    const helper = remoteHelper(() => port, base);
    const warn = console.warn;
    const warnings: string[] = [];
    console.warn = (m: string) => void warnings.push(m);
    try {
      const split = await annotate(helper);
      expect(split.workers).toBe(1);
      expect(split.pairs.map((p) => p.margin)).toEqual(alone.pairs.map((p) => p.margin));
      // Broken for good: the next round does not wait on it.
      await expect(helper.annotate({ generator: base.params, judge: base.params, prompts, chunks: [[0]], settings, round: 1 })).rejects.toThrow(/crashed/);
    } finally {
      console.warn = warn;
      helper.close();
    }
    expect(warnings.join(' ')).toMatch(/second worker failed.*crashed/);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('a helper worker for half of every DPO step', () => {
  const dpo: SailSettings = { ...DEFAULT_SAIL_SETTINGS, stepsPerRound: 6, batchSize: 7, checksPerRound: 2, patience: 0, priorBatch: 5, driftBound: 10, heldOutFraction: 0.25 };
  const train = (helper?: Parameters<typeof trainDpoRound>[0]['helper']) =>
    trainDpoRound({ base, schedule: makeSchedule(base.config.schedule), start: base.params, reference: base.params, selfPairs: [], seedPairs: pairs, settings: dpo, round: 0, anchor, helper });

  it("splits every check's images with the helper, and a check at the same weights gives exactly what one worker's does", async () => {
    const before = tf.memory().numTensors;
    // baseGuard: a check at step 0, where both runs hold the same weights.
    const settings: SailSettings = { ...dpo, stepsPerRound: 2, checksPerRound: 1, baseGuard: true };
    const run = (helper?: Parameters<typeof trainDpoRound>[0]['helper']) =>
      trainDpoRound({ base, schedule: makeSchedule(base.config.schedule), start: base.params, reference: base.params, selfPairs: [], seedPairs: pairs, settings, round: 0, anchor, helper });
    const alone = await run();
    const port = inProcessPort();
    const helper = remoteHelper(() => port, base);
    const split = await run(helper);
    helper.close();
    expect(split.checks.length).toBeGreaterThan(1);
    expect(port.requests.filter((k) => k === 'helper-check')).toHaveLength(split.checks.length);
    expect(split.checks[0]!.step).toBe(0);
    expect(split.checks[0]).toEqual(alone.checks[0]);
    expect(split.checks[0]!.drift).toBe(0);
    for (const r of [alone, split]) Object.values(r.params).forEach((t) => t.dispose());
    expect(tf.memory().numTensors).toBe(before);
  });

  it('trains the round one worker trains, up to float rounding (odd batch and prior counts), leaving no tensor behind', async () => {
    const before = tf.memory().numTensors;
    const alone = await train();
    const port = inProcessPort();
    const helper = remoteHelper(() => port, base);
    const split = await train(helper);
    helper.close();
    expect(port.requests.filter((k) => k === 'helper-gradient')).toHaveLength(dpo.stepsPerRound);
    expect(port.requests.filter((k) => k === 'helper-begin-round')).toHaveLength(1);
    expect(split.curve).toHaveLength(alone.curve.length);
    split.curve.forEach((p, i) => {
      expect(p.implicitAccuracy).toBe(alone.curve[i].implicitAccuracy);
      expect(Math.abs(p.loss - alone.curve[i].loss)).toBeLessThan(1e-4 * Math.max(1, Math.abs(alone.curve[i].loss)));
    });
    // Adam moves a weight whose gradient is near zero by sign(m)/sqrt(v) x lr, so rounding can flip
    // single weights; over the whole UNet the two rounds agree: the difference is a sliver of the move.
    const unet = Object.keys(base.params).filter((n) => n.startsWith('unet.'));
    let diff = 0;
    let move = 0;
    for (const n of unet) {
      const [a, b, o] = [await alone.params[n].data(), await split.params[n].data(), await base.params[n].data()];
      a.forEach((v, i) => {
        diff += (v - b[i]) ** 2;
        move += (v - o[i]) ** 2;
      });
    }
    expect(Math.sqrt(move)).toBeGreaterThan(1e-3);
    expect(Math.sqrt(diff) / Math.sqrt(move)).toBeLessThan(0.005);
    for (const r of [alone, split]) Object.values(r.params).forEach((t) => t.dispose());
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a helper that fails mid-round: this worker trains on the whole batch from then on, the same round', async () => {
    const before = tf.memory().numTensors;
    const alone = await train();
    const port = inProcessPort();
    const helper = remoteHelper(() => port, base);
    // Steps 1 and 2 on the helper; from step 3 it fails, as a crashed worker's requests do.
    let calls = 0;
    const failing = { ...helper, gradient: (r: Parameters<typeof helper.gradient>[0]) => (++calls >= 3 ? Promise.reject(new Error('crashed (test)')) : helper.gradient(r)) };
    const warn = console.warn;
    const warnings: string[] = [];
    console.warn = (m: string) => void warnings.push(m);
    let split: Awaited<ReturnType<typeof train>>;
    try {
      split = await train(failing);
    } finally {
      console.warn = warn;
      helper.close();
    }
    expect(calls).toBe(3); // not asked again after it failed
    expect(warnings.join(' ')).toMatch(/second worker failed.*crashed.*whole batch/);
    expect(split.curve).toHaveLength(alone.curve.length);
    split.curve.forEach((p, i) => expect(Math.abs(p.loss - alone.curve[i].loss)).toBeLessThan(1e-4 * Math.max(1, Math.abs(alone.curve[i].loss))));
    for (const r of [alone, split]) Object.values(r.params).forEach((t) => t.dispose());
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('the helper on a Node worker thread (npm run sail and npm run eval with --threads 2)', () => {
  it('a real thread gives the self pairs one worker gives, and half of a DPO round', async () => {
    const { nodeHelperPort } = await import('../scripts/lib/helperPort');
    const before = tf.memory().numTensors;
    const alone = await annotate();
    const helper = remoteHelper(nodeHelperPort, base);
    try {
      const split = await annotate(helper);
      expect(split.workers).toBe(2);
      expect(split.pairs.map((p) => p.margin)).toEqual(alone.pairs.map((p) => p.margin));
      const round = await trainDpoRound({
        base,
        schedule: makeSchedule(base.config.schedule),
        start: base.params,
        reference: base.params,
        selfPairs: [],
        seedPairs: pairs,
        settings: { ...DEFAULT_SAIL_SETTINGS, stepsPerRound: 3, batchSize: 6, checksPerRound: 1, patience: 0, driftBound: 10 },
        round: 0,
        anchor,
        helper,
      });
      expect(round.workers).toBe(2);
      expect(round.curve.every((p) => Number.isFinite(p.loss))).toBe(true);
      Object.values(round.params).forEach((t) => t.dispose());
    } finally {
      helper.close();
    }
    expect(tf.memory().numTensors).toBe(before);
  }, 120_000);
});
