/**
 * dataset "idx": your own IDX files (raw or gzipped ubyte), one images and one labels file per
 * split. Also the reader of the IDX presets (mnist, fashion-mnist), which only know where their
 * files are.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { InputError } from '../../errors.js';
import { readIdxPair } from '../idx.js';
import { defineFormat, splitKeys, type ArraysReader } from './format.js';
import { requiredString } from './shared-fields.js';

export interface IdxFiles {
  trainImages: string;
  trainLabels: string;
  testImages: string;
  testLabels: string;
}

/** The standard MNIST-style file names in `dir` (`suffix` '.gz' for gzipped copies). */
export function idxFilesIn(dir: string, suffix: string): IdxFiles {
  return {
    trainImages: join(dir, `train-images-idx3-ubyte${suffix}`),
    trainLabels: join(dir, `train-labels-idx1-ubyte${suffix}`),
    testImages: join(dir, `t10k-images-idx3-ubyte${suffix}`),
    testLabels: join(dir, `t10k-labels-idx1-ubyte${suffix}`),
  };
}

/** `files`, after checking every one exists: else `${missing}: <path>` (one error naming the fix). */
export function existingIdxFiles(files: IdxFiles, missing: string): IdxFiles {
  for (const file of [files.trainImages, files.trainLabels, files.testImages, files.testLabels]) {
    if (!existsSync(file)) throw new InputError(`${missing}: ${file}`);
  }
  return files;
}

/** Reads a split's images/labels pair (counts checked); labels name the split in later errors. */
export function idxReader(files: IdxFiles): ArraysReader {
  return {
    form: 'arrays',
    async read(split) {
      const keys = splitKeys(split);
      const { images, labels } = await readIdxPair(files[keys.images], files[keys.labels]);
      return { images, labels, file: files[keys.labels] };
    },
  };
}

const DATASET = 'idx';

export const idxFormat = defineFormat(
  {
    dataset: z.literal(DATASET).describe('your own IDX files (raw or gzipped)'),
    trainImages: requiredString(DATASET).describe('training images file'),
    trainLabels: requiredString(DATASET).describe('training labels file'),
    testImages: requiredString(DATASET).describe('test images file'),
    testLabels: requiredString(DATASET).describe('test labels file'),
  },
  ({ trainImages, trainLabels, testImages, testLabels }) =>
    idxReader(existingIdxFiles({ trainImages, trainLabels, testImages, testLabels }, 'dataset idx: file not found')),
);
