/**
 * What train() takes and gives back, and the one definition of which option values are valid:
 * the zod field schemas below are shared by the config schema (src/config/schema.ts, the CLI's
 * boundary) and by train() itself, which tests and benchmarks call directly.
 */
import * as z from 'zod';
import type { Preprocess } from '../data/dataset.js';
import { InputError } from '../errors.js';
import { REPLICA_SPLITS, type ReplicaSplitKind } from './replica-split.js';
import type { ReplicasRequest } from './replicas.js';
import type { SgdState } from './sgd.js';
import type { GammaStats } from './sparsity.js';

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
   * How each batch's rows are split over the replicas (replica-split.ts): 'equal' (default; a run
   * is bit-reproducible for a fixed seed and replica count) or 'speed' (in proportion to each
   * replica's measured speed, for cores of unequal speed; not bit-reproducible).
   */
  replicaSplit?: ReplicaSplitKind;
  /**
   * Run BatchNormalization's training-mode forward as one fused op with a closed-form gradient
   * (src/train/fused-bn.ts; same maths as tfjs-layers, faster on wasm). Default: on the wasm and
   * cpu backends (fusedBatchNormByDefault), off on 'tensorflow', where TensorFlow's own ops run.
   */
  fusedBatchNorm?: boolean;
  /**
   * Resume a run (a checkpoint's content, see TrainingState): start at this 0-based epoch with
   * these momentum buffers. The model must already hold the checkpoint's weights.
   */
  resume?: { epoch: number; step?: number; partial?: PartialEpoch; optimizer?: SgdState };
  /**
   * Cooperative stop: checked between steps. Once aborted, train() finishes the step under way
   * and returns with `interrupted` set to the state a checkpoint needs (a second signal is the
   * caller's business).
   */
  signal?: AbortSignal;
}

/** The running sums of an epoch stopped part-way, so a resumed epoch reports the same loss/accuracy. */
export interface PartialEpoch {
  lossSum: number;
  correctSum: number;
  seen: number;
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

/**
 * The whole state of a run between two epochs, as a checkpoint would save it: the model's weights
 * (trainable and BN moving statistics, read from the model), the optimizer's momentum buffers, and
 * the next epoch. Data order, augmentation and dropout masks derive from (seed, epoch, step) alone,
 * so they need no saved state: train() with `resume: { epoch: nextEpoch, optimizer }` on a model
 * holding these weights continues exactly where this run stands.
 */
export interface TrainingState {
  /** The 0-based epoch that would run next (or continue, when nextStep > 0). */
  nextEpoch: number;
  /** The 0-based step of nextEpoch that would run next: 0 at an epoch boundary. */
  nextStep: number;
  /** The stopped epoch's running sums (only when nextStep > 0). */
  partial?: PartialEpoch;
  /** A copy of the momentum buffers (reads them back from the backend). */
  optimizerState(): SgdState;
}

export interface TrainHooks {
  onBatch?: (info: BatchInfo) => void;
  onEpoch?: (record: EpochRecord) => void;
  /** After each epoch (after onEpoch): where checkpoints hook in. Awaited before the next epoch starts. */
  onEpochEnd?: (state: TrainingState) => void | Promise<void>;
}

export interface TrainResult {
  epochs: EpochRecord[];
  /** Set when options.signal stopped the run: where it stands (resume: { epoch: nextEpoch, step: nextStep, ... }). */
  interrupted?: TrainingState;
  /** Replicas actually used (1 = the main thread alone). */
  replicas: number;
}

const positiveInt = z.number().int().positive();

/**
 * The optimiser hyper-parameters' valid values, shared with the config schema (which adds its
 * defaults; its epochs may be 0, meaning "skip this stage", and it checks milestones and gamma).
 */
export const hyperparameterFields = {
  batchSize: positiveInt,
  lr: z.number().positive().describe('initial learning rate'),
  momentum: z.number().min(0).lt(1),
  nesterov: z.boolean(),
  weightDecay: z.number().min(0),
  sparsity: z.number().min(0),
  replicas: z.union([z.literal('auto'), positiveInt], { error: "expected a positive integer or 'auto'" }),
  replicaSplit: z.enum(REPLICA_SPLITS),
};

/** Nesterov momentum needs a momentum (SGD would have nothing to look ahead with). */
export function nesterovHasMomentum(options: { nesterov: boolean; momentum: number }): boolean {
  return !(options.nesterov && options.momentum === 0);
}
export const NESTEROV_MESSAGE = 'nesterov needs momentum > 0';

const trainOptionsSchema = z
  .object({
    epochs: positiveInt,
    batchSize: hyperparameterFields.batchSize,
    lr: hyperparameterFields.lr,
    momentum: hyperparameterFields.momentum,
    nesterov: hyperparameterFields.nesterov,
    weightDecay: hyperparameterFields.weightDecay,
    sparsityLambda: hyperparameterFields.sparsity,
    replicas: hyperparameterFields.replicas.optional(),
    replicaSplit: hyperparameterFields.replicaSplit.optional(),
    resume: z.object({ epoch: z.number().int().min(0), step: z.number().int().min(0).optional() }).optional(),
  })
  .refine(nesterovHasMomentum, { message: NESTEROV_MESSAGE, path: ['nesterov'] });

/** Throws InputError (one line, naming the option) when `options` has a value train() cannot use. */
export function checkTrainOptions(options: TrainOptions): void {
  const result = trainOptionsSchema.safeParse(options);
  if (result.success) return;
  const issue = result.error.issues[0];
  const value: unknown = issue.path.reduce<unknown>((v, key) => (v as Record<PropertyKey, unknown> | undefined)?.[key], options);
  // zod's type errors already say what was received.
  const got = issue.code === 'invalid_type' ? '' : `, got ${String(value)}`;
  throw new InputError(`train: ${issue.path.join('.')}: ${issue.message}${got}`);
}
