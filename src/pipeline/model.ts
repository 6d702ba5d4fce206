/** Where a stage's model comes from (a file or a built-in architecture) and where it goes (atomic write). */
import type * as tf from '@tensorflow/tfjs';
import { InputError } from '../errors.js';
import { checkOutPath } from '../io/out-path.js';
import { buildVgg } from '../model/architectures.js';
import { unknownLayerClassMessage } from '../model/foreign-formats.js';
import { fromLayersModel, toLayersModel } from '../model/convert.js';
import path from 'node:path';
import { checkModelOutDir, readModel, writeModel, type WriteModelOptions } from '../model/io.js';
import type { ModelConfig } from '../config/schema.js';
import type { ModelJson } from '../model/topology.js';
import type { PreparedData } from './data.js';
import { checkVggFits } from './fits.js';
import { checkStockLoadable } from './verify.js';

export async function loadLayersModel(path: string): Promise<{ model: tf.LayersModel; path: string }> {
  const artifacts = await readModel(path);
  const model = await toLayersModel(artifacts).catch((error: unknown) => {
    const unknown = unknownLayerClassMessage(error); // a custom layer class: one line, not tfjs's paragraph
    throw unknown !== undefined ? new InputError(unknown, { cause: error }) : error;
  });
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
