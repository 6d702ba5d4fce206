/**
 * The shapes of the JSON documents slim writes: each command's --json document, run.json and
 * prune-plan.json. Every one carries `schemaVersion`; `slim schema --output NAME` prints the JSON
 * Schema generated from these, and the commands build their documents through `versioned`, whose
 * type is the schema's, so the code and the printed schema cannot drift apart.
 */
import { z } from 'zod';
import { prunePlanSchema, schemaVersionField, SCHEMA_VERSION } from '../prune/plan-schema.js';
import { benchReportSchema } from './schema.js';

export { SCHEMA_VERSION };

const count = z.number().int().min(0);
const fraction01 = z.number().min(0).max(1);
const outputShape = z.union([z.array(z.number().nullable()), z.array(z.array(z.number().nullable()))]);

const modelTotals = {
  model: z.string(),
  params: z.strictObject({ total: count, trainable: count, nonTrainable: count }),
  macs: z.number(),
  flops: z.number(),
};

/** `slim report --json` (and the `report` of prune --json and run.json). */
const reportSchema = z.strictObject({
  ...modelTotals,
  convention: z.string(),
  layers: z.array(
    z.strictObject({
      name: z.string(),
      className: z.string(),
      outputShape,
      params: count,
      trainable: count,
      macs: z.number(),
      flops: z.number(),
      baseline: z.strictObject({ params: count, macs: z.number(), outputShape }).nullable().optional(),
    }),
  ),
  byType: z.array(
    z.strictObject({
      className: z.string(),
      layers: count,
      params: count,
      macs: z.number(),
      baseline: z.strictObject({ layers: count, params: count, macs: z.number() }).optional(),
    }),
  ),
  walls: z.array(z.strictObject({ layer: z.string(), className: z.string(), reason: z.string() })),
  baseline: z.strictObject(modelTotals).optional(),
  reduction: z
    .strictObject({ params: z.number(), macs: z.number(), flops: z.number() })
    .optional()
    .describe('fractions removed relative to the baseline (negative if the model grew)'),
  theoreticalSpeedup: z.number().optional().describe('baseline MACs / model MACs'),
});

const splitScore = {
  accuracy: fraction01,
  loss: z.number(),
  atChance: z.literal(true).optional().describe('the accuracy is at chance level'),
};

const sweepRow = z.strictObject({
  ...splitScore,
  ratio: z.number(),
  channels: z.strictObject({ kept: count, removed: count }),
  widths: z.array(count),
  params: count,
  macs: z.number(),
  finetuned: z.strictObject({ ...splitScore, epochs: count }).optional(),
  latency: z
    .strictObject({ runtime: z.string(), batch: z.number().int(), ms: z.number(), baselineMs: z.number(), speedup: z.number() })
    .optional(),
});

const sweepBody = {
  model: z.string(),
  split: z.enum(['val', 'test']),
  examples: count,
  baseline: z.strictObject({ ...splitScore, channels: count, params: count, macs: z.number() }),
  rows: z.array(sweepRow),
  seconds: z.number(),
};

const budgetSchema = z.strictObject({
  maxAccuracyDrop: z.number(),
  split: z.enum(['val', 'test']),
  searchEpochs: count,
  reference: z.strictObject(splitScore),
  candidates: z.array(
    sweepRow.extend({
      phase: z.enum(['bracket', 'bisect']),
      judged: z.number(),
      drop: z.number(),
      withinBudget: z.boolean(),
      sameAs: z.number().optional(),
    }),
  ),
  ratio: z.number(),
  reason: z.string(),
});

const epochRecord = z.strictObject({
  epoch: count,
  lr: z.number(),
  loss: z.number(),
  trainAccuracy: z.number(),
  valAccuracy: z.number().optional(),
  valLoss: z.number().optional(),
  imagesPerSecond: z.number(),
  seconds: z.number(),
  gamma: z.strictObject({ count, meanAbs: z.number(), below1e2: z.number(), below1e3: z.number() }),
});

const stageNames = z.enum(['baseline', 'sparse', 'pruned', 'finetuned']);

/** run.json and `slim run --json` (the same document). */
const runSchema = z.strictObject({
  backend: z.strictObject({ name: z.string(), gpu: z.boolean(), detail: z.string() }),
  data: z.string(),
  out: z.string(),
  models: z.strictObject({
    input: z.string(),
    pretrained: z.string().optional(),
    sparse: z.string(),
    pruned: z.string(),
    finetuned: z.string(),
    exported: z.string().optional(),
  }),
  accuracy: z.strictObject({ baseline: fraction01.optional(), sparse: fraction01, pruned: fraction01, finetuned: fraction01 }),
  chanceLevel: z.array(stageNames),
  prune: prunePlanSchema
    .pick({ threshold: true, ratio: true, candidateChannels: true, prunedChannels: true, walls: true, keptWhole: true })
    .extend({ foldedChannels: count }),
  passes: z.array(
    z.strictObject({
      pass: z.number().int().positive(),
      ratio: z.number().nullable(),
      threshold: z.number(),
      channels: z.strictObject({ before: count, after: count }),
      widths: z.array(count),
      params: count,
      macs: z.number(),
      accuracy: z.strictObject({ sparse: fraction01, pruned: fraction01, finetuned: fraction01 }),
      models: z.strictObject({ sparse: z.string(), pruned: z.string(), finetuned: z.string() }),
      budget: budgetSchema.optional(),
    }),
  ),
  sweep: z.array(z.strictObject({ ratio: z.number(), macs: z.number(), accuracy: fraction01 })).optional(),
  sweepSplit: z.enum(['val', 'test']).optional(),
  report: reportSchema,
  bench: benchReportSchema.optional(),
  seconds: z.record(z.string(), z.number()),
});

const biasFold = z.strictObject({
  group: z.number().int(),
  groups: z.array(z.number().int()),
  layer: z.string(),
  into: z.string().describe("'<layer>/bias', or '<next BN>/moving_mean' for a consumer without bias"),
  channels: count,
  maxAbsBiasChange: z.number(),
  sumAbsBiasChange: z.number(),
});
/** The written model's outputs against the original's on a seeded random batch. */
const exportCheck = z.strictObject({
  backend: z.string(),
  batchSize: z.number().int(),
  seed: z.number().int(),
  maxAbsDiff: z.number(),
  maxAbsOutput: z.number(),
  tolerance: z.number(),
});
const weightBytes = z.strictObject({ raw: count, gzip: count });
const unfolded = z.strictObject({ group: z.number().int(), layer: z.string(), channels: count, reason: z.string() });

/** Every document by the name `slim schema --output NAME` takes; `versioned` adds schemaVersion to the body. */
const bodies = {
  run: runSchema,
  'prune-plan': prunePlanSchema.omit({ schemaVersion: true }),
  prune: z.strictObject({
    model: z.string().describe('the pruned model written'),
    plan: prunePlanSchema,
    folds: z.array(biasFold).describe("removed channels' constant outputs folded into the next layer's bias"),
    foldSummary: z.strictObject({
      foldedChannels: count,
      foldedLayers: count,
      sumAbsBiasChange: z.number(),
      maxAbsBiasChange: z.number(),
      unfoldedChannels: count,
    }),
    unfolded: z.array(unfolded),
    report: reportSchema,
  }),
  report: reportSchema.extend({ bench: benchReportSchema.optional() }),
  eval: z.strictObject({
    model: z.string(),
    backend: z.string(),
    data: z.string(),
    count,
    top1: fraction01,
    top5: fraction01.optional().describe('only when the model has more than 5 classes'),
    loss: z.number(),
    numClasses: z.number().int().positive(),
    classNames: z.array(z.string()).optional(),
    confusion: z.array(z.array(count)).describe('confusion[true class][predicted class] = count'),
    seconds: z.number(),
  }),
  train: z
    .strictObject({
      model: z.string(),
      backend: z.string(),
      testAccuracy: fraction01,
      seconds: z.number(),
      epochs: z.array(epochRecord),
    })
    .describe('slim train --json and slim finetune --json'),
  export: z.strictObject({
    model: z.string(),
    folded: z.array(z.strictObject({ bn: z.string(), into: z.string() })),
    skipped: z.array(z.strictObject({ bn: z.string(), reason: z.string() })),
    rewrites: z
      .array(
        z.strictObject({
          kind: z.enum(['fused', 'dropped', 'as-conv']),
          layer: z.string(),
          className: z.string(),
          into: z.string().optional(),
          activation: z.string().optional(),
          kernelSize: z.array(z.number().int().positive()).optional().describe('as-conv: the Conv2D kernel [H, W] the Dense became'),
          absorbed: z.string().optional().describe('as-conv: the Flatten the first conv of a chain took over'),
        }),
      )
      .optional(),
    check: exportCheck.optional(),
    quantization: z.strictObject({ weights: z.record(z.string(), z.unknown()), maxWeightError: z.number(), check: exportCheck }).optional(),
    inputQuantized: z.string().optional().describe("how the input file's weights were stored (read back dequantized)"),
    weightBytes: z.strictObject({ before: weightBytes, after: weightBytes }).optional(),
    accuracy: z.strictObject({ before: z.number(), after: z.number(), dropPoints: z.number(), examples: count }).optional(),
    graph: z.strictObject({ nodes: count, ops: z.record(z.string(), count), check: exportCheck, weightBytes: weightBytes }).optional(),
    params: z.strictObject({ before: count, after: count }).optional(),
  }),
  sweep: z.strictObject(sweepBody),
  'sweep-shard': z
    .strictObject({ computed: z.array(count), skipped: z.array(count), failed: z.array(count) })
    .describe('slim sweep --plan DIR --shard I/N --json: the candidates this shard computed, found done, and failed'),
  bench: benchReportSchema,
  doctor: z.strictObject({
    node: z.string(),
    tfjs: z.strictObject({ tfjs: z.string(), core: z.string() }),
    backends: z.array(
      z.strictObject({
        package: z.string(),
        status: z.enum(['works', 'fails', 'not installed', 'not tried']),
        detail: z.string(),
        gpu: z.boolean().optional(),
      }),
    ),
    best: z.strictObject({ package: z.string(), detail: z.string(), gpu: z.boolean() }),
    gpuPackage: z.strictObject({
      installed: z.boolean(),
      version: z.string().optional(),
      coreVersion: z.string().optional(),
      coreMatches: z.boolean().optional(),
    }),
    nvidia: z.strictObject({
      present: z.boolean(),
      gpus: z.array(z.string()),
      driver: z.string().optional(),
      driverCuda: z.string().optional(),
      error: z.string().optional(),
    }),
    cudaLibraries: z.strictObject({
      required: z.array(
        z.strictObject({
          name: z.string(),
          found: z.array(z.strictObject({ name: z.string(), path: z.string(), source: z.enum(['ldconfig', 'LD_LIBRARY_PATH', 'folder']) })),
          visible: z.boolean(),
        }),
      ),
      versionsPresent: z.array(z.string()),
      searched: z.array(z.string()),
    }),
    verdict: z.strictObject({ gpuUsable: z.boolean(), summary: z.string(), fixes: z.array(z.string()) }),
    exitCode: z.union([z.literal(0), z.literal(1)]),
  }),
  version: z.strictObject({ version: z.string() }).describe('slim --version --json'),
};

export type OutputName = keyof typeof bodies;
export const OUTPUT_NAMES = Object.keys(bodies) as OutputName[];

/** A document's body as the code builds it (its schema's input type, schemaVersion left out). */
export type OutputBody<N extends OutputName> = z.input<(typeof bodies)[N]>;

/** The full document of `name`: schemaVersion first, then the body. */
export function outputSchema(name: OutputName): z.ZodType {
  const body = bodies[name];
  if (name === 'prune-plan') return prunePlanSchema;
  const document = z.strictObject({ schemaVersion: schemaVersionField, ...body.shape });
  return body.description !== undefined ? document.describe(body.description) : document;
}

/** The document `name` as written: schemaVersion first, then `body` (typed by the schema). */
export function versioned<N extends OutputName>(name: N, body: OutputBody<N>): { schemaVersion: typeof SCHEMA_VERSION } & OutputBody<N> {
  void name;
  return { schemaVersion: SCHEMA_VERSION, ...body };
}

/** `slim schema --output NAME`: the JSON Schema of one document. */
export function outputJsonSchema(name: OutputName): unknown {
  return z.toJSONSchema(outputSchema(name), { io: 'output', target: 'draft-2020-12' });
}
