// The fixed denoising loss (issue 12): the noise-prediction MSE of a checkpoint on a fixed set of
// real emoji with the same noise and the same timesteps for every checkpoint, so two checkpoints
// (or two steps of one run) are compared on exactly the same draws. The per-draw loss is very noisy
// (it spans two orders of magnitude over t), which a single random batch cannot average out.
import * as tf from '@tensorflow/tfjs-core';
import { gaussianArray } from '../model/layers';
import { encodeImages, type Checkpoint } from '../model/ldm';
import { Tokenizer } from '../model/tokenizer';
import { hashSeed, mulberry32 } from '../random';
import { makeSchedule } from '../diffusion/schedule';
import { perSampleNoiseMse } from '../train';

export interface DenoisingLossOptions {
  /** Timesteps per image, stratified over [0, T): draw k lies in [kT/K, (k+1)T/K). */
  draws: number;
  seed: number;
  batch: number;
  /** Key of each image's draws (its record id), so a subset of images keeps the draws it had in the whole set; default: its position. */
  keys?: readonly number[];
}

export const DEFAULT_DENOISING_LOSS: DenoisingLossOptions = { draws: 4, seed: 7, batch: 128 };

export interface DenoisingLoss {
  /** Mean over images (each the mean of its draws). */
  mean: number;
  /** Mean over groups of their image means (every group alike, however many images it has). */
  groupMean: number;
  perGroup: { group: string; images: number; loss: number }[];
  perImage: Float64Array;
  images: number;
  draws: number;
}

/** The fixed draws of image i: its timesteps and the seed of its noise. */
export function fixedDraws(i: number, draws: number, trainSteps: number, seed: number): { timesteps: number[]; noiseSeed: number } {
  const rand = mulberry32(hashSeed(seed, 61, i));
  const timesteps = Array.from({ length: draws }, (_, k) => Math.min(trainSteps - 1, Math.floor(((k + rand()) / draws) * trainSteps)));
  return { timesteps, noiseSeed: hashSeed(seed, 62, i) };
}

/**
 * The loss of `ck` on `images` ([n*32*32*3] in [-1, 1]) with the prompts given; `groups[i]` names
 * image i's group (its category) for the group-balanced mean. The images are encoded by the
 * checkpoint's own autoencoder.
 */
export async function fixedDenoisingLoss(
  ck: Checkpoint,
  images: Float32Array,
  prompts: string[],
  groups: string[],
  opts: DenoisingLossOptions = DEFAULT_DENOISING_LOSS,
): Promise<DenoisingLoss> {
  const size = ck.config.imageSize;
  const per = size * size * 3;
  const n = images.length / per;
  if (prompts.length !== n || groups.length !== n) throw new Error(`fixedDenoisingLoss: ${n} images, ${prompts.length} prompts, ${groups.length} groups`);
  const schedule = makeSchedule(ck.config.schedule);
  const tokenizer = new Tokenizer(ck.config.text);
  const L = ck.config.text.maxLength;
  const K = opts.draws;
  const perImage = new Float64Array(n);
  // Work items: (image, draw); batched across images.
  const items = Array.from({ length: n * K }, (_, j) => ({ i: Math.floor(j / K), k: j % K }));
  if (opts.keys && opts.keys.length !== n) throw new Error(`fixedDenoisingLoss: ${opts.keys.length} keys for ${n} images`);
  const drawsOf = Array.from({ length: n }, (_, i) => fixedDraws(opts.keys ? opts.keys[i] : i, K, ck.config.schedule.trainSteps, opts.seed));
  for (let start = 0; start < items.length; start += opts.batch) {
    const chunk = items.slice(start, start + opts.batch);
    const B = chunk.length;
    const imgs = new Float32Array(B * per);
    chunk.forEach(({ i }, b) => imgs.set(images.subarray(i * per, (i + 1) * per), b * per));
    const { ids, mask } = tokenizer.encode(chunk.map(({ i }) => prompts[i]));
    const losses = tf.tidy(() => {
      const x0 = encodeImages(ck, tf.tensor4d(imgs, [B, size, size, 3]));
      const zPer = x0.size / B;
      const noise = new Float32Array(B * zPer);
      chunk.forEach(({ i, k }, b) => noise.set(gaussianArray(zPer * K, drawsOf[i].noiseSeed).subarray(k * zPer, (k + 1) * zPer), b * zPer));
      return perSampleNoiseMse(ck.params, ck.config, schedule, {
        x0,
        noise: tf.tensor4d(noise, x0.shape),
        timesteps: Int32Array.from(chunk, ({ i, k }) => drawsOf[i].timesteps[k]),
        ids: tf.tensor2d(ids, [B, L], 'int32'),
        mask: tf.tensor2d(mask, [B, L]),
      });
    });
    const values = await losses.data();
    losses.dispose();
    chunk.forEach(({ i }, b) => (perImage[i] += values[b] / K));
  }
  const byGroup = new Map<string, number[]>();
  groups.forEach((g, i) => {
    if (!byGroup.has(g)) byGroup.set(g, []);
    byGroup.get(g)!.push(perImage[i]);
  });
  const avg = (xs: ArrayLike<number>) => {
    let s = 0;
    for (let i = 0; i < xs.length; i++) s += xs[i];
    return s / xs.length;
  };
  const perGroup = [...byGroup].map(([group, xs]) => ({ group, images: xs.length, loss: avg(xs) }));
  return { mean: avg(perImage), groupMean: avg(perGroup.map((g) => g.loss)), perGroup, perImage, images: n, draws: K };
}
