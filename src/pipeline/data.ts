/**
 * Config → batch sources. The format (src/data/formats/, picked by `dataset`) reads the stored
 * splits; the steps every format shares happen here: limits, the target shape (resize and
 * channel conversion), the validation split, augmentation of the training split, streaming, and
 * the preprocessing to apply per batch.
 */
import { InputError } from '../errors.js';
import { Dataset, type Augment, type BatchSource, type Preprocess } from '../data/dataset.js';
import { ImageFolderSource, limitListing, probeImageShape, type FolderListing } from '../data/folder.js';
import { openFormat, type DataConfig } from '../data/formats/index.js';
import type { ArraysReader, FilesReader, Split, StoredSplit } from '../data/formats/format.js';
import { toShape, type TargetShape } from '../data/transform.js';
import { checkImagesFit } from './fits.js';

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
  /** [min, max] of the stored pixel values when they are floats (to question a 1/255 scale). */
  floatRange?: [number, number];
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
  /** The model has a sigmoid head (loss.ts): label rows may be multi-hot, not only distributions. */
  sigmoidHead?: boolean;
}

/** Tolerance of a label row's sum (float32 one-hot / softmax-like rows) when it must be a distribution. */
const ROW_SUM_TOLERANCE = 1e-3;

/**
 * Label rows (n, classes) must be as wide as the class count; for a softmax/logits head each row
 * must be a distribution (one-hot or soft), since categorical cross-entropy needs one.
 */
function checkLabelRows(raw: StoredSplit, numClasses: number, sigmoidHead: boolean): void {
  const { targets } = raw;
  if (targets === undefined) return;
  const width = targets.length / Math.max(raw.labels.length, 1);
  if (width !== numClasses) {
    throw new InputError(`${raw.file}: label rows have ${width} values, the model/data has ${numClasses} classes`);
  }
  if (sigmoidHead) return;
  for (let i = 0; i < raw.labels.length; i++) {
    let sum = 0;
    for (let j = 0; j < width; j++) sum += targets[i * width + j];
    if (Math.abs(sum - 1) > ROW_SUM_TOLERANCE) {
      throw new InputError(
        `${raw.file}: label row ${i} sums to ${sum}; a softmax head needs one-hot or soft rows summing to 1 (multi-hot rows need a sigmoid head)`,
      );
    }
  }
}

function maxLabel(labels: ArrayLike<number>): number {
  let m = -1;
  for (let i = 0; i < labels.length; i++) if (labels[i] > m) m = labels[i]!;
  return m;
}

function checkLabels(raw: StoredSplit, numClasses: number): void {
  for (let i = 0; i < raw.labels.length; i++) {
    const l = raw.labels[i];
    if (l < 0 || l >= numClasses) throw new InputError(`${raw.file}: label ${i} is ${l}, outside 0..${numClasses - 1}`);
  }
}

/** Inferred class counts up to this are taken as they are, however few the examples. */
const INFERRED_CLASSES_FREE = 1024;

/**
 * The class count of a format that declares none, for a model built for the data: the training
 * split's largest label + 1 (other splits must fit in it). A count above both the number of
 * examples and INFERRED_CLASSES_FREE means labels that are not class indices 0..N-1 (a label of 1e9
 * with 40 examples), refused before anything is sized by it; so is a count that leaves most of
 * 0..max unused (strayLabel).
 */
function inferredClasses(raw: StoredSplit): number {
  let at = -1;
  for (let i = 0; i < raw.labels.length; i++) if (at === -1 || raw.labels[i] > raw.labels[at]) at = i;
  const classes = at === -1 ? 1 : raw.labels[at] + 1;
  if (classes > Math.max(raw.labels.length, INFERRED_CLASSES_FREE)) {
    throw new InputError(
      `${raw.file}: label ${at} is ${raw.labels[at]}, which would make ${classes} classes for ${raw.labels.length} examples (labels must be class indices 0..N-1)`,
    );
  }
  const stray = strayLabel(raw, at);
  if (stray !== undefined) throw new InputError(stray);
  return Math.max(classes, 1);
}

/**
 * One stray label (255 among digits 0-9) must not silently size a 256-class head. Refused: the
 * labels leave most of 0..max unused although the examples, were the labels spread over those
 * classes, would show more than twice as many distinct ones (so a small subset that misses a few
 * classes passes). The message names the largest label, where it is, and data.classes.
 */
function strayLabel(raw: StoredSplit, at: number): string | undefined {
  if (at === -1) return undefined;
  const max = raw.labels[at];
  const classes = max + 1;
  const seen = new Set<number>();
  for (let i = 0; i < raw.labels.length; i++) seen.add(raw.labels[i]);
  const n = raw.labels.length;
  // Distinct classes n uniform draws from `classes` show on average.
  const expected = classes * (1 - Math.pow(1 - 1 / classes, n));
  if (seen.size * 2 > classes || seen.size * 2 >= expected) return undefined;
  const others = [...seen].filter((label) => label !== max);
  const below = others.length > 0 ? `the other labels lie in ${Math.min(...others)}..${Math.max(...others)}` : 'no other label occurs';
  return (
    `${raw.file}: label ${at} is ${max} and ${below}: only ${seen.size} of the ${classes} classes 0..${max} occur in ${n} examples` +
    ` (a stray label?); set data.classes to ${classes} if those classes are meant`
  );
}

/** data.classes against a class count the data or the model fixes: they must agree. */
function checkDeclaredClasses(data: DataConfig, fixed: number | undefined, what: string): void {
  if (data.classes !== undefined && fixed !== undefined && data.classes !== fixed) {
    throw new InputError(`data.classes: ${data.classes}, but ${what} ${fixed} classes`);
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

/** The config path that sets the images' size, for the size checks' messages. */
function sizeSource(data: DataConfig, hints: ShapeHints): string {
  if (data.resize !== undefined) return 'data.resize';
  return hints.height !== undefined || hints.width !== undefined ? "data (images resized to the model's input)" : 'data';
}

function limitOf(data: DataConfig, split: Split): number | undefined {
  return split === 'train' ? data.trainLimit : data.testLimit;
}

type SplitSource = Dataset | ImageFolderSource;

interface Loaded {
  /** The splits asked for, in that order. */
  sources: Map<Split, SplitSource>;
  numClasses: number;
  classNames?: string[];
  shape: TargetShape;
  floatRange?: [number, number];
}

/** [min, max] over float pixels of the splits (undefined for uint8 images). */
function floatRangeOf(splits: Iterable<StoredSplit>): [number, number] | undefined {
  let min = Infinity;
  let max = -Infinity;
  for (const { images } of splits) {
    if (!(images.data instanceof Float32Array)) return undefined;
    for (const v of images.data) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
  }
  return min <= max ? [min, max] : undefined;
}

function sourceOf(loaded: Loaded, split: Split): SplitSource {
  const source = loaded.sources.get(split);
  if (source === undefined) throw new Error(`the ${split} split was not loaded`);
  return source;
}

/** The first `limit` examples (Dataset.limit's rule), as stored. */
function limitStored(raw: StoredSplit, limit: number | undefined): StoredSplit {
  if (limit === undefined) return raw;
  const cut = new Dataset({
    images: raw.images,
    labels: raw.labels,
    ...(raw.targets !== undefined ? { targets: raw.targets } : { numClasses: Math.max(maxLabel(raw.labels) + 1, 1) }),
    name: raw.file,
  }).limit(limit);
  return {
    images: { count: cut.count, height: cut.height, width: cut.width, channels: cut.channels, data: cut.images },
    labels: cut.labels,
    ...(cut.targets !== undefined ? { targets: cut.targets } : {}),
    file: raw.file,
  };
}

/** Stored images that cannot become `target` without a resize nobody asked for, or a channel conversion slim lacks. */
function checkConvertible(raw: StoredSplit, split: Split, first: Split, target: TargetShape, resizeAsked: boolean): void {
  const { images } = raw;
  if (!resizeAsked && (images.height !== target.height || images.width !== target.width)) {
    throw new InputError(
      `${raw.file}: ${split} images are ${images.height}x${images.width}, the ${first} images ${target.height}x${target.width}; set data.resize`,
    );
  }
  if (![1, 3].includes(images.channels) && images.channels !== target.channels) {
    throw new InputError(
      `${raw.file}: ${images.channels}-channel images cannot be converted to ${target.channels} channel(s) (only 1 <-> 3)`,
    );
  }
}

/** In-memory formats: read, limit, check labels, convert to the target shape. */
async function loadArrays(data: DataConfig, reader: ArraysReader, hints: ShapeHints, splits: Split[]): Promise<Loaded> {
  const stored = new Map<Split, StoredSplit>();
  for (const split of splits) stored.set(split, await reader.read(split));
  // Labels are checked before anything is sized by them (a label of 1e9 must not become 1e9 classes).
  const first = stored.get('train') ?? [...stored.values()][0];
  const rowsWidth = first.targets !== undefined ? first.targets.length / Math.max(first.labels.length, 1) : undefined;
  checkDeclaredClasses(data, reader.numClasses, `dataset ${data.dataset} has`);
  checkDeclaredClasses(data, hints.numClasses, "the model's output has");
  checkDeclaredClasses(data, rowsWidth, `the label rows of ${first.file} have`);
  const numClasses = data.classes ?? reader.numClasses ?? hints.numClasses ?? rowsWidth ?? inferredClasses(first);
  for (const raw of stored.values()) {
    checkLabels(raw, numClasses);
    checkLabelRows(raw, numClasses, hints.sigmoidHead === true);
  }
  for (const [split, raw] of stored) stored.set(split, limitStored(raw, limitOf(data, split)));
  const [[firstSplit, firstRaw]] = stored;
  const target = targetOf(data, hints, firstRaw.images);
  const sources = new Map<Split, SplitSource>();
  for (const [split, raw] of stored) {
    checkConvertible(raw, split, firstSplit, target, data.resize !== undefined || hints.height !== undefined);
    checkImagesFit(raw.images.count, target, {
      inMemory: true,
      bytesPerValue: raw.images.data.BYTES_PER_ELEMENT,
      configPath: sizeSource(data, hints),
      split,
    });
    sources.set(
      split,
      new Dataset({
        images: toShape(raw.images, target),
        labels: raw.labels,
        numClasses,
        ...(raw.targets !== undefined ? { targets: raw.targets } : {}),
        name: `${data.dataset}/${split}`,
      }),
    );
  }
  return { sources, numClasses, shape: target, floatRange: floatRangeOf(stored.values()) };
}

/** Image files: list, limit (a seeded subset), pick the target shape; decode into memory unless streaming. */
async function loadFiles(data: DataConfig, reader: FilesReader, hints: ShapeHints, splits: Split[], seed: number): Promise<Loaded> {
  // Classes come from the training split even when only the test split is wanted.
  const trainListing = await reader.list('train');
  const classNames = trainListing.classNames;
  const listings = new Map<Split, FolderListing>();
  for (const split of splits) {
    const listing = split === 'train' ? trainListing : await reader.list(split, classNames);
    const limit = limitOf(data, split);
    listings.set(split, limit !== undefined ? limitListing(listing, limit, seed) : listing);
  }
  checkDeclaredClasses(data, classNames.length, 'the training folder has');
  const numClasses = Math.max(classNames.length, hints.numClasses ?? 0);
  const [[, firstListing]] = listings;
  const target = targetOf(data, hints, await probeImageShape(firstListing.files[0]));
  const resize = data.resize !== undefined || hints.height !== undefined || hints.width !== undefined;
  const sources = new Map<Split, SplitSource>();
  for (const [split, listing] of listings) {
    const { files, labels } = listing;
    checkImagesFit(files.length, target, { inMemory: !data.stream, bytesPerValue: 1, configPath: sizeSource(data, hints), split });
    const source = new ImageFolderSource({
      name: `${data.dataset}/${split}`,
      files,
      labels,
      numClasses,
      classNames,
      target,
      resize,
      prefetch: data.prefetch,
    });
    // The test split streams too when the config streams.
    sources.set(split, data.stream ? source : await source.loadAll());
  }
  return { sources, numClasses, classNames, shape: target };
}

/** The splits asked for, read by the config's format and brought to the target shape. */
function loadSplits(data: DataConfig, hints: ShapeHints, splits: Split[], seed: number): Promise<Loaded> {
  const reader = openFormat(data);
  return reader.form === 'files' ? loadFiles(data, reader, hints, splits, seed) : loadArrays(data, reader, hints, splits);
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

/** `hints.numClasses` (a model file's output width) is the class count labels must fit when the format declares none. */
export async function prepareData(
  config: DataConfig | undefined,
  seed: number,
  hints: Pick<ShapeHints, 'numClasses' | 'sigmoidHead'> = {},
): Promise<PreparedData> {
  const data = requireData(config);
  const loaded = await loadSplits(data, hints, ['train', 'test'], seed);
  let train = sourceOf(loaded, 'train');
  const test = sourceOf(loaded, 'test');
  let val: SplitSource | undefined;
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
    ...(loaded.floatRange !== undefined ? { floatRange: loaded.floatRange } : {}),
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
  const loaded = await loadSplits(data, hints, ['test'], seed);
  const test = sourceOf(loaded, 'test');
  checkPreprocess(data.preprocess, loaded.shape.channels);
  return {
    test,
    preprocess: data.preprocess,
    imageShape: [loaded.shape.height, loaded.shape.width, loaded.shape.channels],
    numClasses: loaded.numClasses,
    classNames: loaded.classNames,
    ...(loaded.floatRange !== undefined ? { floatRange: loaded.floatRange } : {}),
    summary: `${data.dataset}: ${test.count} test, ${shapeText(loaded.shape)}, ${loaded.numClasses} classes`,
  };
}
