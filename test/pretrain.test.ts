// Training works: on a handful of real emoji, the autoencoder and the UNet losses fall.
import { beforeAll, describe, expect, it } from 'vitest';
import { cutAtlas } from '../src/core/data/atlas';
import { makeConfig } from '../src/core/model/config';
import { initParams, paramNames } from '../src/core/model/ldm';
import { autoencoderBatch, autoencoderStepLoss, buildVocab, decoderBatch, decoderStepLoss, diffusionBatch, disposeBatch, encodeAll, latentScaleFor, makeSchedule, unetStepLoss } from '../src/core/pretrain';
import { adamInit, adamStep, disposeAdam } from '../src/core/train';
import { loadEmojiDataset } from '../scripts/lib/png';
import { useBackend } from './helpers';

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('pretraining on a handful of images', () => {
  beforeAll(async () => {
    await useBackend('wasm');
  });

  it('autoencoder then UNet: both losses fall over a few hundred steps', async () => {
    const data = loadEmojiDataset('public/data');
    const ids = data.manifest.splits.pretrain.filter((_, i) => i % 400 === 0).slice(0, 8);
    const images = cutAtlas(data.atlasRGBA, data.width, 4, data.manifest.columns, ids);
    const prompts = ids.map((id) => data.manifest.records[id].prompt);
    const config = makeConfig(buildVocab(prompts), 'tiny');
    const params = initParams(config, 1);

    const aeNames = paramNames(params, 'ae');
    let adam = adamInit(params, aeNames);
    const aeLosses: number[] = [];
    for (let step = 0; step < 150; step++) {
      const batch = autoencoderBatch(images, 32, 8, 1, step);
      aeLosses.push((await adamStep(params, aeNames, adam, { lr: 3e-3, clipNorm: 1 }, (p) => autoencoderStepLoss(p, config, batch))).loss);
      batch.dispose();
    }
    disposeAdam(adam);
    expect(mean(aeLosses.slice(-20))).toBeLessThan(0.6 * mean(aeLosses.slice(0, 20)));

    config.latentScale = latentScaleFor(await encodeAll(params, config, images));
    const latents = (await encodeAll(params, config, images)).map((v) => v * config.latentScale);
    const schedule = makeSchedule(config.schedule);
    const names = paramNames(params, 'text', 'unet');
    adam = adamInit(params, names);
    const losses: number[] = [];
    for (let step = 0; step < 300; step++) {
      const batch = diffusionBatch(latents, prompts, config, { batch: 8, seed: 1, step, cfgDropout: 0.1 });
      losses.push((await adamStep(params, names, adam, { lr: 3e-3, clipNorm: 1 }, (p) => unetStepLoss(p, config, schedule, batch))).loss);
      disposeBatch(batch);
    }
    disposeAdam(adam);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(mean(losses.slice(-50))).toBeLessThan(0.8 * mean(losses.slice(0, 50)));
  });

  it('decoder fine-tuning lowers reconstruction error and leaves the encoder (the latent space) untouched', async () => {
    const data = loadEmojiDataset('public/data');
    const ids = data.manifest.splits.pretrain.filter((_, i) => i % 300 === 0).slice(0, 8);
    const images = cutAtlas(data.atlasRGBA, data.width, 4, data.manifest.columns, ids);
    const config = makeConfig(buildVocab(ids.map((id) => data.manifest.records[id].prompt)), 'tiny');
    const params = initParams(config, 2);
    const encoderBefore = await params['ae.enc.conv_in.weight'].data();
    const latents = await encodeAll(params, config, images);
    const names = Object.keys(params).filter((n) => n.startsWith('ae.dec.'));
    const adam = adamInit(params, names);
    const losses: number[] = [];
    for (let step = 0; step < 60; step++) {
      const batch = decoderBatch(images, latents, config, 8, 1, step);
      losses.push((await adamStep(params, names, adam, { lr: 3e-3, clipNorm: 1 }, (p) => decoderStepLoss(p, config, batch))).loss);
      batch.latents.dispose();
      batch.images.dispose();
    }
    disposeAdam(adam);
    expect(mean(losses.slice(-10))).toBeLessThan(0.8 * mean(losses.slice(0, 10)));
    expect(Array.from(await params['ae.enc.conv_in.weight'].data())).toEqual(Array.from(encoderBefore));
    expect(Array.from(await encodeAll(params, config, images))).toEqual(Array.from(latents));
  });
});
