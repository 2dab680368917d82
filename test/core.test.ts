import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { ddimStep, describeGuidance, guidanceAt, guide, parseGuidanceBands } from '../src/core/diffusion/ddim';
import { cosineAlphaBar, ddimTimesteps, makeSchedule, qSample } from '../src/core/diffusion/schedule';
import { generate, initialNoise } from '../src/core/generate';
import { parseCheckpoint, serializeCheckpoint } from '../src/core/io/checkpoint';
import { readSafetensors } from '../src/core/io/safetensors';
import { NULL_ID, UNK_ID } from '../src/core/model/config';
import { paramNames, predictNoise, textStates } from '../src/core/model/ldm';
import { Tokenizer } from '../src/core/model/tokenizer';
import { diffusionBatch, disposeBatch } from '../src/core/pretrain';
import { adamInit, adamStep, diffusionLoss, disposeAdam } from '../src/core/train';
import { memorySnapshot, tinyCheckpoint, tinyConfig, useBackend } from './helpers';

beforeAll(async () => {
  await useBackend('wasm');
});

describe('noise schedule', () => {
  const schedule = makeSchedule({ kind: 'cosine', trainSteps: 1000 });

  it('matches the cosine closed form abar_t = f(t+1)/f(0) (before beta clipping bites)', () => {
    for (const t of [0, 1, 10, 250, 500, 900]) {
      expect(schedule.alphasCumprod[t]).toBeCloseTo(cosineAlphaBar(t + 1, 1000), 6);
    }
  });

  it('is monotone decreasing, in (0, 1), and its sqrt tables are consistent', () => {
    for (let t = 1; t < 1000; t++) expect(schedule.alphasCumprod[t]).toBeLessThan(schedule.alphasCumprod[t - 1]);
    expect(schedule.alphasCumprod[0]).toBeLessThan(1);
    expect(schedule.alphasCumprod[999]).toBeGreaterThan(0);
    for (const t of [0, 123, 999]) {
      const a = schedule.sqrtAlphasCumprod[t] ** 2 + schedule.sqrtOneMinusAlphasCumprod[t] ** 2;
      expect(a).toBeCloseTo(1, 12);
      expect(schedule.betas[t]).toBeLessThanOrEqual(0.999);
    }
  });

  it('DDIM timesteps descend evenly and end at 0... or as close as the spacing allows', () => {
    expect(ddimTimesteps(1000, 4)).toEqual([999, 749, 499, 249]);
    expect(ddimTimesteps(1000, 1000)[999]).toBe(0);
    expect(() => ddimTimesteps(1000, 0)).toThrow(/DDIM steps/);
  });

  it('q_sample is sqrt(abar) x0 + sqrt(1-abar) eps per sample', async () => {
    const x0 = tf.randomNormal([2, 8, 8, 4], 0, 1, 'float32', 1) as tf.Tensor4D;
    const eps = tf.randomNormal([2, 8, 8, 4], 0, 1, 'float32', 2) as tf.Tensor4D;
    const xt = qSample(schedule, x0, eps, [10, 700]);
    expect(xt.shape).toEqual([2, 8, 8, 4]);
    const [xv, ev, tv] = await Promise.all([x0.data(), eps.data(), xt.data()]);
    const per = 8 * 8 * 4;
    for (const [i, t] of [[0, 10], [1, 700]] as const) {
      const j = i * per + 17;
      expect(tv[j]).toBeCloseTo(Math.sqrt(schedule.alphasCumprod[t]) * xv[j] + Math.sqrt(1 - schedule.alphasCumprod[t]) * ev[j], 5);
    }
    tf.dispose([x0, eps, xt]);
  });

  it('a DDIM step with the true noise recovers x0 exactly at the clean end', async () => {
    const x0 = tf.randomNormal([1, 8, 8, 4], 0, 1, 'float32', 3) as tf.Tensor4D;
    const eps = tf.randomNormal([1, 8, 8, 4], 0, 1, 'float32', 4) as tf.Tensor4D;
    const xt = qSample(schedule, x0, eps, [600]);
    const back = ddimStep(schedule, xt, eps, 600, -1);
    const diff = tf.max(tf.abs(tf.sub(back, x0)));
    expect((await diff.data())[0]).toBeLessThan(1e-4);
    tf.dispose([x0, eps, xt, back, diff]);
  });
});

describe('guidance', () => {
  it('rescale matches each sample\'s std to the conditional prediction\'s and blends by phi (hand computation)', async () => {
    const cond = [1, -1, 3, 1];
    const uncond = [0, 0, 1, 1];
    const both = tf.tensor4d([...cond, ...uncond, ...uncond, ...cond], [4, 2, 2, 1]);
    const g = 3;
    const guided = cond.map((c, i) => uncond[i] + g * (c - uncond[i]));
    const std = (v: number[]) => {
      const m = v.reduce((a, b) => a + b, 0) / v.length;
      return Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / v.length);
    };
    const phi = 0.7;
    const want0 = guided.map((x) => phi * x * (std(cond) / std(guided)) + (1 - phi) * x);
    const out = guide(both, g, phi);
    const plain = guide(both, g);
    const got = Array.from(await out.data());
    got.slice(0, 4).forEach((v, i) => expect(v).toBeCloseTo(want0[i], 5));
    expect(Array.from((await plain.data()).slice(0, 4))).toEqual(guided);
    // The second sample (cond and uncond swapped) is rescaled with its own statistics.
    const guided1 = uncond.map((c, i) => cond[i] + g * (c - cond[i]));
    const want1 = guided1.map((x) => phi * x * (std(uncond) / std(guided1)) + (1 - phi) * x);
    got.slice(4).forEach((v, i) => expect(v).toBeCloseTo(want1[i], 5));
    tf.dispose([both, out, plain]);
  });

  it('bands scale the guidance for timesteps in [from, to) only', () => {
    const bands = [{ from: 0, to: 100, factor: 0.5 }, { from: 600, to: 1000, factor: 0.25 }];
    expect(guidanceAt(4, 0, bands)).toBe(2);
    expect(guidanceAt(4, 99, bands)).toBe(2);
    expect(guidanceAt(4, 100, bands)).toBe(4);
    expect(guidanceAt(4, 599, bands)).toBe(4);
    expect(guidanceAt(4, 600, bands)).toBe(1);
    expect(guidanceAt(4, 999, undefined)).toBe(4);
  });

  it('bands parse from the command line form and describe themselves; bad forms are refused', () => {
    const bands = parseGuidanceBands('600-1000:0.25, 0-100:1.5');
    expect(bands).toEqual([{ from: 600, to: 1000, factor: 0.25 }, { from: 0, to: 100, factor: 1.5 }]);
    expect(describeGuidance(4, { guidanceBands: bands, guidanceRescale: 0.7 })).toBe('guidance 4, 1 for t in [600, 1000), 6 for t in [0, 100), rescaled (Lin et al. 2023) with phi 0.7');
    expect(describeGuidance(4, {})).toBe('guidance 4');
    expect(() => parseGuidanceBands('1000-600:1')).toThrow(/from < to/);
    expect(() => parseGuidanceBands('600:1')).toThrow(/from-to:factor/);
  });
});

describe('tokenizer', () => {
  const tok = new Tokenizer(tinyConfig().text);
  it('maps unknown words to UNK and reports them, keeps order and pads', () => {
    const { ids, mask, unknown } = tok.encode(['Frog face', 'zebra face', null]);
    const L = tinyConfig().text.maxLength;
    const row = (r: number) => Array.from(ids.slice(r * L, (r + 1) * L));
    expect(row(0).slice(0, 2)).toEqual([tok.encodeOne('frog')[0], tok.encodeOne('face')[0]]);
    expect(row(1)[0]).toBe(UNK_ID);
    expect(unknown[1]).toEqual(['zebra']);
    expect(row(2)[0]).toBe(NULL_ID);
    expect(Array.from(mask.slice(0, L))).toEqual([1, 1, ...Array(L - 2).fill(0)]);
    expect(tok.encodeOne('dog face')).not.toEqual(tok.encodeOne('face dog'));
    expect(tok.encodeOne('')).toEqual([NULL_ID]);
  });
});

describe('sampling', () => {
  it('is deterministic for a seed, per image independent of batch size, and leak-free', async () => {
    const ck = tinyCheckpoint();
    const opts = { prompt: 'grinning face', seed: 7, steps: 3, guidance: 3 };
    const a = await generate(ck, { ...opts, count: 2 });
    const before = memorySnapshot();
    const b = await generate(ck, { ...opts, count: 3 });
    expect(memorySnapshot()).toEqual(before);
    expect(a.images).toHaveLength(2);
    expect(b.images[0]).toEqual(a.images[0]);
    expect(b.images[1]).toEqual(a.images[1]);
    const c = await generate(ck, { ...opts, seed: 8, count: 1 });
    expect(c.images[0]).not.toEqual(a.images[0]);
    expect(a.images[0].length).toBe(32 * 32 * 4);
  });

  it('initial noise of image i does not depend on the batch', async () => {
    const ck = tinyCheckpoint();
    const n3 = initialNoise(ck, 5, 3);
    const n1 = initialNoise(ck, 5, 1, 2);
    const last = tf.slice(n3, [2, 0, 0, 0], [1, 8, 8, 4]);
    expect(Array.from(await last.data())).toEqual(Array.from(await n1.data()));
    tf.dispose([n3, n1, last]);
  });
});

describe('checkpoint', () => {
  it('round-trips bit-exactly through safetensors with a spec-conformant header', async () => {
    const ck = tinyCheckpoint(3);
    const { configJson, safetensors } = await serializeCheckpoint(ck);
    // Header: u64 little-endian length, JSON, data offsets contiguous from 0.
    const headerLen = Number(new DataView(safetensors.buffer, safetensors.byteOffset).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(safetensors.subarray(8, 8 + headerLen)));
    const entries = Object.entries(header).filter(([k]) => k !== '__metadata__') as [string, { dtype: string; shape: number[]; data_offsets: [number, number] }][];
    entries.sort((a, b) => a[1].data_offsets[0] - b[1].data_offsets[0]);
    let at = 0;
    for (const [, e] of entries) {
      expect(e.dtype).toBe('F32');
      expect(e.data_offsets[0]).toBe(at);
      at = e.data_offsets[1];
    }
    expect(8 + headerLen + at).toBe(safetensors.byteLength);
    expect((8 + headerLen) % 8).toBe(0);

    const back = parseCheckpoint(configJson, safetensors);
    expect(Object.keys(back.params).sort()).toEqual(Object.keys(ck.params).sort());
    for (const [name, t] of Object.entries(ck.params)) {
      const a = new Uint8Array((await t.data() as Float32Array).buffer);
      const b = new Uint8Array((await back.params[name].data() as Float32Array).buffer);
      expect(Buffer.compare(Buffer.from(a), Buffer.from(b)), name).toBe(0);
    }
    expect(readSafetensors(safetensors).metadata.producer).toBe('sail-studio');
  });

  it('rejects weights that do not match the config, with the parameter named', async () => {
    const ck = tinyCheckpoint();
    const { configJson, safetensors } = await serializeCheckpoint(ck);
    const cfg = JSON.parse(configJson);
    cfg.unet.channels = [8, 24];
    expect(() => parseCheckpoint(JSON.stringify(cfg), safetensors)).toThrow(/unet\./);
    expect(() => parseCheckpoint('{"format":"x"}', safetensors)).toThrow(/not a SAIL Studio model config/);
    expect(() => parseCheckpoint(configJson, safetensors.subarray(0, 100))).toThrow(/safetensors/);
  });
});

describe('training', () => {
  it('keeps the tensor count and bytes unchanged across 20 training steps', async () => {
    const ck = tinyCheckpoint();
    const { config, params } = ck;
    const schedule = makeSchedule(config.schedule);
    const latents = Float32Array.from({ length: 4 * 256 }, (_, i) => Math.sin(i));
    const prompts = ['grinning face', 'dog face', 'frog face', 'red heart'];
    const names = paramNames(params, 'text', 'unet');
    const adam = adamInit(params, names);
    const step = async (s: number) => {
      const batch = diffusionBatch(latents, prompts, config, { batch: 4, seed: 1, step: s, cfgDropout: 0.1 });
      await adamStep(params, names, adam, { lr: 1e-3, clipNorm: 1 }, (p) => diffusionLoss(p, config, schedule, batch));
      disposeBatch(batch);
    };
    await step(0);
    const before = memorySnapshot();
    for (let s = 1; s <= 20; s++) await step(s);
    expect(memorySnapshot()).toEqual(before);
    disposeAdam(adam);
  });
});

describe('parity cpu vs wasm', () => {
  it('one UNet forward and its gradient agree within 1e-4', async () => {
    const run = async () => {
      const ck = tinyCheckpoint(11);
      const { config, params } = ck;
      // Zero-initialised output layers would make every gradient zero: perturb all weights.
      let k = 0;
      for (const [n, p] of Object.entries(params)) {
        params[n] = tf.add(p, tf.mul(tf.randomNormal(p.shape, 0, 1, 'float32', k++), 0.1));
        p.dispose();
      }
      const x = tf.tensor4d(Float32Array.from({ length: 2 * 256 }, (_, i) => Math.sin(i * 0.37)), [2, 8, 8, 4]);
      const t = tf.tensor1d([17, 640]);
      const text = textStates(ck, ['dog face', null]);
      const out = predictNoise(params, config, x, t, text);
      const w = params['unet.down.0.res.0.conv1.weight'];
      const g = tf.grad((wv: tf.Tensor) => tf.sum(tf.square(predictNoise({ ...params, 'unet.down.0.res.0.conv1.weight': wv }, config, x, t, text))))(w);
      const result = { out: Array.from(await out.data()), grad: Array.from(await g.data()) };
      tf.dispose([x, t, out, g, text.tokens, text.mask, text.pooled]);
      Object.values(params).forEach((p) => p.dispose());
      return result;
    };
    await useBackend('cpu');
    const cpu = await run();
    await useBackend('wasm');
    const wasm = await run();
    const maxDiff = (a: number[], b: number[]) => Math.max(...a.map((v, i) => Math.abs(v - b[i])));
    expect(maxDiff(cpu.out, wasm.out)).toBeLessThan(1e-4);
    expect(Math.max(...cpu.grad.map(Math.abs))).toBeGreaterThan(0);
    expect(maxDiff(cpu.grad, wasm.grad)).toBeLessThan(1e-4);
  });
});
