// The UNet capacity variants the pretrain CLI can train (--size; docs/pretraining.md): each builds,
// predicts noise of the latent's shape for a batch, and differs from the default where it says.
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';

import { makeConfig, MODEL_SIZES } from '../src/core/model/config';
import { countParams, disposeParams } from '../src/core/model/layers';
import { initParams, predictNoise, textStates } from '../src/core/model/ldm';
import { useBackend } from './helpers';

describe('UNet capacity variants', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  it('each size builds and predicts noise of the latent shape; only the UNet differs from the default', () => {
    const vocab = ['red', 'heart', 'ghost'];
    const counts: Record<string, number> = {};
    const before = tf.memory().numTensors;
    for (const size of MODEL_SIZES) {
      const config = makeConfig(vocab, size);
      const params = initParams(config, 1);
      counts[size] = countParams(params);
      const s = config.latentSize;
      const c = config.autoencoder.latentChannels;
      const out = tf.tidy(() => {
        const text = textStates({ config, params }, ['red heart', null]);
        return predictNoise(params, config, tf.randomNormal([2, s, s, c], 0, 1, 'float32', 3) as tf.Tensor4D, tf.tensor1d([10, 900], 'int32'), text);
      });
      expect(out.shape).toEqual([2, s, s, c]);
      expect(Array.from(out.dataSync()).every(Number.isFinite)).toBe(true);
      out.dispose();
      disposeParams(params);
      if (size !== 'tiny') {
        const d = makeConfig(vocab, 'default');
        expect(config.autoencoder).toEqual(d.autoencoder);
        expect(config.text).toEqual(d.text);
      }
    }
    expect(tf.memory().numTensors).toBe(before);
    expect(makeConfig(vocab, 'wide').unet.channels).toEqual([64, 128]);
    expect(makeConfig(vocab, 'deep').unet.resBlocks).toBe(2);
    expect(makeConfig(vocab, 'attn8').unet.selfAttentionLevels).toEqual([0, 1]);
    expect(counts.wide).toBeGreaterThan(counts.default);
    expect(counts.deep).toBeGreaterThan(counts.default);
    expect(counts.attn8).toBeGreaterThan(counts.default);
    expect(counts.tiny).toBeLessThan(counts.default);
  });
});
