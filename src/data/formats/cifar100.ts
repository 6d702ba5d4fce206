/** dataset "cifar100": the binary version of CIFAR-100 (train.bin, test.bin), fine or coarse labels. */
import { z } from 'zod';
import { cifarLayout, readCifarSplit } from '../cifar.js';
import { defineFormat } from './format.js';
import { requiredString } from './shared-fields.js';

export const cifar100Format = defineFormat(
  {
    dataset: z.literal('cifar100').describe('CIFAR-100, the binary version in data.dir'),
    dir: requiredString('cifar100').describe('folder of the binary batches (or its parent)'),
    labels: z.enum(['fine', 'coarse']).default('fine').describe('fine (100 classes) or coarse (20 superclasses) labels'),
  },
  (config) => {
    const layout = cifarLayout('cifar100', config.labels);
    return { form: 'arrays', numClasses: layout.numClasses, read: (split) => readCifarSplit('cifar100', config.dir, split, layout) };
  },
);
