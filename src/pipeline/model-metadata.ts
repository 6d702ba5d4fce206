/**
 * A model carries how it must be fed: slim records the preprocessing it trained with (scale, mean,
 * std), the input size and channels, and the class names (image folders) in the model's
 * `userDefinedMetadata.slim` (part of the tfjs format: stock tf.loadLayersModel keeps it). Every
 * model written from a trained model keeps it (prune and export carry the artifacts' metadata).
 * When a config gives no preprocessing (its data.preprocess is the schema default), eval, finetune
 * and run use the model's; when it gives a different one, one warning line says so.
 */
import type * as tf from '@tensorflow/tfjs';
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

/**
 * The preprocessing to feed `model` with: the config's when it sets one (warning once when the model
 * recorded another), else the model's recorded one, else the default. A config whose
 * data.preprocess equals the schema default counts as not setting one. A model that records none
 * but scales its input itself (Rescaling, Normalization) gets in-model-preprocess.ts's answer.
 */
export function resolvePreprocess(configured: Preprocess, model: tf.LayersModel, out: Output): Preprocess {
  const recorded = recordedPreprocess(model);
  if (recorded === undefined) return preprocessBesideModel(configured, model, out);
  if (samePreprocess(configured, DEFAULT_PREPROCESS)) {
    if (!samePreprocess(recorded, configured)) out.info(`preprocess: the model's (${describe(recorded)})`);
    return recorded;
  }
  if (!samePreprocess(recorded, configured)) {
    out.warn(`config data.preprocess (${describe(configured)}) differs from the model's (${describe(recorded)}); using the config's`);
  }
  return configured;
}
