/** Where a stage's model comes from (a file or a built-in architecture) and where it goes (atomic write). */
import { dataClasses, isBinaryKind, outputKind } from '../train/loss.js';
import type * as tf from '#tfjs';
import { checkCompanionAgreesWithModel } from './model-metadata.js';
import { InputError } from '../errors.js';
import { checkOutPath } from '../io/out-path.js';
import { buildVgg } from '../model/architectures.js';
import { unknownLayerClassMessage } from '../model/foreign-formats.js';
import { fromLayersModel, toLayersModel } from '../model/convert.js';
import path from 'node:path';
import { checkModelOutDir, modelFiles, readModel, writeModel, type WriteModelOptions } from '../model/io.js';
import { checkKerasTarget } from '../model/keras/write.js';
import type { ModelFormat } from '../io/output-format.js';
import type { ModelConfig } from '../config/schema.js';
import type { ModelJson } from '../model/topology.js';
import type { PreparedData, ShapeHints } from './data.js';
import { checkVggFits } from './fits.js';
import { checkStockLoadable } from './verify.js';

export async function loadLayersModel(path: string): Promise<{ model: tf.LayersModel; path: string }> {
  const artifacts = await readModel(path);
  const model = await toLayersModel(artifacts).catch((error: unknown) => {
    const unknown = unknownLayerClassMessage(error); // a custom layer class: one line, not tfjs's paragraph
    throw unknown !== undefined ? new InputError(unknown, { cause: error }) : error;
  });
  try {
    checkCompanionAgreesWithModel(model, artifacts.path);
  } catch (error) {
    model.dispose();
    throw error;
  }
  return { model, path: artifacts.path };
}

/** A model from the config: a model file, or a built-in VGG-style net shaped for the data. */
export async function modelFromConfig(
  config: ModelConfig | undefined,
  data: PreparedData,
  seed: number,
): Promise<{ model: tf.LayersModel; path?: string; trained: boolean }> {
  if (config === undefined) {
    throw new InputError('config: model: required (a {"type": "vgg", "cfg": [...]} or {"type": "file", "path": ...}), or pass --model');
  }
  if (config.type === 'file') {
    const loaded = await loadLayersModel(config.path);
    return { ...loaded, trained: config.trained };
  }
  checkVggFits({ cfg: config.cfg, head: config.head, hidden: config.hidden, inputShape: data.imageShape, numClasses: data.numClasses });
  const model = buildVgg({
    cfg: config.cfg,
    inputShape: data.imageShape,
    numClasses: data.numClasses,
    head: config.head,
    hidden: config.hidden,
    dropout: config.dropout,
    seed,
  });
  return { model, trained: false };
}

/** The topology JSON of an in-memory model (what model.json's modelTopology would hold). */
export function topologyOf(model: tf.LayersModel): ModelJson {
  return model.toJSON(null, false) as unknown as ModelJson;
}

export async function saveLayersModel(model: tf.LayersModel, outDir: string, options: WriteModelOptions = {}): Promise<string> {
  const artifacts = await fromLayersModel(model);
  await checkStockLoadable(artifacts, outDir);
  return writeModel(outDir, artifacts, options);
}

/**
 * Checks, before any work, that every output folder can be written: the path itself (checkOutPath:
 * parent writable, no /proc, no current folder...; dead writers' leftovers recovered), none is the
 * input model's own folder (that needs --overwrite) and none holds foreign files (writeModel's policy).
 */
export async function checkOutputs(outDirs: string[], write: { overwrite: boolean }, inputModelPath?: string): Promise<void> {
  const inputDir =
    inputModelPath !== undefined
      ? path.dirname(path.resolve(inputModelPath.endsWith('.json') ? inputModelPath : path.join(inputModelPath, 'model.json')))
      : undefined;
  for (const dir of outDirs) {
    if (inputDir !== undefined && path.resolve(dir) === inputDir && !write.overwrite) {
      throw new InputError(`${dir}: is the input model's folder; writing there would replace the input (--overwrite allows it)`);
    }
    await checkOutPath(dir, 'folder');
    await checkModelOutDir(dir, write);
  }
}

/**
 * Checks, before any work, where a model of `format` goes: a layers or graph model is a folder
 * (checkOutputs), a Keras file one file, which must not be an input and is replaced only with
 * --overwrite (checked again by its writer).
 */
export async function checkModelOutput(
  out: string,
  format: ModelFormat,
  write: { overwrite: boolean },
  inputModelPath?: string,
): Promise<void> {
  if (format === 'layers' || format === 'graph') {
    await checkOutputs([out], write, inputModelPath);
    return;
  }
  await checkOutPath(out, 'file', { inputs: inputModelPath === undefined ? [] : await modelFiles(inputModelPath) });
  await checkKerasTarget(out, format, write);
}

/**
 * The one resize rule of every command: what the model's input fixes (height, width, channels) and
 * its output width (class count) fill in what the data config leaves open, so images are resized
 * to the model's input unless data.resize says otherwise.
 */
export function shapeHintsOf(model: tf.LayersModel): ShapeHints {
  const input = model.inputs[0]?.shape ?? [];
  const output = model.outputs[0]?.shape ?? [];
  const known = (d: number | null | undefined) => (typeof d === 'number' && d > 0 ? d : undefined);
  const hints: ShapeHints = {};
  if (input.length === 4) {
    const [height, width, channels] = [known(input[1]), known(input[2]), known(input[3])];
    if (height !== undefined) hints.height = height;
    if (width !== undefined) hints.width = width;
    if (channels !== undefined) hints.channels = channels;
  }
  // A single sigmoid unit is a two-class head (train/loss.ts): the data's classes, not the output width.
  const classes = known(dataClasses(model) ?? output[output.length - 1]);
  if (classes !== undefined) hints.numClasses = classes;
  if (isBinaryKind(outputKind(model))) hints.sigmoidHead = true;
  return hints;
}

/**
 * The one line of every command whose data cannot feed the model. Images are resized to the model's
 * input unless the config says otherwise (shapeHintsOf), so only data.resize / data.channels get here.
 */
export function inputMismatch(input: readonly (number | null)[], [h, w, c]: readonly number[]): string {
  return (
    `model input shape [${input.map((d) => d ?? 'null').join(', ')}] does not take the data's ${h}x${w}x${c} images ` +
    "(data.resize / data.channels set their shape; leave them out to use the model's input)"
  );
}
