/** Config → datasets: source files, limits, validation split, and the preprocessing to apply per batch. */
import { InputError } from '../errors.js';
import { loadSource, type SourceSpec } from '../data/sources.js';
import type { Dataset, Preprocess } from '../data/dataset.js';
import type { DataConfig } from '../config/schema.js';

export interface PreparedData {
  train: Dataset;
  val?: Dataset;
  test: Dataset;
  preprocess: Preprocess;
  /** [h, w, c] */
  imageShape: [number, number, number];
  numClasses: number;
  /** One human line, e.g. "mnist: 54000 train / 6000 val / 10000 test, 28x28x1, 10 classes". */
  summary: string;
}

function sourceSpec(data: DataConfig): SourceSpec {
  if (data.dataset === 'idx') {
    return {
      kind: 'idx',
      trainImages: data.trainImages!,
      trainLabels: data.trainLabels!,
      testImages: data.testImages,
      testLabels: data.testLabels,
    };
  }
  return { kind: data.dataset };
}

export async function prepareData(data: DataConfig | undefined, seed: number): Promise<PreparedData> {
  if (data === undefined) {
    throw new InputError('config: data: required for training and evaluation (e.g. {"dataset": "mnist"}, or pass --dataset)');
  }
  const source = await loadSource(sourceSpec(data));
  if (source.test === undefined) throw new InputError(`dataset ${data.dataset}: a test split is required (testImages/testLabels)`);
  let train = source.train;
  let test = source.test;
  if (data.trainLimit !== undefined) train = train.limit(data.trainLimit);
  if (data.testLimit !== undefined) test = test.limit(data.testLimit);
  let val: Dataset | undefined;
  if (data.validationSplit > 0) ({ train, val } = train.split(data.validationSplit, seed));

  const channels = train.channels;
  const { preprocess } = data;
  for (const key of ['mean', 'std'] as const) {
    if (preprocess[key].length !== 1 && preprocess[key].length !== channels) {
      throw new InputError(`config: data.preprocess.${key}: has ${preprocess[key].length} values, the images have ${channels} channel(s)`);
    }
  }
  const summary =
    `${data.dataset}: ${train.count} train / ${val?.count ?? 0} val / ${test.count} test, ` +
    `${train.height}x${train.width}x${channels}, ${train.numClasses} classes`;
  return { train, val, test, preprocess, imageShape: train.imageShape, numClasses: train.numClasses, summary };
}
