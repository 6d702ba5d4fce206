/** dataset "npz": one .npz archive holding the four arrays (Keras names by default). */
import { z } from 'zod';
import { npySplit, readNpz } from '../npy.js';
import { defineFormat, splitKeys } from './format.js';
import { requiredString } from './shared-fields.js';

export const npzFormat = defineFormat(
  {
    dataset: z.literal('npz').describe('one .npz (data.file)'),
    file: requiredString('npz').describe('the archive'),
    keys: z
      .strictObject({
        trainImages: z.string().default('x_train'),
        trainLabels: z.string().default('y_train'),
        testImages: z.string().default('x_test'),
        testLabels: z.string().default('y_test'),
      })
      .prefault({})
      .describe('array names inside the archive (Keras convention by default)'),
  },
  ({ file, keys }) => ({
    form: 'arrays',
    async read(split) {
      const imagesName = keys[splitKeys(split).images];
      const labelsName = keys[splitKeys(split).labels];
      const [imagesArr, labelsArr] = await readNpz(file, [imagesName, labelsName]);
      return npySplit(imagesArr, labelsArr, `${file}:${imagesName}`, `${file}:${labelsName}`);
    },
  }),
);
