// The paper's claim in miniature (issue 6): from one base model, with a simulated annotator in
// place of a person, train every arm of summary.ts ARMS and measure it on held-out prompts.
// Per repeat (seed = hashSeed(settings.seed, repeat)):
//  1. Seed pairs: the base draws two images per prompt (pretraining-only prompts), the clicker
//     labels them from the oracle; the first n labelled pairs are the seed set, the first
//     multiplier * n the many-pairs set (so the seed set is a subset of it).
//  2. Every arm from the base: DPO arms get the optimiser budget of a whole SAIL run,
//     (rounds + 1) * stepsPerRound steps; SAIL round 0 (identical for every SAIL variant: no self
//     pairs yet, same seed) is trained once and each variant continues from a copy of it.
//  3. Each model (SAIL: after every round) samples the same held-out prompts from the same noise
//     as the base, so every image has a base twin to be compared with.
// Runs the same in Node (scripts/eval.ts) and in the browser's model worker; every draw is seeded.
import * as tf from '@tensorflow/tfjs-core';
import { cloneParams } from '../io/checkpoint';
import { makeSchedule, type NoiseSchedule } from '../diffusion/schedule';
import { CancelledError, initialNoise, sampleLatents } from '../generate';
import { disposeParams, type Params } from '../model/layers';
import { decodeLatents, type Checkpoint } from '../model/ldm';
import { hashSeed } from '../random';
import { DEFAULT_SAIL_SETTINGS } from '../sail/settings';
import { ensurePriorSamples, type AnchorSet } from '../sail/safety';
import { DriftError, runSail, trainDpoRound, type CandidateHelper, type PreferencePair, type SailEvent, type SailSettings } from '../sail/loop';
import type { GradientHelper } from '../sail/shardStep';
import { compositeOnWhite } from '../data/image';
import { simulateClick } from './clicker';
import { classifierCategories, meanPairwiseDistance, parseClassifier, predictCategories, type Classifier } from './classifier';
import { makeOracle, type Oracle, type PixelScore } from './oracles';
import { evalPromptSets, shuffledFor, type EvalPrompt, type EvalPromptSets } from './prompts';
import { ARMS, armLabel, checkEvalSettings, type ArmDefinition, type ArmResult, type EvalResult, type EvalSettings, type PointItems, type SeedPairStats } from './summary';

export interface EvalInputs {
  base: Checkpoint;
  classifier: Classifier;
  prompts: EvalPromptSets;
  /** Plug-in oracles by the name a spec uses for them (Node: module paths). */
  plugins?: Record<string, PixelScore>;
  /** Real emoji every trained arm is held to (prior term, drift); the seed pairs' images when absent. */
  anchor?: AnchorSet;
}

/** Progress: `done` of `total` tasks of the whole run; `stage` says what runs now. */
export interface EvalProgress {
  type: 'progress';
  repeat: number;
  arm: string | null;
  stage: string;
  done: number;
  total: number;
}

export interface EvaluationOptions {
  backend: string;
  /** A second worker (another core) for half of every trained arm's DPO steps and of SAIL's candidates. */
  helper?: CandidateHelper & GradientHelper;
  onProgress?: (p: EvalProgress) => void;
  isCancelled?: () => boolean;
}

/**
 * The classifier and the prompt sets from URLs (the browser's worker; Node reads the same files).
 * The caller disposes `classifier.params`.
 */
export async function fetchEvalInputs(base: Checkpoint, classifierUrl: string, manifestUrl: string, fetchFn: typeof fetch = fetch): Promise<EvalInputs> {
  const get = async (url: string) => {
    const res = await fetchFn(url);
    if (!res.ok) throw new Error(`${url}: HTTP ${res.status} ${res.statusText}`);
    return res;
  };
  const [config, weights, manifest] = await Promise.all([get(`${classifierUrl}config.json`).then((r) => r.text()), get(`${classifierUrl}model.safetensors`).then((r) => r.arrayBuffer()), get(manifestUrl).then((r) => r.json())]);
  const classifier = parseClassifier(config, weights);
  if (JSON.stringify(classifierCategories(manifest)) !== JSON.stringify(classifier.categories)) {
    disposeParams(classifier.params);
    throw new Error("The evaluation classifier's categories do not match the dataset manifest");
  }
  return { base, classifier, prompts: evalPromptSets(manifest, classifier.categories) };
}

/** Images per sampling call: bounds memory, and equal batches keep Node and browser identical. */
const SAMPLE_BATCH = 32;

const throwIfCancelled = (isCancelled?: () => boolean) => {
  if (isCancelled?.()) throw new CancelledError();
};

/** RGB bytes of decoded images [B,32,32,3] in [-1, 1] (rounded and clipped as a PNG would). */
export async function decodedBytes(ck: Checkpoint, latents: tf.Tensor4D): Promise<Uint8Array[]> {
  const images = decodeLatents(ck, latents);
  const [b, h, w] = images.shape;
  const data = await images.data();
  images.dispose();
  const per = h * w * 3;
  return Array.from({ length: b }, (_, i) => Uint8Array.from(data.subarray(i * per, (i + 1) * per), (v) => Math.min(255, Math.max(0, Math.round((v + 1) * 127.5)))));
}

/** Samples the images of `jobs` (prompt + noise seed each) in batches; RGB bytes and latents. */
async function sampleJobs(
  ck: Checkpoint,
  jobs: { prompt: string; noiseSeed: number; index: number }[],
  s: EvalSettings,
  isCancelled?: () => boolean,
  keepLatents = false,
  guidance = s.guidance,
): Promise<{ rgb: Uint8Array[]; latents: Float32Array[] }> {
  const rgb: Uint8Array[] = [];
  const latents: Float32Array[] = [];
  for (let start = 0; start < jobs.length; start += SAMPLE_BATCH) {
    const chunk = jobs.slice(start, start + SAMPLE_BATCH);
    const noise = tf.tidy(() => tf.concat(chunk.map((j) => initialNoise(ck, j.noiseSeed, 1, j.index)), 0) as tf.Tensor4D);
    const z = await sampleLatents(ck, chunk.map((j) => j.prompt), noise, { guidance, steps: s.ddimSteps, isCancelled }).finally(() => noise.dispose());
    try {
      if (keepLatents) {
        const data = (await z.data()) as Float32Array;
        const per = data.length / chunk.length;
        chunk.forEach((_, i) => latents.push(data.slice(i * per, (i + 1) * per)));
      }
      rgb.push(...(await decodedBytes(ck, z)));
    } finally {
      z.dispose();
    }
  }
  return { rgb, latents };
}

/** The simulated seed pairs of one repeat: `count` labelled pairs drawn by the base model. */
export async function simulateSeedPairs(
  base: Checkpoint,
  prompts: string[],
  oracle: Oracle,
  s: EvalSettings,
  count: number,
  seed: number,
  isCancelled?: () => boolean,
  onProgress?: (done: number) => void,
): Promise<{ pairs: PreferencePair[]; stats: Omit<SeedPairStats, 'ms'> }> {
  const pairs: PreferencePair[] = [];
  let skipped = 0;
  let flipped = 0;
  let agree = 0;
  const chunkPairs = SAMPLE_BATCH / 2;
  const maxAttempts = 4 * count + 2 * chunkPairs;
  for (let first = 0; pairs.length < count; first += chunkPairs) {
    if (first >= maxAttempts) throw new Error(`The simulated annotator skipped ${skipped} of ${first} pairs as ties; lower the skip margin or pick an oracle that tells the base model's images apart`);
    throwIfCancelled(isCancelled);
    const idx = Array.from({ length: chunkPairs }, (_, k) => first + k);
    // Pair i: two images of prompt i, images 0 and 1 of noise seed (seed, 20, i).
    const jobs = idx.flatMap((i) => [0, 1].map((j) => ({ prompt: prompts[i % prompts.length], noiseSeed: hashSeed(seed, 20, i), index: j })));
    const { rgb, latents } = await sampleJobs(base, jobs, s, isCancelled, true, s.pairGuidance ?? s.guidance);
    const rewards = await oracle.score(rgb, jobs.map((j) => j.prompt), base.config.imageSize);
    for (const [k, i] of idx.entries()) {
      if (pairs.length >= count) break;
      const [rA, rB] = [rewards[2 * k], rewards[2 * k + 1]];
      const click = simulateClick(rA, rB, s.clicker, hashSeed(seed, 21), i);
      if (click.choice === 'skip') {
        skipped++;
        continue;
      }
      if (click.flipped) flipped++;
      if (click.choice === 'A' === rA > rB) agree++;
      const [w, l] = click.choice === 'A' ? [latents[2 * k], latents[2 * k + 1]] : [latents[2 * k + 1], latents[2 * k]];
      pairs.push({ prompt: jobs[2 * k].prompt, winner: w, loser: l });
    }
    onProgress?.(pairs.length);
  }
  return { pairs, stats: { labelled: pairs.length, skipped, flipped, agreement: agree / pairs.length } };
}

interface Measured {
  reward: number[];
  heldOut: number[];
}

/** Everything measured on one model's held-out images, given the base's rewards (null: this is the base). */
async function measureModel(
  ck: Checkpoint,
  inputs: EvalInputs,
  oracles: { main: Oracle; heldOut: Oracle },
  evalPrompts: EvalPrompt[],
  s: EvalSettings,
  seed: number,
  baseline: Measured | null,
  isCancelled?: () => boolean,
): Promise<{ items: PointItems; measured: Measured }> {
  // Sample j of prompt p starts from image j of noise seed (seed, 40, p) in every arm.
  const jobs = evalPrompts.flatMap((p, pi) => Array.from({ length: s.samples }, (_, j) => ({ prompt: p.prompt, noiseSeed: hashSeed(seed, 40, pi), index: j })));
  const { rgb } = await sampleJobs(ck, jobs, s, isCancelled);
  const size = ck.config.imageSize;
  const prompts = jobs.map((j) => j.prompt);
  const reward = await oracles.main.score(rgb, prompts, size);
  const heldOut = await oracles.heldOut.score(rgb, prompts, size);
  const unit = new Float32Array(rgb.length * rgb[0].length);
  rgb.forEach((img, i) => unit.set(Float32Array.from(img, (v) => v / 127.5 - 1), i * img.length));
  const predicted = await predictCategories(inputs.classifier.params, unit, inputs.classifier.config);
  const labels = evalPrompts.flatMap((p) => Array(s.samples).fill(p.label) as number[]);
  const per = rgb[0].length * s.samples;
  const diversity = evalPrompts.map((_, pi) => meanPairwiseDistance(unit.subarray(pi * per, (pi + 1) * per), s.samples));
  const win = (mine: number[], theirs: number[]) => mine.map((v, i) => (v > theirs[i] ? 1 : v === theirs[i] ? 0.5 : 0));
  const ref = baseline ?? { reward, heldOut };
  return {
    items: {
      winRate: win(reward, ref.reward),
      meanReward: reward,
      heldOutWinRate: win(heldOut, ref.heldOut),
      fidelity: Array.from(predicted, (c, i) => (c === labels[i] ? 1 : 0)),
      diversity,
    },
    measured: { reward, heldOut },
  };
}

/** Share of self pairs whose winner the oracle also prefers (ties half). */
async function selfAccuracy(oracle: Oracle, pairs: { prompt: string; winnerImage: Uint8ClampedArray; loserImage: Uint8ClampedArray }[], size: number): Promise<number[]> {
  if (pairs.length === 0) return [];
  const images = pairs.flatMap((p) => [compositeOnWhite(p.winnerImage), compositeOnWhite(p.loserImage)]);
  const r = await oracle.score(images, pairs.flatMap((p) => [p.prompt, p.prompt]), size);
  return pairs.map((_, i) => (r[2 * i] > r[2 * i + 1] ? 1 : r[2 * i] === r[2 * i + 1] ? 0.5 : 0));
}

/** The SAIL settings a run's trained arms use: the engine defaults it recorded (else today's), its overrides, its own fields. */
export function sailSettingsFor(s: EvalSettings, seed: number): SailSettings {
  return {
    ...DEFAULT_SAIL_SETTINGS,
    ...(s.engine ?? {}),
    ...(s.sail ?? {}),
    rounds: s.rounds,
    candidatesPerPrompt: s.candidates,
    rewardDraws: s.draws,
    alpha: s.alpha,
    beta: s.beta,
    learningRate: s.learningRate,
    stepsPerRound: s.stepsPerRound,
    batchSize: s.batchSize,
    marginThreshold: 0,
    pairing: s.sail?.pairing ?? 'best-worst',
    judge: 'current',
    promptsPerRound: s.promptsPerRound,
    guidance: s.guidance,
    // Candidates at the guidance of the seed pairs (the evaluation's images keep s.guidance).
    candidateGuidance: s.pairGuidance ?? s.guidance,
    ddimSteps: s.ddimSteps,
    seed,
  };
}

/**
 * The settings a Diffusion-DPO arm trains with: SAIL's, as one round over the optimiser budget of a
 * whole SAIL run ((rounds + 1) rounds of steps), checked checksPerRound times over it, or, for an
 * arm with fineChecks, as often as a SAIL round is checked.
 */
export function dpoArmSettings(arm: Pick<ArmDefinition, 'fineChecks'>, sail: SailSettings, rounds: number): SailSettings {
  const budget = (rounds + 1) * sail.stepsPerRound;
  return { ...sail, rounds: 0, stepsPerRound: budget, checksPerRound: arm.fineChecks ? sail.checksPerRound * (rounds + 1) : sail.checksPerRound };
}

/** Runs every selected arm for every repeat and returns the raw per-item figures. */
export async function runEvaluation(inputs: EvalInputs, s: EvalSettings, opts: EvaluationOptions): Promise<EvalResult> {
  checkEvalSettings(s, Object.keys(inputs.plugins ?? {}));
  const started = Date.now();
  const { base } = inputs;
  const ctx = { classifier: inputs.classifier, labelOf: (p: string) => inputs.prompts.labels[p], plugins: inputs.plugins };
  const oracles = { main: makeOracle(s.oracle, ctx), heldOut: makeOracle(s.heldOutOracle, ctx) };
  const evalPrompts = inputs.prompts.evaluation.slice(0, s.evalPrompts);
  if (evalPrompts.length < s.evalPrompts) throw new Error(`Only ${evalPrompts.length} held-out prompts exist; ask for at most that many`);
  const arms = ARMS.filter((a) => a.id === 'base' || s.arms.includes(a.id));
  // The prior term's base samples, made once for every arm and repeat (they depend on the base only).
  const anchor = await ensurePriorSamples(base, inputs.anchor, sailSettingsFor(s, s.seed), opts.isCancelled);
  const sailArms = arms.filter((a) => a.kind === 'sail');
  const needMany = arms.some((a) => a.pairs === 'many');
  const schedule: NoiseSchedule = makeSchedule(base.config.schedule);
  const results: ArmResult[] = arms.map((a) => ({ arm: a.id, points: a.kind === 'sail' ? Array.from({ length: s.rounds + 1 }, () => []) : [[]], trainMs: [], evalMs: [] }));
  const resultOf = (id: string) => results[arms.findIndex((a) => a.id === id)];
  /** Which check a trained round kept (null: refused) and why it ended early. */
  const recordKept = (r: ArmResult, repeat: number, round: number, of: number, t: { kept?: { step: number; drift: number } | null; stoppedEarly?: string }) => {
    r.kept = [...(r.kept ?? []), { repeat, round, step: t.kept?.step ?? null, of, stoppedEarly: t.stoppedEarly, ...(t.kept ? { drift: t.kept.drift } : {}) }];
  };
  const seedStats: SeedPairStats[] = [];
  // Tasks per repeat: seed pairs, base, each DPO arm, SAIL round 0, each SAIL variant's rounds.
  const perRepeat = 2 + arms.filter((a) => a.kind === 'dpo').length + (sailArms.length > 0 ? 1 + sailArms.length * s.rounds : 0);
  const total = perRepeat * s.repeats;
  let done = 0;
  const progress = (repeat: number, arm: string | null, stage: string) => opts.onProgress?.({ type: 'progress', repeat, arm, stage, done, total });

  const firstRepeat = s.firstRepeat ?? 0;
  for (let repeat = firstRepeat; repeat < firstRepeat + s.repeats; repeat++) {
    const seed = hashSeed(s.seed, repeat);
    const label = (id: string) => armLabel(id, s);
    const seedPrompts = shuffledFor(inputs.prompts.seed, seed, 1);
    const pools = inputs.prompts.pools.map((pool, k) => shuffledFor(pool, seed, 100 + k));
    const sail = sailSettingsFor(s, seed);
    const measure = (ck: Checkpoint, baseline: Measured | null) => measureModel(ck, inputs, oracles, evalPrompts, s, seed, baseline, opts.isCancelled);
    const timed = async <T>(f: () => Promise<T>): Promise<[T, number]> => {
      const t0 = Date.now();
      const v = await f();
      return [v, Date.now() - t0];
    };

    // 1. Seed pairs.
    const want = needMany ? s.multiplier * s.seedPairs : s.seedPairs;
    progress(repeat, null, `simulated annotator labels ${want} seed pairs`);
    const [seedRun, seedMs] = await timed(() => simulateSeedPairs(base, seedPrompts, oracles.main, s, want, seed, opts.isCancelled, (n) => progress(repeat, null, `simulated annotator labels seed pairs: ${n}/${want}`)));
    seedStats.push({ ...seedRun.stats, ms: seedMs });
    const seedPairs = seedRun.pairs.slice(0, s.seedPairs);
    done++;

    // 2. The base model.
    progress(repeat, 'base', `evaluate ${label('base')}`);
    const [baseEval, baseMs] = await timed(() => measure(base, null));
    resultOf('base').points[0].push(baseEval.items);
    resultOf('base').trainMs.push(0);
    resultOf('base').evalMs.push(baseMs);
    done++;

    const trainProgress = (arm: string, what: string) => (e: { step: number }, totalSteps: number) => progress(repeat, arm, `${what}: step ${e.step}/${totalSteps}`);

    // 3. Diffusion-DPO arms, each with a whole SAIL run's optimiser budget.
    for (const arm of arms.filter((a) => a.kind === 'dpo')) {
      const pairs = arm.pairs === 'many' ? seedRun.pairs : seedPairs;
      const settings = dpoArmSettings(arm, sail, s.rounds);
      const budget = settings.stepsPerRound;
      const onStep = trainProgress(arm.id, `train ${label(arm.id)} on ${pairs.length} pairs`);
      const [trained, trainMs] = await timed(() =>
        trainDpoRound({ base, schedule, start: base.params, reference: base.params, selfPairs: [], seedPairs: pairs, settings, round: 0, anchor, helper: opts.helper, isCancelled: opts.isCancelled, onStep: (p) => onStep(p, budget) }),
      );
      try {
        progress(repeat, arm.id, `evaluate ${label(arm.id)}`);
        const [ev, evalMs] = await timed(() => measure({ config: base.config, params: trained.params }, baseEval.measured));
        const r = resultOf(arm.id);
        r.points[0].push(ev.items);
        recordKept(r, repeat, 0, budget, trained);
        r.trainMs.push(trainMs);
        r.evalMs.push(evalMs);
      } finally {
        disposeParams(trained.params);
      }
      done++;
    }

    // 4. SAIL: round 0 once, then every variant from a copy of it.
    if (sailArms.length === 0) continue;
    const onStep0 = trainProgress('sail', 'SAIL round 0 on the seed pairs');
    const [round0, round0TrainMs] = await timed(() =>
      trainDpoRound({ base, schedule, start: base.params, reference: base.params, selfPairs: [], seedPairs, settings: sail, round: 0, anchor, helper: opts.helper, isCancelled: opts.isCancelled, onStep: (p) => onStep0(p, s.stepsPerRound) }),
    );
    try {
      progress(repeat, 'sail', 'evaluate SAIL round 0');
      const [ev0, round0EvalMs] = await timed(() => measure({ config: base.config, params: round0.params }, baseEval.measured));
      done++;
      for (const arm of sailArms) {
        const r = resultOf(arm.id);
        r.points[0].push(ev0.items);
        recordKept(r, repeat, 0, s.stepsPerRound, round0);
        let trainMs = round0TrainMs;
        let evalMs = round0EvalMs;
        const start = cloneParams(round0.params);
        const onEvent = (e: SailEvent) => {
          if (e.type === 'step') progress(repeat, arm.id, `${label(arm.id)} round ${e.round}: train step ${e.step}/${e.total}`);
          else if (e.type === 'progress') progress(repeat, arm.id, `${label(arm.id)} round ${e.round}: ${e.phase === 'generate' ? 'sample candidates' : 'score candidates'} ${e.done}/${e.total}`);
        };
        let lastRound = 0;
        const final = await runSail({
          base,
          seedPairs,
          promptPools: pools,
          settings: { ...sail, ...arm.variant },
          anchor,
          resumeFrom: { round: 0, params: start, round0Params: start },
          helper: opts.helper,
          isCancelled: opts.isCancelled,
          onEvent,
          onRoundDone: async ({ round, params, record, selfPairs }) => {
            trainMs += record.timing.totalMs;
            recordKept(r, repeat, round, s.stepsPerRound, record);
            progress(repeat, arm.id, `evaluate ${label(arm.id)} round ${round}`);
            const [ev, ms] = await timed(async () => {
              const measured = await measure({ config: base.config, params }, baseEval.measured);
              return { ...measured.items, selfAccuracy: await selfAccuracy(oracles.main, selfPairs, base.config.imageSize) };
            });
            evalMs += ms;
            r.points[round].push(ev);
            lastRound = round;
            done++;
          },
        }).catch((e: unknown) => {
          // A round the drift bound refused: the run stops and keeps the rounds before it, as in
          // the studio. Every later round of this repeat is the last kept model (no self labels).
          if (!(e instanceof DriftError)) throw e;
          r.refused = [...(r.refused ?? []), { repeat, round: e.round, ...(e.notStarted ? { notStarted: true } : {}) }];
          for (let round = lastRound + 1; round <= s.rounds; round++) {
            const { selfAccuracy: _, ...kept } = r.points[lastRound][r.points[lastRound].length - 1];
            r.points[round].push(kept);
            done++;
          }
          return null;
        });
        if (final) disposeParams(final.params as Params);
        r.trainMs.push(trainMs);
        r.evalMs.push(evalMs);
      }
    } finally {
      disposeParams(round0.params);
    }
  }
  return { settings: s, arms: results, seedPairs: seedStats, backend: opts.backend, totalMs: Date.now() - started };
}
