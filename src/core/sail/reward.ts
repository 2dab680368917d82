// Implicit DPO reward (DESIGN.md section 5):
//   r(x0) = -0.5 * beta * mean_k [ mse_judge(x0; t_k, e_k) - mse_ref(x0; t_k, e_k) ]
// The K draws (t_k, e_k) are shared by all candidates of one prompt, which cancels most of the
// Monte-Carlo noise in their ranking. Candidates x draws are flattened into batches of at most
// `maxBatch` network evaluations per model.
import * as tf from '@tensorflow/tfjs-core';
import { qSample, type NoiseSchedule } from '../diffusion/schedule';
import type { ModelConfig } from '../model/config';
import { gaussianArray, type Params } from '../model/layers';
import { predictNoise } from '../model/ldm';
import type { TextStates } from '../model/textEncoder';
import { hashSeed, mulberry32 } from '../random';

export interface RewardDraws {
  timesteps: Int32Array; // [K]
  noise: Float32Array; // [K * latentSize]
}

/** The K shared (t, e) draws for one prompt, a pure function of the seed. */
export function rewardDraws(config: ModelConfig, k: number, seed: number): RewardDraws {
  const rand = mulberry32(hashSeed(seed, 0));
  const per = config.latentSize ** 2 * config.autoencoder.latentChannels;
  return {
    timesteps: Int32Array.from({ length: k }, () => Math.floor(rand() * config.schedule.trainSteps)),
    noise: gaussianArray(k * per, hashSeed(seed, 1)),
  };
}

/** Per (candidate, draw) mse of one model: Float32Array [N*K], candidate-major. */
async function mseAllDraws(params: Params, config: ModelConfig, schedule: NoiseSchedule, latents: tf.Tensor4D, text: TextStates, draws: RewardDraws, maxBatch: number): Promise<Float32Array> {
  const n = latents.shape[0];
  const k = draws.timesteps.length;
  const [, s, , c] = latents.shape;
  const per = s * s * c;
  const out = new Float32Array(n * k);
  const total = n * k;
  for (let start = 0; start < total; start += maxBatch) {
    const count = Math.min(maxBatch, total - start);
    const mse = tf.tidy(() => {
      const cand = Int32Array.from({ length: count }, (_, i) => Math.floor((start + i) / k));
      const draw = Int32Array.from({ length: count }, (_, i) => (start + i) % k);
      const x0 = tf.gather(latents, cand) as tf.Tensor4D;
      const noiseData = new Float32Array(count * per);
      draw.forEach((d, i) => noiseData.set(draws.noise.subarray(d * per, (d + 1) * per), i * per));
      const noise = tf.tensor4d(noiseData, [count, s, s, c]);
      const ts = Int32Array.from(draw, (d) => draws.timesteps[d]);
      const xt = qSample(schedule, x0, noise, ts);
      const rows = tf.zeros([count], 'int32');
      const batchText: TextStates = { tokens: tf.gather(text.tokens, rows), mask: tf.gather(text.mask, rows), pooled: tf.gather(text.pooled, rows) };
      const eps = predictNoise(params, config, xt, tf.tensor1d(Float32Array.from(ts)), batchText);
      return tf.mean(tf.squaredDifference(eps, noise), [1, 2, 3]);
    });
    out.set(await mse.data(), start);
    mse.dispose();
  }
  return out;
}

/**
 * Implicit rewards of N candidate latents (scaled, [N,8,8,C]) for one prompt whose text states
 * are `text` (batch 1). When judge and reference are the same record every reward is 0.
 */
export async function implicitRewards(
  judge: Params,
  reference: Params,
  config: ModelConfig,
  schedule: NoiseSchedule,
  latents: tf.Tensor4D,
  text: TextStates,
  opts: { beta: number; draws: RewardDraws; maxBatch?: number },
): Promise<Float32Array> {
  const n = latents.shape[0];
  if (judge === reference) return new Float32Array(n);
  const k = opts.draws.timesteps.length;
  const maxBatch = opts.maxBatch ?? 128;
  const judgeMse = await mseAllDraws(judge, config, schedule, latents, text, opts.draws, maxBatch);
  const refMse = await mseAllDraws(reference, config, schedule, latents, text, opts.draws, maxBatch);
  const rewards = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let sum = 0;
    for (let j = 0; j < k; j++) sum += judgeMse[i * k + j] - refMse[i * k + j];
    rewards[i] = (-0.5 * opts.beta * sum) / k;
  }
  return rewards;
}
