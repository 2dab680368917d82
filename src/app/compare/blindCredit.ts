// The blind A/B test shows checkpoint B on a random side. A pick is credited to the checkpoint
// that drew the picked image, once that random order is undone; a tie counts for neither.

import { drawAcrossCategories, type SpreadPrompt } from '../../core/data/promptSpread';
import type { Tally } from '../storage/schema';

/**
 * The prompt of a blind trial: a held-out evaluation prompt (never one the run trained on), a
 * random category first and then a prompt in it. Without held-out prompts there is no fair trial,
 * and the user is told so instead of being shown the run's own training prompts.
 */
export function blindPrompt(heldOut: readonly SpreadPrompt[], rand: () => number = Math.random): string {
  if (heldOut.length === 0) throw new Error('The held-out prompts could not be loaded, so a blind comparison would show prompts the run trained on. Reload the page to try again.');
  return drawAcrossCategories(heldOut, 1, rand)[0];
}

export type BlindJudgement = 'left' | 'right' | 'tie';

/** Which checkpoint the judgement credits, given whether B was shown on the left. */
export function creditOf(judgement: BlindJudgement, bOnLeft: boolean): 'a' | 'b' | 'ties' {
  if (judgement === 'tie') return 'ties';
  return (judgement === 'left') === bOnLeft ? 'b' : 'a';
}

/** The tally after one judgement. */
export const countJudgement = (t: Tally, judgement: BlindJudgement, bOnLeft: boolean): Tally => {
  const k = creditOf(judgement, bOnLeft);
  return { ...t, [k]: t[k] + 1 };
};
