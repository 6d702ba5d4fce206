/**
 * In-memory image classification dataset: uint8 (or float32) NHWC images + integer labels, and
 * optionally a label row per example (one-hot, soft or multi-hot, `targets`) used as the batch's y.
 * Float32 tensors exist only per batch, so memory holds the stored pixels plus a batch or two.
 */
import * as tf from '#tfjs';
import { InputError } from '../errors.js';
import {
  augmentDraw,
  checkBatchSize,
  countBatches,
  epochOrder,
  preprocessCoefficients,
  splitIndices,
  writeExample,
  type Augment,
  type Batch,
  type BatchOptions,
  type BatchSource,
  type PixelArray,
  type Preprocess,
} from './batch-source.js';

export { mixSeed, mulberry32 } from './random.js';
export type { Augment, Batch, BatchSource, Preprocess } from './batch-source.js';

/** Maps uint8 to [0, 1]. */
export const SCALE_ONLY: Preprocess = { scale: 1 / 255, mean: [0], std: [1] };

/** Images as stored: count × height × width × channels, row-major (NHWC). */
export interface ImageArray {
  count: number;
  height: number;
  width: number;
  channels: number;
  data: PixelArray;
}

export interface DatasetInit {
  images: ImageArray;
  labels: Uint8Array | Int32Array;
  /** Defaults to max(label) + 1 (the targets' width when they are given). */
  numClasses?: number;
  /**
   * count × numClasses label rows (one-hot, soft distributions, or 0/1 per class for multi-label
   * heads), given to the model as they are; `labels` then hold each row's arg-max.
   */
  targets?: Float32Array;
  name?: string;
  /** Applied to batches requested with `train: true` only. */
  augment?: Augment;
}

/** A new pixel array of the same type as `like`. */
export function allocPixels(like: PixelArray, length: number): PixelArray {
  return like instanceof Float32Array ? new Float32Array(length) : new Uint8Array(length);
}

/** Writes example `i`'s label row (its targets, or the one-hot of its label) as row `k` of `y`. */
export function writeTarget(
  y: Float32Array,
  k: number,
  rows: { numClasses: number; labels: ArrayLike<number>; targets?: Float32Array },
  i: number,
): void {
  const width = rows.numClasses;
  if (rows.targets !== undefined) y.set(rows.targets.subarray(i * width, (i + 1) * width), k * width);
  else y[k * width + rows.labels[i]] = 1;
}

export class Dataset implements BatchSource {
  readonly name: string;
  readonly count: number;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  readonly numClasses: number;
  /** count·h·w·c values, NHWC. */
  readonly images: PixelArray;
  readonly labels: Uint8Array | Int32Array;
  readonly targets?: Float32Array;
  readonly augment?: Augment;

  constructor(init: DatasetInit) {
    const { images, labels } = init;
    this.name = init.name ?? 'dataset';
    if (labels.length !== images.count) {
      throw new InputError(`${this.name}: ${labels.length} labels for ${images.count} images`);
    }
    const pixels = images.height * images.width * images.channels;
    if (images.data.length !== images.count * pixels) {
      throw new InputError(`${this.name}: image buffer has ${images.data.length} values, expected ${images.count * pixels}`);
    }
    let maxLabel = -1;
    for (let i = 0; i < labels.length; i++) {
      const l = labels[i];
      if (l < 0) throw new InputError(`${this.name}: label ${i} is negative (${l})`);
      if (l > maxLabel) maxLabel = l;
    }
    const width = init.targets !== undefined && images.count > 0 ? init.targets.length / images.count : undefined;
    this.numClasses = init.numClasses ?? width ?? maxLabel + 1;
    if (init.targets !== undefined && init.targets.length !== images.count * this.numClasses) {
      throw new InputError(`${this.name}: label rows have ${width} values, the data has ${this.numClasses} classes`);
    }
    if (maxLabel >= this.numClasses) {
      throw new InputError(`${this.name}: label ${maxLabel} does not fit numClasses ${this.numClasses}`);
    }
    this.count = images.count;
    this.height = images.height;
    this.width = images.width;
    this.channels = images.channels;
    this.images = images.data;
    this.labels = labels;
    this.targets = init.targets;
    this.augment = init.augment;
  }

  get imageShape(): [number, number, number] {
    return [this.height, this.width, this.channels];
  }

  private init(): DatasetInit {
    return {
      images: { count: this.count, height: this.height, width: this.width, channels: this.channels, data: this.images },
      labels: this.labels,
      numClasses: this.numClasses,
      targets: this.targets,
      name: this.name,
      augment: this.augment,
    };
  }

  /** The same examples (shared buffers) with this augmentation for training batches (undefined = none). */
  withAugment(augment: Augment | undefined): Dataset {
    return new Dataset({ ...this.init(), augment });
  }

  /** The same examples with a wider one-hot (e.g. to agree with the test split or the model). */
  withNumClasses(numClasses: number): Dataset {
    return numClasses === this.numClasses ? this : new Dataset({ ...this.init(), numClasses });
  }

  /** A new dataset holding the given examples, in the given order (copies the pixels). */
  subset(indices: ArrayLike<number>, name = this.name): Dataset {
    const pixels = this.height * this.width * this.channels;
    const data = allocPixels(this.images, indices.length * pixels);
    const labels = new Int32Array(indices.length);
    const width = this.numClasses;
    const targets = this.targets !== undefined ? new Float32Array(indices.length * width) : undefined;
    for (let k = 0; k < indices.length; k++) {
      const i = indices[k];
      if (i < 0 || i >= this.count) throw new RangeError(`${this.name}: index ${i} out of range 0..${this.count - 1}`);
      data.set(this.images.subarray(i * pixels, (i + 1) * pixels), k * pixels);
      labels[k] = this.labels[i]!;
      targets?.set(this.targets!.subarray(i * width, (i + 1) * width), k * width);
    }
    return new Dataset({
      ...this.init(),
      images: { count: indices.length, height: this.height, width: this.width, channels: this.channels, data },
      labels,
      targets,
      name,
    });
  }

  /**
   * `limit`: the FIRST k examples (deterministic and cheap; MNIST-style files are already mixed,
   * so a prefix is close to class-balanced). Returns this dataset when k >= count.
   */
  limit(k: number): Dataset {
    if (!Number.isInteger(k) || k <= 0) throw new InputError(`${this.name}: limit must be a positive integer, got ${k}`);
    if (k >= this.count) return this;
    const idx = new Uint32Array(k);
    for (let i = 0; i < k; i++) idx[i] = i;
    return this.subset(idx);
  }

  /**
   * Seeded random split: `valFraction` of the examples (rounded, at least 1 when > 0) go to val.
   * Both parts keep their original relative order. Val never carries the augmentation.
   */
  split(valFraction: number, seed: number): { train: Dataset; val: Dataset } {
    const { train, val } = splitIndices(this.count, valFraction, seed, this.name);
    return { train: this.subset(train, `${this.name}/train`), val: this.subset(val, `${this.name}/val`).withAugment(undefined) };
  }

  /** Number of batches `batches()` yields. */
  batchCount(batchSize: number, dropRemainder = false): number {
    return countBatches(this.count, batchSize, dropRemainder);
  }

  /** Example order for an epoch: identity, or a permutation seeded by (shuffleSeed, epoch). */
  order(shuffleSeed?: number, epoch = 0): Uint32Array {
    return epochOrder(this.count, shuffleSeed, epoch);
  }

  /**
   * Yields batches one at a time. Each batch's tensors belong to the caller, who must dispose
   * them before asking for many more (the generator keeps no reference to them).
   */
  *batches(options: BatchOptions): Generator<Batch> {
    const { batchSize, preprocess } = options;
    checkBatchSize(batchSize);
    const { mul, add } = preprocessCoefficients(preprocess, this.channels);
    const epoch = options.epoch ?? 0;
    const order = this.order(options.shuffleSeed, epoch);
    const augment = options.train ? this.augment : undefined;
    const shape = this.imageShape;
    const pixels = this.height * this.width * this.channels;
    const nBatches = this.batchCount(batchSize, options.dropRemainder);
    for (let b = 0; b < nBatches; b++) {
      const start = b * batchSize;
      const size = Math.min(batchSize, this.count - start);
      const x = new Float32Array(size * pixels);
      const y = new Float32Array(size * this.numClasses);
      for (let k = 0; k < size; k++) {
        const i = order[start + k];
        const draw = augment && augmentDraw(augment, epoch, i);
        writeExample(x, k * pixels, this.images, i * pixels, shape, mul, add, draw);
        writeTarget(y, k, this, i);
      }
      yield {
        x: tf.tensor4d(x, [size, this.height, this.width, this.channels]),
        y: tf.tensor2d(y, [size, this.numClasses]),
        size,
      };
    }
  }
}
