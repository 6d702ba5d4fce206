/** dataset "folder": image files in DIR/<class>/ (png, jpg, jpeg, webp), decoded by sharp. */
import { z } from 'zod';
import { listImageFolder } from '../folder.js';
import { defineFormat } from './format.js';
import { requiredString } from './shared-fields.js';

export const folderFormat = defineFormat(
  {
    dataset: z.literal('folder').describe('data.trainDir/<class>/*.png|jpg|jpeg|webp'),
    trainDir: requiredString('folder').describe('training images, one subfolder per class (sorted names = class indices)'),
    testDir: requiredString('folder').describe('test images, same class subfolder names'),
  },
  ({ trainDir, testDir }) => ({
    form: 'files',
    list: (split, classNames) => listImageFolder(split === 'train' ? trainDir : testDir, classNames),
  }),
);
