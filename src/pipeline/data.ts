/**
 * Config → batch sources: which reader (IDX, CIFAR, .npy/.npz, image folder), limits, resize and
 * channel conversion to the target shape, validation split, augmentation of the training split,
 * and the preprocessing to apply per batch.
 */
import { InputError } from '../errors.js';
import { resolveSource, type SourceSpec } from '../data/sources.js';
import { Dataset, type Augment, type BatchSource, type ImageArray, type Preprocess } from '../data/dataset.js';
import { readIdxPair } from '../data/idx.js';
import { cifarFiles, cifarLayout, readCifar } from '../data/cifar.js';
import { npyImages, npyLabels, readNpy, readNpz, type NpyArray } from '../data/npy.js';
import { ImageFolderSource, limitListing, listImageFolder, probeImageShape, type FolderListing } from '../data/folder.js';
import { toShape, type TargetShape } from '../data/transform.js';
import type { DataConfig } from '../config/schema.js';

export interface PreparedData {
  /** In memory (Dataset) or, for `stream: true` image folders, decoded on the fly. */
  train: BatchSource;
  val?: BatchSource;
  /** In memory, or decoded on the fly (like `train`) when the config streams an image folder. */
  test: BatchSource;
  preprocess: Preprocess;
  /** [h, w, c] */
  imageShape: [number, number, number];
  numClasses: number;
  /** Class names when the data has them (image folders: the subfolder names). */
  classNames?: string[];
  /** One human line, e.g. "mnist: 54000 train / 6000 val / 10000 test, 28x28x1, 10 classes". */
  summary: string;
}

/** What a model expects, to fill in what the config leaves open (slim eval uses the model's input). */
export interface ShapeHints {
  height?: number;
  width?: number;
  channels?: number;
  /** The model's output width: labels must fit it and the one-hot is this wide. */
  numClasses?: number;
}

type Split = 'train' | 'test';

interface RawSplit {
  images: ImageArray;
  labels: Uint8Array | Int32Array;
  /** The file named in errors about this split. */
  file: string;
}

function idxSpec(data: DataConfig): SourceSpec {
  if (data.dataset === 'idx') {
    return { kind: 'idx', trainImages: data.trainImages!, trainLabels: data.trainLabels!, testImages: data.testImages, testLabels: data.testLabels };
  }
  if (data.dataset === 'fashion-mnist') return { kind: 'fashion-mnist', dir: data.dir };
  return { kind: 'mnist' };
}

/** Fixed class counts of formats that define them (labels outside are errors naming the file). */
function knownClasses(data: DataConfig): number | undefined {
  if (data.dataset === 'cifar10' || data.dataset === 'cifar100') return cifarLayout(data.dataset, data.labels).numClasses;
  return undefined;
}

function checkCount(images: ImageArray, labels: ArrayLike<number>, imagesFile: string, labelsFile: string): void {
  if (images.count !== labels.length) {
    throw new InputError(`${labelsFile}: has ${labels.length} labels but ${imagesFile} has ${images.count} images`);
  }
}

function fromNpy(imagesArr: NpyArray, labelsArr: NpyArray, imagesFile: string, labelsFile: string): RawSplit {
  const images = npyImages(imagesArr, imagesFile);
  const labels = npyLabels(labelsArr, labelsFile);
  checkCount(images, labels, imagesFile, labelsFile);
  return { images, labels, file: labelsFile };
}

/** Reads one split of an in-memory format, as stored. */
async function readRawSplit(data: DataConfig, split: Split): Promise<RawSplit> {
  const imagesKey = split === 'train' ? 'trainImages' : 'testImages';
  const labelsKey = split === 'train' ? 'trainLabels' : 'testLabels';
  switch (data.dataset) {
    case 'mnist':
    case 'fashion-mnist':
    case 'idx': {
      const paths = resolveSource(idxSpec(data));
      const imagesFile = paths[imagesKey];
      const labelsFile = paths[labelsKey];
      if (imagesFile === undefined || labelsFile === undefined) throw new InputError(`dataset ${data.dataset}: a test split is required (testImages/testLabels)`);
      const { images, labels } = await readIdxPair(imagesFile, labelsFile);
      return { images, labels, file: labelsFile };
    }
    case 'cifar10':
    case 'cifar100': {
      const files = cifarFiles(data.dataset, data.dir!, split);
      const { images, labels } = await readCifar(files, cifarLayout(data.dataset, data.labels));
      return { images, labels, file: files.join(', ') };
    }
    case 'npy': {
      const imagesFile = data[imagesKey]!;
      const labelsFile = data[labelsKey]!;
      const [imagesArr, labelsArr] = await Promise.all([readNpy(imagesFile), readNpy(labelsFile)]);
      return fromNpy(imagesArr, labelsArr, imagesFile, labelsFile);
    }
    case 'npz': {
      const file = data.file!;
      const imagesName = data.keys[imagesKey];
      const labelsName = data.keys[labelsKey];
      const arrays = await readNpz(file, [imagesName, labelsName]);
      return fromNpy(arrays.get(imagesName)!, arrays.get(labelsName)!, `${file}:${imagesName}`, `${file}:${labelsName}`);
    }
    case 'folder':
      throw new Error('image folders are not read by readRawSplit');
  }
}

function maxLabel(labels: ArrayLike<number>): number {
  let m = -1;
  for (let i = 0; i < labels.length; i++) if (labels[i]! > m) m = labels[i]!;
  return m;
}

function checkLabels(raw: RawSplit, numClasses: number): void {
  for (let i = 0; i < raw.labels.length; i++) {
    const l = raw.labels[i]!;
    if (l < 0 || l >= numClasses) throw new InputError(`${raw.file}: label ${i} is ${l}, outside 0..${numClasses - 1}`);
  }
}

/** The target shape: config first, then the model's hints, then what the data has. */
function targetOf(data: DataConfig, hints: ShapeHints, stored: TargetShape): TargetShape {
  return {
    height: data.resize?.[0] ?? hints.height ?? stored.height,
    width: data.resize?.[1] ?? hints.width ?? stored.width,
    channels: data.channels ?? hints.channels ?? stored.channels,
  };
}

function augmentOf(data: DataConfig, seed: number): Augment | undefined {
  const { pad, flip } = data.augment;
  return pad > 0 || flip ? { pad, flip, seed } : undefined;
}

interface Loaded {
  train?: Dataset | ImageFolderSource;
  test: Dataset | ImageFolderSource;
  numClasses: number;
  classNames?: string[];
  shape: TargetShape;
}

/** In-memory formats: read, limit, check labels, convert to the target shape. */
async function loadArrays(data: DataConfig, hints: ShapeHints, splits: Split[]): Promise<Loaded> {
  const raws = new Map<Split, RawSplit>();
  for (const split of splits) raws.set(split, await readRawSplit(data, split));
  const limited = new Map<Split, RawSplit>();
  for (const [split, raw] of raws) {
    const limit = split === 'train' ? data.trainLimit : data.testLimit;
    const ds = new Dataset({ images: raw.images, labels: raw.labels, numClasses: Math.max(maxLabel(raw.labels) + 1, 1), name: raw.file });
    const cut = limit !== undefined ? ds.limit(limit) : ds;
    limited.set(split, { images: { count: cut.count, height: cut.height, width: cut.width, channels: cut.channels, data: cut.images }, labels: cut.labels, file: raw.file });
  }
  const fixed = knownClasses(data) ?? hints.numClasses;
  const numClasses = fixed ?? Math.max(...[...limited.values()].map((r) => maxLabel(r.labels) + 1));
  for (const raw of limited.values()) checkLabels(raw, numClasses);
  const first = limited.get(splits[0]!)!.images;
  const target = targetOf(data, hints, first);
  const out: Partial<Record<Split, Dataset>> = {};
  for (const [split, raw] of limited) {
    const { images } = raw;
    if (data.resize === undefined && hints.height === undefined && (images.height !== target.height || images.width !== target.width)) {
      throw new InputError(
        `${raw.file}: ${split} images are ${images.height}x${images.width}, the ${splits[0]} images ${target.height}x${target.width}; set data.resize`,
      );
    }
    if (![1, 3].includes(images.channels) && images.channels !== target.channels) {
      throw new InputError(`${raw.file}: ${images.channels}-channel images cannot be converted to ${target.channels} channel(s) (only 1 <-> 3)`);
    }
    out[split] = new Dataset({ images: toShape(images, target), labels: raw.labels, numClasses, name: `${data.dataset}/${split}` });
  }
  return { train: out.train, test: out.test!, numClasses, shape: target };
}

/** Image folders: list, limit, pick the target shape; decode into memory unless streaming. */
async function loadFolders(data: DataConfig, hints: ShapeHints, splits: Split[], seed: number, streamed: (split: Split) => boolean): Promise<Loaded> {
  // Classes come from the training folder even when only the test split is wanted.
  const trainListing = await listImageFolder(data.trainDir!);
  const classNames = trainListing.classNames;
  const listings = new Map<Split, FolderListing>();
  for (const split of splits) {
    const listing = split === 'train' ? trainListing : await listImageFolder(data.testDir!, classNames);
    const limit = split === 'train' ? data.trainLimit : data.testLimit;
    listings.set(split, limit !== undefined ? limitListing(listing, limit, seed) : listing);
  }
  const numClasses = Math.max(classNames.length, hints.numClasses ?? 0);
  const probe = await probeImageShape(listings.get(splits[0]!)!.files[0]!);
  const target = targetOf(data, hints, probe);
  const resize = data.resize !== undefined || hints.height !== undefined || hints.width !== undefined;
  const out: Partial<Record<Split, Dataset | ImageFolderSource>> = {};
  for (const [split, listing] of listings) {
    const source = new ImageFolderSource({
      name: `folder/${split}`,
      files: listing.files,
      labels: listing.labels,
      numClasses,
      classNames,
      target,
      resize,
      prefetch: data.prefetch,
    });
    out[split] = streamed(split) ? source : await source.loadAll();
  }
  return { train: out.train, test: out.test!, numClasses, classNames, shape: target };
}

function checkPreprocess(preprocess: Preprocess, channels: number): void {
  for (const key of ['mean', 'std'] as const) {
    if (preprocess[key].length !== 1 && preprocess[key].length !== channels) {
      throw new InputError(`config: data.preprocess.${key}: has ${preprocess[key].length} values, the images have ${channels} channel(s)`);
    }
  }
}

function requireData(data: DataConfig | undefined): DataConfig {
  if (data === undefined) {
    throw new InputError('config: data: required for training and evaluation (e.g. {"dataset": "mnist"}, or pass --dataset)');
  }
  return data;
}

function shapeText(shape: TargetShape): string {
  return `${shape.height}x${shape.width}x${shape.channels}`;
}

export async function prepareData(config: DataConfig | undefined, seed: number): Promise<PreparedData> {
  const data = requireData(config);
  const loaded = data.dataset === 'folder' ? await loadFolders(data, {}, ['train', 'test'], seed, () => data.stream) : await loadArrays(data, {}, ['train', 'test']);
  let train: Dataset | ImageFolderSource = loaded.train!;
  const test = loaded.test!;
  let val: Dataset | ImageFolderSource | undefined;
  if (data.validationSplit > 0) ({ train, val } = train.split(data.validationSplit, seed));
  train = train.withAugment(augmentOf(data, seed));
  checkPreprocess(data.preprocess, loaded.shape.channels);
  const { pad, flip } = data.augment;
  const extras = [
    ...(train instanceof ImageFolderSource ? [`streaming, ${data.prefetch} batch(es) decoded ahead`] : []),
    ...(pad > 0 || flip ? [`augment: ${[pad > 0 ? `pad-crop ${pad}` : '', flip ? 'flip' : ''].filter(Boolean).join(' + ')}`] : []),
  ];
  const summary =
    `${data.dataset}: ${train.count} train / ${val?.count ?? 0} val / ${test.count} test, ` +
    `${shapeText(loaded.shape)}, ${loaded.numClasses} classes` +
    extras.map((e) => `, ${e}`).join('');
  return {
    train,
    val,
    test,
    preprocess: data.preprocess,
    imageShape: [loaded.shape.height, loaded.shape.width, loaded.shape.channels],
    numClasses: loaded.numClasses,
    classNames: loaded.classNames,
    summary,
  };
}

/** What slim eval needs: the test split and its shape, nothing of the training split. */
export type PreparedTestData = Omit<PreparedData, 'train' | 'val'>;

/**
 * The test split only (for slim eval): nothing of the training split is decoded. `hints` (the
 * model's input and output) fill in resize/channels/class count the config leaves open.
 */
export async function prepareTestData(config: DataConfig | undefined, seed: number, hints: ShapeHints = {}): Promise<PreparedTestData> {
  const data = requireData(config);
  // The test split streams when the config streams, as in prepareData.
  const loaded =
    data.dataset === 'folder' ? await loadFolders(data, hints, ['test'], seed, () => data.stream) : await loadArrays(data, hints, ['test']);
  const test = loaded.test;
  checkPreprocess(data.preprocess, loaded.shape.channels);
  return {
    test,
    preprocess: data.preprocess,
    imageShape: [loaded.shape.height, loaded.shape.width, loaded.shape.channels],
    numClasses: loaded.numClasses,
    classNames: loaded.classNames,
    summary: `${data.dataset}: ${test.count} test, ${shapeText(loaded.shape)}, ${loaded.numClasses} classes`,
  };
}
