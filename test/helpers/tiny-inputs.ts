/**
 * The smallest valid inputs of every command, written into a folder: the fuzz corpus's tiny model
 * (two prunable groups, 8x8x1 input) and its .npy dataset with a config that trains in about a
 * second on the cpu backend. For tests that run the built binary many times.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { npyDataConfig, writeNpyDataset } from '../fuzz/corpus-data.js';
import { sequentialModel, writeRawModel } from '../fuzz/fixtures.js';

export interface TinyInputs {
  /** Folder of a valid layers model (model.json + weights.bin). */
  model: string;
  /** A config: npy data, cpu backend, one epoch per stage, prune ratio 0.5. */
  config: string;
  /** The same config with a built-in VGG model, for `slim run`. */
  runConfig: string;
}

export async function writeTinyInputs(dir: string): Promise<TinyInputs> {
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
  await mkdir(dir, { recursive: true });
  const model = path.dirname(await writeRawModel(path.join(dir, 'model'), await sequentialModel()));
  const npy = path.join(dir, 'npy');
  await writeNpyDataset(npy);
  const base = {
    seed: 1,
    backend: 'cpu',
    data: npyDataConfig(npy),
    train: { epochs: 1, batchSize: 16 },
    finetune: { epochs: 1, batchSize: 16 },
    prune: { ratio: 0.5 },
  };
  const config = path.join(dir, 'config.json');
  await writeFile(config, JSON.stringify(base));
  const runConfig = path.join(dir, 'run-config.json');
  await writeFile(runConfig, JSON.stringify({ ...base, model: { type: 'vgg', cfg: [2] }, export: { foldBatchNorm: false } }));
  return { model, config, runConfig };
}
