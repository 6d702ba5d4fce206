/**
 * A model carries how it must be fed: slim records the preprocessing it trained with (scale, mean,
 * std), the input size and channels, and the class names (image folders) in the model's
 * `userDefinedMetadata.slim` (part of the tfjs format: stock tf.loadLayersModel keeps it). Every
 * model written from a trained model keeps it (prune and export carry the artifacts' metadata).
 * When a config gives no preprocessing (its data.preprocess is the schema default), eval, finetune
 * and run use the model's; when it gives a different one, one warning line says so.
 */
import path from 'node:path';
import type * as tf from '#tfjs';
import { InputError } from '../errors.js';
import { COMPANION_FILE, COMPANION_KEY } from '../model/companion.js';
import { DEFAULT_PREPROCESS } from '../data/formats/shared-fields.js';
import type { Preprocess } from '../data/dataset.js';
import type { Output } from '../io/output.js';
import { preprocessBesideModel } from './in-model-preprocess.js';

export interface SlimModelMetadata {
  preprocess: Preprocess;
  /** [height, width] of the images trained on. */
  inputSize: [number, number];
  channels: number;
  classNames?: string[];
}

/** What the data of a training run says about feeding the model. */
interface FedData {
  preprocess: Preprocess;
  imageShape: [number, number, number];
  classNames?: string[];
}

/** Records `data`'s preprocessing in `model` (kept by every later save of it). */
export function recordPreprocessing(model: tf.LayersModel, data: FedData): void {
  const [height, width, channels] = data.imageShape;
  const slim: SlimModelMetadata = {
    preprocess: { scale: data.preprocess.scale, mean: [...data.preprocess.mean], std: [...data.preprocess.std] },
    inputSize: [height, width],
    channels,
    ...(data.classNames !== undefined ? { classNames: [...data.classNames] } : {}),
  };
  model.setUserDefinedMetadata({ ...(model.getUserDefinedMetadata() ?? {}), slim });
}

function isNumberArray(value: unknown): value is number[] {
  return Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === 'number' && Number.isFinite(v));
}

/** The model's recorded preprocessing, when it has a well-formed one (anything else is ignored). */
export function recordedPreprocess(model: tf.LayersModel): Preprocess | undefined {
  const slim = (model.getUserDefinedMetadata() as { slim?: { preprocess?: Partial<Preprocess> } } | undefined)?.slim;
  const p = slim?.preprocess;
  if (
    p === undefined ||
    typeof p.scale !== 'number' ||
    !(p.scale > 0) ||
    !isNumberArray(p.mean) ||
    !isNumberArray(p.std) ||
    !p.std.every((s) => s > 0)
  ) {
    return undefined;
  }
  return { scale: p.scale, mean: p.mean, std: p.std };
}

type PreprocessValues = { scale: number; mean: readonly number[]; std: readonly number[] };

function samePreprocess(a: PreprocessValues, b: PreprocessValues): boolean {
  return a.scale === b.scale && JSON.stringify(a.mean) === JSON.stringify(b.mean) && JSON.stringify(a.std) === JSON.stringify(b.std);
}

function describe(p: Preprocess): string {
  return `scale ${p.scale}, mean [${p.mean.join(', ')}], std [${p.std.join(', ')}]`;
}

/** Teachable Machine's image models take pixels in [-1, 1]: x / 127.5 - 1. */
export const TEACHABLE_MACHINE_IMAGE_PREPROCESS: Preprocess = { scale: 1 / 127.5, mean: [1], std: [1] };

/** What slim reads of an exporter's metadata.json carried with the model (src/model/companion.ts). */
export interface CompanionInfo {
  /** 'image' | 'pose' | 'audio' for Teachable Machine exports (from packageName), else undefined. */
  teachableMachine?: string;
  labels?: string[];
  /** Side of the square input images (Teachable Machine image: 224). */
  imageSize?: number;
}

export function companionInfo(model: tf.LayersModel): CompanionInfo | undefined {
  const carried = (model.getUserDefinedMetadata() as Record<string, unknown> | undefined)?.[COMPANION_KEY] as
    Record<string, unknown> | undefined;
  if (carried === undefined) return undefined;
  const pkg = typeof carried.packageName === 'string' ? carried.packageName : '';
  const tm = /^@teachablemachine\/(\w+)$/.exec(pkg)?.[1] ?? (carried.tmVersion !== undefined ? 'image' : undefined);
  const labels = carried.labels ?? carried.wordLabels;
  return {
    ...(tm !== undefined ? { teachableMachine: tm } : {}),
    ...(Array.isArray(labels) && labels.every((l) => typeof l === 'string') ? { labels } : {}),
    ...(typeof carried.imageSize === 'number' ? { imageSize: carried.imageSize } : {}),
  };
}

/**
 * metadata.json beside a model must describe that model: its imageSize the model's input, its
 * labels one per output. Anything else means the file belongs to another model (bad input).
 */
export function checkCompanionAgreesWithModel(model: tf.LayersModel, modelPath: string): void {
  const info = companionInfo(model);
  if (info === undefined) return;
  const where = `${path.join(path.dirname(modelPath), COMPANION_FILE)}`;
  const input = model.inputs[0]?.shape ?? [];
  if (info.imageSize !== undefined && input.length === 4) {
    const [h, w] = [input[1], input[2]];
    if ((h !== null && h !== info.imageSize) || (w !== null && w !== info.imageSize)) {
      throw new InputError(`${where}: imageSize ${info.imageSize} contradicts the model's input ${h ?? 'any'}x${w ?? 'any'}`);
    }
  }
  const output = model.outputs[0]?.shape ?? [];
  const width = output[output.length - 1];
  if (info.labels !== undefined && typeof width === 'number' && info.labels.length !== width) {
    throw new InputError(`${where}: ${info.labels.length} labels, the model outputs ${width} values per example`);
  }
}

/** One place a preprocessing can come from, after the config's own; `read` is undefined when the source says nothing. */
interface PreprocessSource {
  /** Names the source in the stderr line. */
  name: string;
  read(model: tf.LayersModel): Preprocess | undefined;
}

/**
 * Where a model's preprocessing comes from when the config gives none, first match wins. A new
 * source (e.g. preprocessing layers inside the model) is one more entry.
 */
const PREPROCESS_SOURCES: readonly PreprocessSource[] = [
  { name: "the model's recorded preprocessing (userDefinedMetadata.slim)", read: recordedPreprocess },
  {
    name: "Teachable Machine's [-1, 1] input convention (metadata.json beside the model)",
    read: (model) => (companionInfo(model)?.teachableMachine === 'image' ? TEACHABLE_MACHINE_IMAGE_PREPROCESS : undefined),
  },
];

/**
 * The preprocessing to feed `model` with: the config's when it sets one (warning once when the
 * model's own sources say another), else the first of PREPROCESS_SOURCES that says one, else the
 * default. A config whose data.preprocess equals the schema default counts as not setting one.
 */
export function resolvePreprocess(configured: Preprocess, model: tf.LayersModel, out: Output): Preprocess {
  let found: { source: PreprocessSource; preprocess: Preprocess } | undefined;
  for (const source of PREPROCESS_SOURCES) {
    const preprocess = source.read(model);
    if (preprocess !== undefined) {
      found = { source, preprocess };
      break;
    }
  }
  // Nothing recorded or carried beside the model: preprocessing layers inside it may still decide.
  if (found === undefined) return preprocessBesideModel(configured, model, out);
  const { source, preprocess } = found;
  if (samePreprocess(configured, DEFAULT_PREPROCESS)) {
    if (!samePreprocess(preprocess, configured)) out.info(`preprocess: ${describe(preprocess)}, from ${source.name}`);
    return preprocess;
  }
  if (!samePreprocess(preprocess, configured)) {
    out.warn(`config data.preprocess (${describe(configured)}) differs from ${source.name} (${describe(preprocess)}); using the config's`);
  }
  return configured;
}
