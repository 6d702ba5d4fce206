/**
 * BatchNorm moving statistics that match the weights.
 *
 * A file's BN momentum (0.99, or Keras applications' 0.999 in every MobileNet-based transfer model)
 * moves the moving mean/variance by well under 1 % per step, so after a few hundred steps of
 * training, or after pruning changed what each BN sees, the stored statistics describe another
 * network and inference-mode accuracy can fall to chance while training-mode accuracy is fine.
 * `recalibrateBatchNorm` re-estimates them (adaptive BN, EagleEye, ECCV 2020): a training-mode
 * forward over N training batches with no weight update, each BN's moving statistics set to the
 * exact average over those batches (momentum k/(k+1) at batch k: a running mean, not an exponential one).
 * `overrideBatchNormMomentum` sets another momentum for the duration of a training stage.
 */
import * as tf from '#tfjs';
import type { BatchSource, Preprocess } from '../data/dataset.js';
import { fusedBatchNormByDefault } from './fused-bn.js';
import { withTrainingPatches } from './patches.js';
import { dropoutSeeds } from './step.js';

/** Batches re-estimated from when the config does not say (capped at the training split's batch count). */
export const DEFAULT_RECALIBRATION_BATCHES = 8;

/** The BN fields read and written here (private in tfjs-layers' typings; tfjs reads `momentum` at every training call). */
interface BatchNormMomentum {
  momentum: number;
}

/** Every BatchNormalization layer, nested models included. */
export function batchNormLayers(model: tf.LayersModel): tf.layers.Layer[] {
  const found: tf.layers.Layer[] = [];
  const visit = (container: tf.LayersModel): void => {
    for (const layer of container.layers) {
      if (layer instanceof tf.LayersModel) visit(layer);
      else if (layer.getClassName() === 'BatchNormalization') found.push(layer);
    }
  };
  visit(model);
  return found;
}

/** The distinct momentum values of the model's BN layers (for the log line), in first-seen order. */
export function batchNormMomenta(model: tf.LayersModel): number[] {
  return [...new Set(batchNormLayers(model).map((l) => (l as unknown as BatchNormMomentum).momentum))];
}

/** Sets every BN's momentum to `momentum`; returns the function that puts each one's own back. */
export function overrideBatchNormMomentum(model: tf.LayersModel, momentum: number): () => void {
  const layers = batchNormLayers(model) as unknown as BatchNormMomentum[];
  const saved = layers.map((l) => l.momentum);
  for (const l of layers) l.momentum = momentum;
  return () => layers.forEach((l, i) => (l.momentum = saved[i]));
}

export interface RecalibrationOptions {
  /** Batches to average over (clamped to what the split has). */
  batches: number;
  batchSize: number;
  preprocess: Preprocess;
  /** Seeds the batch order and dropout masks (reproducible). */
  seed: number;
}

export interface RecalibrationResult {
  /** BN layers whose statistics were re-estimated. */
  layers: number;
  batches: number;
  examples: number;
}

/**
 * Re-estimates every BN's moving mean and variance from `options.batches` shuffled, un-augmented
 * training batches: the exact average of the batch statistics. Weights other than the moving
 * statistics are untouched; BN momentum is restored afterwards.
 */
export async function recalibrateBatchNorm(
  model: tf.LayersModel,
  source: BatchSource,
  options: RecalibrationOptions,
): Promise<RecalibrationResult> {
  const layers = batchNormLayers(model) as unknown as BatchNormMomentum[];
  const wanted = Math.min(options.batches, source.batchCount(options.batchSize));
  if (layers.length === 0 || wanted < 1) return { layers: 0, batches: 0, examples: 0 };
  const saved = layers.map((l) => l.momentum);
  let batches = 0;
  let examples = 0;
  try {
    await withTrainingPatches(model, { fusedBatchNorm: fusedBatchNormByDefault(tf.getBackend()) }, async (patches) => {
      for await (const batch of source.batches({
        batchSize: options.batchSize,
        preprocess: options.preprocess,
        shuffleSeed: options.seed,
      })) {
        try {
          // Batch k gets weight 1/(k+1): moving ← moving − (moving − batch)/(k+1) keeps the exact mean of batches 0..k.
          for (const l of layers) l.momentum = batches / (batches + 1);
          patches.seedDropout(dropoutSeeds(options.seed, 0, batches, patches.dropoutCount));
          tf.tidy(() => {
            model.apply(batch.x, { training: true });
          });
          batches++;
          examples += batch.size;
        } finally {
          tf.dispose([batch.x, batch.y]);
        }
        if (batches >= wanted) break;
      }
    });
  } finally {
    layers.forEach((l, i) => (l.momentum = saved[i]));
  }
  return { layers: layers.length, batches, examples };
}
