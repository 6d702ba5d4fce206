/**
 * The training loop (not model.fit): forward in training mode, cross-entropy, λ·sign(γ) on BN
 * scales, weight decay, SGD step — one tidy per step, seeded shuffling and dropout masks.
 */
import * as tf from '@tensorflow/tfjs';
import { mixSeed, type BatchSource, type Preprocess } from '../data/dataset.js';
import { InputError, ProblemError } from '../errors.js';
import { evaluateSource } from './evaluate.js';
import { correctCount, crossEntropy, outputKind } from './loss.js';
import { lrAt } from './schedule.js';
import { Sgd } from './sgd.js';
import { addSparsityGrad, findBnGammas, gammaStats, type GammaStats } from './sparsity.js';

export interface TrainOptions {
  epochs: number;
  batchSize: number;
  /** Base learning rate; the step schedule multiplies it by `gamma` at each milestone. */
  lr: number;
  momentum: number;
  nesterov: boolean;
  weightDecay: number;
  /** Fractions of `epochs` where lr drops (e.g. [0.5, 0.75]). */
  milestones: number[];
  gamma: number;
  /** λ of the L1 penalty on BN γ; 0 = off. */
  sparsityLambda: number;
  seed: number;
  preprocess: Preprocess;
  /** Skip weight decay on BN γ/β and biases (default false, as the paper's code). */
  excludeBnAndBiasFromDecay?: boolean;
  /** Read losses back from the backend every this many steps (default 10): fewer GPU syncs. */
  syncEvery?: number;
  /** Drop a last partial batch (default false). */
  dropRemainder?: boolean;
}

export interface BatchInfo {
  epoch: number;
  /** 0-based step within the epoch. */
  step: number;
  stepsPerEpoch: number;
  /** Mean loss of the most recently read window of steps (refreshed every `syncEvery` steps). */
  loss: number;
  imagesPerSecond: number;
}

export interface EpochRecord {
  /** 0-based. */
  epoch: number;
  lr: number;
  /** Mean training loss per example over the epoch (training mode). */
  loss: number;
  trainAccuracy: number;
  valAccuracy?: number;
  valLoss?: number;
  /** Training throughput (excludes validation). */
  imagesPerSecond: number;
  /** Wall time of the whole epoch, validation included. */
  seconds: number;
  gamma: GammaStats;
}

export interface TrainHooks {
  onBatch?: (info: BatchInfo) => void;
  onEpoch?: (record: EpochRecord) => void;
}

export interface TrainResult {
  epochs: EpochRecord[];
}

/** Layer classes whose random mask we reseed every step (tfjs otherwise draws from Math.random). */
const DROPOUT_CLASSES = new Set(['Dropout', 'SpatialDropout1D']);

interface SeedHolder {
  seed?: number;
}

function dropoutLayers(model: tf.LayersModel): tf.layers.Layer[] {
  const out: tf.layers.Layer[] = [];
  for (const layer of model.layers) {
    if (layer instanceof tf.LayersModel) out.push(...dropoutLayers(layer));
    else if (DROPOUT_CLASSES.has(layer.getClassName())) out.push(layer);
  }
  return out;
}

function validate(options: TrainOptions): void {
  const positiveInt = (v: number, name: string): void => {
    if (!Number.isInteger(v) || v <= 0) throw new InputError(`train: ${name} must be a positive integer, got ${v}`);
  };
  positiveInt(options.epochs, 'epochs');
  positiveInt(options.batchSize, 'batchSize');
  if (!(options.lr > 0)) throw new InputError(`train: lr must be > 0, got ${options.lr}`);
  if (!(options.sparsityLambda >= 0)) throw new InputError(`train: sparsityLambda must be >= 0, got ${options.sparsityLambda}`);
  if (!(options.weightDecay >= 0)) throw new InputError(`train: weightDecay must be >= 0, got ${options.weightDecay}`);
  if (!(options.momentum >= 0 && options.momentum < 1)) throw new InputError(`train: momentum must be in [0, 1), got ${options.momentum}`);
  if (options.nesterov && options.momentum === 0) throw new InputError('train: nesterov needs momentum > 0');
}

export async function train(
  model: tf.LayersModel,
  data: { train: BatchSource; val?: BatchSource },
  options: TrainOptions,
  hooks: TrainHooks = {},
): Promise<TrainResult> {
  validate(options);
  const kind = outputKind(model);
  const variables = model.trainableWeights;
  // variableGrads keys gradients by tf.Variable name; LayerVariable names are unique.
  const tfVariables = variables.map((v) => v.read() as tf.Variable);
  const byName = new Map(variables.map((v, i) => [tfVariables[i]!.name, v] as const));
  const gammas = findBnGammas(model).filter((g) => variables.includes(g.variable));
  const dropouts = dropoutLayers(model);
  const savedDropoutSeeds = dropouts.map((d) => (d as unknown as SeedHolder).seed);
  const syncEvery = options.syncEvery ?? 10;
  const sgd = new Sgd({
    momentum: options.momentum,
    nesterov: options.nesterov,
    weightDecay: options.weightDecay,
    excludeBnAndBiasFromDecay: options.excludeBnAndBiasFromDecay,
  });
  const stepsPerEpoch = data.train.batchCount(options.batchSize, options.dropRemainder);
  const records: EpochRecord[] = [];

  // Per-step scalars not yet read back; read in one sync per window.
  let pendingLoss: tf.Scalar[] = [];
  let pendingCorrect: tf.Scalar[] = [];
  let pendingSizes: number[] = [];

  try {
    for (let epoch = 0; epoch < options.epochs; epoch++) {
      const lr = lrAt(epoch, options.lr, options.epochs, options.milestones, options.gamma);
      const epochStart = performance.now();
      let lossSum = 0;
      let correctSum = 0;
      let seen = 0;
      let windowLoss = Number.NaN;
      let firstPendingStep = 0;

      const flush = (): void => {
        if (pendingLoss.length === 0) return;
        const [losses, corrects] = tf.tidy(() => [tf.stack(pendingLoss).dataSync(), tf.stack(pendingCorrect).dataSync()]);
        tf.dispose([...pendingLoss, ...pendingCorrect]);
        let windowSum = 0;
        let windowSize = 0;
        for (let i = 0; i < losses!.length; i++) {
          const l = losses![i]!;
          if (!Number.isFinite(l)) {
            throw new ProblemError(
              `training diverged at epoch ${epoch}, step ${firstPendingStep + i} (loss ${l}); ` +
                `try a lower lr (now ${lr}) or check the input data for NaN/Infinity`,
            );
          }
          windowSum += l * pendingSizes[i]!;
          windowSize += pendingSizes[i]!;
          correctSum += corrects![i]!;
        }
        lossSum += windowSum;
        seen += windowSize;
        windowLoss = windowSum / windowSize;
        pendingLoss = [];
        pendingCorrect = [];
        pendingSizes = [];
      };

      let step = 0;
      let imagesDone = 0;
      // for await: in-memory datasets yield synchronously, streaming sources decode ahead asynchronously.
      for await (const batch of data.train.batches({
        batchSize: options.batchSize,
        preprocess: options.preprocess,
        shuffleSeed: options.seed,
        epoch,
        dropRemainder: options.dropRemainder,
        train: true,
      })) {
        try {
          dropouts.forEach((d, i) => {
            (d as unknown as SeedHolder).seed = mixSeed(options.seed, epoch, step, i);
          });
          const { loss, correct } = tf.tidy(() => {
            let correctInStep: tf.Scalar | undefined;
            const { value, grads } = tf.variableGrads(() => {
              // training: true → BN uses batch statistics and updates its moving mean/variance.
              const out = model.apply(batch.x, { training: true }) as tf.Tensor;
              correctInStep = tf.keep(correctCount(batch.y, out));
              return crossEntropy(kind, batch.y, out);
            }, tfVariables);
            const gradMap = new Map<tf.LayerVariable, tf.Tensor>();
            for (const [name, g] of Object.entries(grads)) gradMap.set(byName.get(name)!, g);
            addSparsityGrad(gradMap, gammas, options.sparsityLambda);
            sgd.step(gradMap, lr);
            return { loss: value, correct: correctInStep! };
          });
          // tf.keep'd tensors survive tidy; we own `correct` from here (disposed in flush).
          if (pendingLoss.length === 0) firstPendingStep = step;
          pendingLoss.push(loss);
          pendingCorrect.push(correct);
          pendingSizes.push(batch.size);
        } finally {
          tf.dispose([batch.x, batch.y]);
        }
        imagesDone += batch.size;
        if (step === 0 || (step + 1) % syncEvery === 0 || step === stepsPerEpoch - 1) flush();
        const elapsed = (performance.now() - epochStart) / 1000;
        hooks.onBatch?.({ epoch, step, stepsPerEpoch, loss: windowLoss, imagesPerSecond: elapsed > 0 ? imagesDone / elapsed : 0 });
        step++;
        // Yield to the event loop so progress output and signals get a turn.
        if (step % syncEvery === 0) await new Promise<void>((resolve) => setImmediate(resolve));
      }
      flush();
      const trainSeconds = (performance.now() - epochStart) / 1000;
      const record: EpochRecord = {
        epoch,
        lr,
        loss: seen ? lossSum / seen : Number.NaN,
        trainAccuracy: seen ? correctSum / seen : 0,
        imagesPerSecond: trainSeconds > 0 ? seen / trainSeconds : 0,
        seconds: 0,
        gamma: gammaStats(model),
      };
      if (!Number.isFinite(record.gamma.meanAbs)) {
        throw new ProblemError(`training diverged in epoch ${epoch} (BatchNorm gamma became ${record.gamma.meanAbs}); try a lower lr (now ${lr})`);
      }
      if (data.val !== undefined) {
        const v = await evaluateSource(model, data.val, { batchSize: options.batchSize, preprocess: options.preprocess });
        record.valAccuracy = v.accuracy;
        record.valLoss = v.loss;
      }
      record.seconds = (performance.now() - epochStart) / 1000;
      records.push(record);
      hooks.onEpoch?.(record);
    }
    return { epochs: records };
  } finally {
    tf.dispose([...pendingLoss, ...pendingCorrect]);
    sgd.dispose();
    dropouts.forEach((d, i) => {
      (d as unknown as SeedHolder).seed = savedDropoutSeeds[i];
    });
  }
}
