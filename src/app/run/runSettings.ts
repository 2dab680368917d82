// The Run form's fields: what each SAIL setting means to a user, its range, and the check that
// keeps a run from starting with a value that cannot work. The engine has the last word; these
// ranges only keep typing mistakes out (a test hook may still set anything through the store).

import type { SailSettings } from '../../core/sail/loop';
import { againstBaseProblem } from '../../core/sail/pairing';
import { DEFAULT_SAIL_SETTINGS } from '../../core/sail/settings';

type NumericSetting = { [K in keyof SailSettings]-?: NonNullable<SailSettings[K]> extends number ? K : never }[keyof SailSettings];

export interface SettingField {
  name: NumericSetting;
  label: string;
  hint: string;
  min: number;
  max: number;
  integer: boolean;
  /** May be absent (settings saved before it existed): the engine then falls back as loop.ts says. */
  optional?: boolean;
}

export const SETTING_FIELDS: readonly SettingField[] = [
  { name: 'rounds', label: 'Rounds', hint: 'self-amplifying rounds after round 0 (paper: 3)', min: 0, max: 10, integer: true },
  { name: 'stepsPerRound', label: 'Steps per round', hint: 'Diffusion-DPO optimiser steps in each round', min: 1, max: 2000, integer: true },
  { name: 'learningRate', label: 'Learning rate', hint: 'Adam step size; lower it if a run diverges', min: 1e-7, max: 0.1, integer: false },
  { name: 'beta', label: 'Beta', hint: 'how strongly DPO pulls away from the reference (paper: 5000 at SD scale)', min: 0.001, max: 100_000, integer: false },
  { name: 'alpha', label: 'Alpha (self share)', hint: 'fraction of self pairs in each batch, ranked mixup (paper: 0.25)', min: 0, max: 1, integer: false },
  { name: 'candidatesPerPrompt', label: 'Candidates per prompt', hint: 'N images sampled per fresh prompt (paper: 8)', min: 2, max: 32, integer: true },
  { name: 'rewardDraws', label: 'Reward draws', hint: 'K noise draws of the implicit reward (paper: 10)', min: 1, max: 64, integer: true },
  { name: 'promptsPerRound', label: 'Prompts per round', hint: 'fresh prompts each self-amplifying round', min: 1, max: 400, integer: true },
  { name: 'batchSize', label: 'Batch size', hint: 'pairs per optimiser step', min: 1, max: 128, integer: true },
  { name: 'marginThreshold', label: 'Margin threshold', hint: 'self pairs with a smaller reward margin are dropped', min: 0, max: 1e6, integer: false },
  { name: 'ddimSteps', label: 'DDIM steps', hint: 'sampling steps for candidates and the grid', min: 2, max: 200, integer: true },
  { name: 'candidateGuidance', label: 'Candidate guidance', hint: 'classifier-free guidance of the candidates a round samples and scores (higher: a prompt\'s candidates differ more)', min: 1, max: 20, integer: false, optional: true },
  { name: 'guidance', label: 'Grid guidance', hint: 'classifier-free guidance of the images each round\'s grid shows', min: 1, max: 20, integer: false },
  { name: 'positiveWeight', label: 'Winner hold (DPO-Positive)', hint: 'penalty when the winner is denoised worse than by the reference (0.25 by default: measured, 5 held the taste back); raise it if drawing kept falls while taste learned rises', min: 0, max: 100, integer: false },
  { name: 'priorWeight', label: 'Prior weight', hint: 'weight of the ordinary denoising loss on real emoji beside DPO (prior preservation); 0 turns it off', min: 0, max: 100, integer: false },
  { name: 'driftBound', label: 'Drift bound', hint: 'how far the error on real emoji may rise over the base (0.1 = 10%) before a round is refused', min: 0.001, max: 10, integer: false },
  { name: 'laterRoundRoom', label: 'Room for a later round', hint: 'a later round starts only when the round before left at least this share of the drift bound unspent; otherwise the run ends with that round, as the bound would have refused the next one after all its work (0 starts every round)', min: 0, max: 1, integer: false, optional: true },
  { name: 'patience', label: 'Early-stop patience', hint: 'checks without a better held-out loss before a round stops; 0 never stops early', min: 0, max: 100, integer: true },
  { name: 'seed', label: 'Seed', hint: 'every random draw of the run follows from it', min: 0, max: 2 ** 31 - 1, integer: true },
];

/** Why these settings cannot start a run (one sentence per field), or [] when they can. */
export function settingsProblems(s: SailSettings): string[] {
  const problems: string[] = [];
  for (const f of SETTING_FIELDS) {
    const v = s[f.name];
    if (v === undefined && f.optional) continue;
    if (typeof v !== 'number' || !Number.isFinite(v)) problems.push(`${f.label} must be a number.`);
    else if (v < f.min || v > f.max) problems.push(`${f.label} must be between ${f.min} and ${f.max}.`);
    else if (f.integer && !Number.isInteger(v)) problems.push(`${f.label} must be a whole number.`);
  }
  if (s.pairing !== 'best-worst' && s.pairing !== 'random' && s.pairing !== 'against-base') problems.push('Pairing must be best vs worst, random or against the base.');
  else if (againstBaseProblem(s.pairing, s.candidatesPerPrompt)) problems.push(againstBaseProblem(s.pairing, s.candidatesPerPrompt)!);
  if (s.judge !== 'current' && s.judge !== 'round0') problems.push('The judge must be the current model or the round-0 model.');
  return problems;
}

/** Saved settings of an older release may lack newer fields: fill them from the defaults. */
export function withDefaults(saved: Partial<SailSettings> | null | undefined): SailSettings {
  if (!saved) return { ...DEFAULT_SAIL_SETTINGS };
  // Settings saved before candidateGuidance existed sampled their candidates at `guidance`: a
  // resumed run of such a project keeps doing so rather than switching to the new default.
  const candidateGuidance = saved.candidateGuidance ?? saved.guidance ?? DEFAULT_SAIL_SETTINGS.candidateGuidance;
  return { ...DEFAULT_SAIL_SETTINGS, ...saved, candidateGuidance };
}

export interface RunPreset {
  id: string;
  label: string;
  /** What it is for, and whether the evaluation measured it. */
  hint: string;
  /** Changes from DEFAULT_SAIL_SETTINGS (the seed is kept from the form). */
  changes: Partial<SailSettings>;
}

export const RUN_PRESETS: readonly RunPreset[] = [
  {
    id: 'measured',
    label: 'One round (default, measured)',
    hint: 'round 0 on your pairs, then one self-amplifying round: exactly what the evaluation measured (docs/results.md)',
    changes: {},
  },
  {
    id: 'three',
    label: 'Three rounds',
    hint: "round 0, then the paper's three self-amplifying rounds, in up to 2.5 times the time; measured here, rounds 2 and 3 added nothing to the taste (docs/results-rounds-3.md), and each is kept only if it beats the one before on your held-out pairs",
    changes: { rounds: 3 },
  },
  {
    id: 'pairs-only',
    label: 'Your pairs only',
    hint: 'round 0 alone: Diffusion-DPO on your pairs with the same safe schedule and checks, in about a fifth of the time; the evaluation measured the self-amplifying round adding nothing on this model (-0.4 pp over 96 repeats, docs/results.md), so this gets what the default gets',
    changes: { rounds: 0 },
  },
  {
    id: 'quick',
    label: 'Quick look',
    hint: 'one round with half the steps and self-labelled prompts: the least time, a weaker effect (not measured)',
    changes: { stepsPerRound: 15, promptsPerRound: 16 },
  },
];

/** The preset these settings are, if any (the seed does not count). */
export function presetOf(s: SailSettings): RunPreset | null {
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  return (
    RUN_PRESETS.find((p) => {
      const want = presetSettings(p, s);
      return (Object.keys(want) as (keyof SailSettings)[]).every((k) => same(want[k], s[k]));
    }) ?? null
  );
}

/** The settings of a preset, keeping the form's seed. */
export const presetSettings = (p: RunPreset, current: SailSettings): SailSettings => ({ ...DEFAULT_SAIL_SETTINGS, ...p.changes, seed: current.seed });
