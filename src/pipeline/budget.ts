/**
 * The accuracy budget (prune.maxAccuracyDrop): the largest prune ratio whose briefly fine-tuned
 * accuracy on the validation split stays within the budget of the sparsity-trained model's.
 * A 0.1-step sweep upwards brackets it (stopping at the first ratio over budget: accuracy falls
 * with the ratio, and every candidate costs a fine-tune), then bisection narrows the bracket.
 * Every candidate is recorded, with the reason the winner won, for run.json.
 */
import type * as tf from '#tfjs';
import type { PruneConfig } from '../config/schema.js';
import type { Output } from '../io/output.js';
import { fromLayersModel } from '../model/convert.js';
import type { ModelArtifacts } from '../model/topology.js';
import { makePlan } from './prune.js';
import type { PreparedData } from './data.js';
import { percent } from './stages/common.js';
import { ProblemError } from '../errors.js';
import { CHANCE_CAUSES } from '../train/chance.js';
import type { TrainingConfig } from './stages/train.js';
import { scoreCandidate, scoreOnSelectionSplit, selectionSplit, tidy, type SplitScore, type SweepRow } from './sweep.js';

/** The bracketing sweep: 0.1 ... 0.9. */
export const BRACKET_RATIOS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];
/** Scored halvings of the 0.1 bracket: the chosen ratio is within 0.0125 of the boundary (or one channel of it). */
export const BISECTION_STEPS = 3;
/** Fine-tune epochs per candidate when prune.searchEpochs is not set. */
export const DEFAULT_SEARCH_EPOCHS = 1;

export interface BudgetCandidate extends SweepRow {
  phase: 'bracket' | 'bisect';
  /** Accuracy the candidate is judged by (after the brief fine-tune, or as pruned when searchEpochs is 0). */
  judged: number;
  /** Percentage points below the reference. */
  drop: number;
  withinBudget: boolean;
  /** Set when this ratio removes the same channels as an earlier candidate, whose scores it repeats (not fine-tuned again). */
  sameAs?: number;
}

export interface BudgetSearch {
  maxAccuracyDrop: number;
  split: 'val' | 'test';
  searchEpochs: number;
  /** The sparsity-trained model on the same split. */
  reference: SplitScore;
  /** In the order tried. */
  candidates: BudgetCandidate[];
  ratio: number;
  reason: string;
}

/** The search on one loaded sparse model and dataset (the caller owns both; nothing is written). */
export async function searchRatioWithinBudget(
  sparse: tf.LayersModel,
  prune: PruneConfig & { maxAccuracyDrop: number },
  data: PreparedData,
  training: TrainingConfig,
  out: Output,
): Promise<BudgetSearch> {
  const artifacts = await fromLayersModel(sparse);
  const searchEpochs = prune.searchEpochs ?? DEFAULT_SEARCH_EPOCHS;
  const judge = { split: selectionSplit(data).split, reference: await scoreOnSelectionSplit(sparse, data), searchEpochs };
  const score = (ratio: number) => scoreCandidate(artifacts, ratio, prune, data, { finetuneEpochs: searchEpochs, training }, out);
  return searchBudget(artifacts, prune, judge, score, out);
}

/** What candidates are judged by, and one candidate's row (fine-tuned here, or computed elsewhere: src/executors/budget-rounds.ts). */
export interface BudgetJudge {
  split: 'val' | 'test';
  reference: SplitScore;
  searchEpochs: number;
}
export type ScoreRatio = (ratio: number) => Promise<SweepRow>;

/** The bracket and bisection over `score`: the same choice and record wherever the rows come from. */
export async function searchBudget(
  artifacts: ModelArtifacts,
  prune: PruneConfig & { maxAccuracyDrop: number },
  { split, reference, searchEpochs }: BudgetJudge,
  score: ScoreRatio,
  out: Output,
): Promise<BudgetSearch> {
  const budget = prune.maxAccuracyDrop;
  // A budget relative to a model that learned nothing would pick the largest ratio ("drops 0 points").
  if (reference.atChance) {
    throw new ProblemError(
      `accuracy budget: the sparsity-trained model's ${split} accuracy ${percent(reference.accuracy)} is at chance level, so no candidate can be judged against it; ${CHANCE_CAUSES}`,
    );
  }
  out.info(
    `accuracy budget: ${budget} point(s) below the sparse model's ${split} accuracy ${percent(reference.accuracy)}; candidates fine-tuned ${searchEpochs} epoch(s)`,
  );
  const candidates: BudgetCandidate[] = [];
  const tryRatio = async (ratio: number, phase: BudgetCandidate['phase']): Promise<boolean> => {
    // Ratios a channel apart prune the same channels: the model scored for one stands for the other.
    const removed = makePlan(artifacts, { ...prune, ratio, threshold: undefined, maxAccuracyDrop: undefined }).prunedChannels;
    const same = candidates.find((c) => c.channels.removed === removed);
    if (same) {
      candidates.push({ ...same, ratio, phase, sameAs: same.sameAs ?? same.ratio });
      out.info(
        `  ${phase} ratio ${ratio}: removes the same ${removed} channels as ratio ${same.ratio}: ${same.withinBudget ? 'within' : 'over'} budget`,
      );
      return same.withinBudget;
    }
    const row = await score(ratio);
    const judged = row.finetuned?.accuracy ?? row.accuracy;
    const atChance = (row.finetuned ?? row).atChance === true;
    const drop = tidy((reference.accuracy - judged) * 100);
    // A candidate at chance level is never within budget, whatever its drop.
    const candidate = { ...row, phase, judged, drop, withinBudget: drop <= budget + 1e-9 && !atChance };
    candidates.push(candidate);
    out.info(
      `  ${phase} ratio ${ratio}: ${split} accuracy ${percent(judged)}, drop ${drop.toFixed(2)} points: ` +
        (atChance ? 'at chance level, refused' : `${candidate.withinBudget ? 'within' : 'over'} budget`),
    );
    return candidate.withinBudget;
  };

  let low = 0;
  let high: number | undefined;
  for (const ratio of BRACKET_RATIOS) {
    if (!(await tryRatio(ratio, 'bracket'))) {
      high = ratio;
      break;
    }
    low = ratio;
  }
  if (high !== undefined) {
    // Until no model lies between the bounds (channel counts one apart). Steps that land on an
    // already scored model cost nothing and do not count (at most 4x as many in all).
    const removedAt = (ratio: number) => (ratio === 0 ? 0 : candidates.find((c) => c.ratio === ratio)!.channels.removed);
    for (let scored = 0, step = 0; scored < BISECTION_STEPS && step < 4 * BISECTION_STEPS && removedAt(high) - removedAt(low) > 1; step++) {
      const before = candidates.filter((c) => c.sameAs === undefined).length;
      const mid = tidy((low + high) / 2);
      if (await tryRatio(mid, 'bisect')) low = mid;
      else high = mid;
      if (candidates.filter((c) => c.sameAs === undefined).length > before) scored++;
    }
  }
  const reason = reasonFor(low, high, candidates, budget, split);
  if (low === 0) out.warn(`accuracy budget: ${reason}`);
  else out.info(`accuracy budget: chose ratio ${low}: ${reason}`);
  return { maxAccuracyDrop: budget, split, searchEpochs, reference, candidates, ratio: low, reason };
}

function isAtChance(c: BudgetCandidate): boolean {
  return (c.finetuned ?? c).atChance === true;
}

function reasonFor(low: number, high: number | undefined, candidates: BudgetCandidate[], budget: number, split: string): string {
  const at = (ratio: number) => candidates.find((c) => c.ratio === ratio)!;
  const over = high === undefined ? undefined : at(high);
  const overWhy = (c: BudgetCandidate) =>
    isAtChance(c) ? `is at chance level` : `drops ${c.drop.toFixed(2)} points (over the budget of ${budget})`;
  const overText = over ? `the next ratio tried above it, ${over.ratio}, ${overWhy(over)}` : '';
  if (low === 0)
    return `no ratio tried stays within ${budget} point(s) (the smallest, ${over!.ratio}, ${overWhy(over!)}): nothing is pruned`;
  const won = at(low);
  const wonText = `ratio ${low} drops ${won.drop.toFixed(2)} ${split} accuracy points, within the budget of ${budget}`;
  return high === undefined ? `${wonText}, and it is the upper bound of the search (${BRACKET_RATIOS.at(-1)})` : `${wonText}; ${overText}`;
}
