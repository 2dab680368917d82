// Noise schedule (Nichol & Dhariwal 2021, cosine) and the forward process q(x_t | x_0).
// Pure numbers first; tensors only in qSample.
import * as tf from '@tensorflow/tfjs-core';
import type { ScheduleConfig } from '../model/config';

export interface NoiseSchedule {
  trainSteps: number;
  betas: Float64Array;
  /** abar_t = prod_{s<=t} (1 - beta_s), t = 0..T-1. */
  alphasCumprod: Float64Array;
  /** sqrt(abar_t): scales x_0 in q_sample. */
  sqrtAlphasCumprod: Float64Array;
  /** sqrt(1 - abar_t): scales the noise in q_sample. */
  sqrtOneMinusAlphasCumprod: Float64Array;
}

/** f(t) = cos^2(((t/T + s) / (1 + s)) * pi/2), s = 0.008; abar(t) = f(t) / f(0). */
export function cosineAlphaBar(t: number, T: number, s = 0.008): number {
  const f = (u: number) => Math.cos(((u / T + s) / (1 + s)) * (Math.PI / 2)) ** 2;
  return f(t) / f(0);
}

/** beta_i = min(1 - abar((i+1)/T) / abar(i/T), 0.999) as in improved DDPM. */
export function makeSchedule(cfg: ScheduleConfig): NoiseSchedule {
  if (cfg.kind !== 'cosine') throw new Error(`Unknown noise schedule "${cfg.kind}"`);
  const T = cfg.trainSteps;
  const betas = new Float64Array(T);
  const alphasCumprod = new Float64Array(T);
  let prod = 1;
  for (let i = 0; i < T; i++) {
    betas[i] = Math.min(1 - cosineAlphaBar(i + 1, T) / cosineAlphaBar(i, T), 0.999);
    prod *= 1 - betas[i];
    alphasCumprod[i] = prod;
  }
  return {
    trainSteps: T,
    betas,
    alphasCumprod,
    sqrtAlphasCumprod: alphasCumprod.map(Math.sqrt),
    sqrtOneMinusAlphasCumprod: alphasCumprod.map((a) => Math.sqrt(1 - a)),
  };
}

/** x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps, per sample t (integer timesteps). */
export function qSample(schedule: NoiseSchedule, x0: tf.Tensor4D, noise: tf.Tensor4D, timesteps: ArrayLike<number>): tf.Tensor4D {
  const n = x0.shape[0];
  if (timesteps.length !== n) throw new Error(`qSample: ${timesteps.length} timesteps for a batch of ${n}`);
  const a = new Float32Array(n);
  const s = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a[i] = schedule.sqrtAlphasCumprod[timesteps[i]];
    s[i] = schedule.sqrtOneMinusAlphasCumprod[timesteps[i]];
  }
  return tf.tidy(() => tf.add(tf.mul(x0, tf.tensor4d(a, [n, 1, 1, 1])), tf.mul(noise, tf.tensor4d(s, [n, 1, 1, 1]))));
}

/** The `steps` DDIM timesteps, descending, evenly spaced over [0, T-1] ("trailing" spacing ends at T-1). */
export function ddimTimesteps(trainSteps: number, steps: number): number[] {
  if (!Number.isInteger(steps) || steps < 1 || steps > trainSteps) throw new Error(`DDIM steps must be 1..${trainSteps}, got ${steps}`);
  const out: number[] = [];
  for (let i = steps; i >= 1; i--) out.push(Math.round((i * trainSteps) / steps) - 1);
  return out;
}
