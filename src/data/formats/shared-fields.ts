/**
 * The data config fields every format has: what the shared pipeline steps (limit, validation
 * split, resize, channels, preprocess, augmentation, streaming) read. Each format's schema is
 * its own fields merged with these.
 */
import { z } from 'zod';

const positiveInt = z.number().int().positive();

const preprocessSchema = z.strictObject({
  scale: z
    .number()
    .positive()
    .default(1 / 255)
    .describe('multiplies the raw uint8 pixel values'),
  mean: z.array(z.number()).min(1).default([0]).describe('per-channel mean subtracted after scaling (one value = all channels)'),
  std: z.array(z.number().positive()).min(1).default([1]).describe('per-channel std divided by after subtracting the mean'),
});

const augmentSchema = z.strictObject({
  pad: z
    .number()
    .int()
    .min(0)
    .default(0)
    .describe('random crop after zero-padding this many pixels per side (paper, CIFAR: 4); 0 = no crop'),
  flip: z.boolean().default(false).describe('random horizontal flip (paper, CIFAR: true)'),
});

export const sharedDataFields = {
  resize: z
    .tuple([positiveInt, positiveInt])
    .optional()
    .describe(
      '[height, width] every image is resized to (bilinear; folders via sharp, fit fill); default: keep, and folder images must all have one size',
    ),
  channels: z
    .union([z.literal(1), z.literal(3)])
    .optional()
    .describe('convert to gray (1) or RGB (3); default: as stored (folders: as the first image)'),
  stream: z.boolean().default(false).describe('folder: decode batches on the fly instead of loading every image into memory'),
  prefetch: positiveInt.default(2).describe('folder with stream: batches decoded ahead in the background (bounds memory)'),
  augment: augmentSchema.prefault({}).describe('training batches only; never validation/test'),
  validationSplit: z.number().min(0).lt(1).default(0.1).describe('fraction of the training set held out for validation'),
  trainLimit: positiveInt.optional().describe('use only this many training images (the first N; folders: a seeded subset)'),
  testLimit: positiveInt.optional().describe('evaluate on only this many test images (same rule)'),
  preprocess: preprocessSchema.prefault({}),
};

/**
 * A path (or name) a format cannot do without. Missing, it says which dataset needs it (the
 * config loader puts the config path in front, e.g. `data.trainImages: required when ...`).
 */
export function requiredString(dataset: string) {
  return z.string({ error: (issue) => (issue.input === undefined ? `required when dataset is "${dataset}"` : undefined) });
}
