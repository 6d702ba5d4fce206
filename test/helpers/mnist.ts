/** MNIST loaded as a run loads it (a data config through prepareData), for tests that train on it. */
import assert from 'node:assert/strict';
import { dataSchema } from '../../src/config/schema.js';
import { Dataset, type Preprocess } from '../../src/data/dataset.js';
import { prepareData } from '../../src/pipeline/data.js';
import type { TrainOptions } from '../../src/train/options.js';

/** All 60000 training and 10000 test images, in memory and in file order (no validation split). */
export async function loadMnist(): Promise<{ train: Dataset; test: Dataset }> {
  const { train, test } = await prepareData(dataSchema.parse({ dataset: 'mnist', validationSplit: 0 }), 0);
  assert.ok(train instanceof Dataset && test instanceof Dataset, 'mnist loads into memory');
  return { train, test };
}

/** MNIST's usual normalisation (the quickstart's): pixels to [0, 1], then its mean and std. */
export const MNIST_PREPROCESS: Preprocess = { scale: 1 / 255, mean: [0.1307], std: [0.3081] };

/**
 * Training options of the tests that train on MNIST: SGD with momentum 0.9, weight decay 1e-4, a
 * ×0.1 step at each milestone and MNIST_PREPROCESS, plus what each test sets itself.
 */
export function mnistTrainOptions(
  own: Pick<TrainOptions, 'epochs' | 'batchSize' | 'lr' | 'milestones' | 'sparsityLambda' | 'seed'> & Partial<TrainOptions>,
): TrainOptions {
  return { momentum: 0.9, nesterov: false, weightDecay: 1e-4, gamma: 0.1, preprocess: MNIST_PREPROCESS, ...own };
}
