// Training: Adam over a chosen subset of the flat parameter record, gradients by
// tf.valueAndGrads over plain tensors (no tf.Variable registry, so params stay pure data and the
// optimiser state is keyed by parameter name, which makes it resumable from a file).
import * as tf from '@tensorflow/tfjs-core';
import './gradients';
import { ADAM_KERNEL, adamKernelTakes } from './kernels/adamWasm';
import { decode, encode } from './model/autoencoder';
import type { ModelConfig } from './model/config';
import { readParams, type Params } from './model/layers';
import { predictNoiseFromIds } from './model/ldm';
import type { NoiseSchedule } from './diffusion/schedule';
import { qSample } from './diffusion/schedule';

export interface AdamOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Clip the global gradient norm to this value (none when undefined). */
  clipNorm?: number;
}

export interface AdamState {
  step: number;
  /** The trained parameters, in the order of the flat buffers. */
  names: string[];
  /** Element count of each named parameter (its slice of the flat buffers). */
  sizes: number[];
  /** First and second moments of all the named parameters, flattened and concatenated. */
  m: tf.Tensor1D;
  v: tf.Tensor1D;
}

const sizeOf = (t: tf.Tensor) => t.shape.reduce((a, b) => a * b, 1);

/** Fresh Adam state for params[names]: zero moments in two flat buffers. */
export function adamInit(params: Params, names: string[]): AdamState {
  const sizes = names.map((n) => sizeOf(params[n]));
  const total = sizes.reduce((a, b) => a + b, 0);
  return { step: 0, names: [...names], sizes, m: tf.zeros([total]) as tf.Tensor1D, v: tf.zeros([total]) as tf.Tensor1D };
}

export function disposeAdam(state: AdamState): void {
  tf.dispose([state.m, state.v]);
}

/** The moments keyed `m.<param>` and `v.<param>` in the parameters' shapes (the run folder's optimizer file); the caller disposes them. */
export async function adamMoments(state: AdamState, params: Params): Promise<Params> {
  const out: Params = {};
  if (state.names.length === 0) return out;
  const shapes = state.names.map((n) => params[n].shape);
  const ms = await unflatten(state.m, state.sizes, shapes);
  const vs = await unflatten(state.v, state.sizes, shapes);
  state.names.forEach((n, i) => {
    out[`m.${n}`] = ms[i];
    out[`v.${n}`] = vs[i];
  });
  return out;
}

/** Adam state from moments keyed as adamMoments writes them (takes them over: they are disposed). */
export function adamFromMoments(params: Params, names: string[], moments: Params, step: number): AdamState {
  for (const n of names) {
    if (!moments[`m.${n}`] || !moments[`v.${n}`]) throw new Error(`The optimiser state has no moments for ${n}`);
  }
  const flat = (key: 'm' | 'v') => (names.length ? tf.concat(names.map((n) => tf.reshape(moments[`${key}.${n}`], [-1]))) : tf.zeros([0])) as tf.Tensor1D;
  const state: AdamState = { step, names: [...names], sizes: names.map((n) => sizeOf(params[n])), m: tf.tidy(() => flat('m')), v: tf.tidy(() => flat('v')) };
  tf.dispose(Object.values(moments));
  return state;
}

/**
 * The flat buffer cut back into tensors of the given shapes. On wasm and cpu a Slice or SplitV
 * kernel over a large 1-D tensor costs milliseconds per output (measured: 300 slices of 2 M
 * floats, 1.2-2 s; one Concat of the same, 12-30 ms), so the values are read once and each
 * tensor is made from its range; on a GPU backend the split stays on the device.
 */
async function unflatten(flat: tf.Tensor1D, sizes: number[], shapes: number[][]): Promise<tf.Tensor[]> {
  const backend = tf.getBackend();
  if (backend !== 'wasm' && backend !== 'cpu') return tf.tidy(() => tf.split(flat, sizes).map((x, i) => tf.reshape(x, shapes[i])));
  return tensorsFromValues((await flat.data()) as Float32Array, shapes);
}

/** Tensors of the given shapes cut in order from flat values (copies). */
export function tensorsFromValues(values: Float32Array, shapes: number[][]): tf.Tensor[] {
  let offset = 0;
  const out = shapes.map((shape) => {
    const size = shape.reduce((a, b) => a * b, 1);
    const t = tf.tensor(values.slice(offset, offset + size), shape, 'float32');
    offset += size;
    return t;
  });
  if (offset !== values.length) throw new Error(`flat values hold ${values.length} numbers, the shapes ${offset}`);
  return out;
}

/** params[names] flattened and concatenated in order: the layout of the Adam state's buffers. */
export function flatConcat(params: Params, names: string[]): tf.Tensor1D {
  return tf.tidy(() => tf.concat(names.map((n) => tf.reshape(params[n], [-1]))) as tf.Tensor1D);
}

/** Flat values of params[names], concatenated in order (a copy the caller owns). */
export async function flatValues(params: Params, names: string[]): Promise<Float32Array> {
  const flat = flatConcat(params, names);
  const values = (await flat.data()) as Float32Array;
  flat.dispose();
  return values;
}

/**
 * The gradient of loss(params) w.r.t. params[names], flattened and concatenated in the order of
 * `names` (the Adam state's flat layout), and the loss. The caller disposes both.
 */
export function flatGradients(params: Params, names: string[], loss: (p: Params) => tf.Scalar): { value: tf.Scalar; grad: tf.Tensor1D } {
  return tf.tidy(() => {
    const f = (...xs: tf.Tensor[]) => {
      const p: Params = { ...params };
      names.forEach((n, i) => (p[n] = xs[i]));
      return loss(p);
    };
    const { value, grads } = tf.valueAndGrads(f)(names.map((n) => params[n]));
    return { value, grad: tf.concat(grads.map((g) => tf.reshape(g, [-1]))) as tf.Tensor1D };
  });
}

/**
 * One Adam update of params[names] from a flat gradient (flatGradients' layout): clipping and
 * Adam over one flat buffer (a few launches, not a dozen per parameter); those entries of
 * `params` are replaced by their updated tensors (old ones disposed). `grad` stays the caller's.
 * Returns the gradient norm before clipping.
 */
export async function adamApply(params: Params, names: string[], state: AdamState, opts: AdamOptions, grad: tf.Tensor1D): Promise<number> {
  if (names.length !== state.names.length || names.some((n, i) => n !== state.names[i])) throw new Error('adamStep: the names differ from those the Adam state was made for');
  const { lr, beta1 = 0.9, beta2 = 0.999, eps = 1e-8 } = opts;
  const t = state.step + 1;
  let updated: { next: tf.Tensor[]; m: tf.Tensor1D; v: tf.Tensor1D; gradNorm: tf.Tensor };
  if (names.length > 0 && adamKernelTakes(tf.getBackend(), tf.backend())) {
    // On wasm: the same arithmetic in two passes, the new weights made in their own tensors (kernels/adamWasm.ts).
    const inputs: tf.NamedTensorMap = { grad, m: state.m, v: state.v };
    names.forEach((n, i) => (inputs[`p${i}`] = params[n]));
    const [m, v, gradNorm, ...next] = tf.engine().runKernel(ADAM_KERNEL, inputs, { lr, beta1, beta2, eps, t, clipNorm: opts.clipNorm ?? -1 }) as tf.Tensor[];
    updated = { next, m: m as tf.Tensor1D, v: v as tf.Tensor1D, gradNorm };
  } else {
    const result = tf.tidy(() => {
      const gradNorm = tf.sqrt(tf.sum(tf.square(grad)));
      // Scale factor min(1, clip / norm); a non-finite norm leaves scale NaN and poisons the
      // update, which the caller sees in the returned loss and gradNorm.
      const g = opts.clipNorm === undefined ? grad : tf.mul(grad, tf.minimum(1, tf.div(opts.clipNorm, tf.add(gradNorm, 1e-12))));
      const m = tf.add(tf.mul(state.m, beta1), tf.mul(g, 1 - beta1)) as tf.Tensor1D;
      const v = tf.add(tf.mul(state.v, beta2), tf.mul(tf.square(g), 1 - beta2)) as tf.Tensor1D;
      // lr * mHat / (sqrt(vHat) + eps), with the bias corrections folded into scalars.
      const step = tf.div(tf.mul(m, lr / (1 - beta1 ** t)), tf.add(tf.sqrt(tf.mul(v, 1 / (1 - beta2 ** t))), eps));
      const flatParams = flatConcat(params, names);
      return { gradNorm, nextFlat: tf.sub(flatParams, step) as tf.Tensor1D, m, v };
    });
    const next = await unflatten(result.nextFlat, state.sizes, names.map((n) => params[n].shape));
    result.nextFlat.dispose();
    updated = { next, m: result.m, v: result.v, gradNorm: result.gradNorm };
  }
  names.forEach((n, i) => {
    params[n].dispose();
    params[n] = updated.next[i];
  });
  tf.dispose([state.m, state.v]);
  state.m = updated.m;
  state.v = updated.v;
  state.step = t;
  const norm = (await updated.gradNorm.data())[0];
  updated.gradNorm.dispose();
  return norm;
}

/**
 * One optimisation step: loss(params) is differentiated w.r.t. params[names] (the names the state
 * was made for) and Adam updates them (adamApply). Returns the loss value and the gradient norm
 * (before clipping).
 */
export async function adamStep(
  params: Params,
  names: string[],
  state: AdamState,
  opts: AdamOptions,
  loss: (p: Params) => tf.Scalar,
): Promise<{ loss: number; gradNorm: number }> {
  if (names.length !== state.names.length || names.some((n, i) => n !== state.names[i])) throw new Error('adamStep: the names differ from those the Adam state was made for');
  const { value, grad } = flatGradients(params, names, loss);
  try {
    const gradNorm = await adamApply(params, names, state, opts, grad);
    return { loss: (await value.data())[0], gradNorm };
  } finally {
    tf.dispose([value, grad]);
  }
}

/** Autoencoder objective: reconstruction MSE + a small L2 pull on the latents (keeps their scale bounded). */
export function autoencoderLoss(params: Params, config: ModelConfig, images: tf.Tensor4D, latentPenalty = 1e-4): tf.Scalar {
  const p = readParams(params);
  const z = encode(p, config.autoencoder, images);
  const recon = decode(p, config.autoencoder, z);
  return tf.add(tf.mean(tf.squaredDifference(recon, images)), tf.mul(tf.mean(tf.square(z)), latentPenalty)) as tf.Scalar;
}

export interface DiffusionBatch {
  /** Scaled latents [B,8,8,C]. */
  x0: tf.Tensor4D;
  noise: tf.Tensor4D;
  timesteps: Int32Array;
  ids: tf.Tensor2D;
  mask: tf.Tensor2D;
}

/** Per-sample noise-prediction MSE [B]: mean over C,H,W of (eps - eps_theta(x_t, t, c))^2 (architecture.md section 5). */
export function perSampleNoiseMse(params: Params, config: ModelConfig, schedule: NoiseSchedule, batch: DiffusionBatch): tf.Tensor1D {
  const xt = qSample(schedule, batch.x0, batch.noise, batch.timesteps);
  const t = tf.tensor1d(Float32Array.from(batch.timesteps));
  const eps = predictNoiseFromIds(params, config, xt, t, batch.ids, batch.mask);
  return tf.mean(tf.squaredDifference(eps, batch.noise), [1, 2, 3]) as tf.Tensor1D;
}

/** The denoising objective of pretraining: mean of perSampleNoiseMse. */
export function diffusionLoss(params: Params, config: ModelConfig, schedule: NoiseSchedule, batch: DiffusionBatch): tf.Scalar {
  return tf.mean(perSampleNoiseMse(params, config, schedule, batch)) as tf.Scalar;
}
