/**
 * What the training loop and the evaluator consume: anything that yields batches of one image
 * shape (the in-memory Dataset, or the streaming image folder). Also the pieces both share:
 * the per-example write (preprocess + optional crop/flip) and the seeded augmentation draw.
 */
import type * as tf from '#tfjs';
import { InputError } from '../errors.js';
import { mixSeed, mulberry32 } from './random.js';

/** Raw pixels as stored: uint8, or float32 (from .npy files). NHWC. */
export type PixelArray = Uint8Array | Float32Array;

/** Per-batch preprocessing: x = (pixel * scale - mean[c]) / std[c]; mean/std of length 1 apply to every channel. */
export interface Preprocess {
  scale: number;
  mean: number[];
  std: number[];
}

/** Augmentation as in the paper's CIFAR setup: random crop from a zero-padded image, horizontal flip. */
export interface Augment {
  /** Zero padding on each side before a random crop of the original size (0 = no crop). */
  pad: number;
  flip: boolean;
  /** With epoch and the example's index, decides every draw (so runs are reproducible). */
  seed: number;
}

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
  /**
   * Training batches: apply the source's augmentation (if it has one). Evaluation never sets
   * this, so val/test batches are never augmented.
   */
  train?: boolean;
}

/** A source of batches: implemented by Dataset (in memory) and ImageFolderSource (streaming). */
export interface BatchSource {
  readonly name: string;
  readonly count: number;
  readonly numClasses: number;
  /** [h, w, c] of the batches' images. */
  readonly imageShape: [number, number, number];
  batchCount(batchSize: number, dropRemainder?: boolean): number;
  /** The caller owns each batch's tensors. Sync iterables are fine: consumers use `for await`. */
  batches(options: BatchOptions): AsyncIterable<Batch> | Iterable<Batch>;
}

/** Where one example is cropped from (dy, dx: offset into the original) and whether it is mirrored. */
export interface AugmentDraw {
  dy: number;
  dx: number;
  flip: boolean;
}

/** The draw for example `index` in `epoch`: independent of batch size and shuffle order. */
export function augmentDraw(aug: Augment, epoch: number, index: number): AugmentDraw {
  const rand = mulberry32(mixSeed(aug.seed, epoch, index, 0xa06e));
  const span = 2 * aug.pad + 1;
  const dy = aug.pad > 0 ? Math.floor(rand() * span) - aug.pad : 0;
  const dx = aug.pad > 0 ? Math.floor(rand() * span) - aug.pad : 0;
  const flip = aug.flip && rand() < 0.5;
  return { dy, dx, flip };
}

/** Folds (p*scale - mean)/std into p*mul + add per channel, after validating the lengths. */
export function preprocessCoefficients(p: Preprocess, channels: number): { mul: Float32Array; add: Float32Array } {
  const pick = (arr: number[], what: string, c: number): number => {
    if (arr.length === 1) return arr[0];
    if (arr.length === channels) return arr[c];
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

/**
 * Writes one h×w×c example from `src` (at srcOffset) into `dst` (at dstOffset), preprocessed.
 * With a draw, output (y, x) reads source (y + dy, x' + dx) where x' = x or w-1-x when flipped
 * (crop, then mirror the crop, as torchvision's RandomCrop + RandomHorizontalFlip); pixels that
 * fall in the padding are raw 0 (black), then preprocessed like any other pixel.
 */
export function writeExample(
  dst: Float32Array,
  dstOffset: number,
  src: PixelArray,
  srcOffset: number,
  shape: readonly [number, number, number],
  mul: Float32Array,
  add: Float32Array,
  draw?: AugmentDraw,
): void {
  const [h, w, c] = shape;
  if (draw === undefined || (draw.dy === 0 && draw.dx === 0 && !draw.flip)) {
    const n = h * w * c;
    for (let p = 0; p < n; p++) {
      const ch = p % c;
      dst[dstOffset + p] = src[srcOffset + p] * mul[ch] + add[ch];
    }
    return;
  }
  for (let y = 0; y < h; y++) {
    const sy = y + draw.dy;
    for (let x = 0; x < w; x++) {
      const sx = (draw.flip ? w - 1 - x : x) + draw.dx;
      const out = dstOffset + (y * w + x) * c;
      const inside = sy >= 0 && sy < h && sx >= 0 && sx < w;
      const from = srcOffset + (sy * w + sx) * c;
      for (let ch = 0; ch < c; ch++) {
        dst[out + ch] = (inside ? src[from + ch] : 0) * mul[ch] + add[ch];
      }
    }
  }
}

/** Seeded split of 0..count-1 into val (`fraction`, at least 1) and train; both keep ascending order. */
export function splitIndices(count: number, fraction: number, seed: number, name: string): { train: number[]; val: number[] } {
  if (!(fraction > 0 && fraction < 1)) {
    throw new InputError(`${name}: validation fraction must be in (0, 1), got ${fraction}`);
  }
  const valCount = Math.max(1, Math.round(count * fraction));
  if (valCount >= count) throw new InputError(`${name}: validation split leaves no training examples`);
  const order = permutation(count, mixSeed(seed, 0x5b117));
  const val = Array.from(order.subarray(0, valCount)).sort((a, b) => a - b);
  const train = Array.from(order.subarray(valCount)).sort((a, b) => a - b);
  return { train, val };
}

/** Seeded Fisher–Yates permutation of 0..n-1. */
export function permutation(n: number, seed: number): Uint32Array {
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const rand = mulberry32(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = order[i];
    order[i] = order[j]!;
    order[j] = t;
  }
  return order;
}

/** Example order for an epoch: identity, or a permutation seeded by (shuffleSeed, epoch). */
export function epochOrder(count: number, shuffleSeed: number | undefined, epoch: number): Uint32Array {
  if (shuffleSeed === undefined) {
    const o = new Uint32Array(count);
    for (let i = 0; i < count; i++) o[i] = i;
    return o;
  }
  return permutation(count, mixSeed(shuffleSeed, epoch));
}

export function checkBatchSize(batchSize: number): void {
  if (!Number.isInteger(batchSize) || batchSize <= 0) {
    throw new InputError(`batch size must be a positive integer, got ${batchSize}`);
  }
}

export function countBatches(count: number, batchSize: number, dropRemainder = false): number {
  return dropRemainder ? Math.floor(count / batchSize) : Math.ceil(count / batchSize);
}
