/**
 * What a data format is: its config variant (a `dataset` literal, its own fields, the shared
 * fields) and a reader opened on a parsed config. A reader has one of two forms, and the shared
 * pipeline steps (src/pipeline/data.ts) take it from there:
 * - 'arrays': a split is read whole into memory as stored (IDX, CIFAR, .npy, .npz);
 * - 'files': a split is a listing of image files, decoded into memory or streamed (folders).
 */
import { z } from 'zod';
import type { ImageArray } from '../dataset.js';
import type { FolderListing } from '../folder.js';
import { sharedDataFields } from './shared-fields.js';

export type Split = 'train' | 'test';

/** One split as stored: images, integer labels (and label rows, when stored so), and the file errors about it name. */
export interface StoredSplit {
  images: ImageArray;
  labels: Uint8Array | Int32Array;
  /** count × classes label rows (dataset.ts DatasetInit.targets), for .npy/.npz labels of shape (n, classes). */
  targets?: Float32Array;
  file: string;
}

export interface ArraysReader {
  form: 'arrays';
  /** The class count the format defines (labels outside it are errors naming the file); else taken from the labels. */
  numClasses?: number;
  read(split: Split): Promise<StoredSplit>;
}

export interface FilesReader {
  form: 'files';
  /** Lists a split; `classNames` (the training split's) fix the labels of another split. */
  list(split: Split, classNames?: string[]): Promise<FolderListing>;
}

export type FormatReader = ArraysReader | FilesReader;

/** A format's own config fields; `dataset` is its key in the registry. */
type FormatFields = { dataset: z.ZodLiteral<string> } & z.ZodRawShape;

/**
 * A format: `schema` is its config variant (own fields, then the shared ones; unknown keys are
 * errors), `open` makes its reader from a config that schema parsed.
 */
export function defineFormat<Fields extends FormatFields>(fields: Fields, open: (config: z.output<z.ZodObject<Fields>>) => FormatReader) {
  const schema = z.strictObject({ ...fields, ...sharedDataFields });
  return { dataset: fields.dataset.value as z.output<Fields['dataset']>, schema, open };
}

/** The config keys of a split's images and labels files (idx, npy, npz keys). */
export function splitKeys(split: Split): { images: 'trainImages' | 'testImages'; labels: 'trainLabels' | 'testLabels' } {
  return split === 'train' ? { images: 'trainImages', labels: 'trainLabels' } : { images: 'testImages', labels: 'testLabels' };
}
