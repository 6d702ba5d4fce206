/**
 * Loading what the training stages work on, from a config: the backend, the prepared data and the
 * model. Commands and `run` load once here, then hand the values to the stages.
 */
import type * as tf from '#tfjs';
import type { BackendInfo } from '../backend/select.js';
import type { Config } from '../config/schema.js';
import type { Output } from '../io/output.js';
import { startBackend } from './backend.js';
import { prepareData, type PreparedData } from './data.js';
import { loadLayersModel, modelFromConfig, shapeHintsOf } from './model.js';
import { companionInfo, recordPreprocessing, resolvePreprocess } from './model-metadata.js';
import { recalibrationBatches } from './bn-statistics.js';
import { checkModelFitsData } from './train.js';
import { warnImplausibleScale } from './in-model-preprocess.js';
import { describeLoss } from '../train/loss.js';

export interface TrainingInputs {
  backend: BackendInfo;
  data: PreparedData;
  /** Owned by the caller, who disposes it. */
  model: tf.LayersModel;
  /** The model is already trained (a model file marked trained), so its accuracy is a baseline. */
  trained: boolean;
}

/**
 * Backend first (data preparation may already use tensors), then data, then the model shaped for it.
 * `checkModel` runs on a model file as soon as it is read, before any data is (e.g. "nothing to slim").
 */
export async function loadTrainingInputs(
  config: Config,
  out: Output,
  checkModel?: (model: tf.LayersModel) => void,
): Promise<TrainingInputs> {
  const backend = await startBackend(config.backend, out);
  // A model file is read before the data: its output width is the class count every label must fit.
  const file = config.model?.type === 'file' ? { ...(await loadLayersModel(config.model.path)), trained: config.model.trained } : undefined;
  let data: PreparedData;
  try {
    if (file !== undefined) checkModel?.(file.model);
    data = await prepareData(config.data, config.seed, file === undefined ? {} : shapeHintsOf(file.model));
    // A recalibration count the training split cannot fill is refused now, not after a training stage.
    for (const stage of [config.train, config.finetune]) if (stage.epochs > 0) recalibrationBatches(config, data, stage.batchSize);
  } catch (error) {
    file?.model.dispose();
    throw error;
  }
  out.info(`data: ${data.summary}`);
  const { model, trained } = file ?? (await modelFromConfig(config.model, data, config.seed));
  try {
    checkModelFitsData(model, data); // before any stage measures an accuracy on data the model cannot take
  } catch (error) {
    model.dispose();
    throw error;
  }
  // The model's recorded preprocessing applies when the config gives none; the run's is then recorded in it.
  out.info(describeLoss(model));
  data.preprocess = resolvePreprocess(data.preprocess, model, out);
  warnImplausibleScale(data.preprocess, data.floatRange, out);
  // Output k means the metadata's label k; image folders number classes by sorted folder name.
  const labels = companionInfo(model)?.labels;
  if (labels !== undefined && data.classNames !== undefined && JSON.stringify(labels) !== JSON.stringify(data.classNames)) {
    out.warn(
      `metadata.json labels [${labels.join(', ')}] differ from the data's classes [${data.classNames.join(', ')}] (output k is class k of the data)`,
    );
  }
  recordPreprocessing(model, data);
  return { backend, data, model, trained };
}

/** The config's input model file, if any: output folders are checked against it. */
export function inputModelPath(config: Config): string | undefined {
  return config.model?.type === 'file' ? config.model.path : undefined;
}
