// Pretrains the base model: autoencoder, then text encoder + UNet. Resumable: it saves a
// checkpoint every --save-every seconds and at each phase end into --out; rerunning the same
// command continues from there (and a larger --ae-steps / --unet-steps / --decoder-steps extends a
// finished run). The optional last phase fine-tunes the decoder alone on the frozen encoder's
// latents: it sharpens reconstructions without moving the latent space the UNet learned.
//   npm run pretrain -- --out runs/base --ae-steps 1500 --unet-steps 20000 --decoder-steps 1200
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { basename, join } from 'node:path';
import { PNG } from 'pngjs';
import * as tf from '@tensorflow/tfjs-core';
import { cutAtlas } from '../src/core/data/atlas';
import { makeConfig, MODEL_SIZES, type ModelConfig, type ModelSize } from '../src/core/model/config';
import { DEFAULT_DENOISING_LOSS, fixedDenoisingLoss } from '../src/core/eval/denoising';
import { countParams, disposeParams, type Params } from '../src/core/model/layers';
import { initParams, paramNames } from '../src/core/model/ldm';
import {
  autoencoderBatch,
  autoencoderStepLoss,
  buildVocab,
  decoderBatch,
  decoderStepLoss,
  diffusionBatch,
  disposeBatch,
  emaDecay,
  emaInit,
  emaUpdate,
  unetLearningRate,
  encodeAll,
  latentScaleFor,
  makeSchedule,
  reconstructionPsnr,
  unetStepLoss,
} from '../src/core/pretrain';
import { augmentDataset, DEFAULT_AUGMENT_RANGES, secondRenderingVariants, type AugmentRanges } from '../src/core/data/augment';
import { balancedWeights, categoryShares, cumulative, type Sampling } from '../src/core/data/sampling';
import { adamApply, adamFromMoments, adamInit, adamMoments, adamStep, disposeAdam, type AdamState } from '../src/core/train';
import { UnetShardPool } from './lib/unetShards';
import { parseArgs } from './lib/args';
import { loadCheckpointDir, loadTensors, saveCheckpointDir, saveTensors, writeFileAtomic } from './lib/checkpointFs';
import { initNodeBackend } from './lib/nodeBackend';
import { loadEmojiDataset } from './lib/png';
import { ProgressBar } from './lib/progress';

const spec = {
  out: { default: 'runs/base', help: 'run folder: checkpoint, optimiser state, state.json' },
  size: { default: 'default', help: 'architecture: default | tiny | wide | deep | attn8 (capacity variants of the UNet, src/core/model/config.ts)' },
  'ae-from': { default: '', help: 'a new run takes the trained autoencoder (and latent scale) of this checkpoint folder and starts at the UNet phase: capacity variants of the UNet compared on one autoencoder' },
  'eval-every': { default: 0, help: 'every N UNet steps, the fixed denoising loss of the 191 base emoji of the evaluation split (EMA weights when kept) goes into state.json\'s curve with the training seconds so far: a loss-versus-wall-clock curve (0: off)' },
  seed: { default: 1, help: 'seed of initialisation, batch order and noise' },
  batch: { default: 64, help: 'batch size' },
  'ae-steps': { default: 1500, help: 'autoencoder steps' },
  'unet-steps': { default: 20000, help: 'UNet + text encoder steps' },
  'ae-lr': { default: 2e-3, help: 'autoencoder learning rate (Adam)' },
  'unet-lr': { default: 1e-3, help: 'UNet learning rate (Adam)' },
  'unet-decay-start': { default: -1, help: 'UNet step where the learning rate starts its cosine decay to --unet-lr-min at --unet-steps (-1: constant rate)' },
  'unet-warmup': { default: 0, help: 'UNet steps of linear warm-up where this run starts its UNet phase, or where it extends a finished one' },
  'unet-lr-min': { default: 1e-5, help: 'UNet learning rate at the end of the decay' },
  ema: { default: 0.999, help: 'largest decay of the ramped EMA of text encoder + UNet, min(ema, (1+n)/(10+n)); 0 turns it off. The run folder\'s ema/ holds the checkpoint to ship' },
  'decoder-steps': { default: 0, help: 'decoder-only fine-tuning steps after the UNet (encoder frozen)' },
  'decoder-lr': { default: 5e-4, help: 'decoder fine-tuning learning rate (Adam)' },
  sampling: { default: 'uniform', help: 'how UNet batches draw images: uniform | balanced (each category count^power of its base emoji, each base emoji alike, skin-tone variants share their emoji). May change when a run is extended; state.json records each segment' },
  'category-power': { default: 0.5, help: 'balanced sampling: a category\'s share grows as (its base emoji)^power (1: uniform over base emoji, 0: every category alike)' },
  'second-rendering': { default: '', help: 'an atlas PNG of the same records drawn in another style (npm run second-rendering): each UNet example is this one with probability 1/K (--second-one-in K), else the dataset image. Excludes --augment > 1; state.json records it' },
  'second-one-in': { default: 2, help: 'with --second-rendering: one UNet example in K (on average) is drawn in the second style; K an integer 2..16' },
  augment: { default: 1, help: 'renderings per image in UNet batches: 1 = the images as they are; N > 1 = the image and N-1 variants (src/core/data/augment.ts: scale, shift, brightness, contrast, saturation, warmth), each drawn with probability 1/N. May change when a run is extended; state.json records each segment' },
  guidance: { default: -1, help: 'the guidance scale config.json records as the checkpoint\'s sampling default (-1: keep the run\'s; a new run: 4)' },
  'guidance-rescale': { default: -1, help: 'the guidance rescale phi (Lin et al. 2023) config.json records for sampling, 0..1 (-1: keep the run\'s; a new run: none)' },
  'cfg-dropout': { default: 0.1, help: 'probability of training on the null prompt (classifier-free guidance)' },
  limit: { default: 0, help: 'train on the first N images only (0 = all); for tests' },
  'save-every': { default: 180, help: 'seconds between checkpoints' },
  threads: { default: 1, help: 'UNet phase on this many threads (data-parallel worker threads, scripts/lib/unetShards.ts: each differentiates an equal share of the batch, the main thread averages and steps); --batch must split evenly. The result equals one thread\'s up to float rounding' },
  backend: { default: 'wasm', help: 'wasm | cpu' },
  data: { default: 'public/data', help: 'dataset folder (npm run dataset)' },
};

interface RunState {
  identity: { size: string; seed: number; batch: number; aeLr: number; unetLr: number; cfgDropout: number; limit: number };
  phase: 'ae' | 'unet' | 'decoder' | 'done';
  /** Step within the current phase. */
  step: number;
  /** UNet steps finished; absent in runs saved before the decoder phase existed (then: step, once past the UNet). */
  unetStepsDone?: number;
  decoderSteps?: number;
  decoderStepsDone?: number;
  decoderLr?: number;
  adamStep: number;
  /** EMA updates done (the ramp's n); the EMA itself is ema.safetensors. */
  emaUpdates?: number;
  /** Adam step count of the UNet phase's saved state (optimizer-unet.safetensors), kept so the phase can be extended. */
  unetAdamStep?: number;
  unetDecayStart?: number;
  unetLrMin?: number;
  emaMax?: number;
  /** UNet batch sampling, by segment: from UNet step `from` on (absent: uniform throughout). */
  sampling?: { from: number; kind: Sampling; categoryPower?: number }[];
  /** Augmented renderings per image in UNet batches, by segment (absent: 1 throughout). */
  augment?: { from: number; variants: number; ranges?: AugmentRanges; second?: string }[];
  /** Warm-up of the current UNet segment (set where the phase starts or a finished run is extended). */
  unetWarmup?: { from: number; steps: number };
  /** The UNet learning-rate schedule, by segment: each change of decay start, end or warm-up from step `from` on. */
  lrSegments?: { from: number; lr: number; decayStart: number; total: number; lrMin: number; warmup?: { from: number; steps: number } }[];
  aeSteps: number;
  unetSteps: number;
  trainSeconds: number;
  history: { phase: string; step: number; loss: number }[];
  psnr?: number;
  /** The autoencoder's source when the run started from another's (--ae-from). */
  aeFrom?: string;
  /** Fixed denoising loss (191 base emoji of the evaluation split) against UNet step and training seconds (--eval-every). */
  curve?: { step: number; seconds: number; loss: number }[];
}

async function main() {
  const args = parseArgs(process.argv.slice(2), spec, 'npm run pretrain -- [options]');
  const backend = await initNodeBackend(String(args.backend));
  const out = String(args.out);
  const identity: RunState['identity'] = {
    size: String(args.size),
    seed: Number(args.seed),
    batch: Number(args.batch),
    aeLr: Number(args['ae-lr']),
    unetLr: Number(args['unet-lr']),
    cfgDropout: Number(args['cfg-dropout']),
    limit: Number(args.limit),
  };
  const aeSteps = Number(args['ae-steps']);
  const unetSteps = Number(args['unet-steps']);
  const decoderSteps = Number(args['decoder-steps']);
  const decoderLr = Number(args['decoder-lr']);
  const decayStart = Number(args['unet-decay-start']);
  const lrMin = Number(args['unet-lr-min']);
  const emaMax = Number(args.ema);
  const secondRendering = String(args['second-rendering']);
  if (secondRendering && Number(args.augment) !== 1) throw new Error('--second-rendering and --augment > 1 exclude each other');
  const secondOneIn = Number(args['second-one-in']);
  if (secondRendering && (!Number.isInteger(secondOneIn) || secondOneIn < 2 || secondOneIn > 16)) throw new Error(`--second-one-in must be an integer 2..16, not ${args['second-one-in']}`);
  // With a second rendering, variants 0..K-2 are the dataset image and variant K-1 its twin.
  const augmentVariants = secondRendering ? secondOneIn : Number(args.augment);
  if (!Number.isInteger(augmentVariants) || augmentVariants < 1 || augmentVariants > 16) throw new Error(`--augment must be an integer 1..16, not ${args.augment}`);
  const secondTag = secondRendering ? `${basename(secondRendering)} sha256:${createHash('sha256').update(readFileSync(secondRendering)).digest('hex').slice(0, 16)}` : undefined;

  const data = loadEmojiDataset(String(args.data));
  const all = data.manifest.splits.pretrain;
  const ids = identity.limit > 0 ? all.slice(0, identity.limit) : all;
  const images = cutAtlas(data.atlasRGBA, data.width, 4, data.manifest.columns, ids);
  const prompts = ids.map((id) => data.manifest.records[id].prompt);
  const sampling = String(args.sampling) as Sampling;
  if (sampling !== 'uniform' && sampling !== 'balanced') throw new Error(`--sampling must be uniform or balanced, not ${sampling}`);
  const categoryPower = Number(args['category-power']);
  const weights = sampling === 'balanced' ? balancedWeights(ids.map((id) => data.manifest.records[id]), categoryPower) : null;
  const cdf = weights ? cumulative(weights) : undefined;
  if (weights) {
    const shares = categoryShares(ids.map((id) => data.manifest.records[id]), weights);
    console.log(`balanced sampling (power ${categoryPower}): ${Object.entries(shares).map(([c, v]) => `${c} ${(100 * v).toFixed(1)}%`).join(', ')}`);
  }

  // Resume or start.
  const statePath = join(out, 'state.json');
  let state: RunState;
  let config: ModelConfig;
  let params: Params;
  let adam: AdamState;
  if (existsSync(statePath)) {
    state = JSON.parse(readFileSync(statePath, 'utf8')) as RunState;
    if (JSON.stringify(state.identity) !== JSON.stringify(identity)) {
      throw new Error(`${out} holds a run with different settings ${JSON.stringify(state.identity)}; use another --out or the same settings`);
    }
    const ck = loadCheckpointDir(out);
    config = ck.config;
    params = ck.params;
    adam = loadAdam(join(out, 'optimizer.safetensors'), params, state.adamStep);
    if (state.phase === 'done' && state.unetStepsDone === undefined) state.unetStepsDone = state.step;
    if (state.decoderLr !== undefined && state.decoderLr !== decoderLr && (state.decoderStepsDone ?? 0) > 0) {
      throw new Error(`${out} fine-tuned its decoder at --decoder-lr ${state.decoderLr}; resume with the same value`);
    }
    // A finished run extended with more steps picks up where it stopped.
    if (state.phase === 'done' && unetSteps > (state.unetStepsDone ?? 0)) {
      state.phase = 'unet';
      state.step = state.unetStepsDone ?? 0;
      state.unetWarmup = { from: state.step, steps: Number(args['unet-warmup']) };
      disposeAdam(adam);
      adam = loadUnetAdam(out, params, state);
    } else if (state.phase === 'done' && decoderSteps > (state.decoderStepsDone ?? 0)) {
      state.phase = 'decoder';
      state.step = state.decoderStepsDone ?? 0;
      if (state.step === 0) {
        disposeAdam(adam);
        adam = adamInit(params, decoderNames(params));
      }
    }
    console.log(`Resuming ${out}: phase ${state.phase}, step ${state.step}`);
  } else {
    if (!(MODEL_SIZES as readonly string[]).includes(identity.size)) throw new Error(`--size must be one of ${MODEL_SIZES.join(', ')}, not ${identity.size}`);
    config = makeConfig(buildVocab(data.manifest.records.map((r) => r.prompt)), identity.size as ModelSize);
    params = initParams(config, identity.seed);
    adam = adamInit(params, paramNames(params, 'ae'));
    state = { identity, phase: 'ae', step: 0, adamStep: 0, aeSteps, unetSteps, trainSeconds: 0, history: [], unetWarmup: { from: 0, steps: Number(args['unet-warmup']) } };
    const aeFrom = String(args['ae-from']);
    if (aeFrom) {
      // The UNet phase on another run's autoencoder: its weights and latent scale, no AE steps.
      const src = loadCheckpointDir(aeFrom);
      for (const n of paramNames(params, 'ae')) {
        if (!src.params[n] || src.params[n].shape.join() !== params[n].shape.join()) throw new Error(`--ae-from ${aeFrom}: its autoencoder does not match this architecture (${n})`);
        params[n].dispose();
        params[n] = tf.clone(src.params[n]);
      }
      config.latentScale = src.config.latentScale;
      disposeParams(src.params);
      disposeAdam(adam);
      adam = adamInit(params, paramNames(params, 'text', 'unet'));
      state = { ...state, phase: 'unet', aeSteps: 0, aeFrom };
      mkdirSync(out, { recursive: true });
    }
    console.log(`New run in ${out}`);
  }
  if (!state.aeFrom) state.aeSteps = Math.max(aeSteps, state.phase === 'ae' ? 0 : state.aeSteps);
  state.unetSteps = unetSteps;
  state.decoderSteps = decoderSteps;
  state.decoderLr = decoderLr;
  state.unetDecayStart = decayStart;
  state.unetLrMin = lrMin;
  state.emaMax = emaMax;
  {
    // A new sampling segment starts where the UNet phase stands now, when the choice changed.
    const segs = state.sampling ?? [{ from: 0, kind: 'uniform' as Sampling }];
    const last = segs[segs.length - 1];
    const from = state.phase === 'unet' ? state.step : state.phase === 'ae' ? 0 : (state.unetStepsDone ?? 0);
    if (last.kind !== sampling || (sampling === 'balanced' && last.categoryPower !== categoryPower)) {
      if (last.from === from) segs.pop();
      segs.push(sampling === 'balanced' ? { from, kind: sampling, categoryPower } : { from, kind: sampling });
    }
    state.sampling = segs;
    const augSegs = state.augment ?? [{ from: 0, variants: 1 }];
    const lastAug = augSegs[augSegs.length - 1];
    if (lastAug.variants !== augmentVariants || lastAug.second !== secondTag) {
      if (lastAug.from === from) augSegs.pop();
      augSegs.push(secondTag ? { from, variants: augmentVariants, second: secondTag } : augmentVariants > 1 ? { from, variants: augmentVariants, ranges: DEFAULT_AUGMENT_RANGES } : { from, variants: 1 });
    }
    state.augment = augSegs;
    const lrSegs = state.lrSegments ?? [];
    const seg = { from, lr: identity.unetLr, decayStart, total: unetSteps, lrMin, ...(state.unetWarmup?.steps ? { warmup: state.unetWarmup } : {}) };
    const prev = lrSegs[lrSegs.length - 1];
    // A new segment when anything but its start differs from the last one.
    if (!prev || JSON.stringify({ ...prev, from: 0 }) !== JSON.stringify({ ...seg, from: 0 })) {
      if (prev && prev.from === from) lrSegs.pop();
      lrSegs.push(seg);
    }
    state.lrSegments = lrSegs;
  }
  // The EMA of text encoder + UNet: resumed from ema.safetensors, or started now from the weights.
  const emaPath = join(out, 'ema.safetensors');
  let ema: Params | null = null;
  const startEma = () => {
    ema = emaInit(params, paramNames(params, 'text', 'unet'));
    state.emaUpdates = 0;
  };
  if (existsSync(emaPath)) ema = loadTensors(emaPath);
  else if (emaMax > 0 && state.phase === 'unet' && state.step < unetSteps) startEma();
  // The sampler the checkpoint recommends (Generate, Compare and the quality report read it).
  const guidanceArg = Number(args.guidance);
  const rescaleArg = Number(args['guidance-rescale']);
  if (!(guidanceArg >= 0 || guidanceArg === -1)) throw new Error(`--guidance must be at least 0 (or -1: keep the run's), not ${args.guidance}`);
  if (!((rescaleArg >= 0 && rescaleArg <= 1) || rescaleArg === -1)) throw new Error(`--guidance-rescale must be in [0, 1] (or -1: keep the run's), not ${args['guidance-rescale']}`);
  if (guidanceArg >= 0) config.sampling = { ...config.sampling, guidance: guidanceArg };
  if (rescaleArg >= 0) config.sampling = { ...config.sampling, guidanceRescale: rescaleArg };
  console.log(`backend ${backend}; ${ids.length} images; ${countParams(params)} parameters (ae ${count(params, 'ae')}, text ${count(params, 'text')}, unet ${count(params, 'unet')})`);

  let lastSave = Date.now();
  let segmentStart = Date.now();
  const save = async () => {
    state.trainSeconds += (Date.now() - segmentStart) / 1000;
    segmentStart = Date.now();
    state.adamStep = adam.step;
    config.provenance = provenance(state, backend);
    await saveCheckpointDir(out, { config, params });
    await saveAdam(join(out, 'optimizer.safetensors'), adam, params);
    if (ema) {
      await saveTensors(emaPath, ema);
      // The checkpoint to ship: the EMA's text encoder + UNet, the trained autoencoder.
      await saveCheckpointDir(join(out, 'ema'), { config: { ...config, provenance: { ...config.provenance, weights: `EMA of text encoder + UNet (${state.emaUpdates} updates, decay up to ${emaMax})` } }, params: { ...params, ...ema } });
    }
    writeFileAtomic(statePath, JSON.stringify(state, null, 1));
    lastSave = Date.now();
  };
  let stopping = false;
  // Ctrl-C, or `kill` (SIGTERM): a shell starts background jobs with SIGINT ignored.
  const stop = () => {
    if (stopping) process.exit(130);
    stopping = true;
    console.log('\nStopping after this step; saving a checkpoint (signal again to abort)...');
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);

  const trainLoop = async (phase: 'ae' | 'unet' | 'decoder', total: number, stepFn: (step: number) => Promise<number>) => {
    const bar = new ProgressBar(phase === 'ae' ? 'autoencoder' : phase, total, state.step);
    let ema = NaN;
    while (state.step < total && !stopping) {
      const loss = await stepFn(state.step);
      if (!Number.isFinite(loss)) throw new Error(`${phase} loss became ${loss} at step ${state.step}; the last checkpoint in ${out} is intact`);
      ema = Number.isNaN(ema) ? loss : 0.98 * ema + 0.02 * loss;
      state.step++;
      if (phase === 'unet') state.unetStepsDone = state.step;
      if (phase === 'decoder') state.decoderStepsDone = state.step;
      if (state.step % 25 === 0 || state.step === total) state.history.push({ phase, step: state.step, loss: ema });
      bar.update(state.step, `loss ${ema.toFixed(4)}`);
      if (Date.now() - lastSave > Number(args['save-every']) * 1000) await save();
      // Let signal handlers run: on wasm the awaited reads resolve without a macrotask turn.
      await new Promise((resolve) => setImmediate(resolve));
    }
  };

  if (state.phase === 'ae') {
    await trainLoop('ae', state.aeSteps, async (step) => {
      const batch = autoencoderBatch(images, config.imageSize, identity.batch, identity.seed, step);
      const r = await adamStep(params, paramNames(params, 'ae'), adam, { lr: identity.aeLr, clipNorm: 1 }, (p) => autoencoderStepLoss(p, config, batch));
      batch.dispose();
      return r.loss;
    });
    if (stopping) return finish(save);
    const held = heldOut(data, config);
    state.psnr = await reconstructionPsnr({ config, params }, held);
    console.log(`autoencoder reconstruction PSNR ${state.psnr.toFixed(2)} dB on ${held.length / (32 * 32 * 3)} images`);
    config.latentScale = latentScaleFor(await encodeAll(params, config, images));
    console.log(`latent scale ${config.latentScale.toFixed(4)}`);
    disposeAdam(adam);
    adam = adamInit(params, paramNames(params, 'text', 'unet'));
    state.phase = 'unet';
    state.step = 0;
    // A run that trained its autoencoder in this process starts its EMA here, with the UNet phase.
    if (emaMax > 0 && !ema) startEma();
    await save();
  }

  // The loss-versus-wall-clock curve: the fixed denoising loss of the evaluation split's base
  // emoji, its own seconds left out of the training time.
  const evalEvery = Number(args['eval-every']);
  const curveIds = data.manifest.splits.evaluation.filter((id) => data.manifest.records[id].skinTone === null);
  const curveImages = evalEvery > 0 ? cutAtlas(data.atlasRGBA, data.width, 4, data.manifest.columns, curveIds) : null;
  const curvePrompts = curveIds.map((id) => data.manifest.records[id].prompt);
  const curveGroups = curveIds.map((id) => data.manifest.records[id].category);
  const measureCurve = async (step: number) => {
    const t0 = Date.now();
    const seconds = state.trainSeconds + (t0 - segmentStart) / 1000;
    const loss = await fixedDenoisingLoss({ config, params: ema ? { ...params, ...ema } : params }, curveImages!, curvePrompts, curveGroups, { ...DEFAULT_DENOISING_LOSS, keys: curveIds });
    state.curve = [...(state.curve ?? []), { step, seconds: Math.round(seconds), loss: loss.mean }];
    console.log(`\nstep ${step}: fixed denoising loss ${loss.mean.toFixed(4)} (191 base emoji) after ${Math.round(seconds)} s of training`);
    segmentStart += Date.now() - t0;
  };

  if (state.phase === 'unet') {
    let renderings = augmentVariants > 1 && !secondRendering ? augmentDataset(images, config.imageSize, augmentVariants, identity.seed) : images;
    if (secondRendering) {
      // Variant 1 of every example is the same record in the second atlas (same layout as the dataset's).
      const png = PNG.sync.read(readFileSync(secondRendering));
      if (png.width !== data.width || png.height !== data.height) throw new Error(`${secondRendering}: ${png.width} x ${png.height} px, the dataset's atlas ${data.width} x ${data.height}`);
      const second = cutAtlas(new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.length), png.width, 4, data.manifest.columns, ids);
      renderings = new Float32Array(images.length * 2);
      renderings.set(images, 0);
      renderings.set(second, images.length);
      console.log(`second rendering: ${secondTag}, one example in ${augmentVariants}`);
    }
    let unscaled = await encodeAll(params, config, renderings);
    if (secondRendering) {
      // Each rendering encoded once, then K variants: K-1 copies of the dataset's latents, the twin's last.
      const half = unscaled.length / 2;
      unscaled = secondRenderingVariants(unscaled.subarray(0, half), unscaled.subarray(half), augmentVariants);
    }
    const latents = unscaled.map((v) => v * config.latentScale);
    const schedule = makeSchedule(config.schedule);
    const names = paramNames(params, 'text', 'unet');
    const threads = Number(args.threads);
    const pool =
      threads > 1 && state.step < state.unetSteps
        ? await UnetShardPool.open(threads, { config, latents, prompts, cdf, variants: augmentVariants, seed: identity.seed, batch: identity.batch, cfgDropout: identity.cfgDropout, names }, params, backend)
        : null;
    if (pool) console.log(`UNet steps on ${pool.threads} threads, ${identity.batch / pool.threads} examples each`);
    await trainLoop('unet', state.unetSteps, async (step) => {
      const lr = unetLearningRate(step, { lr: identity.unetLr, lrMin, decayStart, total: state.unetSteps, warmup: state.unetWarmup });
      let r: { loss: number };
      if (pool) {
        const { loss, grad } = await pool.gradient(params, step);
        await adamApply(params, names, adam, { lr, clipNorm: 1 }, grad).finally(() => grad.dispose());
        r = { loss };
      } else {
        const batch = diffusionBatch(latents, prompts, config, { batch: identity.batch, seed: identity.seed, step, cfgDropout: identity.cfgDropout, cdf, variants: augmentVariants });
        r = await adamStep(params, names, adam, { lr, clipNorm: 1 }, (p) => unetStepLoss(p, config, schedule, batch));
        disposeBatch(batch);
      }
      if (ema) {
        emaUpdate(ema, params, emaDecay(state.emaUpdates ?? 0, emaMax));
        state.emaUpdates = (state.emaUpdates ?? 0) + 1;
      }
      if (evalEvery > 0 && (step + 1) % evalEvery === 0) await measureCurve(step + 1);
      return r.loss;
    }).finally(() => pool?.close());
    if (!stopping) {
      // Keep the UNet phase's optimiser state so a later, longer --unet-steps continues it.
      await saveAdam(join(out, 'optimizer-unet.safetensors'), adam, params);
      state.unetAdamStep = adam.step;
      state.phase = decoderSteps > (state.decoderStepsDone ?? 0) ? 'decoder' : 'done';
      state.step = state.decoderStepsDone ?? 0;
      disposeAdam(adam);
      adam = adamInit(params, state.phase === 'decoder' ? decoderNames(params) : []);
      await save();
    }
  }

  if (state.phase === 'decoder') {
    const unscaled = await encodeAll(params, config, images);
    const names = decoderNames(params);
    await trainLoop('decoder', decoderSteps, async (step) => {
      const batch = decoderBatch(images, unscaled, config, identity.batch, identity.seed, step);
      const r = await adamStep(params, names, adam, { lr: decoderLr, clipNorm: 1 }, (p) => decoderStepLoss(p, config, batch));
      tf.dispose([batch.latents, batch.images]);
      return r.loss;
    });
    if (!stopping) {
      const held = heldOut(data, config);
      state.psnr = await reconstructionPsnr({ config, params }, held);
      console.log(`after decoder fine-tuning: reconstruction PSNR ${state.psnr.toFixed(2)} dB on ${held.length / (32 * 32 * 3)} images`);
      state.phase = 'done';
    }
  }
  await finish(save);
  disposeParams(params);
  disposeAdam(adam);
  if (ema) disposeParams(ema);
}

/** The UNet phase's Adam state when the run kept it (optimizer-unet.safetensors), else a fresh one. */
function loadUnetAdam(out: string, params: Params, state: RunState): AdamState {
  const path = join(out, 'optimizer-unet.safetensors');
  if (existsSync(path) && state.unetAdamStep !== undefined) return loadAdam(path, params, state.unetAdamStep);
  return adamInit(params, paramNames(params, 'text', 'unet'));
}

/** An optimizer file (moments keyed m.<param>, v.<param>) as the flat Adam state of the params it names. */
function loadAdam(path: string, params: Params, step: number): AdamState {
  const moments = loadTensors(path);
  return adamFromMoments(params, Object.keys(params).filter((n) => moments[`m.${n}`] !== undefined), moments, step);
}

async function saveAdam(path: string, adam: AdamState, params: Params): Promise<void> {
  const moments = await adamMoments(adam, params);
  try {
    await saveTensors(path, moments);
  } finally {
    disposeParams(moments);
  }
}

async function finish(save: () => Promise<void>) {
  await save();
  console.log('Checkpoint saved.');
}

/** The decoder's parameters: the only ones the decoder phase trains. */
function decoderNames(params: Params): string[] {
  return Object.keys(params).filter((n) => n.startsWith('ae.dec.'));
}

function count(params: Params, group: string): number {
  return Object.entries(params).filter(([n]) => n.startsWith(`${group}.`)).reduce((s, [, t]) => s + t.size, 0);
}

/** A few held-out images (the evaluation split) for the reconstruction figure. */
function heldOut(data: ReturnType<typeof loadEmojiDataset>, config: ModelConfig): Float32Array {
  const ids = data.manifest.splits.evaluation.slice(0, 128);
  void config;
  return cutAtlas(data.atlasRGBA, data.width, 4, data.manifest.columns, ids);
}

function provenance(state: RunState, backend: string): Record<string, unknown> {
  return {
    command: `npm run pretrain -- ${process.argv.slice(2).join(' ')}`.trim(),
    seed: state.identity.seed,
    settings: state.identity,
    aeSteps: state.aeSteps,
    unetStepsDone: state.unetStepsDone ?? (state.phase === 'unet' || state.phase === 'done' ? state.step : 0),
    unetSteps: state.unetSteps,
    decoderStepsDone: state.decoderStepsDone ?? 0,
    decoderSteps: state.decoderSteps ?? 0,
    decoderLr: state.decoderLr,
    sampling: state.sampling ?? [{ from: 0, kind: 'uniform' }],
    augment: state.augment ?? [{ from: 0, variants: 1 }],
    unetLrSegments: state.lrSegments,
    unetLrSchedule: state.unetDecayStart !== undefined && state.unetDecayStart >= 0 ? { kind: 'cosine tail', decayStart: state.unetDecayStart, lrMin: state.unetLrMin } : { kind: 'constant' },
    ema: state.emaUpdates ? { max: state.emaMax, ramp: 'min(max, (1+n)/(10+n))', updates: state.emaUpdates } : null,
    phase: state.phase,
    backend,
    trainSeconds: Math.round(state.trainSeconds),
    reconstructionPsnrDb: state.psnr,
    ...(state.aeFrom ? { autoencoderFrom: state.aeFrom } : {}),
    ...(state.curve ? { fixedLossCurve: state.curve } : {}),
    lastLoss: state.history.at(-1) ?? null,
    savedAt: new Date().toISOString(),
  };
}

main().catch((e) => {
  console.error(`pretrain failed: ${(e as Error).message}`);
  process.exit(1);
});
void writeFileSync;
