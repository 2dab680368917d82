// Implicit DPO reward (architecture.md section 5):
//   r(x0) = -0.5 * beta * mean_k [ mse_judge(x0; t_k, e_k) - mse_ref(x0; t_k, e_k) ]
// The K draws (t_k, e_k) are shared by all candidates of one prompt, which cancels most of the
// Monte-Carlo noise in their ranking. Candidates of many prompts x their draws are flattened into
// batches of at most `maxBatch` network evaluations per model. The draws' timesteps can be held to
// a range where the reward is accurate: Semi-DPO found SD1.5's own preference below 70% accurate
// above t = 650; ours, measured per bucket by rewardAccuracyByTimestep (npm run reward-timesteps),
// is the other way round: near chance below t = 600, 71-79% above it on a colour taste (the
// default range stays [0, 599]: docs/sail.md says why).
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

/** The K shared (t, e) draws for one prompt, a pure function of the seed; t uniform in [lo, hi] (default: all). */
export function rewardDraws(config: ModelConfig, k: number, seed: number, timesteps?: readonly [number, number]): RewardDraws {
  const rand = mulberry32(hashSeed(seed, 0));
  const per = config.latentSize ** 2 * config.autoencoder.latentChannels;
  const lo = Math.max(0, Math.floor(timesteps?.[0] ?? 0));
  const hi = Math.min(config.schedule.trainSteps - 1, Math.floor(timesteps?.[1] ?? config.schedule.trainSteps - 1));
  if (hi < lo) throw new Error(`Reward timesteps [${lo}, ${hi}] are empty`);
  return {
    timesteps: Int32Array.from({ length: k }, () => lo + Math.floor(rand() * (hi - lo + 1))),
    noise: gaussianArray(k * per, hashSeed(seed, 1)),
  };
}

/** Candidates of several prompts: latents [N,...], the text row of each, and each prompt's draws. */
export interface RewardJob {
  latents: tf.Tensor4D;
  /** Row of `text` (and of `draws`) for each candidate. */
  promptOf: Int32Array;
  text: TextStates;
  draws: RewardDraws[];
}

/** Per (candidate, draw) mse of one model: Float32Array [N*K], candidate-major. */
async function mseAllDraws(params: Params, config: ModelConfig, schedule: NoiseSchedule, job: RewardJob, maxBatch: number): Promise<Float32Array> {
  const n = job.latents.shape[0];
  const k = job.draws[0].timesteps.length;
  const [, s, , c] = job.latents.shape;
  const per = s * s * c;
  const out = new Float32Array(n * k);
  const total = n * k;
  for (let start = 0; start < total; start += maxBatch) {
    const count = Math.min(maxBatch, total - start);
    const mse = tf.tidy(() => {
      const cand = Int32Array.from({ length: count }, (_, i) => Math.floor((start + i) / k));
      const draw = Int32Array.from({ length: count }, (_, i) => (start + i) % k);
      const rows = Int32Array.from(cand, (ci) => job.promptOf[ci]);
      const x0 = tf.gather(job.latents, cand) as tf.Tensor4D;
      const noiseData = new Float32Array(count * per);
      draw.forEach((d, i) => noiseData.set(job.draws[rows[i]].noise.subarray(d * per, (d + 1) * per), i * per));
      const noise = tf.tensor4d(noiseData, [count, s, s, c]);
      const ts = Int32Array.from(draw, (d, i) => job.draws[rows[i]].timesteps[d]);
      const xt = qSample(schedule, x0, noise, ts);
      const idx = tf.tensor1d(rows, 'int32');
      const batchText: TextStates = { tokens: tf.gather(job.text.tokens, idx), mask: tf.gather(job.text.mask, idx), pooled: tf.gather(job.text.pooled, idx) };
      const eps = predictNoise(params, config, xt, tf.tensor1d(Float32Array.from(ts)), batchText);
      return tf.mean(tf.squaredDifference(eps, noise), [1, 2, 3]);
    });
    out.set(await mse.data(), start);
    mse.dispose();
  }
  return out;
}

/**
 * Per-draw implicit rewards -0.5 beta (mse_judge - mse_ref) of every candidate: [N*K],
 * candidate-major. Their mean over k is the implicit reward; their spread says how sure it is.
 */
export async function implicitRewardsPerDraw(judge: Params, reference: Params, config: ModelConfig, schedule: NoiseSchedule, job: RewardJob, opts: { beta: number; maxBatch?: number }): Promise<Float32Array> {
  const n = job.latents.shape[0];
  const k = job.draws[0].timesteps.length;
  if (judge === reference) return new Float32Array(n * k);
  const maxBatch = opts.maxBatch ?? 128;
  const judgeMse = await mseAllDraws(judge, config, schedule, job, maxBatch);
  const refMse = await mseAllDraws(reference, config, schedule, job, maxBatch);
  return judgeMse.map((v, i) => -0.5 * opts.beta * (v - refMse[i]));
}

/** Mean over each candidate's K draws: [N*K] -> [N]. */
export function meanOverDraws(perDraw: Float32Array, k: number): Float32Array {
  const n = perDraw.length / k;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let sum = 0;
    for (let j = 0; j < k; j++) sum += perDraw[i * k + j];
    out[i] = sum / k;
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
  const job: RewardJob = { latents, promptOf: new Int32Array(latents.shape[0]), text, draws: [opts.draws] };
  const perDraw = await implicitRewardsPerDraw(judge, reference, config, schedule, job, opts);
  return meanOverDraws(perDraw, opts.draws.timesteps.length);
}

/** Accuracy of the implicit reward on labelled pairs within one timestep range. */
export interface BucketAccuracy {
  timesteps: [number, number];
  accuracy: number;
  pairs: number;
}

/**
 * How often the judge's implicit reward (against `reference`) prefers the labelled winner, with
 * the K draws of each pair held to one timestep bucket at a time: the measure behind the reward's
 * timestep range. Winner and loser of a pair share their draws.
 */
export async function rewardAccuracyByTimestep(
  judge: Params,
  reference: Params,
  config: ModelConfig,
  schedule: NoiseSchedule,
  pairs: { winner: Float32Array; loser: Float32Array; text: TextStates }[],
  opts: { beta: number; buckets: [number, number][]; draws: number; seed: number },
): Promise<BucketAccuracy[]> {
  const out: BucketAccuracy[] = [];
  const s = config.latentSize;
  const c = config.autoencoder.latentChannels;
  for (const bucket of opts.buckets) {
    let correct = 0;
    for (let i = 0; i < pairs.length; i++) {
      const p = pairs[i];
      const latents = tf.tensor4d(Float32Array.from([...p.winner, ...p.loser]), [2, s, s, c]);
      const r = await implicitRewards(judge, reference, config, schedule, latents, p.text, { beta: opts.beta, draws: rewardDraws(config, opts.draws, hashSeed(opts.seed, i, bucket[0]), bucket) });
      latents.dispose();
      if (r[0] > r[1]) correct++;
    }
    out.push({ timesteps: bucket, accuracy: pairs.length ? correct / pairs.length : NaN, pairs: pairs.length });
  }
  return out;
}
