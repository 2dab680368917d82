// DDIM (Song et al. 2021; eta = 0 deterministic, eta > 0 adds fresh noise each step) with
// classifier-free guidance (Ho & Salimans 2022).
import * as tf from '@tensorflow/tfjs-core';
import type { NoiseSchedule } from './schedule';

/**
 * One DDIM step from x_t at timestep t to timestep tPrev (-1 = the clean end):
 *   x0_hat = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)
 *   sigma  = eta sqrt((1 - abar_prev) / (1 - abar_t)) sqrt(1 - abar_t / abar_prev)
 *   x_prev = sqrt(abar_prev) x0_hat + sqrt(1 - abar_prev - sigma^2) eps + sigma z,   abar_{-1} = 1
 * With eta = 0 (the default) it is deterministic and z is not used; eta > 0 needs z ~ N(0, I) of x_t's shape.
 */
export function ddimStep(schedule: NoiseSchedule, xt: tf.Tensor4D, eps: tf.Tensor4D, t: number, tPrev: number, clipX0?: number, eta = 0, z?: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const abar = schedule.alphasCumprod[t];
    const abarPrev = tPrev >= 0 ? schedule.alphasCumprod[tPrev] : 1;
    let x0 = tf.div(tf.sub(xt, tf.mul(eps, Math.sqrt(1 - abar))), Math.sqrt(abar));
    if (clipX0 !== undefined) x0 = tf.clipByValue(x0, -clipX0, clipX0);
    const sigma = ddimSigma(abar, abarPrev, eta);
    const mean = tf.add(tf.mul(x0, Math.sqrt(abarPrev)), tf.mul(eps, Math.sqrt(Math.max(0, 1 - abarPrev - sigma * sigma))));
    if (sigma === 0) return mean as tf.Tensor4D;
    if (!z) throw new Error('ddimStep: eta > 0 needs the step noise z');
    return tf.add(mean, tf.mul(z, sigma)) as tf.Tensor4D;
  });
}

/** DDIM's sigma for a step from abar_t to abar_prev at this eta (0 at eta 0 and at the clean end). */
export function ddimSigma(abar: number, abarPrev: number, eta: number): number {
  if (!(eta > 0) || abarPrev >= 1) return 0;
  return eta * Math.sqrt((1 - abarPrev) / (1 - abar)) * Math.sqrt(1 - abar / abarPrev);
}

/** eps = eps_uncond + g (eps_cond - eps_uncond); `both` holds [cond; uncond] stacked on the batch axis. */
export function guide(both: tf.Tensor4D, guidance: number, rescale = 0): tf.Tensor4D {
  return tf.tidy(() => {
    const n = both.shape[0] / 2;
    const [cond, uncond] = tf.split(both, [n, n], 0);
    const guided = tf.add(uncond, tf.mul(tf.sub(cond, uncond), guidance)) as tf.Tensor4D;
    if (!rescale) return guided;
    // Guidance rescale (Lin et al. 2023, eq. 15-16): match each sample's std to the conditional
    // prediction's, then blend: phi * rescaled + (1 - phi) * guided.
    const std = (x: tf.Tensor4D) => tf.sqrt(tf.moments(x, [1, 2, 3], true).variance);
    const rescaled = tf.mul(guided, tf.div(std(cond as tf.Tensor4D), tf.add(std(guided), 1e-8)));
    return tf.add(tf.mul(rescaled, rescale), tf.mul(guided, 1 - rescale)) as tf.Tensor4D;
  });
}

/** The guidance scale at timestep t: `guidance` times the factor of the band holding t (1 outside every band). */
export function guidanceAt(guidance: number, t: number, bands?: { from: number; to: number; factor: number }[]): number {
  const band = bands?.find((b) => t >= b.from && t < b.to);
  return band ? guidance * band.factor : guidance;
}

/** Parses guidance bands written as "from-to:factor,..." (e.g. "600-1000:0.25"); throws on anything else. */
export function parseGuidanceBands(text: string): { from: number; to: number; factor: number }[] {
  return text.split(',').map((part) => {
    const m = /^\s*(\d+)-(\d+):(\d+(?:\.\d+)?)\s*$/.exec(part);
    if (!m || Number(m[1]) >= Number(m[2])) throw new Error(`A guidance band is "from-to:factor" with from < to, e.g. 600-1000:0.25; got "${part}"`);
    return { from: Number(m[1]), to: Number(m[2]), factor: Number(m[3]) };
  });
}

/** "guidance 4", plus its bands and rescale when a config sets them. */
export function describeGuidance(guidance: number, sampling: { guidanceBands?: { from: number; to: number; factor: number }[]; guidanceRescale?: number; eta?: number }): string {
  const parts = [`guidance ${guidance}`];
  for (const b of sampling.guidanceBands ?? []) parts.push(`${+(guidance * b.factor).toFixed(3)} for t in [${b.from}, ${b.to})`);
  if (sampling.guidanceRescale) parts.push(`rescaled (Lin et al. 2023) with phi ${sampling.guidanceRescale}`);
  if (sampling.eta) parts.push(`eta ${sampling.eta}`);
  return parts.join(', ');
}
