/**
 * Messages between the training loop (main thread) and its replica workers
 * (src/train/replica-worker.ts). Plain structured-clone data; big arrays travel as transfers.
 */
import type { ModelArtifacts } from '../model/topology.js';

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
}

/** One half (or part) of a batch: gradients wanted back. */
export interface StepRequest {
  type: 'step';
  x: Float32Array;
  xShape: number[];
  /** One-hot labels. */
  y: Float32Array;
  yShape: number[];
  /** Seed for each dropout layer (model order) for this part of the batch. */
  dropoutSeeds: number[];
}

/** New values of every trainable weight, concatenated in trainableWeights order (no reply). */
export interface WeightsUpdate {
  type: 'weights';
  values: Float32Array;
}

/** Asks for the replica's tf.memory().numTensors (leak checks in tests). */
export interface MemoryRequest {
  type: 'memory';
}

export type ReplicaRequest = StepRequest | WeightsUpdate | MemoryRequest;

export interface ReadyReply {
  type: 'ready';
}

export interface StepReply {
  type: 'grads';
  /** Mean loss over the part (NaN passes through, so the divergence check sees it). */
  loss: number;
  correct: number;
  /** Gradient of the mean loss for every trainable weight, concatenated in order (zeros where none). */
  grads: Float32Array;
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

export type ReplicaReply = ReadyReply | StepReply | MemoryReply | ErrorReply;
