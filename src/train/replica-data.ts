/**
 * The data path of data-parallel training (replicas.ts) for in-memory datasets: the stored pixels
 * (uint8 or float32) and labels are put in shared memory once, and every step each replica
 * decodes and normalises only ITS rows of the batch, in parallel, from the row indices it is sent
 * (a few hundred bytes a step instead of a float batch read back and copied on the main thread).
 *
 * Decoding is per example (src/data/batch-source.ts `writeExample`, augmentation drawn from
 * (augment seed, epoch, example index)), so a replica's rows are bitwise the rows the whole-batch
 * decode (Dataset.batches) would give it: the replicated run sees exactly the data it saw before,
 * whatever the replica count, and reruns with the same seed are bit-identical.
 */
import * as tf from '#tfjs';
import { augmentDraw, preprocessCoefficients, writeExample, type Augment, type PixelArray, type Preprocess } from '../data/batch-source.js';
import { writeTarget, type Dataset } from '../data/dataset.js';

/** A dataset's examples in shared memory plus how to decode them; given to every replica once. */
export interface SharedRows {
  images: PixelArray;
  labels: Int32Array;
  /** Label rows given as they are (dataset.ts DatasetInit.targets), when the data has them. */
  targets?: Float32Array;
  /** [h, w, c] of one example. */
  shape: [number, number, number];
  numClasses: number;
  /** Per-channel preprocess folded into x·mul + add. */
  mul: Float32Array;
  add: Float32Array;
  /** Training-batch augmentation (undefined = none). */
  augment?: Augment;
}

/** One step's batch as row indices into the shared examples (what the loop yields when the runner decodes rows). */
export interface RowBatch {
  size: number;
  /** Example indices of the batch's rows, in batch order. */
  indices: Uint32Array;
  epoch: number;
}

/** The shared copy of each dataset's pixels and labels: made once, reused by every training stage on that dataset. */
type SharedCopy = { images: PixelArray; labels: Int32Array; targets?: Float32Array };
const sharedCopies = new WeakMap<Dataset, SharedCopy>();

function sharedCopy(dataset: Dataset): SharedCopy {
  let copy = sharedCopies.get(dataset);
  if (copy === undefined) {
    const source = dataset.images;
    const bytes = new SharedArrayBuffer(Math.max(1, source.byteLength));
    const images = source instanceof Float32Array ? new Float32Array(bytes, 0, source.length) : new Uint8Array(bytes, 0, source.length);
    images.set(source);
    const labels = new Int32Array(new SharedArrayBuffer(Math.max(1, dataset.labels.length) * 4), 0, dataset.labels.length);
    labels.set(dataset.labels);
    copy = { images, labels };
    if (dataset.targets !== undefined) {
      copy.targets = new Float32Array(new SharedArrayBuffer(Math.max(1, dataset.targets.byteLength)), 0, dataset.targets.length);
      copy.targets.set(dataset.targets);
    }
    sharedCopies.set(dataset, copy);
  }
  return copy;
}

/** `dataset`'s training rows in shared memory, decoded with `preprocess` and the dataset's augmentation. */
export function shareRows(dataset: Dataset, preprocess: Preprocess): SharedRows {
  const { mul, add } = preprocessCoefficients(preprocess, dataset.channels);
  return { ...sharedCopy(dataset), shape: dataset.imageShape, numClasses: dataset.numClasses, mul, add, augment: dataset.augment };
}

/**
 * The batches of one epoch as row indices: the same order and sizes as `Dataset.batches` with
 * the same options (its seeded epoch order), without decoding anything.
 */
export function* rowBatches(
  dataset: Dataset,
  options: { batchSize: number; shuffleSeed: number; epoch: number; dropRemainder?: boolean },
): Generator<RowBatch> {
  const order = dataset.order(options.shuffleSeed, options.epoch);
  const count = dataset.batchCount(options.batchSize, options.dropRemainder);
  for (let b = 0; b < count; b++) {
    const start = b * options.batchSize;
    const size = Math.min(options.batchSize, dataset.count - start);
    yield { size, indices: order.subarray(start, start + size), epoch: options.epoch };
  }
}

/** Decodes examples `indices` (of `epoch`, for the augmentation draw) into new float x and one-hot y arrays. */
export function decodeRows(rows: SharedRows, indices: ArrayLike<number>, epoch: number): { x: Float32Array; y: Float32Array } {
  const [h, w, c] = rows.shape;
  const pixels = h * w * c;
  const x = new Float32Array(indices.length * pixels);
  const y = new Float32Array(indices.length * rows.numClasses);
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k];
    const draw = rows.augment && augmentDraw(rows.augment, epoch, i);
    writeExample(x, k * pixels, rows.images, i * pixels, rows.shape, rows.mul, rows.add, draw);
    writeTarget(y, k, rows, i);
  }
  return { x, y };
}

/** The same rows as tensors (the caller disposes them). */
export function decodeRowTensors(rows: SharedRows, indices: ArrayLike<number>, epoch: number): { x: tf.Tensor4D; y: tf.Tensor2D } {
  const { x, y } = decodeRows(rows, indices, epoch);
  const [h, w, c] = rows.shape;
  return { x: tf.tensor4d(x, [indices.length, h, w, c]), y: tf.tensor2d(y, [indices.length, rows.numClasses]) };
}
