/**
 * The training loop (not model.fit): an epoch/batch driver over a step runner (step.ts: this
 * thread; replicas.ts: worker threads). The driver owns epochs, the lr schedule, batches, the
 * loss readback, hooks, validation and the epoch records; a step is forward in training mode,
 * cross-entropy, λ·sign(γ) on BN scales, weight decay, SGD — one tidy per step, seeded shuffling
 * and dropout masks. The model's tfjs-layers patches live exactly as long as train() (patches.ts).
 */
import { availableParallelism } from 'node:os';
import * as tf from '#tfjs';
import { Dataset, type Batch, type BatchSource } from '../data/dataset.js';
import { ProblemError } from '../errors.js';
import { evaluateSource } from './evaluate.js';
import { fusedBatchNormByDefault } from './fused-bn.js';
import { outputKind } from './loss.js';
import {
  checkTrainOptions,
  type EpochRecord,
  type PartialEpoch,
  type TrainHooks,
  type TrainingState,
  type TrainOptions,
  type TrainResult,
} from './options.js';
import type { SgdState } from './sgd.js';
import { withTrainingPatches } from './patches.js';
import { rowBatches, shareRows, type RowBatch } from './replica-data.js';
import { effectiveReplicas, replicaWorkload, ReplicatedRunner } from './replicas.js';
import { lrAt } from './schedule.js';
import { gammaStats } from './sparsity.js';
import { LocalRunner, Optimizer, trainingModel, type StepRunner, type TrainingModel } from './step.js';

export type { BatchInfo, EpochRecord, PartialEpoch, TrainHooks, TrainingState, TrainOptions, TrainResult } from './options.js';

interface TrainData {
  train: BatchSource;
  val?: BatchSource;
}

/** What every epoch of one train() call shares. */
interface Run {
  net: TrainingModel;
  data: TrainData;
  options: TrainOptions;
  hooks: TrainHooks;
  runner: StepRunner;
  /** Set when the replicas decode their own rows: the loop hands it row indices, not decoded batches. */
  rowRunner?: ReplicatedRunner;
  stepsPerEpoch: number;
  syncEvery: number;
}

export async function train(model: tf.LayersModel, data: TrainData, options: TrainOptions, hooks: TrainHooks = {}): Promise<TrainResult> {
  checkTrainOptions(options);
  outputKind(model); // a model slim cannot train fails here, before any worker starts
  const backendName = tf.getBackend();
  const requested = options.replicas ?? 1;
  const replicas = effectiveReplicas(
    requested,
    backendName,
    availableParallelism(),
    requested === 'auto' ? replicaWorkload(model, options.batchSize) : undefined,
  );
  const fusedBatchNorm = options.fusedBatchNorm ?? fusedBatchNormByDefault(backendName);
  return withTrainingPatches(model, { fusedBatchNorm }, async (patches) => {
    const net = trainingModel(model, patches);
    const optimizer = new Optimizer(net, options);
    let runner: StepRunner | undefined;
    try {
      if (options.resume?.optimizer !== undefined) optimizer.sgd.importState(net.layerVariables, options.resume.optimizer);
      // In-memory training sets go to shared memory once and each replica decodes its own rows (replica-data.ts).
      const rows = replicas > 1 && data.train instanceof Dataset ? shareRows(data.train, options.preprocess) : undefined;
      const replicated =
        replicas > 1
          ? await ReplicatedRunner.start(net, optimizer, options.seed, replicas, {
              backend: backendName as 'wasm' | 'cpu',
              fusedBatchNorm,
              split: options.replicaSplit ?? 'equal',
              ...(rows !== undefined ? { rows } : {}),
            })
          : undefined;
      runner = replicated ?? new LocalRunner(net, optimizer, options.seed);
      const run: Run = {
        net,
        data,
        options,
        hooks,
        runner,
        ...(rows !== undefined ? { rowRunner: replicated } : {}),
        stepsPerEpoch: data.train.batchCount(options.batchSize, options.dropRemainder),
        syncEvery: options.syncEvery ?? 10,
      };
      const records: EpochRecord[] = [];
      const optimizerState = () => optimizer.sgd.exportState();
      let start: EpochStart = { step: options.resume?.step ?? 0, partial: options.resume?.partial };
      for (let epoch = options.resume?.epoch ?? 0; epoch < options.epochs; epoch++) {
        const ended = await runEpoch(run, epoch, start);
        if ('stoppedAt' in ended) {
          const { step, partial } = ended.stoppedAt;
          return { epochs: records, replicas, interrupted: stoppedState(epoch, step, partial, optimizer.sgd.exportState()) };
        }
        records.push(ended.record);
        hooks.onEpoch?.(ended.record);
        await hooks.onEpochEnd?.({ nextEpoch: epoch + 1, nextStep: 0, optimizerState });
        start = { step: 0 };
        if (options.signal?.aborted && epoch + 1 < options.epochs) {
          return { epochs: records, replicas, interrupted: stoppedState(epoch + 1, 0, undefined, optimizer.sgd.exportState()) };
        }
      }
      return { epochs: records, replicas };
    } finally {
      await runner?.close();
      optimizer.dispose();
    }
  });
}

/** The state of a stopped run; the momentum buffers are copied now, before the optimizer is disposed. */
function stoppedState(nextEpoch: number, nextStep: number, partial: PartialEpoch | undefined, optimizer: SgdState): TrainingState {
  return { nextEpoch, nextStep, ...(partial !== undefined ? { partial } : {}), optimizerState: () => optimizer };
}

/**
 * Per-step loss and correct-count scalars not yet read back: read in one sync per window of
 * `syncEvery` steps (fewer GPU syncs), checked for divergence, summed over the epoch.
 */
class LossWindow {
  lossSum = 0;
  correctSum = 0;
  seen = 0;
  /** Mean loss of the last window read (NaN before the first). */
  windowLoss = Number.NaN;
  private losses: tf.Scalar[] = [];
  private corrects: tf.Scalar[] = [];
  private sizes: number[] = [];
  private firstStep = 0;

  constructor(
    private readonly epoch: number,
    private readonly lr: number,
  ) {}

  /** Takes ownership of a step's scalars. */
  push(step: number, loss: tf.Scalar, correct: tf.Scalar, size: number): void {
    if (this.losses.length === 0) this.firstStep = step;
    this.losses.push(loss);
    this.corrects.push(correct);
    this.sizes.push(size);
  }

  /** Reads the pending steps back; throws ProblemError at the first non-finite loss. */
  flush(): void {
    if (this.losses.length === 0) return;
    const [losses, corrects] = tf.tidy(() => [tf.stack(this.losses).dataSync(), tf.stack(this.corrects).dataSync()]);
    this.dispose();
    let windowSum = 0;
    let windowSize = 0;
    for (let i = 0; i < losses.length; i++) {
      const l = losses[i];
      if (!Number.isFinite(l)) {
        throw new ProblemError(
          `training diverged at epoch ${this.epoch + 1}, step ${this.firstStep + i + 1} (loss ${l}); ` +
            `try a lower lr (now ${this.lr}) or check the input data for NaN/Infinity`,
        );
      }
      windowSum += l * this.sizes[i];
      windowSize += this.sizes[i];
      this.correctSum += corrects[i];
    }
    this.lossSum += windowSum;
    this.seen += windowSize;
    this.windowLoss = windowSum / windowSize;
    this.sizes = [];
  }

  dispose(): void {
    tf.dispose([...this.losses, ...this.corrects]);
    this.losses = [];
    this.corrects = [];
  }
}

/** Where an epoch starts: step 0, or part-way through with the stopped run's running sums. */
interface EpochStart {
  step: number;
  partial?: PartialEpoch;
}

type EpochEnd = { record: EpochRecord } | { stoppedAt: { step: number; partial: PartialEpoch } };

/**
 * One epoch: every batch through the runner, then the record (γ summary, validation). Starting at
 * step k > 0 replays the epoch's batch stream and drops its first k batches: data order and
 * augmentation are functions of (seed, epoch), so the batches from k on are exactly the ones an
 * uninterrupted run sees. Stops after the step under way once options.signal is aborted.
 */
async function runEpoch(run: Run, epoch: number, start: EpochStart): Promise<EpochEnd> {
  const { options, hooks, runner, stepsPerEpoch, syncEvery } = run;
  const lr = lrAt(epoch, options.lr, options.epochs, options.milestones, options.gamma);
  const epochStart = performance.now();
  const window = new LossWindow(epoch, lr);
  if (start.partial !== undefined) {
    window.lossSum = start.partial.lossSum;
    window.correctSum = start.partial.correctSum;
    window.seen = start.partial.seen;
  }
  try {
    let step = 0;
    let imagesDone = 0;
    // Throughput counts the images trained in this process from its first step: after --resume the
    // window also holds the interrupted run's images, and replaying the skipped batches is not training.
    let trainStart = epochStart;
    // for await: in-memory datasets yield synchronously, streaming sources decode ahead asynchronously.
    for await (const { batch, next } of withNext(epochBatches(run, epoch), run.rowRunner !== undefined)) {
      if (step < start.step) {
        disposeBatch(batch);
        step++;
        trainStart = performance.now();
        continue;
      }
      try {
        const at = { epoch, step, lr };
        // The replicas queue the next row batch's step now, unless a stop was asked for.
        const ahead =
          next !== undefined && 'indices' in next && !options.signal?.aborted
            ? { batch: next, at: { epoch, step: step + 1, lr } }
            : undefined;
        const { loss, correct } = 'indices' in batch ? await run.rowRunner!.step(batch, at, ahead) : await runner.step(batch, at);
        window.push(step, loss, correct, batch.size);
      } finally {
        disposeBatch(batch);
      }
      imagesDone += batch.size;
      if (step === 0 || (step + 1) % syncEvery === 0 || step === stepsPerEpoch - 1) window.flush();
      const elapsed = (performance.now() - trainStart) / 1000;
      hooks.onBatch?.({ epoch, step, stepsPerEpoch, loss: window.windowLoss, imagesPerSecond: elapsed > 0 ? imagesDone / elapsed : 0 });
      step++;
      // Yield to the event loop so progress output and signals get a turn.
      await yieldToEventLoop();
      if (options.signal?.aborted && step < stepsPerEpoch) {
        window.flush();
        return { stoppedAt: { step, partial: { lossSum: window.lossSum, correctSum: window.correctSum, seen: window.seen } } };
      }
    }
    window.flush();
    return { record: await epochRecord(run, epoch, lr, window, epochStart, { images: imagesDone, since: trainStart }) };
  } finally {
    window.dispose();
  }
}

/** One turn of the event loop: setImmediate in Node; a page (src/api/browser.ts) has only timers. */
function yieldToEventLoop(): Promise<void> {
  return new Promise<void>((resolve) => (typeof setImmediate === 'function' ? setImmediate(resolve) : setTimeout(resolve, 0)));
}

/** One epoch's training batches: row indices when the replicas decode their own rows, decoded batches otherwise. */
function epochBatches(run: Run, epoch: number): AsyncIterable<Batch | RowBatch> | Iterable<Batch | RowBatch> {
  const { options, data } = run;
  const { batchSize, dropRemainder } = options;
  if (run.rowRunner !== undefined && data.train instanceof Dataset) {
    return rowBatches(data.train, { batchSize, shuffleSeed: options.seed, epoch, dropRemainder });
  }
  return data.train.batches({ batchSize, preprocess: options.preprocess, shuffleSeed: options.seed, epoch, dropRemainder, train: true });
}

/**
 * Each batch with the one after it when `lookahead` (row batches: indices, nothing to dispose;
 * the replicas queue the next step early); otherwise each batch alone, pulled no earlier than now.
 */
async function* withNext<B>(batches: AsyncIterable<B> | Iterable<B>, lookahead: boolean): AsyncGenerator<{ batch: B; next?: B }> {
  if (!lookahead) {
    for await (const batch of batches) yield { batch };
    return;
  }
  let held: { batch: B } | undefined;
  for await (const batch of batches) {
    if (held !== undefined) yield { batch: held.batch, next: batch };
    held = { batch };
  }
  if (held !== undefined) yield held;
}

function disposeBatch(batch: Batch | RowBatch): void {
  if ('x' in batch) tf.dispose([batch.x, batch.y]);
}

/** The epoch's record; throws ProblemError if BN γ went non-finite. */
async function epochRecord(
  run: Run,
  epoch: number,
  lr: number,
  window: LossWindow,
  epochStart: number,
  trained: { images: number; since: number },
): Promise<EpochRecord> {
  const { net, options } = run;
  const trainSeconds = (performance.now() - trained.since) / 1000;
  const record: EpochRecord = {
    epoch,
    lr,
    loss: window.seen ? window.lossSum / window.seen : Number.NaN,
    trainAccuracy: window.seen ? window.correctSum / window.seen : 0,
    imagesPerSecond: trainSeconds > 0 ? trained.images / trainSeconds : 0,
    seconds: 0,
    gamma: gammaStats(net.model),
  };
  if (!Number.isFinite(record.gamma.meanAbs)) {
    throw new ProblemError(
      `training diverged in epoch ${epoch + 1} (BatchNorm gamma became ${record.gamma.meanAbs}); try a lower lr (now ${lr})`,
    );
  }
  if (run.data.val !== undefined) {
    const v = await evaluateSource(net.model, run.data.val, {
      batchSize: options.batchSize,
      preprocess: options.preprocess,
      outputKind: net.patches.outputKind,
    });
    record.valAccuracy = v.accuracy;
    record.valLoss = v.loss;
  }
  record.seconds = (performance.now() - epochStart) / 1000;
  return record;
}
