/**
 * Training stages (pretrain, sparsity train, fine-tune) around the core loop: model/data checks,
 * a progress bar and epoch lines on stderr, and the JSON-lines epoch log that lands beside the model.
 */
import { availableParallelism } from 'node:os';
import * as tf from '#tfjs';
import { InputError, InterruptedError } from '../errors.js';
import { train, type EpochRecord, type TrainOptions } from '../train/loop.js';
import { chooseReplicas, replicaWorkload } from '../train/replicas.js';
import { evaluateSource } from '../train/evaluate.js';
import { dataClasses } from '../train/loss.js';
import { applyTrainableMode, watchGammas, type TrainableMode } from '../train/trainable.js';
import type { Output } from '../io/output.js';
import type { PreparedData } from './data.js';
import { writeCheckpoint, type ResumePoint } from './checkpoint.js';
import { evalBatchAfterTraining, percent } from './stages/common.js';
import { evalStage } from './stages/eval.js';
import { inputMismatch } from './model.js';
import { bnGammaMagnitudes, gammaSparkline } from '../report/sparkline.js';
import { gammasBarelyMoved, median } from '../train/lambda.js';
import { batchNormMomenta, overrideBatchNormMomentum } from '../train/bn-statistics.js';
import { recalibrateForEvaluation, type RecalibrationConfig } from './bn-statistics.js';

/** The optimiser settings of one stage (a config's train / finetune / pretrain section; only train has replicas). */
export type StageHyperparameters = Pick<
  TrainOptions,
  'epochs' | 'batchSize' | 'lr' | 'momentum' | 'nesterov' | 'weightDecay' | 'milestones' | 'gamma' | 'replicas' | 'replicaSplit'
>;

/** BatchNorm during a stage: the momentum to train with (default the model's) and the recalibration after it. */
export interface StageBatchNorm {
  momentum?: number;
  /** Where the momentum comes from, for the log line (e.g. "train.bnMomentum"). */
  momentumSource?: string;
  recalibration?: RecalibrationConfig;
}

/** One line: the BN momentum this stage trains with, and whose it is. */
function describeMomentum(model: tf.LayersModel, bn: StageBatchNorm): string | undefined {
  const own = batchNormMomenta(model);
  if (own.length === 0) return undefined;
  const ownText = own.map((m) => String(m)).join(', ');
  return bn.momentum !== undefined
    ? `BatchNorm momentum ${bn.momentum} (config ${bn.momentumSource ?? 'bnMomentum'}; the model's: ${ownText})`
    : `BatchNorm momentum ${ownText} (the model's own; bnMomentum in the config overrides it)`;
}

/** A stage's checkpoints: written every epoch and when `signal` stops the run; `from` resumes one. */
export interface StageCheckpointing {
  dir: string;
  stage: string;
  fingerprint: string;
  from?: ResumePoint;
  signal?: AbortSignal;
}

export interface StageResult {
  epochs: EpochRecord[];
  /** The JSON-lines log (one EpochRecord per line). */
  log: string;
  /** Test-set accuracy after the stage (fraction 0..1). */
  testAccuracy: number;
  /** The test accuracy is at chance level (src/train/chance.ts; a warning said so). */
  atChance: boolean;
  seconds: number;
}

/** The model must take the dataset's images and emit one score per class. */
export function checkModelFitsData(model: tf.LayersModel, data: PreparedData): void {
  const input = model.inputs[0]?.shape ?? [];
  const [h, w, c] = data.imageShape;
  const fits = input.length === 4 && (input[1] === null || input[1] === h) && (input[2] === null || input[2] === w) && input[3] === c;
  if (!fits) {
    throw new InputError(inputMismatch(input, data.imageShape));
  }
  const output = model.outputs[0]?.shape ?? [];
  if (dataClasses(model) !== data.numClasses) {
    throw new InputError(`model outputs ${output[output.length - 1]} values per example, the dataset has ${data.numClasses} classes`);
  }
}

export async function testAccuracy(model: tf.LayersModel, data: PreparedData, batchSize: number): Promise<number> {
  return (await evaluateSource(model, data.test, { batchSize: evalBatchAfterTraining(batchSize), preprocess: data.preprocess })).accuracy;
}

/** One line when a numeric replicas setting could not be used as given: what was used and why. */
export function describeReplicaClamp(requested: number | 'auto', used: number, backend: string, cores: number): string | undefined {
  if (requested === 'auto' || requested <= used) return undefined;
  const why =
    used === 1 && !['wasm', 'cpu'].includes(backend)
      ? `backend ${backend} already uses every core`
      : `capped at the ${cores} core(s) of this machine`;
  return `replicas: ${requested} requested, ${used} used (${why})`;
}

/** Picks the replica count and prints the stage's plan line (and what became of the replicas setting). */
function announceStage(model: tf.LayersModel, hp: StageHyperparameters, sparsityLambda: number, label: string, out: Output): number {
  const requestedReplicas = hp.replicas ?? 1;
  const choice = chooseReplicas(requestedReplicas, tf.getBackend(), availableParallelism(), replicaWorkload(model, hp.batchSize));
  const replicas = choice.replicas;
  if (requestedReplicas === 'auto') out.info(`${label}: replicas auto → ${replicas} (${choice.reason})`);
  out.info(
    `${out.strong(label)}: ${hp.epochs} epoch(s), batch ${hp.batchSize}, lr ${hp.lr} (x${hp.gamma} at ${hp.milestones.join(', ')}), ` +
      `momentum ${hp.momentum}${hp.nesterov ? ' nesterov' : ''}, weight decay ${hp.weightDecay}` +
      (sparsityLambda > 0 ? `, sparsity lambda ${sparsityLambda}` : '') +
      (replicas > 1
        ? `, ${replicas} replicas (worker threads${hp.replicaSplit === 'speed' ? ', rows split by measured speed' : ''}; ` +
          'BatchNorm statistics per part of each batch)'
        : ''),
  );
  const clamped = describeReplicaClamp(requestedReplicas, replicas, tf.getBackend(), availableParallelism());
  if (clamped !== undefined) out.info(clamped);
  else if (requestedReplicas !== 1 && replicas === 1) {
    out.debug(`  replicas: ${requestedReplicas} requested, 1 used (backend ${tf.getBackend()}, ${availableParallelism()} core(s))`);
  }
  return replicas;
}

/** The stderr line of one finished epoch. */
function describeEpoch(r: EpochRecord, epochs: number, gammaByTrainable: ReturnType<ReturnType<typeof watchGammas>['record']>): string {
  return (
    `  epoch ${r.epoch + 1}/${epochs}: lr ${r.lr.toPrecision(3)}, loss ${r.loss.toFixed(4)}, train acc ${percent(r.trainAccuracy)}, ` +
    `val acc ${percent(r.valAccuracy)}, ${Math.round(r.imagesPerSecond)} img/s, ${r.seconds.toFixed(1)} s` +
    `, |gamma| mean ${r.gamma.meanAbs.toPrecision(3)}, <1e-2: ${percent(r.gamma.below1e2)}` +
    (gammaByTrainable.frozen.count > 0 ? `, frozen gamma: ${gammaByTrainable.frozen.count} (unmoved ${gammaByTrainable.unmoved})` : '')
  );
}

/** Runs one training stage; `label` names it in logs ("sparsity train", "fine-tune", ...). */
export async function runTrainingStage(
  model: tf.LayersModel,
  data: PreparedData,
  hp: StageHyperparameters,
  sparsityLambda: number,
  seed: number,
  out: Output,
  label: string,
  trainable: TrainableMode = 'as-saved',
  checkpointing?: StageCheckpointing,
  bn: StageBatchNorm = {},
): Promise<StageResult> {
  checkModelFitsData(model, data);
  // What this stage unfreezes (transfer-learning bodies come frozen); the saved flags come back after it.
  const unfreeze = applyTrainableMode(model, trainable);
  if (unfreeze.unfrozen > 0)
    out.info(`${label}: trainable "${trainable}" unfroze ${unfreeze.unfrozen} layer(s) saved as frozen ("as-saved" keeps them frozen)`);
  const gammaWatch = watchGammas(model);
  const gammasBefore = sparsityLambda > 0 ? bnGammaMagnitudes(model) : [];
  const started = Date.now();
  const lines: string[] = [...(checkpointing?.from?.log ?? [])];
  const replicas = announceStage(model, hp, sparsityLambda, label, out);
  const momentumLine = describeMomentum(model, bn);
  if (momentumLine !== undefined) out.info(`${label}: ${momentumLine}`);
  const restoreMomentum = bn.momentum !== undefined ? overrideBatchNormMomentum(model, bn.momentum) : () => {};
  let bar = out.progressBar(`${label} epoch 1/${hp.epochs}`, data.train.batchCount(hp.batchSize));
  let barEpoch = 0;
  let result: Awaited<ReturnType<typeof train>>;
  try {
    result = await train(
      model,
      { train: data.train, val: data.val },
      {
        ...hp,
        replicas,
        sparsityLambda,
        seed,
        preprocess: data.preprocess,
        resume: checkpointing?.from?.resume,
        signal: checkpointing?.signal,
      },
      {
        onBatch: (info) => {
          if (info.epoch !== barEpoch) {
            bar.stop();
            barEpoch = info.epoch;
            bar = out.progressBar(`${label} epoch ${info.epoch + 1}/${hp.epochs}`, info.stepsPerEpoch);
          }
          bar.update(info.step + 1, { info: `loss ${info.loss.toFixed(4)} ${Math.round(info.imagesPerSecond)} img/s` });
        },
        onEpoch: (r) => {
          bar.stop();
          const gammaByTrainable = gammaWatch.record();
          // The log numbers epochs from 1, like the stderr lines (EpochRecord counts from 0).
          lines.push(JSON.stringify({ stage: label, ...r, epoch: r.epoch + 1, gammaByTrainable }));
          out.info(describeEpoch(r, hp.epochs, gammaByTrainable));
        },
        onEpochEnd: async (state) => {
          if (checkpointing !== undefined)
            await writeCheckpoint(checkpointing.dir, checkpointing.stage, checkpointing.fingerprint, model, state, lines);
        },
      },
    );
  } finally {
    restoreMomentum();
  }
  bar.stop();
  unfreeze.restore();
  if (result.interrupted !== undefined && checkpointing !== undefined) {
    await writeCheckpoint(checkpointing.dir, checkpointing.stage, checkpointing.fingerprint, model, result.interrupted, lines);
    throw new InterruptedError(checkpointing.dir);
  }
  // Statistics that match the trained weights before anything is measured or written.
  if (bn.recalibration !== undefined) await recalibrateForEvaluation(model, data, bn.recalibration, hp.batchSize, label, out);
  const measured = await evalStage(model, data, { batchSize: evalBatchAfterTraining(hp.batchSize), line: { model: `  ${label}` } }, out);
  const accuracy = measured.accuracy;
  if (sparsityLambda > 0) {
    const gammasAfter = bnGammaMagnitudes(model);
    out.terminal(`  ${gammaSparkline(gammasAfter)}`);
    if (gammasBarelyMoved(gammasBefore, gammasAfter)) {
      out.warn(
        `${label}: |gamma| barely moved (median ${median(gammasBefore).toPrecision(3)} -> ${median(gammasAfter).toPrecision(3)}): ` +
          `lambda ${sparsityLambda} is too small for this model's gamma scale or schedule; train.sparsity "auto" sizes it`,
      );
    }
  }
  const earlier = (checkpointing?.from?.log ?? []).map((line) => {
    const { stage: _stage, ...record } = JSON.parse(line) as EpochRecord & { stage: string };
    return { ...record, epoch: record.epoch - 1 }; // the log counts from 1, EpochRecord from 0
  });
  return {
    epochs: [...earlier, ...result.epochs],
    log: lines.join('\n') + '\n',
    testAccuracy: accuracy,
    atChance: measured.chance.atChance,
    seconds: (Date.now() - started) / 1000,
  };
}
