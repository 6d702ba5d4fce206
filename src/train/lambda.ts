/**
 * Does λ fit the model? The L1 subgradient moves every γ towards zero by λ·lr per step (amplified
 * to λ·lr/(1 − momentum) by SGD momentum), so over a stage the most any γ can shrink is
 * λ·Σ lr_t/(1 − momentum). The paper's λ = 1e-4 assumes γ starting at 0.5 and 160 epochs; a
 * transfer model's γ of 1–5 trained for a few epochs does not move at all. These functions size
 * λ from the model's γ scale and the planned steps (`train.sparsity: "auto"`) and tell when a
 * given λ cannot sparsify.
 */
import { lrAt } from './schedule.js';

/** The planned schedule of a stage. */
export interface PlannedSteps {
  epochs: number;
  stepsPerEpoch: number;
  lr: number;
  momentum: number;
  milestones: readonly number[];
  gamma: number;
}

/** Σ lr_t/(1 − momentum) over every planned step: the shrink of a γ per unit of λ. */
export function shrinkPerLambda(plan: PlannedSteps): number {
  let sum = 0;
  for (let epoch = 0; epoch < plan.epochs; epoch++)
    sum += plan.stepsPerEpoch * lrAt(epoch, plan.lr, plan.epochs, plan.milestones, plan.gamma);
  return sum / (1 - plan.momentum);
}

/** The middle value of |γ| (0 for none). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Two significant digits: λ is a setting people read and copy. */
function twoDigits(x: number): number {
  return Number(x.toPrecision(2));
}

/**
 * `sparsity: "auto"`: the λ whose expected total shrink equals the median |γ|, so that without the
 * task loss's pull half of the channels could reach zero; the task loss holds the useful ones up,
 * which is what separates them. 0 when there is nothing to shrink or no step planned.
 */
export function autoLambda(gammaMagnitudes: readonly number[], plan: PlannedSteps): number {
  const perLambda = shrinkPerLambda(plan);
  const m = median(gammaMagnitudes);
  return perLambda > 0 && m > 0 ? twoDigits(m / perLambda) : 0;
}

/** Below this share of the median |γ|, the expected shrink cannot sparsify anything worth pruning. */
export const TOO_SMALL_SHRINK = 0.1;

export interface LambdaFit {
  /** λ·Σlr/(1 − momentum). */
  expectedShrink: number;
  medianGamma: number;
  /** True when expectedShrink < TOO_SMALL_SHRINK · medianGamma. */
  tooSmall: boolean;
  /** The "auto" λ for this model and schedule. */
  suggested: number;
}

export function lambdaFit(lambda: number, gammaMagnitudes: readonly number[], plan: PlannedSteps): LambdaFit {
  const expectedShrink = lambda * shrinkPerLambda(plan);
  const medianGamma = median(gammaMagnitudes);
  return {
    expectedShrink,
    medianGamma,
    tooSmall: medianGamma > 0 && expectedShrink < TOO_SMALL_SHRINK * medianGamma,
    suggested: autoLambda(gammaMagnitudes, plan),
  };
}

/** After training: |γ| barely moved when the median changed by under 5 % and no more channels are near zero. */
export function gammasBarelyMoved(before: readonly number[], after: readonly number[]): boolean {
  const mBefore = median(before);
  const mAfter = median(after);
  const nearZero = (v: readonly number[]) => v.filter((g) => g < 1e-2).length / Math.max(1, v.length);
  return mBefore > 0 && Math.abs(mAfter - mBefore) < 0.05 * mBefore && nearZero(after) - nearZero(before) < 0.01;
}
