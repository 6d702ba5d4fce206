/**
 * Step learning-rate schedule, as in the paper: lr is multiplied by `gamma` at each milestone.
 * Milestones are fractions of the total epochs (default [0.5, 0.75]); epochs are 0-based.
 */
export const DEFAULT_MILESTONES: readonly number[] = [0.5, 0.75];

export function lrAt(
  epoch: number,
  base: number,
  totalEpochs: number,
  milestones: readonly number[] = DEFAULT_MILESTONES,
  gamma = 0.1,
): number {
  let lr = base;
  for (const m of milestones) {
    // Drops once a fraction m of training is done: epoch e has completed e epochs, so the drop
    // starts at the first e >= m·total (0.5 of 160 → epoch 80, like the paper; 0.5 of 3 → epoch 2).
    // The tiny tolerance keeps exact products like 0.75·160 = 120 exact despite float rounding.
    if (epoch >= m * totalEpochs - 1e-9) lr *= gamma;
  }
  return lr;
}
