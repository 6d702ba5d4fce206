/**
 * The data format registry, keyed by the config's `dataset`. The data config schema is the
 * union of the formats' schemas, so adding a format = its file + one entry in DATA_FORMATS.
 */
import { z } from 'zod';
import { cifar10Format } from './cifar10.js';
import { cifar100Format } from './cifar100.js';
import { fashionMnistFormat } from './fashion-mnist.js';
import { folderFormat } from './folder.js';
import type { FormatReader } from './format.js';
import { idxFormat } from './idx.js';
import { mnistFormat } from './mnist.js';
import { npyFormat } from './npy.js';
import { npzFormat } from './npz.js';

/** In the order `slim schema` and the error for an unknown dataset list them (zod rejects a dataset registered twice on the first parse). */
const DATA_FORMATS = [
  mnistFormat,
  fashionMnistFormat,
  idxFormat,
  cifar10Format,
  cifar100Format,
  npyFormat,
  npzFormat,
  folderFormat,
] as const;

type Formats = typeof DATA_FORMATS;

/** Every `data.dataset` value, in registry order (the `--dataset` choices). */
export const DATASET_NAMES = DATA_FORMATS.map((f) => f.dataset);

const datasetList = DATA_FORMATS.map((f) => JSON.stringify(f.dataset)).join('|');

type SchemasOf<T> = { [K in keyof T]: T[K] extends { schema: infer S } ? S : never };

/** Each format's schema, the tuple type kept (the union's output type is then the union of the variants). */
function schemasOf(formats: Formats): SchemasOf<Formats> {
  return formats.map((f) => f.schema) as unknown as SchemasOf<Formats>;
}

export const dataSchema = z.discriminatedUnion('dataset', schemasOf(DATA_FORMATS), {
  error: (issue) => {
    if (issue.code !== 'invalid_union') return undefined;
    const given = (issue.input as { dataset?: unknown } | undefined)?.dataset;
    return given === undefined ? `required: one of ${datasetList}` : `Invalid option: expected one of ${datasetList}`;
  },
});

export type DataConfig = z.output<typeof dataSchema>;

/** The reader of the config's format. */
export function openFormat(config: DataConfig): FormatReader {
  const format = DATA_FORMATS.find((f) => f.dataset === config.dataset);
  if (format === undefined) throw new Error(`no data format is registered for dataset "${config.dataset}"`);
  // The schema that produced `config` is this format's (the union picks the variant by `dataset`),
  // which TypeScript cannot relate across the union of formats.
  return (format.open as (config: DataConfig) => FormatReader)(config);
}
