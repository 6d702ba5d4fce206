/**
 * The training loop (not model.fit): forward in training mode, cross-entropy, λ·sign(γ) on BN
 * scales, weight decay, SGD step — one tidy per step, seeded shuffling and dropout masks.
 */
import { availableParallelism } from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { mixSeed, type Batch, type BatchSource, type Preprocess } from '../data/dataset.js';
import { InputError, ProblemError } from '../errors.js';
import { evaluateSource } from './evaluate.js';
import { fusedBatchNormByDefault, useFusedBatchNorm } from './fused-bn.js';
import { dropoutLayers, getDropoutSeed, setDropoutSeed } from './dropout.js';
import { correctCount, crossEntropy, outputKind, trainOnLogits } from './loss.js';
import type { StepReply } from './replica-protocol.js';
import { effectiveReplicas, splitSizes, startReplicaWorkers, type ReplicasRequest, type ReplicaWorker } from './replicas.js';
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
  /**
   * Data-parallel copies of the model, one per core (default 1: no worker threads). Only on the
   * single-threaded wasm/cpu backends, capped at the core count (see effectiveReplicas in
   * replicas.ts). Trainable weights follow the full-batch gradient exactly (to float rounding);
   * BatchNorm normalises each part of a batch with that part's statistics, and the moving
   * mean/variance come from the main thread's part only.
   */
  replicas?: ReplicasRequest;
  /**
   * Run BatchNormalization's training-mode forward as one fused op with a closed-form gradient
   * (src/train/fused-bn.ts; same maths as tfjs-layers, faster on wasm). Default: on the wasm and
   * cpu backends (fusedBatchNormByDefault), off on 'tensorflow', where TensorFlow's own ops run.
   */
  fusedBatchNorm?: boolean;
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
  /** Replicas actually used (1 = the main thread alone). */
  replicas: number;
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
  const replicas = options.replicas ?? 1;
  if (replicas !== 'auto' && !(Number.isInteger(replicas) && replicas >= 1)) {
    throw new InputError(`train: replicas must be a positive integer or 'auto', got ${replicas}`);
  }
}

export async function train(
  model: tf.LayersModel,
  data: { train: BatchSource; val?: BatchSource },
  options: TrainOptions,
  hooks: TrainHooks = {},
): Promise<TrainResult> {
  validate(options);
  outputKind(model); // a model slim cannot train fails here, before any worker starts
  const variables = model.trainableWeights;
  // variableGrads keys gradients by tf.Variable name; LayerVariable names are unique.
  const tfVariables = variables.map((v) => v.read() as tf.Variable);
  const byName = new Map(variables.map((v, i) => [tfVariables[i]!.name, v] as const));
  const gammas = findBnGammas(model).filter((g) => variables.includes(g.variable));
  const dropouts = dropoutLayers(model);
  const savedDropoutSeeds = dropouts.map(getDropoutSeed);
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

  const backendName = tf.getBackend();
  const replicas = effectiveReplicas(options.replicas ?? 1, backendName, availableParallelism());
  let workers: ReplicaWorker[] = [];

  // Where each trainable variable sits in the workers' packed gradient arrays.
  const variableIndex = new Map(tfVariables.map((v, i) => [v.name, i] as const));
  const variableSizes = tfVariables.map((v) => v.size);
  const variableOffsets = variableSizes.map((_, i) => variableSizes.slice(0, i).reduce((a, b) => a + b, 0));

  /** One step of the whole batch on this thread (replicas = 1). */
  const singleStep = (batch: Batch, epoch: number, step: number, lr: number): { loss: tf.Scalar; correct: tf.Scalar } => {
    dropouts.forEach((d, i) => {
      setDropoutSeed(d, mixSeed(options.seed, epoch, step, i));
    });
    return tf.tidy(() => {
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
  };

  /**
   * One step split over the main thread and the workers: post the workers' parts first (the
   * main thread's wasm work is synchronous and would otherwise delay them), compute our part,
   * then combine the gradients of the part means, weighted by part size, into the full-batch
   * mean gradient, step the optimizer and send the new weights back.
   */
  const replicatedStep = async (batch: Batch, epoch: number, step: number, lr: number): Promise<{ loss: tf.Scalar; correct: tf.Scalar }> => {
    const sizes = splitSizes(batch.size, replicas);
    const [, ...imageShape] = batch.x.shape;
    const classes = batch.y.shape[1];
    const replies: { size: number; reply: Promise<StepReply> }[] = [];
    let offset = sizes[0]!;
    workers.forEach((worker, k) => {
      const size = sizes[k + 1]!;
      if (size === 0) return;
      // slice(): copies we own, since their buffers are transferred (cpu may share tensor storage).
      const [x, y] = tf.tidy(() => [
        (tf.slice(batch.x, [offset, 0, 0, 0], [size, -1, -1, -1]).dataSync() as Float32Array).slice(),
        (tf.slice(batch.y, [offset, 0], [size, -1]).dataSync() as Float32Array).slice(),
      ]);
      const dropoutSeeds = dropouts.map((_, i) => mixSeed(options.seed, epoch, step, i, k + 1));
      replies.push({ size, reply: worker.step({ type: 'step', x: x!, xShape: [size, ...imageShape], y: y!, yShape: [size, classes], dropoutSeeds }) });
      offset += size;
    });

    const ownSize = sizes[0]!;
    dropouts.forEach((d, i) => setDropoutSeed(d, mixSeed(options.seed, epoch, step, i)));
    const own = tf.tidy(() => {
      const x = ownSize === batch.size ? batch.x : tf.slice(batch.x, 0, ownSize);
      const y = ownSize === batch.size ? batch.y : tf.slice(batch.y, 0, ownSize);
      let correctInStep: tf.Scalar | undefined;
      const { value, grads } = tf.variableGrads(() => {
        const out = model.apply(x, { training: true }) as tf.Tensor;
        correctInStep = tf.keep(correctCount(y, out));
        return crossEntropy(kind, y, out);
      }, tfVariables);
      return { value, grads, correct: correctInStep! };
    });
    try {
      const parts = await Promise.all(replies.map(async (r) => ({ size: r.size, reply: await r.reply })));
      const combined = tf.tidy(() => {
        const total = batch.size;
        const gradMap = new Map<tf.LayerVariable, tf.Tensor>();
        for (const [name, g] of Object.entries(own.grads)) {
          const index = variableIndex.get(name)!;
          let sum = tf.mul(g, ownSize / total);
          for (const part of parts) {
            const start = variableOffsets[index]!;
            const theirs = tf.tensor(part.reply.grads.subarray(start, start + variableSizes[index]!), g.shape);
            sum = tf.add(sum, tf.mul(theirs, part.size / total));
          }
          gradMap.set(byName.get(name)!, sum);
        }
        addSparsityGrad(gradMap, gammas, options.sparsityLambda);
        sgd.step(gradMap, lr);
        const otherLoss = parts.reduce((acc, p) => acc + p.reply.loss * (p.size / total), 0);
        const otherCorrect = parts.reduce((acc, p) => acc + p.reply.correct, 0);
        return {
          loss: tf.add(tf.mul(own.value, ownSize / total), otherLoss) as tf.Scalar,
          correct: tf.add(own.correct, tf.scalar(otherCorrect, 'int32')) as tf.Scalar,
        };
      });
      if (variableSizes.length > 0) {
        // slice(): a copy we own (a variable's storage may back the concat on the cpu backend).
        const values = tf.tidy(() => tf.concat(tfVariables.map((v) => v.flatten())).dataSync() as Float32Array).slice();
        workers.forEach((worker, k) => worker.sendWeights(k === workers.length - 1 ? values : values.slice()));
      }
      return combined;
    } finally {
      tf.dispose([own.value, own.correct, ...Object.values(own.grads)]);
    }
  };

  // Logits for the loss (see trainOnLogits) and the fused BatchNorm: both for this run only,
  // restored in the finally below.
  const onLogits = trainOnLogits(model);
  const kind = onLogits.kind;
  const fusedBatchNorm = options.fusedBatchNorm ?? fusedBatchNormByDefault(backendName);
  const uninstallFusedBatchNorm = fusedBatchNorm ? useFusedBatchNorm(model) : () => {};
  try {
    if (replicas > 1) workers = await startReplicaWorkers(model, replicas - 1, backendName as 'wasm' | 'cpu', fusedBatchNorm);
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
          const { loss, correct } = workers.length > 0 ? await replicatedStep(batch, epoch, step, lr) : singleStep(batch, epoch, step, lr);
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
        const v = await evaluateSource(model, data.val, { batchSize: options.batchSize, preprocess: options.preprocess, outputKind: kind });
        record.valAccuracy = v.accuracy;
        record.valLoss = v.loss;
      }
      record.seconds = (performance.now() - epochStart) / 1000;
      records.push(record);
      hooks.onEpoch?.(record);
    }
    return { epochs: records, replicas };
  } finally {
    uninstallFusedBatchNorm();
    onLogits.restore();
    tf.dispose([...pendingLoss, ...pendingCorrect]);
    sgd.dispose();
    dropouts.forEach((d, i) => {
      setDropoutSeed(d, savedDropoutSeeds[i]);
    });
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
