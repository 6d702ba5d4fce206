/**
 * slim as a library, for Node: `import { loadModel, planPrune, applyPrune } from 'slim'`.
 * Everything of the browser entry, plus what needs a file system: models by path, slim's data
 * config (IDX, CIFAR, .npy, image folders), and sweep. Never prints, never exits, never reads
 * process.argv; errors are the exported classes (their `kind` says which exit code the CLI uses).
 * Importing this module has no side effect: the backend is whatever tfjs has when a function runs.
 */
import { Writable } from 'node:stream';
import * as tf from '#tfjs';
import { z } from 'zod';
import { configSchema, dataSchema, type DataConfig } from '../config/schema.js';
import { Output } from '../io/output.js';
import { prepareData } from '../pipeline/data.js';
import { checkOutputs, loadLayersModel, shapeHintsOf } from '../pipeline/model.js';
import { writeModelAs } from '../pipeline/stages/export.js';
import type { WeightQuantization } from '../model/io-manifest.js';
import { sweepRatios, type SweepCurve } from '../pipeline/sweep.js';
import { roundModeSchema } from '../prune/plan-schema.js';
import { parseArgument } from './shared/args.js';
import { InputError } from './shared/errors.js';
import { artifactsOf, loadFromTfjs, requireLiveModel, type ModelInput } from './shared/model.js';
import {
  inMemoryDataset,
  sparsityTrain as sparsityTrainInMemory,
  sparsityTrainSchema,
  trainOn,
  type InMemoryData,
  type SparsityTrainOptions,
  type SparsityTrainResult,
} from './shared/train.js';

export * from './shared/surface.js';
export type { DataConfig } from '../config/schema.js';
export type { SweepCurve, SweepRow } from '../pipeline/sweep.js';

/**
 * A live model from a model.json path (or its folder, or a .keras / .h5 file), an http(s) URL,
 * tfjs model artifacts, or a tfjs IOHandler; checked as the CLI checks model files.
 */
export async function loadModel(source: string | URL | tf.io.ModelArtifacts | tf.io.IOHandler): Promise<tf.LayersModel> {
  const url = source instanceof URL ? source.href : typeof source === 'string' && /^https?:\/\//i.test(source) ? source : undefined;
  if (url !== undefined) return loadFromTfjs(tf.io.http(url), `loadModel: ${url}`);
  if (typeof source === 'string') return (await loadLayersModel(source)).model;
  if (typeof source === 'object' && source !== null && !(source instanceof URL)) return loadFromTfjs(source, 'loadModel: source');
  throw new InputError(`loadModel: source: expected a path, a URL, tfjs model artifacts or an IOHandler, got ${typeof source}`);
}

const saveOptionsSchema = z
  .strictObject({
    /** Replace a folder that holds more than a model slim wrote. */
    overwrite: z.boolean().default(false),
    /** Written beside the model as prune-plan.json (what `slim prune` writes). */
    plan: z.looseObject({ version: z.literal(1) }).optional(),
    /** Store these weights quantized (exportForInference's `quantized.quantization`). */
    quantization: z.custom<ReadonlyMap<string, WeightQuantization>>((v) => v instanceof Map, { error: 'expected a Map' }).optional(),
  })
  .optional();

export type SaveModelOptions = z.input<typeof saveOptionsSchema>;

/**
 * Writes a tfjs layers model folder (model.json + weights.bin) atomically, after checking that
 * stock tf.loadLayersModel reads it back; what `slim prune` and `slim export` write. No
 * @tensorflow/tfjs-node needed. Returns the model.json path.
 */
export async function saveModel(model: ModelInput, dir: string, options?: SaveModelOptions): Promise<string> {
  if (typeof dir !== 'string' || dir === '') throw new InputError('saveModel: dir: expected a folder path');
  const o = parseArgument(saveOptionsSchema, options, 'saveModel', 'options') ?? { overwrite: false };
  const artifacts = await artifactsOf(model, 'saveModel');
  const write = { overwrite: o.overwrite };
  await checkOutputs([dir], write);
  return writeModelAs(
    artifacts,
    { dir, write },
    {
      ...(o.plan !== undefined ? { sidecars: { 'prune-plan.json': `${JSON.stringify(o.plan, null, 2)}\n` } } : {}),
      ...(o.quantization !== undefined ? { quantization: o.quantization } : {}),
    },
  );
}

/** slim's data config (the `data` section of a config file), as sparsityTrain and sweep take it. */
function isDataConfig(data: unknown): data is DataConfig {
  return typeof data === 'object' && data !== null && 'dataset' in data;
}

function parseDataConfig(data: unknown, fn: string): DataConfig {
  return parseArgument(dataSchema, data, fn, 'data');
}

/**
 * Sparsity-trains `model` in place (task loss + λ·Σ|γ|), as `slim train` does. `data`: tensors
 * ({xs, ys}), a tf.data.Dataset of them, or slim's data config (its train split and preprocessing).
 */
export async function sparsityTrain(
  model: tf.LayersModel,
  data: InMemoryData | DataConfig,
  options?: SparsityTrainOptions,
): Promise<SparsityTrainResult> {
  if (!isDataConfig(data)) return sparsityTrainInMemory(model, data, options);
  const o = parseArgument(sparsityTrainSchema, options ?? {}, 'sparsityTrain', 'options');
  const config = parseDataConfig(data, 'sparsityTrain');
  const live = await requireLiveModel(model, 'sparsityTrain');
  const prepared = await prepareData(config, o.seed, shapeHintsOf(live));
  return trainOn(live, prepared.train, o, prepared.preprocess);
}

const sweepOptionsSchema = z.strictObject({
  ratios: z.array(z.number().min(0).lt(1)).min(1),
  /** Brief fine-tune per candidate before scoring (0 = score right after pruning). */
  finetuneEpochs: z.number().int().min(0).default(0),
  minChannels: z.number().int().positive().default(1),
  roundTo: z.number().int().positive().default(1),
  roundMode: roundModeSchema.optional(),
  importance: z.enum(['sum', 'mean', 'max']).default('mean'),
  seed: z.number().int().min(0).default(42),
  /** The fine-tune's hyper-parameters (a config file's `finetune` section). */
  finetune: z.record(z.string(), z.unknown()).optional(),
});

export type SweepOptions = z.input<typeof sweepOptionsSchema>;

/** A stream that drops everything: the library never prints. */
function silentOutput(): Output {
  const sink = () => new Writable({ write: (_chunk, _encoding, done) => done() });
  return new Output({ quiet: true, progress: false, stdout: sink(), stderr: sink() });
}

/**
 * Accuracy against prune ratio, as `slim sweep`: each ratio pruned from `model` (untouched), its
 * BatchNorm statistics recalibrated, optionally briefly fine-tuned, and scored on the validation
 * split (the test split when the data has none). `data`: slim's data config, or tensors
 * ({train, validation}: each {xs, ys}).
 */
export async function sweep(
  model: tf.LayersModel,
  data: DataConfig | { train: InMemoryData; validation?: InMemoryData },
  options: SweepOptions,
): Promise<SweepCurve> {
  const o = parseArgument(sweepOptionsSchema, options, 'sweep', 'options');
  const live = await requireLiveModel(model, 'sweep');
  const config = parseArgument(
    configSchema,
    { seed: o.seed, ...(isDataConfig(data) ? { data } : {}), ...(o.finetune !== undefined ? { finetune: o.finetune } : {}) },
    'sweep',
    'options',
  );
  const prune = { minChannels: o.minChannels, roundTo: o.roundTo, roundMode: o.roundMode, importance: o.importance };
  const prepared = isDataConfig(data)
    ? await prepareData(parseDataConfig(data, 'sweep'), o.seed, shapeHintsOf(live))
    : await preparedFromTensors(data, live);
  return sweepRatios(live, o.ratios, prune, prepared, { finetuneEpochs: o.finetuneEpochs, training: config }, silentOutput());
}

async function preparedFromTensors(data: { train?: InMemoryData; validation?: InMemoryData }, model: tf.LayersModel) {
  if (typeof data !== 'object' || data === null || data.train === undefined) {
    throw new InputError("sweep: data: expected slim's data config or {train, validation} tensors");
  }
  const train = await inMemoryDataset(data.train, model, 'sweep: data.train');
  const val = data.validation !== undefined ? await inMemoryDataset(data.validation, model, 'sweep: data.validation') : undefined;
  return {
    train,
    ...(val !== undefined ? { val } : {}),
    test: val ?? train,
    preprocess: { scale: 1, mean: [0], std: [1] },
    imageShape: train.imageShape,
    numClasses: train.numClasses,
    summary: `${train.count} train / ${val?.count ?? 0} val`,
  };
}
