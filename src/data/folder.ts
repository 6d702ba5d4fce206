/**
 * Image folders: root/<class>/*.png|jpg|jpeg|webp, classes = sorted subfolder names. Decoded by
 * sharp (libvips), converted to the target channels and, when asked, resized (fit: fill).
 * Either decoded once into an in-memory Dataset (`loadAll`) or streamed: `batches()` decodes a
 * few batches ahead in the background (a bounded queue), so memory does not grow with the folder.
 */
import { readdir } from 'node:fs/promises';
import { extname, join } from 'node:path';
import * as tf from '#tfjs';
import { InputError } from '../errors.js';
import {
  augmentDraw,
  checkBatchSize,
  countBatches,
  epochOrder,
  preprocessCoefficients,
  permutation,
  splitIndices,
  writeExample,
  type Augment,
  type Batch,
  type BatchOptions,
  type BatchSource,
} from './batch-source.js';
import { Dataset } from './dataset.js';
import { mixSeed } from './random.js';
import { convertChannels, type TargetShape } from './transform.js';

const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg', '.webp']);

type SharpFactory = typeof import('sharp').default;

let sharpModule: Promise<SharpFactory> | undefined;

/** sharp is loaded on first use only, so the other formats work even where it cannot load. */
function loadSharp(): Promise<SharpFactory> {
  sharpModule ??= import('sharp').then<SharpFactory>(
    (m) => m.default,
    (err: unknown) => {
      sharpModule = undefined;
      throw new InputError(
        `image folders need the npm package sharp, which did not load (${(err as Error).message}); run \`npm i sharp\``,
        {
          cause: err,
        },
      );
    },
  );
  return sharpModule;
}

export interface FolderListing {
  root: string;
  classNames: string[];
  files: string[];
  labels: Int32Array;
}

/**
 * Lists root/<class>/<image>. With `classNames` (the training classes), every subfolder must be
 * one of them and labels follow that list; otherwise the sorted subfolders define the classes.
 * Files are in class order, then name order; files with other extensions and dotfiles are skipped.
 */
export async function listImageFolder(root: string, classNames?: string[]): Promise<FolderListing> {
  let entries;
  try {
    entries = await readdir(root, { withFileTypes: true });
  } catch (err) {
    throw new InputError(`${root}: cannot read image folder (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, {
      cause: err,
    });
  }
  const dirs = entries
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort();
  if (dirs.length === 0) throw new InputError(`${root}: no class subfolders (expected ${root}/<class>/<image>.png|jpg|jpeg|webp)`);
  const classes = classNames ?? dirs;
  const files: string[] = [];
  const labels: number[] = [];
  for (const dir of dirs) {
    const label = classes.indexOf(dir);
    if (label < 0) throw new InputError(`${join(root, dir)}: class folder is not one of the training classes (${classes.join(', ')})`);
    const names = (await readdir(join(root, dir), { withFileTypes: true }))
      .filter((e) => e.isFile() && !e.name.startsWith('.') && IMAGE_EXTENSIONS.has(extname(e.name).toLowerCase()))
      .map((e) => e.name)
      .sort();
    // In the split that defines the classes an empty folder would still be a class, one the model
    // is asked to learn with no example. Another split may lack examples of a class.
    if (names.length === 0 && classNames === undefined)
      throw new InputError(`${join(root, dir)}: class folder has no .png/.jpg/.jpeg/.webp images; remove it or add images`);
    for (const name of names) {
      files.push(join(root, dir, name));
      labels.push(label);
    }
  }
  return { root, classNames: classes, files, labels: Int32Array.from(labels) };
}

/** A seeded subset of k files (kept in listing order, so every class is represented as in the folder). */
export function limitListing(listing: FolderListing, k: number, seed: number): FolderListing {
  if (k >= listing.files.length) return listing;
  const pick = Array.from(permutation(listing.files.length, mixSeed(seed, 0x11a17)).subarray(0, k)).sort((a, b) => a - b);
  return { ...listing, files: pick.map((i) => listing.files[i]), labels: Int32Array.from(pick, (i) => listing.labels[i]) };
}

/** The shape of the first image (alpha dropped): the default target when no resize/channels are configured. */
export async function probeImageShape(file: string): Promise<TargetShape> {
  const sharp = await loadSharp();
  let meta;
  try {
    meta = await sharp(file).metadata();
  } catch (err) {
    throw new InputError(`${file}: cannot decode image (${(err as Error).message})`, { cause: err });
  }
  const channels = (meta.channels ?? 3) - (meta.hasAlpha ? 1 : 0);
  return { height: meta.height ?? 0, width: meta.width ?? 0, channels: channels >= 3 ? 3 : 1 };
}

/**
 * Decodes one image to uint8 HWC of `target`: alpha dropped, resized with fit 'fill' when
 * `resize` (else its size must already match), then gray ↔ RGB with the same BT.601 rule as the
 * in-memory formats (sharp's own b-w conversion weighs colours differently).
 */
async function decodeImage(file: string, target: TargetShape, resize: boolean): Promise<Uint8Array> {
  const sharp = await loadSharp();
  const decode = async (toSrgb: boolean) => {
    let img = sharp(file, { failOn: 'error' });
    // CMYK, Lab, 16-bit etc.: let libvips bring them to 8-bit sRGB first.
    if (toSrgb) img = img.toColourspace('srgb');
    img = img.removeAlpha();
    if (resize) img = img.resize(target.width, target.height, { fit: 'fill' });
    return img.raw().toBuffer({ resolveWithObject: true });
  };
  let result;
  try {
    result = await decode(false);
    const { info, data } = result;
    if ((info.channels !== 1 && info.channels !== 3) || data.length !== info.width * info.height * info.channels)
      result = await decode(true);
  } catch (err) {
    throw new InputError(`${file}: cannot decode image (${(err as Error).message})`, { cause: err });
  }
  const { data, info } = result;
  if (info.width !== target.width || info.height !== target.height) {
    throw new InputError(
      `${file}: image is ${info.width}x${info.height} (w x h), the others are ${target.width}x${target.height}; set data.resize to resize`,
    );
  }
  if (data.length !== info.width * info.height * info.channels) {
    throw new InputError(
      `${file}: decoded to ${data.length} bytes for ${info.width}x${info.height}x${info.channels}; only 8-bit images are supported`,
    );
  }
  const pixels = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (info.channels === target.channels) return pixels;
  const converted = convertChannels(
    { count: 1, height: info.height, width: info.width, channels: info.channels, data: pixels },
    target.channels,
  );
  return converted.data as Uint8Array;
}

export interface FolderSourceInit {
  name: string;
  files: string[];
  labels: Int32Array;
  numClasses: number;
  classNames: string[];
  target: TargetShape;
  /** Resize every image to target (else a differently sized image is an error). */
  resize: boolean;
  /** Batches decoded ahead of the consumer (the bounded queue's capacity). */
  prefetch: number;
  augment?: Augment;
}

/** What the decode-ahead queue did during the last `batches()` runs (for tests and the memory note). */
export interface QueueStats {
  /** Most batches decoding or decoded-and-waiting at once (never above `prefetch`). */
  peakBuffered: number;
  batchesDecoded: number;
}

export class ImageFolderSource implements BatchSource {
  readonly name: string;
  readonly count: number;
  readonly numClasses: number;
  readonly imageShape: [number, number, number];
  readonly stats: QueueStats = { peakBuffered: 0, batchesDecoded: 0 };
  private readonly init: FolderSourceInit;

  constructor(init: FolderSourceInit) {
    if (!Number.isInteger(init.prefetch) || init.prefetch < 1)
      throw new InputError(`${init.name}: prefetch must be a positive integer, got ${init.prefetch}`);
    this.init = init;
    this.name = init.name;
    this.count = init.files.length;
    this.numClasses = init.numClasses;
    this.imageShape = [init.target.height, init.target.width, init.target.channels];
  }

  get files(): readonly string[] {
    return this.init.files;
  }

  get classNames(): readonly string[] {
    return this.init.classNames;
  }

  get augment(): Augment | undefined {
    return this.init.augment;
  }

  withAugment(augment: Augment | undefined): ImageFolderSource {
    return new ImageFolderSource({ ...this.init, augment });
  }

  withNumClasses(numClasses: number): ImageFolderSource {
    return numClasses === this.numClasses ? this : new ImageFolderSource({ ...this.init, numClasses });
  }

  subset(indices: ArrayLike<number>, name = this.name): ImageFolderSource {
    const idx = Array.from(indices);
    return new ImageFolderSource({
      ...this.init,
      name,
      files: idx.map((i) => this.init.files[i]),
      labels: Int32Array.from(idx, (i) => this.init.labels[i]),
    });
  }

  /** Same indices as Dataset.split for the same seed, so streaming and in-memory splits agree. */
  split(valFraction: number, seed: number): { train: ImageFolderSource; val: ImageFolderSource } {
    const { train, val } = splitIndices(this.count, valFraction, seed, this.name);
    return { train: this.subset(train, `${this.name}/train`), val: this.subset(val, `${this.name}/val`).withAugment(undefined) };
  }

  batchCount(batchSize: number, dropRemainder = false): number {
    return countBatches(this.count, batchSize, dropRemainder);
  }

  /** Decodes the examples `indices` into one uint8 NHWC buffer. */
  private async decodeExamples(indices: ArrayLike<number>): Promise<Uint8Array> {
    const [h, w, c] = this.imageShape;
    const pixels = h * w * c;
    const out = new Uint8Array(indices.length * pixels);
    // sharp runs each decode on the libuv pool; starting the whole batch at once keeps it busy.
    await Promise.all(
      Array.from(indices, async (i, k) => {
        out.set(await decodeImage(this.init.files[i], this.init.target, this.init.resize), k * pixels);
      }),
    );
    return out;
  }

  /** Decodes every image into an in-memory Dataset (same order, labels and augmentation). */
  async loadAll(chunk = 256): Promise<Dataset> {
    const [h, w, c] = this.imageShape;
    const pixels = h * w * c;
    const data = new Uint8Array(this.count * pixels);
    for (let start = 0; start < this.count; start += chunk) {
      const idx = Array.from({ length: Math.min(chunk, this.count - start) }, (_, k) => start + k);
      data.set(await this.decodeExamples(idx), start * pixels);
    }
    return new Dataset({
      images: { count: this.count, height: h, width: w, channels: c, data },
      labels: this.init.labels,
      numClasses: this.numClasses,
      name: this.name,
      augment: this.init.augment,
    });
  }

  /**
   * Streams batches: at most `prefetch` batches are decoding or decoded-and-waiting at any time;
   * the next one starts decoding as soon as the consumer takes one. Same order, preprocessing and
   * augmentation draws as Dataset.batches on the same examples.
   */
  async *batches(options: BatchOptions): AsyncGenerator<Batch> {
    const { batchSize, preprocess } = options;
    checkBatchSize(batchSize);
    const [h, w, c] = this.imageShape;
    const { mul, add } = preprocessCoefficients(preprocess, c);
    const epoch = options.epoch ?? 0;
    const order = epochOrder(this.count, options.shuffleSeed, epoch);
    const augment = options.train ? this.init.augment : undefined;
    const nBatches = this.batchCount(batchSize, options.dropRemainder);
    const pixels = h * w * c;
    const indicesOf = (b: number): Uint32Array => order.subarray(b * batchSize, Math.min((b + 1) * batchSize, this.count));

    const queue: Promise<Uint8Array>[] = [];
    let nextToDecode = 0;
    const refill = (): void => {
      while (queue.length < this.init.prefetch && nextToDecode < nBatches) {
        const pending = this.decodeExamples(indicesOf(nextToDecode++));
        // Errors surface when the consumer reaches this batch; an abandoned one must not crash the process.
        pending.catch(() => {});
        queue.push(pending);
        this.stats.peakBuffered = Math.max(this.stats.peakBuffered, queue.length);
      }
    };
    try {
      refill();
      for (let b = 0; b < nBatches; b++) {
        const raw = await queue.shift()!;
        this.stats.batchesDecoded++;
        refill();
        const idx = indicesOf(b);
        const size = idx.length;
        const x = new Float32Array(size * pixels);
        const y = new Float32Array(size * this.numClasses);
        for (let k = 0; k < size; k++) {
          const i = idx[k];
          writeExample(x, k * pixels, raw, k * pixels, this.imageShape, mul, add, augment && augmentDraw(augment, epoch, i));
          y[k * this.numClasses + this.init.labels[i]] = 1;
        }
        yield { x: tf.tensor4d(x, [size, h, w, c]), y: tf.tensor2d(y, [size, this.numClasses]), size };
      }
    } finally {
      queue.length = 0;
    }
  }
}
