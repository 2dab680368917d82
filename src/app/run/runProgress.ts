// How far a SAIL run has come and how long it has left. Work is counted in UNet forward passes
// of one latent, because that is where the time goes on every backend and it is known in advance
// from the settings:
//   generate (round k >= 1): prompts x N candidates x DDIM steps x 2 (guidance: cond + uncond)
//   score:                   prompts x N x K draws x 2 (judge and reference)
//   train:                   steps x batch x 2 latents (winner, loser) x TRAIN_COST
//   grid (after each round): cells x DDIM steps x 2
// Within a phase the engine's own counters (prompts done, step of total) place the run; the grid
// and the save have no events, so they count as done when the round arrives.
import type { SailEvent, SailPhase, SailSettings } from '../../core/sail/loop';

export type RunPhase = SailPhase | 'save';

export interface RoundWork {
  generate: number;
  score: number;
  train: number;
  /** The grid after the round and the save. */
  save: number;
}

const PHASES: readonly RunPhase[] = ['generate', 'score', 'train', 'save'];

/**
 * Forward passes one latent of a DPO step costs: the policy's forward and backward plus the
 * reference's forward. Measured on the shipped model in Chromium on wasm (16 seed pairs, default
 * settings): 2.0 s per step of 16 pairs against 3.0 s per prompt of 8 candidates x 20 DDIM steps,
 * i.e. about 6.6 forwards (the backward through the wasm convolution kernels costs more than the
 * textbook two forwards).
 */
const TRAIN_COST = 6;

export function roundWork(settings: SailSettings, round: number, gridCells: number): RoundWork {
  // Round 0, and a later round with alpha 0 (no self pairs used), sample no candidates.
  const prompts = round === 0 || !(settings.alpha > 0) ? 0 : settings.promptsPerRound;
  const candidates = prompts * settings.candidatesPerPrompt;
  return {
    generate: candidates * settings.ddimSteps * 2,
    score: candidates * settings.rewardDraws * 2,
    train: settings.stepsPerRound * settings.batchSize * 2 * TRAIN_COST,
    save: gridCells * settings.ddimSteps * 2,
  };
}

const sum = (w: RoundWork) => w.generate + w.score + w.train + w.save;

/** Network passes of a whole run of these settings, rounds 0..settings.rounds (the checks not counted). */
export function runPasses(settings: SailSettings, gridCells: number): number {
  let total = 0;
  for (let k = 0; k <= settings.rounds; k++) total += sum(roundWork(settings, k, gridCells));
  return total;
}

/**
 * Milliseconds per network pass on one worker when nothing on this page has been timed yet: a
 * default run on 16 pairs on the shipped model in headless Chromium on wasm took 37.9 s on two
 * workers for the 27,520 passes runPasses counts (`BENCH_DRIFT_BOUND=0.25 npm run bench:chromium`,
 * 2026-12-05 eighth session, after the Winograd convolutions, the bound lifted so both rounds ran;
 * round 1 stopped early, as most do), taken TWO_WORKER_SPEEDUP slower on one. (After the
 * forward-pass kernels: 39.9 s; after the conv-gradient kernels: 45.8 s; before the helper worker
 * and those kernels, one worker: 93.5 s.)
 */
export const FALLBACK_MS_PER_PASS = (37_900 * 1.7) / 27_520;

/**
 * How much faster a run is on two workers (a helper worker on a second core, wasm on one thread):
 * the default run above took 54.3 s against 93.5 s (bench:chromium, alternated, 2 runs each).
 */
export const TWO_WORKER_SPEEDUP = 1.7;

/** Per network pass, from a generation: `images` images of `steps` DDIM steps with guidance took `ms`. */
export function msPerPassFrom(ms: number, images: number, steps: number): number | null {
  const passes = images * steps * 2;
  return passes > 0 && ms > 0 && Number.isFinite(ms) ? ms / passes : null;
}

/** The estimated wall time of a whole run; the checks and the saves' encoding add a little. */
export function estimateRunMs(settings: SailSettings, gridCells: number, msPerPass: number, workers = 1): number {
  return (runPasses(settings, gridCells) * msPerPass) / (workers > 1 ? TWO_WORKER_SPEEDUP : 1);
}

/**
 * The estimate of a run that may end after round 0: with later rounds that need room left in the
 * drift bound (laterRoundRoom; not for rounds that start from the base), round 0 may leave too
 * little and the run then ends with it (44 of the evaluation's 96 default runs did). That shorter
 * run's time, or null where every round runs.
 */
export function round0OnlyMs(settings: SailSettings, gridCells: number, msPerPass: number, workers = 1): number | null {
  if (settings.rounds < 1 || !((settings.laterRoundRoom ?? 0) > 0) || settings.laterStart === 'base') return null;
  return estimateRunMs({ ...settings, rounds: 0 }, gridCells, msPerPass, workers);
}

export interface RunPosition {
  round: number;
  phase: RunPhase;
  /** Of the phase: prompts or steps. */
  done: number;
  total: number;
}

/**
 * The progress of one run request. Rounds finished before it started (a resume) count as done,
 * so the bar picks up where it stopped; time left is measured from this request's own pace.
 */
export class RunProgress {
  private readonly works: RoundWork[];
  private readonly totalWork: number;
  private position: RunPosition;
  private startedAt: number | null = null;
  private fractionAtFirstEvent = 0;

  constructor(
    readonly settings: SailSettings,
    readonly gridCells: number,
    /** Rounds already finished (0..roundsDone-1). */
    roundsDone: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.works = Array.from({ length: settings.rounds + 1 }, (_, r) => roundWork(settings, r, gridCells));
    this.totalWork = this.works.reduce((s, w) => s + sum(w), 0);
    this.position = { round: roundsDone, phase: 'generate', done: 0, total: 1 };
  }

  /** Moves the position on an engine event (events of an earlier position never move it back). */
  onEvent(e: SailEvent): void {
    let next: RunPosition;
    if (e.type === 'phase') next = { round: e.round, phase: e.phase, done: 0, total: 1 };
    else if (e.type === 'progress') next = { round: e.round, phase: e.phase, done: e.done, total: e.total };
    else if (e.type === 'step') next = { round: e.round, phase: 'train', done: e.step, total: e.total };
    else if (e.type === 'round-done') next = { round: e.round, phase: 'save', done: 0, total: 1 };
    else return; // a check during training: the step events place it
    this.moveTo(next);
  }

  /** A round's checkpoint arrived: it and everything before it are done. */
  onRoundSaved(round: number): void {
    this.moveTo({ round: round + 1, phase: 'generate', done: 0, total: 1 });
  }

  private moveTo(next: RunPosition): void {
    if (this.fractionAt(next) < this.fraction()) return;
    if (this.startedAt === null) {
      // The clock starts at the first event: before it the worker was encoding the seed pairs
      // (and, on WebGPU, compiling shaders), which says nothing about the pace of the work.
      this.startedAt = this.now();
      this.fractionAtFirstEvent = this.fraction();
    }
    this.position = next;
  }

  get current(): RunPosition {
    return this.position;
  }

  private fractionAt(p: RunPosition): number {
    if (this.totalWork === 0) return 0;
    let done = 0;
    for (let r = 0; r < Math.min(p.round, this.works.length); r++) done += sum(this.works[r]);
    const w = this.works[p.round];
    if (w) {
      const index = PHASES.indexOf(p.phase);
      for (let i = 0; i < index; i++) done += w[PHASES[i]];
      done += w[p.phase] * Math.min(1, Math.max(0, p.total > 0 ? p.done / p.total : 0));
    }
    return Math.min(1, done / this.totalWork);
  }

  /** 0..1 of the whole run (all rounds of the settings). */
  fraction(): number {
    return this.fractionAt(this.position);
  }

  /** Milliseconds left at this request's pace so far; null until there is a pace to go by. */
  timeLeftMs(): number | null {
    if (this.startedAt === null) return null;
    const elapsed = this.now() - this.startedAt;
    const gained = this.fraction() - this.fractionAtFirstEvent;
    if (elapsed < 500 || gained <= 0) return null;
    return ((1 - this.fraction()) * elapsed) / gained;
  }
}

/** "3 min 20 s", "45 s", "under a second". */
export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 1) return 'under a second';
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

const PHASE_TEXT: Record<RunPhase, string> = {
  generate: 'generating candidates',
  score: 'scoring candidates (implicit reward)',
  train: 'Diffusion-DPO',
  save: 'rendering the grid and saving',
};

/** "Round 1 of 3: Diffusion-DPO, step 12 of 30". Round 0 trains on the seed pairs only. */
export function describePosition(p: RunPosition, rounds: number): string {
  const head = p.round === 0 ? 'Round 0 (seed pairs)' : `Round ${p.round} of ${rounds}`;
  if (p.phase === 'save' || p.total <= 1) return `${head}: ${PHASE_TEXT[p.phase]}`;
  const unit = p.phase === 'train' ? 'step' : 'prompt';
  return `${head}: ${PHASE_TEXT[p.phase]}, ${unit} ${p.done} of ${p.total}`;
}
