// The blind A/B test shows checkpoint B on a random side. A pick is credited to the checkpoint
// that drew the picked image, once that random order is undone; a tie counts for neither.

import type { Tally } from '../storage/schema';

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
