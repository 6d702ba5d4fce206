/**
 * sparsityTrain: slim's training loop (src/train/loop.ts: task loss + λ·Σ|γ|, SGD with momentum,
 * step schedule) on a live model, trained in place like model.fit. Data comes as tensors or a
 * tf.data.Dataset (both read into one in-memory dataset); the Node entry adds slim's data config.
 */
import * as tf from '#tfjs';
import * as z from 'zod';
import { InputError, ProblemError } from '../../errors.js';
import { Dataset, type BatchSource, type Preprocess } from '../../data/dataset.js';
import { autoLambda } from '../../train/lambda.js';
import { train, type BatchInfo, type EpochRecord } from '../../train/loop.js';
import { hyperparameterFields, nesterovHasMomentum, NESTEROV_MESSAGE } from '../../train/options.js';
import { findBnGammas } from '../../train/sparsity.js';
import { parseArgument } from './args.js';
import { requireLiveModel } from './model.js';

export type { BatchInfo, EpochRecord } from '../../train/loop.js';

/** Images (NHWC, already scaled as the model expects) and labels (one-hot rows, or class indices). */
export interface TensorData {
  xs: tf.Tensor;
  ys: tf.Tensor;
  [key: string]: tf.Tensor;
}

/** What sparsityTrain trains on in every entry: tensors, or a tf.data.Dataset of {xs, ys} (examples or batches). */
export type InMemoryData = TensorData | tf.data.Dataset<TensorData>;

const sparsityTrainSchema = z
  .strictObject({
    epochs: z.number().int().positive().default(1),
    batchSize: hyperparameterFields.batchSize.default(32),
    lr: hyperparameterFields.lr.default(0.01),
    momentum: hyperparameterFields.momentum.default(0.9),
    nesterov: hyperparameterFields.nesterov.default(false),
    weightDecay: hyperparameterFields.weightDecay.default(1e-4),
    milestones: z.array(z.number().gt(0).lt(1)).default([]),
    gamma: z.number().gt(0).lte(1).default(0.1),
    /** λ of the L1 penalty on BatchNorm γ, or 'auto' (sized from the model's median |γ| and the planned steps). */
    sparsity: z.union([hyperparameterFields.sparsity, z.literal('auto')], { error: "expected a number >= 0 or 'auto'" }).default(1e-4),
    seed: z.number().int().default(42),
    onProgress: z.custom<(info: BatchInfo) => void>((v) => typeof v === 'function', { error: 'expected a function' }).optional(),
    onEpoch: z.custom<(record: EpochRecord) => void>((v) => typeof v === 'function', { error: 'expected a function' }).optional(),
    signal: z.custom<AbortSignal>((v) => v instanceof AbortSignal, { error: 'expected an AbortSignal' }).optional(),
  })
  .refine(nesterovHasMomentum, { message: NESTEROV_MESSAGE, path: ['nesterov'] });

export type SparsityTrainOptions = z.input<typeof sparsityTrainSchema>;

export interface SparsityTrainResult {
  /** The λ used (the resolved one, for 'auto'). */
  lambda: number;
  /** One record per finished epoch (0-based `epoch`), with the BatchNorm |γ| summary. */
  epochs: EpochRecord[];
  /** The signal stopped the run (after the step under way); the model holds the weights reached. */
  aborted: boolean;
}

/** Already-scaled input: x passes through unchanged. */
const AS_GIVEN: Preprocess = { scale: 1, mean: [0], std: [1] };

/**
 * Sparsity-trains `model` in place on `data`. ProblemError when the model has no BatchNorm γ to
 * make sparse (with sparsity > 0) or training diverges; the model is then as the last step left it.
 */
export async function sparsityTrain(
  model: tf.LayersModel,
  data: InMemoryData,
  options?: SparsityTrainOptions,
): Promise<SparsityTrainResult> {
  const o = parseArgument(sparsityTrainSchema, options ?? {}, 'sparsityTrain', 'options');
  const live = await requireLiveModel(model, 'sparsityTrain');
  const source = await inMemoryDataset(data, live, 'sparsityTrain: data');
  return trainOn(live, source, o);
}

/** The loop on a prepared source (shared with the Node entry's data-config form). */
export async function trainOn(
  model: tf.LayersModel,
  source: BatchSource,
  o: z.output<typeof sparsityTrainSchema>,
  preprocess: Preprocess = AS_GIVEN,
): Promise<SparsityTrainResult> {
  const gammas = findBnGammas(model);
  if (o.sparsity !== 0 && gammas.length === 0) {
    throw new ProblemError('sparsityTrain: the model has no BatchNormalization gamma to make sparse (nothing to slim)');
  }
  const stepsPerEpoch = source.batchCount(o.batchSize);
  const lambda =
    o.sparsity === 'auto'
      ? autoLambda(
          gammas.flatMap(({ variable }) => Array.from(variable.read().dataSync(), Math.abs)),
          { ...o, stepsPerEpoch },
        )
      : o.sparsity;
  const result = await train(
    model,
    { train: source },
    {
      epochs: o.epochs,
      batchSize: o.batchSize,
      lr: o.lr,
      momentum: o.momentum,
      nesterov: o.nesterov,
      weightDecay: o.weightDecay,
      milestones: o.milestones,
      gamma: o.gamma,
      sparsityLambda: lambda,
      seed: o.seed,
      preprocess,
      ...(o.signal !== undefined ? { signal: o.signal } : {}),
    },
    { ...(o.onProgress !== undefined ? { onBatch: o.onProgress } : {}), ...(o.onEpoch !== undefined ? { onEpoch: o.onEpoch } : {}) },
  );
  return { lambda, epochs: result.epochs, aborted: result.interrupted !== undefined };
}

export { sparsityTrainSchema };

function isTfDataset(value: unknown): value is tf.data.Dataset<TensorData> {
  return typeof value === 'object' && value !== null && typeof (value as { iterator?: unknown }).iterator === 'function';
}

/** Tensors or a tf.data.Dataset → one in-memory Dataset (the caller keeps ownership of its tensors). */
export async function inMemoryDataset(data: unknown, model: tf.LayersModel, where: string): Promise<Dataset> {
  if (isTfDataset(data)) {
    const elements = await data.toArray();
    if (elements.length === 0) throw new InputError(`${where}: the tf.data.Dataset is empty`);
    const join = (key: 'xs' | 'ys'): tf.Tensor => {
      const parts = elements.map((e, i) => {
        const t = (e as unknown as Record<string, unknown> | undefined)?.[key];
        if (!(t instanceof tf.Tensor)) throw new InputError(`${where}: element ${i}: expected {xs, ys} tensors`);
        return t as tf.Tensor;
      });
      // Batched elements (xs of rank 4) are concatenated, single examples stacked.
      return elements[0].xs.rank === 4 ? tf.concat(parts) : tf.stack(parts);
    };
    const xs = join('xs');
    const ys = join('ys');
    try {
      return await datasetFromTensors(xs, ys, model, where);
    } finally {
      tf.dispose([xs, ys, ...elements.flatMap((e) => [e.xs, e.ys])]);
    }
  }
  const d = data as Partial<TensorData> | null;
  if (typeof d !== 'object' || d === null || !(d.xs instanceof tf.Tensor) || !(d.ys instanceof tf.Tensor)) {
    throw new InputError(`${where}: expected {xs, ys} tensors or a tf.data.Dataset of them`);
  }
  return datasetFromTensors(d.xs, d.ys, model, where);
}

async function datasetFromTensors(xs: tf.Tensor, ys: tf.Tensor, model: tf.LayersModel, where: string): Promise<Dataset> {
  if (xs.rank !== 4)
    throw new InputError(`${where}.xs: expected images of shape [count, height, width, channels], got [${xs.shape.join(', ')}]`);
  const [count, height, width, channels] = xs.shape as [number, number, number, number];
  if (ys.shape[0] !== count) throw new InputError(`${where}.ys: ${ys.shape[0]} labels for ${count} images`);
  const outputUnits = model.outputs[0].shape[model.outputs[0].shape.length - 1] ?? undefined;
  const images = { count, height, width, channels, data: Float32Array.from(await xs.data()) };
  if (ys.rank === 2) {
    const targets = Float32Array.from(await ys.data());
    const argMax = tf.tidy(() => ys.argMax(1));
    const labels = Int32Array.from(await argMax.data());
    argMax.dispose();
    return new Dataset({ images, labels, targets, name: where });
  }
  if (ys.rank !== 1)
    throw new InputError(`${where}.ys: expected one-hot rows [count, classes] or class indices [count], got [${ys.shape.join(', ')}]`);
  const labels = Int32Array.from(await ys.data());
  for (const [i, l] of labels.entries()) {
    if (!Number.isInteger(l) || l < 0) throw new InputError(`${where}.ys[${i}]: a class index must be an integer >= 0, got ${l}`);
  }
  return new Dataset({
    images,
    labels,
    ...(outputUnits !== undefined && outputUnits !== null ? { numClasses: outputUnits } : {}),
    name: where,
  });
}
