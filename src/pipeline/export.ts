/**
 * The export stage: an inference model with every foldable BatchNormalization folded into the
 * layer before it, checked numerically against the original on the current backend.
 * No printing here; `describeExport` returns lines the command decides where to put.
 */
import * as tf from '@tensorflow/tfjs';
import { ProblemError } from '../errors.js';
import { toLayersModel } from '../model/convert.js';
import type { ModelArtifacts } from '../model/topology.js';
import { foldBatchNorm, type FoldedBatchNorm, type SkippedBatchNorm } from '../prune/fold-bn.js';
import { countModel, type ModelCount } from '../report/count.js';

export interface ExportOptions {
  /** Seed of the random check batch (default 1). */
  seed?: number;
  /** Rows in the check batch (default 4). */
  batchSize?: number;
  /** Size used for input dims the model leaves unknown, e.g. a free image size (default 32). */
  unknownDim?: number;
}

/** Original vs exported outputs on one seeded random batch, inference mode. */
export interface ExportCheck {
  backend: string;
  batchSize: number;
  seed: number;
  /** max |y_original − y_exported| over every output. */
  maxAbsDiff: number;
  /** max |y_original|: the scale the tolerance is relative to. */
  maxAbsOutput: number;
  /** 1e-3 · max(1, maxAbsOutput). */
  tolerance: number;
}

export interface ExportOutcome {
  artifacts: ModelArtifacts;
  folded: FoldedBatchNorm[];
  skipped: SkippedBatchNorm[];
  check: ExportCheck;
  before: ModelCount;
  after: ModelCount;
}

/** The relative tolerance of the check: float32 rounding of the folded kernels stays far below it. */
export const EXPORT_RELATIVE_TOLERANCE = 1e-3;

/** Folds BN into its producers and verifies the result; ProblemError when the outputs moved. */
export async function exportModel(artifacts: ModelArtifacts, options: ExportOptions = {}): Promise<ExportOutcome> {
  const result = foldBatchNorm(artifacts);
  const check = await compareOutputs(artifacts, result.artifacts, options);
  if (!(check.maxAbsDiff <= check.tolerance)) {
    throw new ProblemError(
      `export: folding BatchNormalization changed the outputs by up to ${check.maxAbsDiff.toPrecision(3)} ` +
        `(tolerance ${check.tolerance.toPrecision(3)}) on a random batch; the model was not written`,
    );
  }
  return {
    artifacts: result.artifacts,
    folded: result.folded,
    skipped: result.skipped,
    check,
    before: countModel(artifacts.modelTopology),
    after: countModel(result.artifacts.modelTopology),
  };
}

/** Runs both models on the same seeded random inputs (predict = inference mode) and compares. */
export async function compareOutputs(
  original: ModelArtifacts,
  exported: ModelArtifacts,
  options: ExportOptions = {},
): Promise<ExportCheck> {
  const seed = options.seed ?? 1;
  const batchSize = options.batchSize ?? 4;
  const unknownDim = options.unknownDim ?? 32;
  const a = await toLayersModel(original);
  const b = await toLayersModel(exported);
  try {
    return tf.tidy(() => {
      const inputs = a.inputs.map((input, i) => {
        const shape = input.shape.map((d, axis) => (axis === 0 ? batchSize : (d ?? unknownDim)));
        // Integer inputs (Embedding indices) get 0, always a valid index; floats get N(0, 1).
        return input.dtype === 'int32' ? tf.zeros(shape, 'int32') : tf.randomNormal(shape, 0, 1, 'float32', seed + i);
      });
      const asList = (y: tf.Tensor | tf.Tensor[]): tf.Tensor[] => (Array.isArray(y) ? y : [y]);
      const ya = asList(a.predict(inputs.length === 1 ? inputs[0] : inputs));
      const yb = asList(b.predict(inputs.length === 1 ? inputs[0] : inputs));
      let maxAbsDiff = 0;
      let maxAbsOutput = 0;
      ya.forEach((y, i) => {
        // NaN in either output must fail the check, so it is kept rather than max'ed away.
        const diff = tf.max(tf.abs(tf.sub(y, yb[i]))).dataSync()[0];
        maxAbsDiff = Number.isNaN(diff) || Number.isNaN(maxAbsDiff) ? NaN : Math.max(maxAbsDiff, diff);
        maxAbsOutput = Math.max(maxAbsOutput, tf.max(tf.abs(y)).dataSync()[0]);
      });
      const tolerance = EXPORT_RELATIVE_TOLERANCE * Math.max(1, maxAbsOutput);
      return { backend: tf.getBackend(), batchSize, seed, maxAbsDiff, maxAbsOutput, tolerance };
    });
  } finally {
    a.dispose();
    b.dispose();
  }
}

/** Human summary for stderr: what was folded, what was not and why, and the check. */
export function describeExport(outcome: ExportOutcome): string[] {
  const { folded, skipped, check } = outcome;
  const into = folded.length > 0 ? ` into ${folded.map((f) => f.into).join(', ')}` : '';
  const lines = [`folded ${folded.length} BatchNormalization layer${folded.length === 1 ? '' : 's'}${into}; ${skipped.length} skipped`];
  for (const s of skipped) lines.push(`  not folded: ${s.bn}: ${s.reason}`);
  lines.push(
    `check: max |diff| ${check.maxAbsDiff.toPrecision(3)} vs original (tolerance ${check.tolerance.toPrecision(3)}) ` +
      `on ${check.batchSize} random inputs, backend ${check.backend}`,
  );
  return lines;
}
