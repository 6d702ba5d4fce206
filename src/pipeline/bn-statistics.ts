/**
 * When the pipeline re-estimates BatchNorm statistics (src/train/bn-statistics.ts): after every
 * training stage and after pruning, before the model is evaluated or written; how many batches
 * (config bnRecalibration.batches); and the log line that says it happened.
 */
import type * as tf from '#tfjs';
import type { Config } from '../config/schema.js';
import { InputError } from '../errors.js';
import type { Output } from '../io/output.js';
import { DEFAULT_RECALIBRATION_BATCHES, recalibrateBatchNorm } from '../train/bn-statistics.js';
import type { PreparedData } from './data.js';

/** The config fields read here. */
export type RecalibrationConfig = Partial<Pick<Config, 'bnRecalibration' | 'seed'>>;

/**
 * Batches to re-estimate from: the configured count, or the default capped at what the training
 * split has. A configured count the split cannot fill is bad input (it would silently mean fewer).
 */
export function recalibrationBatches(config: RecalibrationConfig, data: Pick<PreparedData, 'train'>, batchSize: number): number {
  const available = data.train.batchCount(batchSize);
  const configured = config.bnRecalibration?.batches;
  if (configured === undefined) return Math.min(DEFAULT_RECALIBRATION_BATCHES, available);
  if (configured > available) {
    throw new InputError(
      `config: bnRecalibration.batches: ${configured} batches of ${batchSize} is more than the training split holds (${available}; ${data.train.count} images)`,
    );
  }
  return configured;
}

/** Re-estimates `model`'s BN statistics (unless off or the model has no BN) and says so in one line naming `what`. */
export async function recalibrateForEvaluation(
  model: tf.LayersModel,
  data: PreparedData,
  config: RecalibrationConfig,
  batchSize: number,
  what: string,
  out: Output,
  quiet = false,
): Promise<void> {
  const batches = recalibrationBatches(config, data, batchSize);
  if (batches === 0) return;
  const r = await recalibrateBatchNorm(model, data.train, { batches, batchSize, preprocess: data.preprocess, seed: config.seed ?? 0 });
  if (r.layers === 0) return;
  (quiet ? out.debug.bind(out) : out.info.bind(out))(
    `  ${what}: BatchNorm statistics recalibrated (${r.layers} layer(s), average of ${r.batches} training batch(es), ${r.examples} images)`,
  );
}
