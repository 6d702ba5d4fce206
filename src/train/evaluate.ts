/**
 * Accuracy and loss of a model on a dataset, in inference mode (BN uses moving statistics,
 * Dropout is off).
 */
import * as tf from '@tensorflow/tfjs';
import type { Dataset, Preprocess } from '../data/dataset.js';
import { correctCount, crossEntropy, outputKind } from './loss.js';

export interface EvaluateOptions {
  batchSize: number;
  preprocess: Preprocess;
}

export interface EvaluateResult {
  accuracy: number;
  /** Mean cross-entropy per example. */
  loss: number;
  count: number;
}

export function evaluate(model: tf.LayersModel, dataset: Dataset, options: EvaluateOptions): EvaluateResult {
  const kind = outputKind(model);
  // Running sums stay on the backend; one read at the end.
  let lossSum: tf.Scalar = tf.scalar(0);
  let correct: tf.Scalar = tf.scalar(0, 'int32');
  try {
    for (const batch of dataset.batches({ batchSize: options.batchSize, preprocess: options.preprocess })) {
      let next: tf.Scalar[];
      try {
        next = tf.tidy(() => {
          const out = model.apply(batch.x, { training: false }) as tf.Tensor;
          return [
            tf.add(lossSum, tf.mul(crossEntropy(kind, batch.y, out), batch.size)) as tf.Scalar,
            tf.add(correct, correctCount(batch.y, out)) as tf.Scalar,
          ];
        });
      } finally {
        tf.dispose([batch.x, batch.y]);
      }
      const [nextLoss, nextCorrect] = next as [tf.Scalar, tf.Scalar];
      tf.dispose([lossSum, correct]);
      lossSum = nextLoss;
      correct = nextCorrect;
    }
    const n = dataset.count;
    return { accuracy: n ? correct.dataSync()[0]! / n : 0, loss: n ? lossSum.dataSync()[0]! / n : 0, count: n };
  } finally {
    tf.dispose([lossSum, correct]);
  }
}
