/**
 * Messages between the training loop (main thread) and its replica workers
 * (src/train/replica-worker.ts). Small structured-clone messages only: gradients travel through
 * the shared exchange (replica-exchange.ts), a replica's rows of each batch through a
 * SharedArrayBuffer it was given once (posting a view of shared memory does not copy it).
 */
import type { ModelArtifacts } from '../model/topology.js';
import type { SgdState } from './sgd.js';
import type { OptimizerOptions } from './step.js';
import type { ExchangeBuffers } from './replica-exchange.js';
import type { SharedRows } from './replica-data.js';

/** Given to the worker as `workerData` (the weight buffers are transferred). */
export interface ReplicaInit {
  /** The main thread's active tfjs backend ('wasm' or 'cpu'); the replica starts the same one. */
  backend: 'wasm' | 'cpu';
  /** Mirrors the main thread's tfjs PROD flag (also silences the "install tfjs-node" banner). */
  prod: boolean;
  artifacts: ModelArtifacts;
  /** Shapes of the main model's trainable weights, in order: the replica checks its own match. */
  trainableShapes: number[][];
  /** The main loop's TrainOptions.fusedBatchNorm: the replica computes BN the same way. */
  fusedBatchNorm: boolean;
  /** This replica's index (1..N−1; the main thread is 0) and the shared exchange. */
  replica: number;
  exchange: ExchangeBuffers;
  /** The replica keeps its own optimizer: the same options and (on resume) the same momentum buffers. */
  optimizer: OptimizerOptions;
  optimizerState: SgdState;
  /** The training set in shared memory, when the replicas decode their own rows (replica-data.ts). */
  rows?: SharedRows;
}

/**
 * A replica's rows of one batch: decoded values in shared memory the main thread wrote (any batch
 * source), or row indices the replica decodes itself from its SharedRows (in-memory datasets).
 */
export type StepInput =
  | { kind: 'values'; x: Float32Array; xShape: number[]; /** One-hot labels. */ y: Float32Array; yShape: number[] }
  | { kind: 'rows'; indices: Uint32Array; epoch: number };

/** One step: this replica's rows of the batch (0 rows is allowed). */
export interface StepRequest {
  type: 'step';
  rows: number;
  input: StepInput;
  /** This part's share of the batch (rows / batch rows): the weight of its gradient in the mean. */
  weight: number;
  lr: number;
  /** Seed for each dropout layer (model order) for this part of the batch. */
  dropoutSeeds: number[];
}

/** Asks for a checksum of the replica's trainable weights (to check that copies never drift). */
export interface ChecksumRequest {
  type: 'checksum';
}

/** Asks for the replica's tf.memory().numTensors (for leak checks in tests). */
export interface MemoryRequest {
  type: 'memory';
}

export type ReplicaRequest = StepRequest | ChecksumRequest | MemoryRequest;

export interface ReadyReply {
  type: 'ready';
}

export interface ChecksumReply {
  type: 'checksum';
  value: string;
}

export interface ErrorReply {
  type: 'error';
  /** Error class name ('ProblemError', 'InputError', ...) so the main thread can rethrow the same kind. */
  name: string;
  message: string;
}

export interface MemoryReply {
  type: 'memory';
  numTensors: number;
}

export type ReplicaReply = ReadyReply | ChecksumReply | MemoryReply | ErrorReply;
