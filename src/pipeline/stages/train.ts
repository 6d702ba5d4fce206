/**
 * The training stages: pretrain (plain training), train (task loss + λ·Σ|γ|) and finetune (no
 * sparsity term), each with its plan line, epoch lines and test accuracy on stderr (runTrainingStage)
 * and the model + its JSON-lines epoch log written when a destination is given.
 * Ownership: the caller owns `model` and `data`. The stage trains the model in place and disposes
 * neither, so it can run again on the same objects (another pass, a resumed run).
 */
import type * as tf from '#tfjs';
import { InputError, ProblemError } from '../../errors.js';
import type { Config } from '../../config/schema.js';
import type { Output } from '../../io/output.js';
import type { EpochRecord } from '../../train/loop.js';
import type { PreparedData } from '../data.js';
import { inputModelPath, loadTrainingInputs } from '../inputs.js';
import { addScalesForSparsity, scalesWillBeAdded } from '../missing-scale.js';
import { checkModelOutput, topologyOf } from '../model.js';
import { fromLayersModel } from '../../model/convert.js';
import { writeModelAs, type ExportDestination } from './export.js';
import type { KerasFormat } from '../../model/keras/write.js';
import { requireSomethingToSlim } from '../../prune/slimmable.js';
import { runTrainingStage, type StageCheckpointing } from '../train.js';
import { checkpointDirFor, checkpointExists, readCheckpoint, removeCheckpoint, stageFingerprint } from '../checkpoint.js';
import type { WriteOptions } from './common.js';
import { bnGammaMagnitudes } from '../../report/sparkline.js';
import { autoLambda, lambdaFit, median } from '../../train/lambda.js';

export type TrainingKind = 'pretrain' | 'train' | 'finetune';

/** The config sections a training stage reads. */
export type TrainingConfig = Pick<Config, 'pretrain' | 'train' | 'finetune' | 'replicas' | 'replicaSplit' | 'seed'> &
  Partial<Pick<Config, 'bnRecalibration'>>;

/** How each stage is named in logs, and the epoch log written beside its model. */
const STAGE_LABEL: Record<TrainingKind, string> = { pretrain: 'pretrain', train: 'sparsity train', finetune: 'fine-tune' };
const LOG_FILE: Record<TrainingKind, string> = { pretrain: 'train-log.jsonl', train: 'train-log.jsonl', finetune: 'finetune-log.jsonl' };

export interface TrainingStageResult {
  /** The model.json written, when the stage had a destination. */
  written?: string;
  /** Test-set accuracy after the stage (fraction 0..1). */
  testAccuracy: number;
  /** The test accuracy is at chance level (a warning said so). */
  atChance: boolean;
  seconds: number;
  epochs: EpochRecord[];
}

/** Checkpoints of a stage: the folder, whether to continue the one there, and the stop signal (SIGINT/SIGTERM). */
export interface StageControl {
  checkpointDir: string;
  resume: boolean;
  signal?: AbortSignal;
}

export async function trainingStage(
  kind: TrainingKind,
  model: tf.LayersModel,
  data: PreparedData,
  config: TrainingConfig,
  dest: ExportDestination | undefined,
  out: Output,
  control?: StageControl,
): Promise<TrainingStageResult> {
  const sparsityLambda = kind === 'train' ? sparsityLambdaFor(model, data, config.train, out) : 0;
  const hp = { ...config[kind], replicas: config.replicas, replicaSplit: config.replicaSplit };
  // Pretraining keeps the saved trainable flags; train/finetune unfreeze as configured.
  const trainable = kind === 'pretrain' ? 'as-saved' : config[kind].trainable;
  const checkpointing = control === undefined ? undefined : await stageCheckpointing(kind, model, config, control, out);
  let result;
  try {
    const bn = {
      momentum: config[kind].bnMomentum,
      momentumSource: `${kind}.bnMomentum`,
      recalibration: { bnRecalibration: config.bnRecalibration, seed: config.seed },
    };
    result = await runTrainingStage(model, data, hp, sparsityLambda, config.seed, out, STAGE_LABEL[kind], trainable, checkpointing, bn);
  } catch (error) {
    // A diverged run would diverge again from its checkpoint (same config, same data order): nothing to resume.
    if (error instanceof ProblemError && control !== undefined) await removeCheckpoint(control.checkpointDir);
    throw error;
  }
  // A Keras file (dest.format keras|h5) keeps BatchNorm like a layers folder; the epoch log goes beside a folder only.
  const written =
    dest === undefined ? undefined : await writeModelAs(await fromLayersModel(model), dest, { sidecars: { [LOG_FILE[kind]]: result.log } });
  if (control !== undefined) await removeCheckpoint(control.checkpointDir);
  return { written, testAccuracy: result.testAccuracy, atChance: result.atChance, seconds: result.seconds, epochs: result.epochs };
}

/**
 * λ of a sparsity-training stage: the configured one (with a warning when it cannot move this
 * model's γ over the planned steps) or, for "auto", the one sized from them (src/train/lambda.ts).
 */
export function sparsityLambdaFor(model: tf.LayersModel, data: PreparedData, train: Config['train'], out: Output): number {
  if (train.sparsity !== 'auto' && train.sparsity === 0) return 0;
  const gammas = bnGammaMagnitudes(model);
  const plan = { ...train, stepsPerEpoch: data.train.batchCount(train.batchSize) };
  const steps = plan.epochs * plan.stepsPerEpoch;
  if (train.sparsity === 'auto') {
    if (gammas.length === 0)
      throw new InputError('config: train.sparsity: "auto" sizes lambda from BatchNorm gamma, and the model has none');
    const lambda = autoLambda(gammas, plan);
    out.info(
      `sparsity lambda auto → ${lambda} (median |gamma| ${median(gammas).toPrecision(3)} over ${steps} step(s) at lr ${train.lr}: ` +
        'lambda·sum(lr)/(1 - momentum) = the median |gamma|)',
    );
    return lambda;
  }
  const fit = lambdaFit(train.sparsity, gammas, plan);
  if (fit.tooSmall) {
    out.warn(
      `sparsity lambda ${train.sparsity} can shrink |gamma| by at most ${fit.expectedShrink.toPrecision(2)} over ${steps} step(s) ` +
        `(lambda·sum(lr)/(1 - momentum)), against a median |gamma| of ${fit.medianGamma.toPrecision(3)}: sparsity training will barely move it; ` +
        `try train.sparsity ${fit.suggested} (or "auto") or more epochs`,
    );
  }
  return train.sparsity;
}

/** The stage's fingerprint, and (with resume) the checkpoint's state loaded into `model`. */
async function stageCheckpointing(
  kind: TrainingKind,
  model: tf.LayersModel,
  config: TrainingConfig,
  control: StageControl,
  out: Output,
): Promise<StageCheckpointing> {
  const fingerprint = await stageFingerprint(kind, config, model);
  const base = { dir: control.checkpointDir, stage: kind, fingerprint, signal: control.signal };
  if (control.resume) {
    const from = await readCheckpoint(control.checkpointDir, kind, fingerprint, model);
    out.info(
      `${STAGE_LABEL[kind]}: resuming from ${control.checkpointDir} at epoch ${from.resume.epoch + 1}, step ${from.resume.step ?? 0}`,
    );
    return { ...base, from };
  }
  if (await checkpointExists(control.checkpointDir))
    out.warn(`replacing the checkpoint of an earlier run in ${control.checkpointDir} (--resume continues it)`);
  return base;
}

/** What `slim train` / `slim finetune` print (--json). */
export interface TrainJobResult {
  model: string;
  backend: string;
  testAccuracy: number;
  seconds: number;
  epochs: EpochRecord[];
}

/**
 * `slim train` and `slim finetune`: load the config's inputs, run one training stage, write its model
 * to `outDir` (a layers folder, or with `run.format` keras|h5 one Keras file).
 */
export async function trainFromConfig(
  kind: 'train' | 'finetune',
  config: Config,
  outDir: string,
  write: WriteOptions,
  out: Output,
  run: { resume?: boolean; signal?: AbortSignal; format?: 'layers' | KerasFormat } = {},
): Promise<TrainJobResult> {
  if (config[kind].epochs < 1) throw new InputError(`config: ${kind}.epochs: must be at least 1 for slim ${kind}`);
  const format = run.format ?? 'layers';
  await checkModelOutput(outDir, format, write, inputModelPath(config));
  const checkpointDir = checkpointDirFor(outDir);
  if (run.resume === true && !(await checkpointExists(checkpointDir))) {
    throw new InputError(`--resume: no checkpoint at ${checkpointDir} (run without --resume to start over)`);
  }
  // Sparsity training serves pruning: without a BN γ it would train hours for nothing (checked before the data is read).
  const slimmable = (model: tf.LayersModel) => {
    if (kind === 'train' && config.train.sparsity !== 0)
      requireSomethingToSlim(topologyOf(model), 'train', scalesWillBeAdded(config.train));
  };
  const inputs = await loadTrainingInputs(config, out, slimmable);
  const { backend, data } = inputs;
  // BatchNorm saved without γ gets one of ones before sparsity training (the same function).
  const model = kind === 'train' ? await addScalesForSparsity(inputs.model, config.train, out) : inputs.model;
  try {
    const control = { checkpointDir, resume: run.resume ?? false, signal: run.signal };
    const result = await trainingStage(kind, model, data, config, { dir: outDir, write, format }, out, control);
    return {
      model: result.written!,
      backend: backend.detail,
      testAccuracy: result.testAccuracy,
      seconds: result.seconds,
      // Numbered from 1, like the stderr lines and the -log.jsonl (EpochRecord counts from 0).
      epochs: result.epochs.map((record) => ({ ...record, epoch: record.epoch + 1 })),
    };
  } finally {
    model.dispose();
  }
}
