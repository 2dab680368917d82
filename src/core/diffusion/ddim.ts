// DDIM (Song et al. 2021, eta = 0) with classifier-free guidance (Ho & Salimans 2022).
import * as tf from '@tensorflow/tfjs-core';
import type { NoiseSchedule } from './schedule';

/**
 * One deterministic DDIM step from x_t at timestep t to timestep tPrev (-1 = the clean end):
 *   x0_hat = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)
 *   x_prev = sqrt(abar_prev) x0_hat + sqrt(1 - abar_prev) eps,   abar_{-1} = 1
 */
export function ddimStep(schedule: NoiseSchedule, xt: tf.Tensor4D, eps: tf.Tensor4D, t: number, tPrev: number, clipX0?: number): tf.Tensor4D {
  return tf.tidy(() => {
    const abar = schedule.alphasCumprod[t];
    const abarPrev = tPrev >= 0 ? schedule.alphasCumprod[tPrev] : 1;
    let x0 = tf.div(tf.sub(xt, tf.mul(eps, Math.sqrt(1 - abar))), Math.sqrt(abar));
    if (clipX0 !== undefined) x0 = tf.clipByValue(x0, -clipX0, clipX0);
    return tf.add(tf.mul(x0, Math.sqrt(abarPrev)), tf.mul(eps, Math.sqrt(1 - abarPrev))) as tf.Tensor4D;
  });
}

/** eps = eps_uncond + g (eps_cond - eps_uncond); `both` holds [cond; uncond] stacked on the batch axis. */
export function guide(both: tf.Tensor4D, guidance: number): tf.Tensor4D {
  return tf.tidy(() => {
    const n = both.shape[0] / 2;
    const [cond, uncond] = tf.split(both, [n, n], 0);
    return tf.add(uncond, tf.mul(tf.sub(cond, uncond), guidance)) as tf.Tensor4D;
  });
}
