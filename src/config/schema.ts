/**
 * The single source of truth for slim's JSON config. Types come from z.infer; `slim schema`
 * prints the JSON Schema generated from here; unknown keys are errors (typos must not be ignored).
 */
import { z } from 'zod';
import { dataSchema } from '../data/formats/index.js';
import { hyperparameterFields, NESTEROV_MESSAGE, nesterovHasMomentum } from '../train/options.js';
import { RUNTIMES } from '../bench/runtime.js';
import { roundModeSchema } from '../prune/plan-schema.js';

const positiveInt = z.number().int().positive();
/** A layer width; what the built model can hold is checked against the data's shape (src/pipeline/fits.ts). */
const layerWidth = positiveInt;
const fraction = z.number().gt(0).lt(1);

export const backendSchema = z
  .enum(['auto', 'tensorflow', 'wasm', 'cpu'])
  .describe('auto tries @tensorflow/tfjs-node-gpu, then @tensorflow/tfjs-node, then wasm, then cpu');

const vggModelSchema = z.strictObject({
  type: z.literal('vgg'),
  cfg: z
    .array(z.union([layerWidth, z.literal('M'), z.literal('A')]))
    .min(1)
    .describe("conv widths (3x3 conv + BN + ReLU each); 'M' = 2x2 max pooling, 'A' = 2x2 average pooling"),
  head: z.enum(['gap', 'flatten']).default('gap').describe('gap: global average pooling + dense; flatten: flatten + dense'),
  hidden: z.array(layerWidth).default([]).describe('hidden dense widths of a flatten head (each with BN + ReLU)'),
  dropout: z.number().min(0).lt(1).default(0),
});

const fileModelSchema = z.strictObject({
  type: z.literal('file'),
  path: z.string().min(1).describe('model.json of a tfjs layers model, or its folder'),
  trained: z.boolean().default(true).describe('the model is already trained: run reports its accuracy as the baseline'),
});

export const modelSchema = z.discriminatedUnion('type', [vggModelSchema, fileModelSchema]);

/** The data section: a union with one variant per `dataset`, each declared by its format (src/data/formats/). */
export { dataSchema };

// The valid values come from src/train/options.ts (train() checks its options with the same schemas); defaults are the config's.
const optimizerFields = {
  epochs: z.number().int().min(0),
  batchSize: hyperparameterFields.batchSize.default(64),
  lr: hyperparameterFields.lr,
  momentum: hyperparameterFields.momentum.default(0.9),
  nesterov: hyperparameterFields.nesterov.default(false),
  weightDecay: hyperparameterFields.weightDecay.default(1e-4),
  milestones: z.array(fraction).default([0.5, 0.75]).describe('fractions of the epochs at which lr is multiplied by gamma'),
  gamma: z.number().gt(0).lte(1).default(0.1),
  bnMomentum: z
    .number()
    .gt(0)
    .lt(1, { error: 'must be below 1 (a BatchNorm momentum of 1 never updates the statistics)' })
    .optional()
    .describe(
      "BatchNorm momentum during this stage instead of the model's own (Keras applications save 0.999, which barely moves the statistics in a short run); the written model keeps its own",
    ),
};
const nesterovCheck = { message: NESTEROV_MESSAGE, path: ['nesterov'] };

const trainableSchema = z
  .enum(['all', 'bn', 'as-saved'])
  .describe(
    'what to unfreeze for this stage: all layers, only BatchNormalization, or keep the saved trainable flags; the written model keeps the saved flags',
  );

export const trainSchema = z
  .strictObject({
    ...optimizerFields,
    epochs: optimizerFields.epochs.default(10),
    lr: optimizerFields.lr.default(0.1),
    sparsity: z
      .union([hyperparameterFields.sparsity, z.literal('auto')], { error: "expected a number >= 0 or 'auto'" })
      .default(1e-4)
      .describe(
        "lambda of the L1 penalty on BatchNorm gamma (paper: 1e-4 VGG, 1e-5 ResNet/DenseNet); 'auto' = the lambda whose expected total shrink over the planned steps equals the median |gamma| (README: transfer learning)",
      ),
    trainable: trainableSchema.default('all'),
    addMissingScale: z
      .boolean()
      .default(true)
      .describe(
        'with sparsity > 0: give every BatchNormalization saved with scale: false a gamma of ones first (the same function), so it can be pruned',
      ),
  })
  .refine(nesterovHasMomentum, nesterovCheck);

export const finetuneSchema = z
  .strictObject({
    ...optimizerFields,
    trainable: trainableSchema.default('all'),
    epochs: optimizerFields.epochs.default(5),
    lr: optimizerFields.lr.default(0.01),
  })
  .refine(nesterovHasMomentum, nesterovCheck);

export const pretrainSchema = z
  .strictObject({
    ...optimizerFields,
    epochs: optimizerFields.epochs
      .default(0)
      .describe('plain training before sparsity training (0 = sparsity-train from scratch, as in the paper)'),
    lr: optimizerFields.lr.default(0.1),
  })
  .refine(nesterovHasMomentum, nesterovCheck);

export const runtimeSchema = z
  .enum(RUNTIMES)
  .describe('where a model is timed: node:<backend> in this process, chromium:<backend> in an installed Chromium or Chrome');

export const pruneSchema = z
  .strictObject({
    ratio: z.number().min(0).lt(1).optional().describe('fraction of all BatchNorm channels to remove (one global |gamma| threshold)'),
    threshold: z.number().min(0).optional().describe('remove channels whose importance is below this'),
    minChannels: positiveInt.default(1).describe('no layer keeps fewer channels than this'),
    roundTo: positiveInt.default(1).describe('round kept channel counts up to a multiple of this'),
    // Optional rather than defaulted: configs without it parse (and hash, for resumed runs) exactly as before.
    roundMode: roundModeSchema
      .optional()
      .describe(
        "how roundTo rounds each layer's kept count: up (the default: never keeps fewer channels than the ratio selects) or nearest " +
          '(down too: full SIMD tiles on wasm/CPU at about the MACs of roundTo 1; never below minChannels rounded up)',
      ),
    importance: z.enum(['sum', 'mean', 'max']).default('mean').describe('how a group with several BatchNorms combines their |gamma|'),
    maxAccuracyDrop: z
      .number()
      .min(0)
      .lt(100)
      .optional()
      .describe(
        'run: accuracy budget in percentage points (0.5 = half a point): the largest ratio whose briefly fine-tuned validation accuracy ' +
          "stays within this of the sparsity-trained model's, found by a 0.1-step sweep then bisection",
      ),
    searchEpochs: z
      .number()
      .int()
      .min(0)
      .optional()
      .describe(
        'fine-tune epochs per candidate ratio of the maxAccuracyDrop or minSpeedup search (default 1; 0 = judge candidates before fine-tuning)',
      ),
    minSpeedup: z
      .strictObject({
        factor: z.number().gt(0).describe('the speed-up the pruned model must reach: exported input model ms / exported candidate ms'),
        on: runtimeSchema.describe('the runtime the speed-up is measured on (as slim bench --runtime)'),
        batch: positiveInt.default(1).describe('batch size of the measurement'),
      })
      .optional()
      .describe(
        'run: speed budget: of the candidate ratios 0.1 ... 0.9, the one with the smallest accuracy loss whose measured speed-up on `on` ' +
          '(paired runs, bench.runs and bench.warmup) is at least `factor`; with maxAccuracyDrop both must hold',
      ),
  })
  .refine((p) => [p.ratio, p.threshold, p.maxAccuracyDrop].filter((v) => v !== undefined).length <= 1, {
    message: 'give one of ratio, threshold or maxAccuracyDrop, not several',
  })
  .refine((p) => p.minSpeedup === undefined || (p.ratio === undefined && p.threshold === undefined), {
    message: 'minSpeedup chooses the ratio: not with ratio or threshold (it combines with maxAccuracyDrop)',
    path: ['minSpeedup'],
  });

/** What a bench measures (config section `bench`, and `slim bench`'s defaults). */
export const benchSchema = z.strictObject({
  runtimes: z
    .array(runtimeSchema)
    .default(['node:wasm'])
    .describe('run: the runtimes the exported slim model is timed on against the exported input model; [] = no measurement'),
  batches: z.array(positiveInt).min(1).default([1, 32]).describe('batch sizes timed'),
  runs: positiveInt.default(20).describe('timed predicts per model, runtime and batch (after the warm-up)'),
  warmup: z.number().int().min(0).default(3).describe('untimed predicts per model before the timed ones (after the first)'),
});

export const configSchema = z.strictObject({
  $schema: z.string().optional(),
  seed: z.number().int().min(0).default(42),
  backend: backendSchema.default('auto'),
  // 'auto' (issue 14): 1 wherever replicas would not pay, so small models and the tensorflow backend run as before.
  replicas: hyperparameterFields.replicas
    .default('auto')
    .describe(
      'copies of the model training in parallel worker threads, one per core, in every training stage; only on the single-threaded wasm/cpu backends ' +
        "(tensorflow always uses 1), at most the core count; 'auto' = the count a model of the step time predicts fastest for this model and machine, " +
        '1 for small models (it says what it chose and why). BatchNorm then normalises each part of a batch with its own statistics',
    ),
  replicaSplit: hyperparameterFields.replicaSplit
    .default('equal')
    .describe(
      "how each batch's rows are split over the replicas: 'equal' (the same rows each; a run is bit-reproducible for a fixed seed and replica count) or " +
        "'speed' (in proportion to each replica's measured speed, so cores of unequal speed finish together; not bit-reproducible)",
    ),
  model: modelSchema.optional(),
  data: dataSchema.optional(),
  pretrain: pretrainSchema.prefault({}),
  train: trainSchema.prefault({}),
  prune: pruneSchema.prefault({}),
  finetune: finetuneSchema.prefault({}),
  export: z
    .strictObject({
      foldBatchNorm: z
        .boolean()
        .default(true)
        .describe('run: also write exported/, the fine-tuned model with BatchNorm folded into the layer before it (as slim export)'),
    })
    .prefault({}),
  bnRecalibration: z
    .strictObject({
      batches: z
        .number()
        .int()
        .min(0)
        .optional()
        .describe(
          'training batches whose average BatchNorm statistics replace the moving ones after every training stage and after pruning, before any evaluation (0 = off; default 8, or all the split has when fewer)',
        ),
    })
    .prefault({}),
  bench: benchSchema.prefault({}),
  out: z.string().optional().describe('output folder of run'),
  passes: positiveInt
    .max(10)
    .default(1)
    .describe(
      'run: repeat sparsity train -> prune -> fine-tune this many times, each pass on the previous fine-tuned model (the ratio applies to the channels still there)',
    ),
});

export type Config = z.infer<typeof configSchema>;
export type ModelConfig = z.infer<typeof modelSchema>;
export type { DataConfig } from '../data/formats/index.js';
export type PruneConfig = z.infer<typeof pruneSchema>;
export type Backend = z.infer<typeof backendSchema>;
export type BenchConfig = z.infer<typeof benchSchema>;

/** One model's timing on one runtime and batch size (src/bench/stats.ts). */
const benchTimingSchema = z.strictObject({
  runs: positiveInt,
  medianMs: z.number(),
  p10Ms: z.number(),
  p90Ms: z.number(),
  firstMs: z.number().describe('the first predict: load-time compile, shader and kernel warm-up'),
  peakBytes: z.number().nullable().describe('peak tensor bytes of one predict; null where the runtime does not report it'),
  cpuMedianMs: z
    .number()
    .optional()
    .describe(
      'median CPU time of one predict, ms: node:* this process (user + system), chromium:* the page main thread; absent where none is read (served:*)',
    ),
});

const benchModelSchema = z.strictObject({
  path: z.string(),
  params: z.number(),
  macs: z.number(),
  weightBytes: z.number(),
});

/** `slim bench --json`, and run.json's `bench`: one row per runtime and batch size. */
export const benchReportSchema = z.strictObject({
  model: benchModelSchema,
  baseline: benchModelSchema.nullable(),
  macsSpeedup: z.number().nullable().describe('baseline MACs / model MACs'),
  runs: positiveInt,
  warmup: z.number().int().min(0),
  seed: z.number().int(),
  inputShapes: z.array(z.array(positiveInt)),
  skipped: z.array(z.strictObject({ runtime: z.string(), reason: z.string(), fix: z.string() })),
  rows: z.array(
    z.strictObject({
      runtime: z
        .string()
        .describe("node:<backend> or chromium:<backend>; served:<backend> for a browser that opened `slim bench --serve`'s page"),
      batch: positiveInt,
      device: z.string(),
      software: z.boolean().describe('a software renderer: compare rows, not absolute times'),
      modelMs: z.number().describe('median ms of one predict of the model'),
      baselineMs: z.number().nullable(),
      speedup: z.number().nullable().describe('realised speed-up: median of baseline / model over the paired runs'),
      speedupP10: z.number().nullable(),
      speedupP90: z.number().nullable(),
      macsSpeedup: z.number().nullable(),
      realisedOverMacs: z.number().nullable().describe('speedup / macsSpeedup: the share of the MACs saving this runtime delivers'),
      cpuSpeedup: z
        .number()
        .optional()
        .describe('speed-up by CPU time: median of baseline / model over the paired runs; with a baseline, where cpuMedianMs is given'),
      model: benchTimingSchema,
      baseline: benchTimingSchema.nullable(),
      loadAverage: z.number().describe('1-minute load average of this machine when the row was measured'),
    }),
  ),
});
export type BenchReport = z.infer<typeof benchReportSchema>;
export type BenchRow = BenchReport['rows'][number];

/** JSON Schema for editors (`slim schema > slim.schema.json`). */
export function configJsonSchema(): unknown {
  return z.toJSONSchema(configSchema, { io: 'input', target: 'draft-2020-12' });
}

/** An accuracy and loss; atChance only when the score is at chance level (train/chance.ts). */
const splitScoreSchema = z.object({ accuracy: z.number(), loss: z.number(), atChance: z.literal(true).optional() });
/** A sweep row as a candidate of a plan folder stores it (loose: columns added later pass through). */
export const sweepRowSchema = z.looseObject({
  ...splitScoreSchema.shape,
  ratio: fraction,
  channels: z.object({ kept: z.number().int().min(0), removed: z.number().int().min(0) }),
  widths: z.array(z.number().int().min(0)),
  params: z.number().min(0),
  macs: z.number().min(0),
  finetuned: z.object({ ...splitScoreSchema.shape, epochs: z.number().int().min(0) }).optional(),
});

/** plan.json of a sweep plan folder (src/executors/plan.ts): everything a candidate's numbers depend on. */
export const sweepPlanSchema = z.strictObject({
  format: z.literal('slim-sweep-plan-1'),
  version: z.string(),
  /** Hash of the sparse model's topology and weights (sparse/ in the folder). */
  modelHash: z.string(),
  /** The model the plan was made from, as given. */
  source: z.string(),
  /** The working folder paths in the config are relative to (tasks run there). */
  cwd: z.string(),
  /** The resolved config: a concrete backend; replicas per candidate below. */
  config: z.unknown(),
  finetuneEpochs: z.number().int().min(0),
  /**
   * Round 1: the ratios given, or the accuracy budget's whole bracket. Later rounds: the bisection
   * candidates a gather of a budget plan found it needs (appended, never changed).
   */
  candidates: z.array(z.strictObject({ ratio: fraction, replicas: positiveInt, round: positiveInt.optional() })).min(1),
  /** An accuracy budget plan (slim sweep --max-drop, slim run --executor): gather chooses the ratio. */
  budget: z.strictObject({ maxAccuracyDrop: z.number().min(0), searchEpochs: z.number().int().min(0) }).optional(),
  split: z.enum(['val', 'test']),
  examples: z.number().int().min(0),
  baseline: z.object({ ...splitScoreSchema.shape, channels: z.number(), params: z.number(), macs: z.number() }),
  fingerprint: z.string(),
});

/** candidates/NNN/row.json: the row, written when the candidate finished (its model beside it). */
export const candidateFileSchema = z.strictObject({ row: sweepRowSchema, seconds: z.number().min(0) });
