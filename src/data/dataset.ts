/**
 * In-memory image classification dataset: uint8 NHWC images + integer labels.
 * Float32 tensors exist only per batch, so memory holds the uint8 data plus a batch or two.
 */
import * as tf from '@tensorflow/tfjs';
import { InputError } from '../errors.js';
import type { IdxImages } from './idx.js';

/** Per-batch preprocessing: x = (u8 * scale - mean[c]) / std[c]; mean/std of length 1 apply to every channel. */
export interface Preprocess {
  scale: number;
  mean: number[];
  std: number[];
}

/** Maps uint8 to [0, 1]. */
export const SCALE_ONLY: Preprocess = { scale: 1 / 255, mean: [0], std: [1] };

/** One batch. The consumer owns x and y and must dispose them (e.g. `tf.dispose([b.x, b.y])`). */
export interface Batch {
  x: tf.Tensor4D;
  /** One-hot float32 labels, shape [size, numClasses]. */
  y: tf.Tensor2D;
  size: number;
}

export interface BatchOptions {
  batchSize: number;
  preprocess: Preprocess;
  /** Shuffle with this seed (the order also depends on `epoch`); omit for the stored order. */
  shuffleSeed?: number;
  epoch?: number;
  /** Drop a last batch smaller than batchSize (default false). */
  dropRemainder?: boolean;
}

/** mulberry32: a tiny, fast 32-bit PRNG; same seed → same stream on every platform and backend. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Mixes several integers into one 32-bit seed (so (seed, epoch) pairs give unrelated streams). */
export function mixSeed(...parts: number[]): number {
  let h = 0x811c9dc5;
  for (const p of parts) {
    h = Math.imul(h ^ (p >>> 0), 0x01000193) >>> 0;
    h = Math.imul(h ^ (h >>> 13), 0x5bd1e995) >>> 0;
  }
  return h >>> 0;
}

/** Seeded Fisher–Yates permutation of 0..n-1. */
export function permutation(n: number, seed: number): Uint32Array {
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const rand = mulberry32(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  return order;
}

export interface DatasetInit {
  images: IdxImages;
  labels: Uint8Array | Int32Array;
  /** Defaults to max(label) + 1. */
  numClasses?: number;
  name?: string;
}

export class Dataset {
  readonly name: string;
  readonly count: number;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  readonly numClasses: number;
  /** count·h·w·c bytes, NHWC. */
  readonly images: Uint8Array;
  readonly labels: Uint8Array | Int32Array;

  constructor(init: DatasetInit) {
    const { images, labels } = init;
    this.name = init.name ?? 'dataset';
    if (labels.length !== images.count) {
      throw new InputError(`${this.name}: ${labels.length} labels for ${images.count} images`);
    }
    const pixels = images.height * images.width * images.channels;
    if (images.data.length !== images.count * pixels) {
      throw new InputError(`${this.name}: image buffer has ${images.data.length} bytes, expected ${images.count * pixels}`);
    }
    let maxLabel = -1;
    for (let i = 0; i < labels.length; i++) {
      const l = labels[i]!;
      if (l < 0) throw new InputError(`${this.name}: label ${i} is negative (${l})`);
      if (l > maxLabel) maxLabel = l;
    }
    this.numClasses = init.numClasses ?? maxLabel + 1;
    if (maxLabel >= this.numClasses) {
      throw new InputError(`${this.name}: label ${maxLabel} does not fit numClasses ${this.numClasses}`);
    }
    this.count = images.count;
    this.height = images.height;
    this.width = images.width;
    this.channels = images.channels;
    this.images = images.data;
    this.labels = labels;
  }

  get imageShape(): [number, number, number] {
    return [this.height, this.width, this.channels];
  }

  /** A new dataset holding the given examples, in the given order (copies the bytes). */
  subset(indices: ArrayLike<number>, name = this.name): Dataset {
    const pixels = this.height * this.width * this.channels;
    const data = new Uint8Array(indices.length * pixels);
    const labels = new Int32Array(indices.length);
    for (let k = 0; k < indices.length; k++) {
      const i = indices[k]!;
      if (i < 0 || i >= this.count) throw new RangeError(`${this.name}: index ${i} out of range 0..${this.count - 1}`);
      data.set(this.images.subarray(i * pixels, (i + 1) * pixels), k * pixels);
      labels[k] = this.labels[i]!;
    }
    return new Dataset({
      images: { count: indices.length, height: this.height, width: this.width, channels: this.channels, data },
      labels,
      numClasses: this.numClasses,
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
   * Both parts keep their original relative order.
   */
  split(valFraction: number, seed: number): { train: Dataset; val: Dataset } {
    if (!(valFraction > 0 && valFraction < 1)) {
      throw new InputError(`${this.name}: validation fraction must be in (0, 1), got ${valFraction}`);
    }
    const valCount = Math.max(1, Math.round(this.count * valFraction));
    if (valCount >= this.count) throw new InputError(`${this.name}: validation split leaves no training examples`);
    const order = permutation(this.count, mixSeed(seed, 0x5b117));
    const valIdx = Array.from(order.subarray(0, valCount)).sort((a, b) => a - b);
    const trainIdx = Array.from(order.subarray(valCount)).sort((a, b) => a - b);
    return { train: this.subset(trainIdx, `${this.name}/train`), val: this.subset(valIdx, `${this.name}/val`) };
  }

  /** Number of batches `batches()` yields. */
  batchCount(batchSize: number, dropRemainder = false): number {
    return dropRemainder ? Math.floor(this.count / batchSize) : Math.ceil(this.count / batchSize);
  }

  /** Example order for an epoch: identity, or a permutation seeded by (shuffleSeed, epoch). */
  order(shuffleSeed?: number, epoch = 0): Uint32Array {
    if (shuffleSeed === undefined) {
      const o = new Uint32Array(this.count);
      for (let i = 0; i < this.count; i++) o[i] = i;
      return o;
    }
    return permutation(this.count, mixSeed(shuffleSeed, epoch));
  }

  /**
   * Yields batches one at a time. Each batch's tensors belong to the caller, who must dispose
   * them before asking for many more (the generator keeps no reference to them).
   */
  *batches(options: BatchOptions): Generator<Batch> {
    const { batchSize, preprocess } = options;
    if (!Number.isInteger(batchSize) || batchSize <= 0) {
      throw new InputError(`batch size must be a positive integer, got ${batchSize}`);
    }
    const { mul, add } = preprocessCoefficients(preprocess, this.channels);
    const order = this.order(options.shuffleSeed, options.epoch ?? 0);
    const pixels = this.height * this.width * this.channels;
    const c = this.channels;
    const nBatches = this.batchCount(batchSize, options.dropRemainder);
    for (let b = 0; b < nBatches; b++) {
      const start = b * batchSize;
      const size = Math.min(batchSize, this.count - start);
      const x = new Float32Array(size * pixels);
      const y = new Float32Array(size * this.numClasses);
      for (let k = 0; k < size; k++) {
        const i = order[start + k]!;
        const src = i * pixels;
        const dst = k * pixels;
        for (let p = 0; p < pixels; p++) {
          const ch = p % c;
          x[dst + p] = this.images[src + p]! * mul[ch]! + add[ch]!;
        }
        y[k * this.numClasses + this.labels[i]!] = 1;
      }
      yield {
        x: tf.tensor4d(x, [size, this.height, this.width, c]),
        y: tf.tensor2d(y, [size, this.numClasses]),
        size,
      };
    }
  }
}

/** Folds (u*scale - mean)/std into u*mul + add per channel, after validating the lengths. */
function preprocessCoefficients(p: Preprocess, channels: number): { mul: Float32Array; add: Float32Array } {
  const pick = (arr: number[], what: string, c: number): number => {
    if (arr.length === 1) return arr[0]!;
    if (arr.length === channels) return arr[c]!;
    throw new InputError(`preprocess.${what} has ${arr.length} values; the images have ${channels} channel(s) (give 1 or ${channels})`);
  };
  const mul = new Float32Array(channels);
  const add = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    const mean = pick(p.mean, 'mean', c);
    const std = pick(p.std, 'std', c);
    if (!(std > 0)) throw new InputError(`preprocess.std must be > 0, got ${std}`);
    mul[c] = p.scale / std;
    add[c] = -mean / std;
  }
  return { mul, add };
}
