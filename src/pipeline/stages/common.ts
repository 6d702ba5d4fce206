/**
 * What every stage shares. A stage is one step of the pipeline (train, prune, finetune, export,
 * eval, report) as a function of values already in memory: it loads nothing itself, keeps no
 * module state, and disposes only what it creates. So `slim <stage>` and `slim run` call the same
 * function, and later drivers (ratio sweeps, accuracy budgets, resumed or multi-pass runs) can call
 * a stage many times on one loaded model and dataset.
 * This module stays free of tfjs and backend imports: src/pipeline/train.ts (and its tests) use it.
 */

/** writeModel's policy for a stage's output folder. */
export interface WriteOptions {
  overwrite: boolean;
}

/** Where a stage writes its model; a stage given none keeps its product in memory only. */
export interface Destination {
  dir: string;
  write: WriteOptions;
}

/** Percent with two decimals, '-' for a missing value (the accuracy lines of every stage). */
export function percent(x: number | undefined): string {
  return x === undefined ? '-' : `${(x * 100).toFixed(2)}%`;
}

/** Batch size of evaluation: no gradients are kept, so larger than training batches. */
export const EVAL_BATCH = 256;

/** Evaluation batch after a training stage: its own batch size when that is larger. */
export function evalBatchAfterTraining(trainingBatch: number): number {
  return Math.max(trainingBatch, EVAL_BATCH);
}
