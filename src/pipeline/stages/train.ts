/**
 * The training stages: pretrain (plain training), train (task loss + λ·Σ|γ|) and finetune (no
 * sparsity term), each with its plan line, epoch lines and test accuracy on stderr (runTrainingStage)
 * and the model + its JSON-lines epoch log written when a destination is given.
 * Ownership: the caller owns `model` and `data`. The stage trains the model in place and disposes
 * neither, so it can run again on the same objects (another pass, a resumed run).
 */
import type * as tf from '@tensorflow/tfjs';
import { InputError } from '../../errors.js';
import type { Config } from '../../config/schema.js';
import type { Output } from '../../io/output.js';
import type { EpochRecord } from '../../train/loop.js';
import type { PreparedData } from '../data.js';
import { inputModelPath, loadTrainingInputs } from '../inputs.js';
import { addScalesForSparsity } from '../missing-scale.js';
import { checkOutputs, saveLayersModel } from '../model.js';
import { runTrainingStage } from '../train.js';
import type { Destination, WriteOptions } from './common.js';

export type TrainingKind = 'pretrain' | 'train' | 'finetune';

/** The config sections a training stage reads. */
export type TrainingConfig = Pick<Config, 'pretrain' | 'train' | 'finetune' | 'replicas' | 'seed'>;

/** How each stage is named in logs, and the epoch log written beside its model. */
const STAGE_LABEL: Record<TrainingKind, string> = { pretrain: 'pretrain', train: 'sparsity train', finetune: 'fine-tune' };
const LOG_FILE: Record<TrainingKind, string> = { pretrain: 'train-log.jsonl', train: 'train-log.jsonl', finetune: 'finetune-log.jsonl' };

export interface TrainingStageResult {
  /** The model.json written, when the stage had a destination. */
  written?: string;
  /** Test-set accuracy after the stage (fraction 0..1). */
  testAccuracy: number;
  seconds: number;
  epochs: EpochRecord[];
}

export async function trainingStage(
  kind: TrainingKind,
  model: tf.LayersModel,
  data: PreparedData,
  config: TrainingConfig,
  dest: Destination | undefined,
  out: Output,
): Promise<TrainingStageResult> {
  const sparsityLambda = kind === 'train' ? config.train.sparsity : 0;
  const hp = { ...config[kind], replicas: config.replicas };
  // Pretraining keeps the saved trainable flags; train/finetune unfreeze as configured.
  const trainable = kind === 'pretrain' ? 'as-saved' : config[kind].trainable;
  const result = await runTrainingStage(model, data, hp, sparsityLambda, config.seed, out, STAGE_LABEL[kind], trainable);
  const written =
    dest === undefined
      ? undefined
      : await saveLayersModel(model, dest.dir, { overwrite: dest.write.overwrite, sidecars: { [LOG_FILE[kind]]: result.log } });
  return { written, testAccuracy: result.testAccuracy, seconds: result.seconds, epochs: result.epochs };
}

/** What `slim train` / `slim finetune` print (--json). */
export interface TrainJobResult {
  model: string;
  backend: string;
  testAccuracy: number;
  seconds: number;
  epochs: EpochRecord[];
}

/** `slim train` and `slim finetune`: load the config's inputs, run one training stage, write its model to `outDir`. */
export async function trainFromConfig(
  kind: 'train' | 'finetune',
  config: Config,
  outDir: string,
  write: WriteOptions,
  out: Output,
): Promise<TrainJobResult> {
  if (config[kind].epochs < 1) throw new InputError(`config: ${kind}.epochs: must be at least 1 for slim ${kind}`);
  await checkOutputs([outDir], write, inputModelPath(config));
  const inputs = await loadTrainingInputs(config, out);
  const { backend, data } = inputs;
  // BatchNorm saved without γ gets one of ones before sparsity training (the same function).
  const model = kind === 'train' ? await addScalesForSparsity(inputs.model, config.train, out) : inputs.model;
  try {
    const result = await trainingStage(kind, model, data, config, { dir: outDir, write }, out);
    return {
      model: result.written!,
      backend: backend.detail,
      testAccuracy: result.testAccuracy,
      seconds: result.seconds,
      epochs: result.epochs,
    };
  } finally {
    model.dispose();
  }
}
