/**
 * The data config fields every format has: what the shared pipeline steps (limit, validation
 * split, resize, channels, preprocess, augmentation, streaming) read. Each format's schema is
 * its own fields merged with these.
 */
import { z } from 'zod';

const positiveInt = z.number().int().positive();

/** The preprocessing a config gets when it gives none (a model's recorded one replaces it: src/pipeline/model-metadata.ts). */
export const DEFAULT_PREPROCESS = { scale: 1 / 255, mean: [0], std: [1] } as const;

const preprocessSchema = z
  .strictObject({
    scale: z.number().positive().default(DEFAULT_PREPROCESS.scale).describe('multiplies the raw uint8 pixel values'),
    mean: z
      .array(z.number())
      .min(1)
      .default([...DEFAULT_PREPROCESS.mean])
      .describe('per-channel mean subtracted after scaling (one value = all channels)'),
    std: z
      .array(z.number().positive())
      .min(1)
      .default([...DEFAULT_PREPROCESS.std])
      .describe('per-channel std divided by after subtracting the mean'),
  })
  .describe(
    "default: the model's recorded preprocessing when it has one (slim writes it into every model it trains), else scale 1/255, mean [0], std [1]",
  );

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
  // What the images then need in memory is checked when the data is loaded (src/pipeline/fits.ts).
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
  classes: positiveInt
    .optional()
    .describe(
      'the class count when the labels are class indices (idx, npy, npz); default: the largest training label + 1, refused when most of 0..max never occurs (a stray label)',
    ),
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
