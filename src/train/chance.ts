/**
 * Is a model's accuracy at chance level? A classifier that answers one class for everything, or
 * scores within a few points of what guessing gets (1/classes, or the majority class's share of
 * the examples), learned nothing usable: a stale BatchNorm statistic, a wrong input range or a λ
 * that wrecked the network look exactly like this, while every stage still "succeeds".
 */

/** Points above the chance rate that still count as chance (small test sets are noisy). */
export const CHANCE_MARGIN = 0.03;

export interface ChanceVerdict {
  atChance: boolean;
  /** Why, in a few words (e.g. "every example predicted as class 0"); set when atChance. */
  reason?: string;
}

/** From the confusion matrix (rows = true class, columns = predicted). Needs at least 2 classes and 1 example. */
export function chanceVerdict(confusion: readonly (readonly number[])[] | undefined): ChanceVerdict {
  // A multi-label head has no single predicted class, so no confusion counts and no verdict.
  if (confusion === undefined) return { atChance: false };
  const classes = confusion.length;
  const total = confusion.reduce((sum, row) => sum + row.reduce((a, b) => a + b, 0), 0);
  if (classes < 2 || total === 0) return { atChance: false };
  const predicted = confusion[0].map((_, j) => confusion.reduce((sum, row) => sum + row[j], 0));
  const used = predicted.filter((n) => n > 0).length;
  if (used === 1) return { atChance: true, reason: `every example predicted as class ${predicted.findIndex((n) => n > 0)}` };
  const correct = confusion.reduce((sum, row, i) => sum + row[i], 0);
  const majority = Math.max(...confusion.map((row) => row.reduce((a, b) => a + b, 0))) / total;
  const chance = Math.max(1 / classes, majority);
  if (correct / total <= chance + CHANCE_MARGIN) {
    const rate = `${(100 * chance).toFixed(1)}%: ${classes} classes, majority class ${(100 * majority).toFixed(1)}%`;
    return { atChance: true, reason: `within ${CHANCE_MARGIN * 100} points of chance (${rate})` };
  }
  return { atChance: false };
}

/** The causes slim can check, for the warning line. */
export const CHANCE_CAUSES =
  'likely causes: the input range (data.preprocess; Teachable Machine models take [-1, 1]), stale BatchNorm statistics ' +
  '(bnRecalibration, train.bnMomentum / finetune.bnMomentum) or a lambda that wrecked the network (train.sparsity)';
