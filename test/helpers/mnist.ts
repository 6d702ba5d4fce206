/** MNIST loaded as a run loads it (a data config through prepareData), for tests that train on it. */
import assert from 'node:assert/strict';
import { dataSchema } from '../../src/config/schema.js';
import { Dataset } from '../../src/data/dataset.js';
import { prepareData } from '../../src/pipeline/data.js';

/** All 60000 training and 10000 test images, in memory and in file order (no validation split). */
export async function loadMnist(): Promise<{ train: Dataset; test: Dataset }> {
  const { train, test } = await prepareData(dataSchema.parse({ dataset: 'mnist', validationSplit: 0 }), 0);
  assert.ok(train instanceof Dataset && test instanceof Dataset, 'mnist loads into memory');
  return { train, test };
}
