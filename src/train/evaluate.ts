/**
 * Accuracy and loss of a model on a dataset, in inference mode (BN uses moving statistics,
 * Dropout is off, no augmentation). `evaluate` is the synchronous form for in-memory datasets;
 * `evaluateSource` takes any BatchSource (streaming too) and can also count top-k hits and the
 * confusion matrix.
 */
import * as tf from '#tfjs';
import type { Batch, BatchSource, Dataset, Preprocess } from '../data/dataset.js';
import { correctCount, crossEntropy, isBinaryKind, outputKind, outputUnits, type OutputKind } from './loss.js';

export interface EvaluateOptions {
  batchSize: number;
  preprocess: Preprocess;
  /** What the model emits now (default: read from its output layer); the training loop runs it on logits. */
  outputKind?: OutputKind;
}

export interface EvaluateResult {
  accuracy: number;
  /** Mean cross-entropy per example. */
  loss: number;
  count: number;
}

export interface DetailedEvaluateOptions extends EvaluateOptions {
  /** Also count hits within the k best scores (e.g. 5); omit for top-1 only. */
  topK?: number;
  /** Count confusion[true][predicted]. */
  confusion?: boolean;
}

export interface DetailedEvaluateResult extends EvaluateResult {
  /** Fraction of examples whose true class is among the `topK` best scores. */
  topKAccuracy?: number;
  topK?: number;
  /** confusion[trueClass][predictedClass] = count (rows = true class). */
  confusion?: number[][];
}

/** Running sums kept on the backend: one read at the end instead of a sync per batch. */
class Sums {
  loss: tf.Scalar = tf.scalar(0);
  correct: tf.Scalar = tf.scalar(0);

  constructor(
    private readonly model: tf.LayersModel,
    private readonly kind: OutputKind,
  ) {}

  /** Adds a batch; returns the model's scores (caller disposes) when `keepScores`. */
  add(batch: Batch, keepScores: boolean): tf.Tensor | undefined {
    try {
      const [loss, correct, scores] = tf.tidy(() => {
        const out = this.model.apply(batch.x, { training: false }) as tf.Tensor;
        return [
          tf.add<tf.Scalar>(this.loss, tf.mul(crossEntropy(this.kind, batch.y, out), batch.size)),
          tf.add<tf.Scalar>(this.correct, correctCount(batch.y, out, this.kind)),
          keepScores ? out : undefined,
        ];
      });
      tf.dispose([this.loss, this.correct]);
      this.loss = loss;
      this.correct = correct;
      return scores;
    } finally {
      tf.dispose([batch.x, batch.y]);
    }
  }

  result(count: number): EvaluateResult {
    return { accuracy: count ? this.correct.dataSync()[0] / count : 0, loss: count ? this.loss.dataSync()[0] / count : 0, count };
  }

  dispose(): void {
    tf.dispose([this.loss, this.correct]);
  }
}

export function evaluate(model: tf.LayersModel, dataset: Dataset, options: EvaluateOptions): EvaluateResult {
  const sums = new Sums(model, options.outputKind ?? outputKind(model));
  try {
    for (const batch of dataset.batches({ batchSize: options.batchSize, preprocess: options.preprocess })) sums.add(batch, false);
    return sums.result(dataset.count);
  } finally {
    sums.dispose();
  }
}

function readAndDispose(t: tf.Tensor): Int32Array {
  const values = t.dataSync() as Int32Array;
  t.dispose();
  return values;
}

/** Like `evaluate`, for any BatchSource, with optional top-k and confusion counts. */
export async function evaluateSource(
  model: tf.LayersModel,
  source: BatchSource,
  options: DetailedEvaluateOptions,
): Promise<DetailedEvaluateResult> {
  const kind = options.outputKind ?? outputKind(model);
  const sums = new Sums(model, kind);
  const numClasses = source.numClasses;
  // A sigmoid head has no ranking of classes: one unit predicts class 1 above 0.5 (0 for logits),
  // and k units (multi-label) have no single predicted class (no top-k, no confusion matrix).
  const binary = isBinaryKind(kind);
  const multiLabel = binary && outputUnits(model) !== 1;
  const threshold = kind === 'binary-logits' ? 0 : 0.5;
  const topK = options.topK !== undefined && !binary ? Math.min(options.topK, numClasses) : undefined;
  const wantsDetail = topK !== undefined || (options.confusion === true && !multiLabel);
  const confusion =
    options.confusion && !multiLabel ? Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0)) : undefined;
  let topKHits = 0;
  let count = 0;
  try {
    for await (const batch of source.batches({ batchSize: options.batchSize, preprocess: options.preprocess })) {
      const size = batch.size;
      // The labels are needed after `add` disposed the batch: read them first (tiny).
      const truth = wantsDetail ? readAndDispose(tf.argMax(batch.y, 1)) : undefined;
      const scores = sums.add(batch, wantsDetail);
      count += size;
      if (scores === undefined || truth === undefined) continue;
      try {
        const predicted = readAndDispose(binary ? tf.cast(tf.greater(tf.squeeze(scores, [1]), threshold), 'int32') : tf.argMax(scores, 1));
        if (confusion) for (let i = 0; i < size; i++) confusion[truth[i]][predicted[i]] += 1;
        if (topK !== undefined) {
          const { values, indices } = tf.topk(scores, topK);
          const best = indices.dataSync();
          tf.dispose([values, indices]);
          for (let i = 0; i < size; i++) {
            for (let k = 0; k < topK; k++) {
              if (best[i * topK + k] === truth[i]) {
                topKHits++;
                break;
              }
            }
          }
        }
      } finally {
        scores.dispose();
      }
    }
    const result: DetailedEvaluateResult = sums.result(count);
    if (topK !== undefined) {
      result.topK = topK;
      result.topKAccuracy = count ? topKHits / count : 0;
    }
    if (confusion) result.confusion = confusion;
    return result;
  } finally {
    sums.dispose();
  }
}
