/** dataset "npy": one .npy file per split for the images (uint8/float32, NHW or NHWC) and one for the labels. */
import { z } from 'zod';
import { npySplit, readNpy } from '../npy.js';
import { defineFormat, splitKeys } from './format.js';
import { requiredString } from './shared-fields.js';

const DATASET = 'npy';

export const npyFormat = defineFormat(
  {
    dataset: z.literal(DATASET).describe('.npy files'),
    trainImages: requiredString(DATASET).describe('training images file'),
    trainLabels: requiredString(DATASET).describe('training labels file'),
    testImages: requiredString(DATASET).describe('test images file'),
    testLabels: requiredString(DATASET).describe('test labels file'),
  },
  (config) => ({
    form: 'arrays',
    async read(split) {
      const keys = splitKeys(split);
      const imagesFile = config[keys.images];
      const labelsFile = config[keys.labels];
      const [imagesArr, labelsArr] = await Promise.all([readNpy(imagesFile), readNpy(labelsFile)]);
      return npySplit(imagesArr, labelsArr, imagesFile, labelsFile);
    },
  }),
);
