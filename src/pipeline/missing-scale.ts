/** The sparsity-training hook for BatchNorm without γ (see model/add-bn-scale.ts). */
import type * as tf from '#tfjs';
import type { Output } from '../io/output.js';
import { addMissingBnScaleToModel } from '../model/add-bn-scale.js';

/** True when addScalesForSparsity gives scale-less BatchNorm a γ under these train settings. */
export function scalesWillBeAdded(train: { sparsity: number | 'auto'; epochs: number; addMissingScale: boolean }): boolean {
  return (train.sparsity === 'auto' || train.sparsity > 0) && train.epochs >= 1 && train.addMissingScale;
}

/**
 * Before sparsity training (sparsity > 0 and addMissingScale on): gives every `scale: false` BN a
 * γ of ones and says how many got one. Returns the model to train (a new one when anything changed).
 */
export async function addScalesForSparsity(
  model: tf.LayersModel,
  train: { sparsity: number | 'auto'; epochs: number; addMissingScale: boolean },
  out: Output,
): Promise<tf.LayersModel> {
  if (!scalesWillBeAdded(train)) return model;
  const result = await addMissingBnScaleToModel(model);
  if (result.added.length > 0) {
    out.info(
      `added a gamma of ones to ${result.added.length} BatchNormalization layer(s) saved with scale: false, so sparsity training can prune them ` +
        '(train.addMissingScale: false keeps them without)',
    );
  }
  return result.model;
}
