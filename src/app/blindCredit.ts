// The blind A/B test shows checkpoint B on a random side. A pick is credited to the checkpoint
// that drew the picked image, once that random order is undone; a tie counts for neither.

export type BlindJudgement = 'left' | 'right' | 'tie';
export interface BlindTally {
  a: number;
  b: number;
  ties: number;
}

/** Which checkpoint the judgement credits, given whether B was shown on the left. */
export function creditOf(judgement: BlindJudgement, bOnLeft: boolean): 'a' | 'b' | 'ties' {
  if (judgement === 'tie') return 'ties';
  return (judgement === 'left') === bOnLeft ? 'b' : 'a';
}

/** The tally after one judgement. */
export const countJudgement = (t: BlindTally, judgement: BlindJudgement, bOnLeft: boolean): BlindTally => {
  const k = creditOf(judgement, bOnLeft);
  return { ...t, [k]: t[k] + 1 };
};
