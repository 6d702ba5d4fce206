/**
 * Every change slim makes to tfjs-layers internals while a model trains, applied and restored in
 * ONE place (the training loop and the replica workers both go through withTrainingPatches):
 * - logits loss (loss.ts trainOnLogits): a softmax output layer emits its logits, so the loss is
 *   the fused log-softmax cross-entropy;
 * - fused BatchNorm (fused-bn.ts useFusedBatchNorm): BN's training-mode forward as one op;
 * - dropout seeding (dropout.ts): every step's masks come from seeds the caller sets, not Math.random.
 * Each is an own property on a layer instance; restoring puts back exactly what was there.
 */
import type * as tf from '#tfjs';
import { dropoutLayers, getDropoutSeed, setDropoutSeed } from './dropout.js';
import { useFusedBatchNorm } from './fused-bn.js';
import { trainOnLogits, type OutputKind } from './loss.js';

export interface TrainingPatchOptions {
  /** Install the fused BatchNorm (TrainOptions.fusedBatchNorm). */
  fusedBatchNorm: boolean;
}

/** What the patched model offers the code that trains it. */
export interface TrainingPatches {
  /** What the model emits while patched (the loss reads it). */
  readonly outputKind: OutputKind;
  /** Number of dropout layers: one seed each per forward pass. */
  readonly dropoutCount: number;
  /** Seeds the dropout masks of the next forward pass: one seed per dropout layer, in model order. */
  seedDropout(seeds: readonly number[]): void;
}

/** Applies every training patch to `model`; the returned `restore` undoes them (idempotent). */
function applyTrainingPatches(model: tf.LayersModel, options: TrainingPatchOptions): { patches: TrainingPatches; restore: () => void } {
  // Undo steps in reverse order of application, so a failure half-way restores what was applied.
  const undo: (() => void)[] = [];
  const restore = (): void => {
    for (const step of undo.splice(0).reverse()) step();
  };
  try {
    const dropouts = dropoutLayers(model);
    const savedSeeds = dropouts.map(getDropoutSeed);
    undo.push(() => dropouts.forEach((d, i) => setDropoutSeed(d, savedSeeds[i])));
    const logits = trainOnLogits(model);
    undo.push(logits.restore);
    if (options.fusedBatchNorm) undo.push(useFusedBatchNorm(model));
    const patches: TrainingPatches = {
      outputKind: logits.kind,
      dropoutCount: dropouts.length,
      seedDropout: (seeds) => dropouts.forEach((d, i) => setDropoutSeed(d, seeds[i])),
    };
    return { patches, restore };
  } catch (error) {
    restore();
    throw error;
  }
}

/**
 * Runs `fn` with the training patches applied to `model` and restores the model's stock layers
 * afterwards, whether `fn` returns or throws.
 */
export async function withTrainingPatches<T>(
  model: tf.LayersModel,
  options: TrainingPatchOptions,
  fn: (patches: TrainingPatches) => Promise<T> | T,
): Promise<T> {
  const { patches, restore } = applyTrainingPatches(model, options);
  try {
    return await fn(patches);
  } finally {
    restore();
  }
}
