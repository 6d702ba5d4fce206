/** dataset "cifar10": the binary version of CIFAR-10 (data_batch_1..5.bin, test_batch.bin). */
import { z } from 'zod';
import { cifarLayout, readCifarSplit } from '../cifar.js';
import { defineFormat } from './format.js';
import { requiredString } from './shared-fields.js';

export const cifar10Format = defineFormat(
  {
    dataset: z.literal('cifar10').describe('CIFAR-10, the binary version in data.dir'),
    dir: requiredString('cifar10').describe('folder of the binary batches (or its parent)'),
  },
  (config) => {
    const layout = cifarLayout('cifar10');
    return { form: 'arrays', numClasses: layout.numClasses, read: (split) => readCifarSplit('cifar10', config.dir, split, layout) };
  },
);
