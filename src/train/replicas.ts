/**
 * Data-parallel training on single-threaded backends: the wasm build runs one thread under
 * Node (its threaded build cannot start pthread workers from blob: URLs) and the cpu backend is
 * plain JavaScript, so one core would idle. The ReplicatedRunner (the training loop's step runner
 * when replicas > 1) is replica 0 on the main thread; each replica worker (replica-worker.ts) is
 * replica k ≥ 1 with its own copy of the model and of the optimizer state.
 *
 * Every step, each replica computes the gradients of its rows of the batch, the replicas sum
 * them through shared memory while the backward passes still run (replica-exchange.ts: buckets
 * summed by whichever replica is free, then read by all; no copies through messages, per-replica
 * traffic independent of the replica count), and each applies the same
 * optimizer step to the same summed gradient: the copies of the trainable weights stay bitwise
 * identical without any weight broadcast (checked by `checkReplicaWeights`).
 *
 * Exact for the trainable weights: the loss is a mean, so the full-batch gradient is the
 * size-weighted mean of the parts' gradients (to float32 rounding; the summation order is fixed
 * for a given replica count, so a run is bit-reproducible for a fixed seed and replica count).
 * Not exact for BatchNorm: in training mode BN normalises with the statistics of the rows it sees
 * (like PyTorch's DDP without SyncBatchNorm), and the model's moving mean/variance are the main
 * thread's, updated from its rows only.
 */
import { Worker } from 'node:worker_threads';
import * as tf from '#tfjs';
import { InputError, ProblemError } from '../errors.js';
import { fromLayersModel } from '../model/convert.js';
import type { ModelJson } from '../model/topology.js';
import { countModel } from '../report/count.js';
import type { Batch } from '../data/dataset.js';
import type { ChecksumReply, ReplicaInit, ReplicaReply, ReplicaRequest, StepRequest } from './replica-protocol.js';
import { decodeRowTensors, type RowBatch, type SharedRows } from './replica-data.js';
import {
  allocateExchange,
  applyReducedGradients,
  checksum,
  ExchangeAborted,
  GradientExchange,
  packedWeights,
  type ExchangeBuffers,
  type PartStats,
} from './replica-exchange.js';
import { computePart } from './replica-part.js';
import { replicaSplit, type ReplicaSplit, type ReplicaSplitKind } from './replica-split.js';
import { dropoutSeeds, type Optimizer, type StepPosition, type StepResult, type StepRunner, type TrainingModel } from './step.js';

/** What a user asks for: a count, or 'auto' (the count that pays on this machine and model). */
export type ReplicasRequest = number | 'auto';

/** Backends that use one core per process: the only ones where replicas help. */
const SINGLE_THREADED_BACKENDS = new Set(['wasm', 'cpu']);

/** What 'auto' weighs: the model's work per step against the per-step cost of replicating it. */
export interface ReplicaWorkload {
  /** Forward multiply-accumulates per image (src/report/count.ts). */
  macsPerImage: number;
  /** Trainable parameters: what every replica's optimizer steps and the exchange moves. */
  parameters: number;
  batchSize: number;
}

/**
 * The paper model behind 'auto' (per step, milliseconds; constants from bench/RESULTS.md):
 *   compute(N) = 3 · macsPerImage · batch / rate / N / (N > 1 ? efficiency : 1)
 *   overhead(N) = optimizer (every replica, in parallel) + (N > 1 ? exchange + sync · N : 0)
 * Training runs ~3 forward-convolutions' worth of MACs; `rate` is slim's measured training rate
 * (quickstart and vgg-small nets: 6.3–9 GMAC/s of forward MACs × 3 on wasm); `efficiency` is
 * one core's speed while the others also compute (a half batch went 118 → 137–141 ms). The sync
 * cost (wake-ups, step messages) and the minimum step are estimates, not measurements:
 * below ~20 ms of compute a step, thread hand-offs are as long as the work they would split.
 */
const AUTO_MODEL = {
  trainMacsPerSecond: { wasm: 7e9, cpu: 0.5e9 } as Record<string, number>,
  parallelEfficiency: 0.85,
  optimizerNsPerParameter: 6,
  exchangeNsPerParameter: 4,
  syncMsPerReplica: 0.5,
  minComputeMs: 20,
  minRowsPerReplica: 8,
  /** 'auto' uses more than 1 replica only when the model predicts at least this gain. */
  minGain: 1.2,
} as const;

function predictedStepMs(workload: ReplicaWorkload, rate: number, replicas: number): number {
  const compute = (3 * workload.macsPerImage * workload.batchSize * 1000) / rate;
  const parallel = replicas > 1 ? compute / replicas / AUTO_MODEL.parallelEfficiency : compute;
  const optimizer = (workload.parameters * AUTO_MODEL.optimizerNsPerParameter) / 1e6;
  const exchange =
    replicas > 1 ? (workload.parameters * AUTO_MODEL.exchangeNsPerParameter) / 1e6 + AUTO_MODEL.syncMsPerReplica * replicas : 0;
  return parallel + optimizer + exchange;
}

export interface ReplicaChoice {
  replicas: number;
  /** Why, in a few words (for stderr). */
  reason: string;
}

/**
 * How many replicas to run (1 = no worker) and why: 1 on multi-threaded or GPU backends
 * (tfjs-node's 'tensorflow' already uses every core); a count is capped at the number of cores
 * (more replicas than cores only adds switching). 'auto' picks the count the paper model above
 * predicts fastest, and 1 for a step under 20 ms or a predicted gain under 1.2× (tiny models: the
 * per-step exchange and sync cost more than the compute they split); without a workload (a model
 * slim cannot count), min(2, cores).
 */
export function chooseReplicas(
  requested: ReplicasRequest,
  backendName: string,
  cpuCount: number,
  workload?: ReplicaWorkload,
): ReplicaChoice {
  if (requested !== 'auto' && !(Number.isInteger(requested) && requested >= 1)) {
    throw new InputError(`train: replicas must be a positive integer or 'auto', got ${requested}`);
  }
  const cores = Math.max(1, Math.floor(cpuCount));
  if (!SINGLE_THREADED_BACKENDS.has(backendName)) return { replicas: 1, reason: `backend ${backendName} already uses every core` };
  if (requested !== 'auto') {
    const replicas = Math.min(requested, cores);
    return { replicas, reason: replicas < requested ? `capped at ${cores} core(s)` : 'as requested' };
  }
  if (cores < 2) return { replicas: 1, reason: '1 core' };
  if (workload === undefined) return { replicas: 2, reason: `${cores} cores` };
  const rate = AUTO_MODEL.trainMacsPerSecond[backendName];
  const single = predictedStepMs(workload, rate, 1);
  const maxByRows = Math.max(1, Math.floor(workload.batchSize / AUTO_MODEL.minRowsPerReplica));
  let best = 1;
  for (let n = 2; n <= Math.min(cores, maxByRows); n++) {
    if (predictedStepMs(workload, rate, n) < predictedStepMs(workload, rate, best)) best = n;
  }
  const gain = single / predictedStepMs(workload, rate, best);
  const estimate = `est. ${single.toFixed(1)} ms a step on 1 core, ${gain.toFixed(2)}x on ${best}`;
  if (single < AUTO_MODEL.minComputeMs) {
    return { replicas: 1, reason: `model too small to pay (est. ${single.toFixed(1)} ms a step, under ${AUTO_MODEL.minComputeMs} ms)` };
  }
  if (best === 1 || gain < AUTO_MODEL.minGain) {
    const alone = predictedStepMs(workload, rate, 2);
    return {
      replicas: 1,
      reason: `model too small to pay (est. ${single.toFixed(1)} ms a step, ${(single / alone).toFixed(2)}x on 2 cores < ${AUTO_MODEL.minGain}x)`,
    };
  }
  return { replicas: best, reason: `${estimate} of ${cores} cores` };
}

/** chooseReplicas' count alone. */
export function effectiveReplicas(requested: ReplicasRequest, backendName: string, cpuCount: number, workload?: ReplicaWorkload): number {
  return chooseReplicas(requested, backendName, cpuCount, workload).replicas;
}

/** The workload of training `model` with `batchSize`; undefined when slim cannot count its MACs. */
export function replicaWorkload(model: tf.LayersModel, batchSize: number): ReplicaWorkload | undefined {
  try {
    const count = countModel(model.toJSON(null, false) as unknown as ModelJson);
    const parameters = model.trainableWeights.reduce((n, w) => n + w.read().size, 0);
    return { macsPerImage: count.macs, parameters, batchSize };
  } catch {
    return undefined;
  }
}

interface Waiter {
  resolve: (reply: ReplicaReply) => void;
  reject: (error: Error) => void;
}

/** The worker's error, rethrown as the same slim error class when it was one. */
function replicaError(name: string, message: string): Error {
  if (name === 'ProblemError') return new ProblemError(message);
  if (name === 'InputError') return new InputError(message);
  return new Error(`training replica failed: ${message}`);
}

/**
 * Returns `promise` with a no-op rejection handler attached: the caller may never await it (its
 * own part of the step failed first), and that must not become an unhandled rejection.
 */
function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

/** What every replica worker starts with (besides the model). */
export interface ReplicaSetup {
  backend: 'wasm' | 'cpu';
  fusedBatchNorm: boolean;
  exchange: ExchangeBuffers;
  optimizer: Optimizer;
  /** The training set in shared memory, when replicas decode their own rows (replica-data.ts). */
  rows?: SharedRows;
}

/** The main thread's handle on one replica worker. Replies come back in request order. */
export class ReplicaWorker {
  private readonly waiters: Waiter[] = [];
  /** Set once the worker failed or exited: every later request rejects with it. */
  private failure: Error | undefined;
  private terminating = false;
  /** Told of the first failure (the runner aborts the exchange, so no replica waits forever). */
  onFailure: (error: Error) => void = () => undefined;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (reply: ReplicaReply) => this.onReply(reply));
    worker.on('error', (error: Error) => this.fail(new Error(`training replica crashed: ${error.message}`)));
    worker.on('exit', (code: number) => {
      if (!this.terminating) this.fail(new Error(`training replica exited unexpectedly (code ${code})`));
    });
  }

  /**
   * Starts replica `replica` on `backend` with a copy of the model (weights and BN statistics as
   * they are now) and of the optimizer (options and momentum buffers), sharing `exchange`.
   */
  static async start(model: tf.LayersModel, setup: ReplicaSetup & { replica: number }): Promise<ReplicaWorker> {
    const artifacts = await fromLayersModel(model);
    const { sparsityLambda, momentum, nesterov, weightDecay, excludeBnAndBiasFromDecay } = setup.optimizer.options;
    const init: ReplicaInit = {
      backend: setup.backend,
      prod: tf.env().getBool('PROD'),
      artifacts,
      trainableShapes: model.trainableWeights.map((w) => [...w.read().shape]),
      fusedBatchNorm: setup.fusedBatchNorm,
      replica: setup.replica,
      exchange: setup.exchange,
      optimizer: { sparsityLambda, momentum, nesterov, weightDecay, excludeBnAndBiasFromDecay },
      optimizerState: setup.optimizer.sgd.exportState(),
      ...(setup.rows !== undefined ? { rows: setup.rows } : {}),
    };
    // fromLayersModel gives every weight its own buffer: hand them over instead of copying.
    const buffers = [...artifacts.weights.values()].map((w) => w.data.buffer as ArrayBuffer);
    const worker = new Worker(new URL('./replica-worker.js', import.meta.url), { workerData: init, transferList: buffers });
    const replica = new ReplicaWorker(worker);
    try {
      await new Promise<void>((resolve, reject) => {
        // The first reply is 'ready' or the start-up error; a crash or exit rejects through fail().
        replica.waiters.push({ resolve: () => resolve(), reject });
      });
    } catch (error) {
      await replica.terminate();
      throw error;
    }
    return replica;
  }

  /**
   * Queues a step on the replica (its rows are in shared memory or named by index). There is no
   * reply: the replica's loss and correct count come through the exchange, and a failure arrives
   * as an error message that aborts the exchange (onFailure).
   */
  step(request: StepRequest): void {
    if (this.failure === undefined) this.worker.postMessage(request);
  }

  /** Checksum of the replica's trainable weights (replica-exchange.ts `checksum`). */
  checksum(): Promise<string> {
    return handled(this.request({ type: 'checksum' }).then((reply) => (reply as ChecksumReply).value));
  }

  /** The replica's tf.memory().numTensors (for leak checks). */
  numTensors(): Promise<number> {
    return handled(this.request({ type: 'memory' }).then((reply) => (reply.type === 'memory' ? reply.numTensors : Number.NaN)));
  }

  private request(message: ReplicaRequest): Promise<ReplicaReply> {
    return new Promise<ReplicaReply>((resolve, reject) => {
      if (this.failure !== undefined) {
        reject(this.failure);
        return;
      }
      this.waiters.push({ resolve, reject });
      this.worker.postMessage(message);
    });
  }

  async terminate(): Promise<void> {
    this.terminating = true;
    this.failure ??= new Error('training replica was terminated');
    this.rejectWaiters(this.failure);
    await this.worker.terminate();
  }

  private onReply(reply: ReplicaReply): void {
    if (reply.type === 'error') {
      this.fail(replicaError(reply.name, reply.message));
      return;
    }
    this.waiters.shift()?.resolve(reply);
  }

  private fail(error: Error): void {
    const first = this.failure === undefined;
    this.failure ??= error;
    this.rejectWaiters(this.failure);
    if (first) this.onFailure(this.failure);
  }

  private rejectWaiters(error: Error): void {
    for (const waiter of this.waiters.splice(0)) waiter.reject(error);
  }
}

/** Starts replicas 1..`count` in parallel; if any fails, terminates the others and throws its error. */
export async function startReplicaWorkers(model: tf.LayersModel, count: number, setup: ReplicaSetup): Promise<ReplicaWorker[]> {
  const started = await Promise.allSettled(
    Array.from({ length: count }, (_, k) => ReplicaWorker.start(model, { ...setup, replica: k + 1 })),
  );
  const workers = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed !== undefined) {
    await Promise.all(workers.map((w) => w.terminate()));
    throw failed.reason;
  }
  return workers;
}

/** Where the main thread's time went, summed over the steps so far (milliseconds). */
export interface ReplicaTrace {
  steps: number;
  /** Own rows: forward, backward (its taps write the gradients into the shared slot as they come), posting the workers' steps. */
  computeMs: number;
  /** After its own backward pass: summing ready units and waiting for the slowest replica. */
  exchangeMs: number;
  /** The optimizer step on the summed gradient (every replica does the same, in parallel). */
  optimizerMs: number;
  /** Units of the exchange this thread summed (the rest were summed by workers). */
  unitsSummed: number;
  /** Per replica (0 = this thread): its forward and backward passes, on its own clock. Unequal cores show here. */
  partComputeMs: number[];
  /** Per replica: the rows it was given (equal shares unless the split follows speed). */
  partRows: number[];
}

/** A worker's rows of every batch, in shared memory it was given once (grown when a batch needs more). */
interface WorkerInput {
  x: Float32Array;
  y: Float32Array;
}

function sharedFloats(length: number): Float32Array {
  return new Float32Array(new SharedArrayBuffer(Math.max(1, length) * 4));
}

/** The next step of the same epoch, when the loop knows it (row batches only): its requests are queued early. */
export interface NextStep {
  batch: RowBatch;
  at: StepPosition;
}

/**
 * Steps split over the main thread (replica 0, the first rows) and `replicas − 1` workers: queue
 * the workers' steps, compute our part (its gradients stream into the exchange during the
 * backward pass), sum units of the exchange until every replica is done, apply the optimizer to
 * our copy (each worker does the same to its own). The workers do not reply: their losses come
 * through the exchange, so a step ends as soon as our optimizer step does; and when the loop
 * names the next step, its requests are queued right away, so a worker starts it the moment it
 * finishes this one instead of waiting for the main thread's turn around the loop.
 */
export class ReplicatedRunner implements StepRunner {
  readonly trace: ReplicaTrace;
  private readonly inputs: WorkerInput[];
  /** The first worker failure: the run fails with it rather than with the abort it causes. */
  private failure: Error | undefined;
  /** Debug: SLIM_DEBUG_REPLICA_CHECK_EVERY=K compares the replicas' weight checksums every K steps (0 = never). */
  private readonly checkEvery = Number(process.env['SLIM_DEBUG_REPLICA_CHECK_EVERY'] ?? 0) || 0;
  /** The step whose requests were queued last ('epoch:step') and its rows per replica. */
  private queued: { key: string; sizes: number[] } | undefined;
  private readonly split: ReplicaSplit;

  private constructor(
    private readonly net: TrainingModel,
    private readonly optimizer: Optimizer,
    private readonly seed: number,
    private readonly exchange: GradientExchange,
    private readonly workers: ReplicaWorker[],
    /** How each batch's rows are split over the replicas (replica-split.ts). */
    split: ReplicaSplitKind | ReplicaSplit,
    /** The training set in shared memory when every replica decodes its own rows (undefined: batches come decoded). */
    readonly rows?: SharedRows,
  ) {
    this.inputs = workers.map(() => ({ x: sharedFloats(0), y: sharedFloats(0) }));
    this.split = typeof split === 'string' ? replicaSplit(split, workers.length + 1) : split;
    this.trace = {
      steps: 0,
      computeMs: 0,
      exchangeMs: 0,
      optimizerMs: 0,
      unitsSummed: 0,
      partComputeMs: new Array<number>(workers.length + 1).fill(0),
      partRows: new Array<number>(workers.length + 1).fill(0),
    };
    for (const worker of workers) {
      worker.onFailure = (error) => {
        this.failure ??= error;
        this.exchange.abort();
      };
    }
  }

  /**
   * Starts the workers with copies of the model and optimizer as they are now (patched: they train
   * the same way). With `rows`, steps take RowBatches and every replica decodes its own rows.
   */
  static async start(
    net: TrainingModel,
    optimizer: Optimizer,
    seed: number,
    replicas: number,
    setup: { backend: 'wasm' | 'cpu'; fusedBatchNorm: boolean; rows?: SharedRows; split?: ReplicaSplitKind | ReplicaSplit },
  ): Promise<ReplicatedRunner> {
    const buffers = allocateExchange(
      replicas,
      net.variables.map((v) => v.size),
    );
    const { split = 'equal', ...workerSetup } = setup;
    const workers = await startReplicaWorkers(net.model, replicas - 1, { ...workerSetup, exchange: buffers, optimizer });
    return new ReplicatedRunner(net, optimizer, seed, new GradientExchange(buffers, 0), workers, split, setup.rows);
  }

  get replicas(): number {
    return this.workers.length + 1;
  }

  /** Units of summing work in one step's exchange (trace.unitsSummed counts the main thread's). */
  get exchangeUnits(): number {
    return this.exchange.buffers.units.length;
  }

  /** One step on `batch`; with `next` (the same epoch's next row batch) the workers' next requests are queued too. */
  async step(batch: Batch | RowBatch, at: StepPosition, next?: NextStep): Promise<StepResult> {
    try {
      const t0 = performance.now();
      const queued = this.queued?.key === stepKey(at) ? this.queued.sizes : undefined;
      const sizes = queued ?? this.splitOf(batch.size);
      if (queued === undefined) this.queueWorkers(batch, sizes, at);
      // Not before a weight check: the workers must be between steps to answer it.
      const checkAfter = this.checkEvery > 0 && (this.trace.steps + 1) % this.checkEvery === 0;
      if (next !== undefined && !checkAfter) this.queueWorkers(next.batch, this.splitOf(next.batch.size), next.at);
      this.ownPart(batch, sizes[0], at);
      const t1 = performance.now();
      await this.exchange.reduceAsync();
      const t2 = performance.now();
      applyReducedGradients(this.exchange, this.net, this.optimizer, at.lr);
      const parts = sizes.map((_, k) => this.exchange.partStats(k));
      this.split.observe(
        sizes,
        parts.map((p) => p.computeMs),
      );
      this.record(t0, t1, t2, performance.now(), parts, sizes);
      if (checkAfter) await this.checkReplicaWeights();
      return combineParts(parts, sizes);
    } catch (error) {
      // Wake any replica waiting in the exchange: the run is over (close() ends the workers).
      this.exchange.abort();
      throw error instanceof ExchangeAborted || this.failure !== undefined ? (this.failure ?? error) : error;
    }
  }

  /**
   * Compares a checksum of every replica's trainable weights with the main thread's; throws
   * ProblemError naming the first replica whose copy differs. Between steps only.
   */
  async checkReplicaWeights(): Promise<void> {
    const expected = checksum(packedWeights(this.net));
    const found = await Promise.all(this.workers.map((w) => w.checksum()));
    found.forEach((value, k) => {
      if (value !== expected)
        throw new ProblemError(`replica ${k + 1}'s weights differ from the main thread's (checksum ${value} vs ${expected})`);
    });
  }

  async close(): Promise<void> {
    this.exchange.abort();
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  /** Rows per replica for a batch of `total`: every row once, the main thread never without rows. */
  private splitOf(total: number): number[] {
    const sizes = this.split.sizes(total);
    const valid =
      sizes.length === this.replicas &&
      sizes.every((n) => Number.isInteger(n) && n >= 0) &&
      sizes[0] > 0 &&
      sizes.reduce((a, b) => a + b, 0) === total;
    if (!valid) throw new Error(`replica split [${sizes.join(', ')}] does not share ${total} rows over ${this.replicas} replicas`);
    return sizes;
  }

  /** Queues every worker's part of the step at `at`. */
  private queueWorkers(batch: Batch | RowBatch, sizes: number[], at: StepPosition): void {
    if ('indices' in batch) this.queueRows(batch, sizes, at);
    else this.queueValues(batch, sizes, at);
    this.queued = { key: stepKey(at), sizes };
  }

  /** Writes rows 1.. of the batch into the workers' shared inputs and queues their steps. */
  private queueValues(batch: Batch, sizes: number[], at: StepPosition): void {
    const [, ...imageShape] = batch.x.shape;
    const classes = batch.y.shape[1];
    const imageSize = imageShape.reduce((a, b) => a * b, 1);
    // One readback of the batch (none when the main thread has all rows).
    const [xs, ys] =
      sizes[0] === batch.size ? [undefined, undefined] : [batch.x.dataSync() as Float32Array, batch.y.dataSync() as Float32Array];
    let row = sizes[0];
    this.workers.forEach((worker, k) => {
      const rows = sizes[k + 1];
      const input = this.inputs[k];
      if (input.x.length < rows * imageSize) input.x = sharedFloats(rows * imageSize);
      if (input.y.length < rows * classes) input.y = sharedFloats(rows * classes);
      if (rows > 0) {
        input.x.set(xs!.subarray(row * imageSize, (row + rows) * imageSize));
        input.y.set(ys!.subarray(row * classes, (row + rows) * classes));
      }
      const seeds = dropoutSeeds(this.seed, at.epoch, at.step, this.net.patches.dropoutCount, k + 1);
      row += rows;
      worker.step({
        type: 'step',
        rows,
        input: {
          kind: 'values',
          x: input.x.subarray(0, rows * imageSize),
          xShape: [rows, ...imageShape],
          y: input.y.subarray(0, rows * classes),
          yShape: [rows, classes],
        },
        weight: rows / batch.size,
        lr: at.lr,
        dropoutSeeds: seeds,
      });
    });
  }

  /** Queues the workers' steps on their rows of `batch`, sent as example indices: each decodes its own. */
  private queueRows(batch: RowBatch, sizes: number[], at: StepPosition): void {
    let row = sizes[0];
    this.workers.forEach((worker, k) => {
      const rows = sizes[k + 1];
      // slice(): a copy of a few hundred bytes, so the message does not clone the epoch's whole order.
      const indices = batch.indices.slice(row, row + rows);
      row += rows;
      worker.step({
        type: 'step',
        rows,
        input: { kind: 'rows', indices, epoch: batch.epoch },
        weight: rows / batch.size,
        lr: at.lr,
        dropoutSeeds: dropoutSeeds(this.seed, at.epoch, at.step, this.net.patches.dropoutCount, k + 1),
      });
    });
  }

  /** The main thread's rows of `batch` as tensors (decoded here for a RowBatch, sliced from the batch otherwise). */
  private ownRows(batch: Batch | RowBatch, ownSize: number): { x: tf.Tensor; y: tf.Tensor2D } {
    if ('indices' in batch) return decodeRowTensors(this.rows!, batch.indices.subarray(0, ownSize), batch.epoch);
    if (ownSize === batch.size) return { x: batch.x, y: batch.y };
    return { x: tf.slice(batch.x, 0, ownSize), y: tf.slice(batch.y, 0, ownSize) };
  }

  /** The main thread's part (never empty: splitOf gives replica 0 at least one row, the first ones). */
  private ownPart(batch: Batch | RowBatch, ownSize: number, at: StepPosition): void {
    const { patches } = this.net;
    patches.seedDropout(dropoutSeeds(this.seed, at.epoch, at.step, patches.dropoutCount));
    const { x, y } = this.ownRows(batch, ownSize);
    try {
      computePart(this.exchange, this.net, x, y, ownSize / batch.size);
    } finally {
      if (!('x' in batch) || x !== batch.x) tf.dispose([x, y]);
    }
  }

  private record(t0: number, t1: number, t2: number, t3: number, parts: PartStats[], sizes: number[]): void {
    parts.forEach((part, k) => {
      this.trace.partComputeMs[k] += part.computeMs;
      this.trace.partRows[k] += sizes[k];
    });
    this.trace.steps++;
    this.trace.computeMs += t1 - t0;
    this.trace.exchangeMs += t2 - t1;
    this.trace.optimizerMs += t3 - t2;
    this.trace.unitsSummed = this.exchange.unitsSummed;
  }
}

/** The batch's mean loss and correct count from its parts'. */
function combineParts(parts: PartStats[], sizes: number[]): StepResult {
  const total = sizes.reduce((a, b) => a + b, 0);
  let loss = 0;
  let correct = 0;
  parts.forEach((part, k) => {
    loss += part.loss * (sizes[k] / total);
    correct += part.correct;
  });
  return { loss: tf.scalar(loss), correct: tf.scalar(correct) };
}

function stepKey(at: StepPosition): string {
  return `${at.epoch}:${at.step}`;
}
