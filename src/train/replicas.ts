/**
 * Data-parallel training on single-threaded backends: the wasm build runs one thread under
 * Node (its threaded build cannot start pthread workers from blob: URLs) and the cpu backend is
 * plain JavaScript, so one core would idle. The ReplicatedRunner (the training loop's step runner
 * when replicas > 1) keeps the model and the optimizer; each replica worker (replica-worker.ts)
 * holds a copy of the model and computes the loss gradients of its part of every batch while the
 * main thread computes its own part.
 *
 * Synchronous and exact for the trainable weights: the loss is a mean, so the full-batch
 * gradient is the size-weighted mean of the parts' gradients; the main thread applies one
 * optimizer step and sends the new weight values to every replica (no drift between copies).
 * Not exact for BatchNorm: in training mode BN normalises with the statistics of the part of
 * the batch it sees (like PyTorch's DataParallel without SyncBatchNorm), and the model's moving
 * mean/variance are the main thread's, updated from its part only.
 */
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { InputError, ProblemError } from '../errors.js';
import { fromLayersModel } from '../model/convert.js';
import type { Batch } from '../data/dataset.js';
import type { ReplicaInit, ReplicaReply, ReplicaRequest, StepReply, StepRequest } from './replica-protocol.js';
import {
  dropoutSeeds,
  lossAndGrads,
  type LossAndGrads,
  type Optimizer,
  type StepPosition,
  type StepResult,
  type StepRunner,
  type TrainingModel,
} from './step.js';

/** What a user asks for: a count, or 'auto' (2 on a single-threaded backend with ≥ 2 cores). */
export type ReplicasRequest = number | 'auto';

/** Backends that use one core per process: the only ones where replicas help. */
const SINGLE_THREADED_BACKENDS = new Set(['wasm', 'cpu']);

/**
 * How many replicas to run (1 = no worker, today's loop): 1 on multi-threaded or GPU backends
 * (tfjs-node's 'tensorflow' already uses every core); otherwise the request, capped at the
 * number of cores (more replicas than cores only adds copying). 'auto' = 2 when there are ≥ 2 cores.
 */
export function effectiveReplicas(requested: ReplicasRequest, backendName: string, cpuCount: number): number {
  if (requested !== 'auto' && !(Number.isInteger(requested) && requested >= 1)) {
    throw new InputError(`train: replicas must be a positive integer or 'auto', got ${requested}`);
  }
  if (!SINGLE_THREADED_BACKENDS.has(backendName)) return 1;
  const cores = Math.max(1, Math.floor(cpuCount));
  return Math.min(requested === 'auto' ? 2 : requested, cores);
}

/**
 * Splits `total` examples into `parts` contiguous parts, sizes differing by at most one; the
 * first parts (the main thread's is part 0) get the remainder, so a batch of 1 never leaves
 * the main thread without work. Parts may be 0 when total < parts.
 */
export function splitSizes(total: number, parts: number): number[] {
  const base = Math.floor(total / parts);
  const extra = total - base * parts;
  return Array.from({ length: parts }, (_, i) => base + (i < extra ? 1 : 0));
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

/** The main thread's handle on one replica worker. Replies come back in request order. */
export class ReplicaWorker {
  private readonly waiters: Waiter[] = [];
  /** Set once the worker failed or exited: every later request rejects with it. */
  private failure: Error | undefined;
  private terminating = false;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (reply: ReplicaReply) => this.onReply(reply));
    worker.on('error', (error: Error) => this.fail(new Error(`training replica crashed: ${error.message}`)));
    worker.on('exit', (code: number) => {
      if (!this.terminating) this.fail(new Error(`training replica exited unexpectedly (code ${code})`));
    });
  }

  /** Starts a worker on `backend` with a copy of the model (weights and BN statistics as they are now). */
  static async start(model: tf.LayersModel, backend: 'wasm' | 'cpu', fusedBatchNorm: boolean): Promise<ReplicaWorker> {
    const artifacts = await fromLayersModel(model);
    const init: ReplicaInit = {
      backend,
      prod: tf.env().getBool('PROD'),
      artifacts,
      trainableShapes: model.trainableWeights.map((w) => [...w.read().shape]),
      fusedBatchNorm,
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

  /** Sends one part of a batch (its arrays are transferred); resolves with its loss, correct count and packed gradients. */
  step(request: StepRequest): Promise<StepReply> {
    const transfer = [request.x.buffer as ArrayBuffer, request.y.buffer as ArrayBuffer];
    return handled(this.request(request, transfer).then((reply) => reply as StepReply));
  }

  /** The replica's tf.memory().numTensors (for leak checks). */
  numTensors(): Promise<number> {
    return handled(this.request({ type: 'memory' }, []).then((reply) => (reply.type === 'memory' ? reply.numTensors : Number.NaN)));
  }

  private request(message: ReplicaRequest, transfer: ArrayBuffer[]): Promise<ReplicaReply> {
    return new Promise<ReplicaReply>((resolve, reject) => {
      if (this.failure !== undefined) {
        reject(this.failure);
        return;
      }
      this.waiters.push({ resolve, reject });
      this.worker.postMessage(message, transfer);
    });
  }

  /** Sends the new trainable weight values (transferred: `values` is unusable afterwards). */
  sendWeights(values: Float32Array): void {
    if (this.failure === undefined) this.worker.postMessage({ type: 'weights', values }, [values.buffer as ArrayBuffer]);
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
    this.failure ??= error;
    this.rejectWaiters(this.failure);
  }

  private rejectWaiters(error: Error): void {
    for (const waiter of this.waiters.splice(0)) waiter.reject(error);
  }
}

/** Starts `count` workers in parallel; if any fails, terminates the others and throws its error. */
export async function startReplicaWorkers(
  model: tf.LayersModel,
  count: number,
  backend: 'wasm' | 'cpu',
  fusedBatchNorm: boolean,
): Promise<ReplicaWorker[]> {
  const started = await Promise.allSettled(Array.from({ length: count }, () => ReplicaWorker.start(model, backend, fusedBatchNorm)));
  const workers = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed !== undefined) {
    await Promise.all(workers.map((w) => w.terminate()));
    throw failed.reason;
  }
  return workers;
}

/** A part of a batch sent to a worker, and the reply to come. */
interface PendingPart {
  size: number;
  reply: Promise<StepReply>;
}

/**
 * Steps split over the main thread and `replicas − 1` workers: post the workers' parts first
 * (the main thread's wasm work is synchronous and would otherwise delay them), compute our part,
 * then combine the gradients of the part means, weighted by part size, into the full-batch mean
 * gradient, apply the optimizer and send the new weights back.
 */
export class ReplicatedRunner implements StepRunner {
  /** Where each trainable variable sits in the workers' packed gradient arrays. */
  private readonly variableIndex: Map<string, number>;
  private readonly variableSizes: number[];
  private readonly variableOffsets: number[];

  private constructor(
    private readonly net: TrainingModel,
    private readonly optimizer: Optimizer,
    private readonly seed: number,
    private readonly workers: ReplicaWorker[],
  ) {
    const variables = net.variables;
    this.variableIndex = new Map(variables.map((v, i) => [v.name, i] as const));
    this.variableSizes = variables.map((v) => v.size);
    this.variableOffsets = this.variableSizes.map((_, i) => this.variableSizes.slice(0, i).reduce((a, b) => a + b, 0));
  }

  /** Starts the workers with copies of the model as it is now (patched: they train the same way). */
  static async start(
    net: TrainingModel,
    optimizer: Optimizer,
    seed: number,
    replicas: number,
    backend: 'wasm' | 'cpu',
    fusedBatchNorm: boolean,
  ): Promise<ReplicatedRunner> {
    const workers = await startReplicaWorkers(net.model, replicas - 1, backend, fusedBatchNorm);
    return new ReplicatedRunner(net, optimizer, seed, workers);
  }

  get replicas(): number {
    return this.workers.length + 1;
  }

  async step(batch: Batch, at: StepPosition): Promise<StepResult> {
    const sizes = splitSizes(batch.size, this.replicas);
    const parts = this.postParts(batch, sizes, at);
    const own = this.ownPart(batch, sizes[0], at);
    try {
      const replies = await Promise.all(parts.map(async (p) => ({ size: p.size, reply: await p.reply })));
      const result = this.combine(own, sizes[0], batch.size, replies, at.lr);
      this.broadcastWeights();
      return result;
    } finally {
      tf.dispose([own.loss, own.correct, ...Object.values(own.grads)]);
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  /** Sends parts 1.. of the batch to the workers (part 0, the first rows, stays here). */
  private postParts(batch: Batch, sizes: number[], at: StepPosition): PendingPart[] {
    const [, ...imageShape] = batch.x.shape;
    const classes = batch.y.shape[1];
    const parts: PendingPart[] = [];
    let offset = sizes[0];
    this.workers.forEach((worker, k) => {
      const size = sizes[k + 1];
      if (size === 0) return;
      // slice(): copies we own, since their buffers are transferred (cpu may share tensor storage).
      const [x, y] = tf.tidy(() => [
        (tf.slice(batch.x, [offset, 0, 0, 0], [size, -1, -1, -1]).dataSync() as Float32Array).slice(),
        (tf.slice(batch.y, [offset, 0], [size, -1]).dataSync() as Float32Array).slice(),
      ]);
      const seeds = dropoutSeeds(this.seed, at.epoch, at.step, this.net.patches.dropoutCount, k + 1);
      parts.push({
        size,
        reply: worker.step({ type: 'step', x: x, xShape: [size, ...imageShape], y: y, yShape: [size, classes], dropoutSeeds: seeds }),
      });
      offset += size;
    });
    return parts;
  }

  /** Loss and gradients of the main thread's part; the caller disposes them. */
  private ownPart(batch: Batch, ownSize: number, at: StepPosition): LossAndGrads {
    const { model, patches, variables } = this.net;
    patches.seedDropout(dropoutSeeds(this.seed, at.epoch, at.step, patches.dropoutCount));
    return tf.tidy(() => {
      const x = ownSize === batch.size ? batch.x : tf.slice(batch.x, 0, ownSize);
      const y = ownSize === batch.size ? batch.y : tf.slice(batch.y, 0, ownSize);
      return lossAndGrads(model, variables, patches.outputKind, x, y);
    });
  }

  /** The size-weighted mean of the parts' gradients, loss and correct count; applies the optimizer step. */
  private combine(own: LossAndGrads, ownSize: number, total: number, parts: { size: number; reply: StepReply }[], lr: number): StepResult {
    return tf.tidy(() => {
      const combined: tf.NamedTensorMap = {};
      for (const [name, g] of Object.entries(own.grads)) {
        const index = this.variableIndex.get(name)!;
        let sum = tf.mul(g, ownSize / total);
        for (const part of parts) {
          const start = this.variableOffsets[index];
          const theirs = tf.tensor(part.reply.grads.subarray(start, start + this.variableSizes[index]), g.shape);
          sum = tf.add(sum, tf.mul(theirs, part.size / total));
        }
        combined[name] = sum;
      }
      this.optimizer.apply(combined, lr);
      const otherLoss = parts.reduce((acc, p) => acc + p.reply.loss * (p.size / total), 0);
      const otherCorrect = parts.reduce((acc, p) => acc + p.reply.correct, 0);
      return {
        loss: tf.add(tf.mul(own.loss, ownSize / total), otherLoss) as tf.Scalar,
        correct: tf.add(own.correct, tf.scalar(otherCorrect, 'int32')) as tf.Scalar,
      };
    });
  }

  /** The new trainable weight values, to every worker. */
  private broadcastWeights(): void {
    const variables = this.net.variables;
    if (variables.length === 0) return;
    // slice(): a copy we own (a variable's storage may back the concat on the cpu backend).
    const values = tf.tidy(() => tf.concat(variables.map((v) => v.flatten())).dataSync() as Float32Array).slice();
    this.workers.forEach((worker, k) => worker.sendWeights(k === this.workers.length - 1 ? values : values.slice()));
  }
}
