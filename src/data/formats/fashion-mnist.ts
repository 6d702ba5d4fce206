/** dataset "fashion-mnist": the gzipped IDX files of the Debian package dataset-fashion-mnist. */
import { z } from 'zod';
import { defineFormat } from './format.js';
import { existingIdxFiles, idxFilesIn, idxReader, type IdxFiles } from './idx.js';

export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

/** The four files in `dir` (checked, with the command that installs them). */
export function fashionMnistFiles(dir: string = FASHION_MNIST_DIR): IdxFiles {
  return existingIdxFiles(
    idxFilesIn(dir, '.gz'),
    `dataset fashion-mnist not found in ${dir}: run \`sudo apt-get install dataset-fashion-mnist\``,
  );
}

export const fashionMnistFormat = defineFormat(
  {
    dataset: z.literal('fashion-mnist').describe('the Debian package dataset-fashion-mnist'),
    dir: z.string().optional().describe(`the folder of the four .gz files, instead of ${FASHION_MNIST_DIR}`),
  },
  (config) => idxReader(fashionMnistFiles(config.dir)),
);
