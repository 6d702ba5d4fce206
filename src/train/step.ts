/**
 * One training step, in parts every runner shares: `lossAndGrads` (forward in training mode, the
 * loss and its gradients; also what a replica worker computes for its part of a batch) and
 * `Optimizer.apply` (λ·sign(γ) on BN scales, then SGD with momentum and weight decay). A
 * StepRunner puts them together for a whole batch: LocalRunner on this thread, ReplicatedRunner
 * (replicas.ts) split over worker threads.
 */
import * as tf from '#tfjs';
import { mixSeed, type Batch } from '../data/dataset.js';
import { correctCount, crossEntropy, type OutputKind } from './loss.js';
import type { TrainingPatches } from './patches.js';
import { Sgd, type SgdOptions } from './sgd.js';
import { addSparsityGrad, findBnGammas, type BnGamma } from './sparsity.js';

// A type, not an interface: tf.tidy returns it (TensorContainer needs an index signature).
export type LossAndGrads = {
  /** Mean cross-entropy over the batch. */
  loss: tf.Scalar;
  /** Correct predictions (loss.ts correctCount, float32). Kept: it outlives the gradient tape's tidy. */
  correct: tf.Scalar;
  /** Gradient of `loss` for each variable, keyed by tf.Variable name (variables without one are absent). */
  grads: tf.NamedTensorMap;
};

/**
 * Forward pass in training mode (BN uses batch statistics and updates its moving mean/variance;
 * dropout is on), the loss and its gradients. `y` is one-hot. Call inside tf.tidy: everything
 * returned is the caller's.
 */
export function lossAndGrads(
  model: tf.LayersModel,
  variables: tf.Variable[],
  kind: OutputKind,
  x: tf.Tensor,
  y: tf.Tensor2D,
): LossAndGrads {
  let correct: tf.Scalar | undefined;
  const { value, grads } = tf.variableGrads(() => {
    const out = model.apply(x, { training: true }) as tf.Tensor;
    correct = tf.keep(correctCount(y, out, kind));
    return crossEntropy(kind, y, out);
  }, variables);
  return { loss: value, correct: correct!, grads };
}

/** The model being trained, as the step code sees it. */
export interface TrainingModel {
  model: tf.LayersModel;
  patches: TrainingPatches;
  /** model.trainableWeights, in order. */
  layerVariables: tf.LayerVariable[];
  /** Their tf.Variables: variableGrads keys gradients by these names (unique, unlike layer names). */
  variables: tf.Variable[];
}

export function trainingModel(model: tf.LayersModel, patches: TrainingPatches): TrainingModel {
  const layerVariables = model.trainableWeights;
  return { model, patches, layerVariables, variables: layerVariables.map((v) => v.read() as tf.Variable) };
}

export interface OptimizerOptions extends SgdOptions {
  /** λ of the L1 penalty on BN γ; 0 = off. */
  sparsityLambda: number;
}

/** The update half of a step, the same for every runner: λ·sign(γ) on BN scales, then SGD. */
export class Optimizer {
  readonly sgd: Sgd;
  private readonly byName: Map<string, tf.LayerVariable>;
  private readonly gammas: BnGamma[];

  constructor(
    net: TrainingModel,
    readonly options: OptimizerOptions,
  ) {
    this.sgd = new Sgd(options);
    this.byName = new Map(net.layerVariables.map((v, i) => [net.variables[i].name, v] as const));
    this.gammas = findBnGammas(net.model).filter((g) => net.layerVariables.includes(g.variable));
  }

  /** One step from the task-loss gradients (by tf.Variable name, as lossAndGrads returns them). Call inside tf.tidy. */
  apply(grads: tf.NamedTensorMap, lr: number): void {
    const gradMap = new Map<tf.LayerVariable, tf.Tensor>();
    for (const [name, g] of Object.entries(grads)) gradMap.set(this.byName.get(name)!, g);
    addSparsityGrad(gradMap, this.gammas, this.options.sparsityLambda);
    this.sgd.step(gradMap, lr);
  }

  dispose(): void {
    this.sgd.dispose();
  }
}

/**
 * Seeds of the dropout layers for one step: part 0 is the main thread's part of the batch,
 * part k ≥ 1 replica k's, so every part draws its own masks and a rerun draws the same ones.
 */
export function dropoutSeeds(seed: number, epoch: number, step: number, count: number, part = 0): number[] {
  return Array.from({ length: count }, (_, i) => (part === 0 ? mixSeed(seed, epoch, step, i) : mixSeed(seed, epoch, step, i, part)));
}

/** Where a step is in training, and its learning rate. */
export interface StepPosition {
  epoch: number;
  /** 0-based within the epoch. */
  step: number;
  lr: number;
}

/** A step's loss (mean over the batch) and correct count, still on the backend; the caller disposes them. */
export interface StepResult {
  loss: tf.Scalar;
  correct: tf.Scalar;
}

/** Runs whole optimizer steps; the epoch/batch driver (loop.ts) does not care where. */
export interface StepRunner {
  /** Copies of the model computing each step (1 = this thread alone). */
  readonly replicas: number;
  step(batch: Batch, at: StepPosition): StepResult | Promise<StepResult>;
  /** Ends any worker threads (the optimizer belongs to the caller). */
  close(): Promise<void>;
}

/** The whole batch on this thread. */
export class LocalRunner implements StepRunner {
  readonly replicas = 1;

  constructor(
    private readonly net: TrainingModel,
    private readonly optimizer: Optimizer,
    private readonly seed: number,
  ) {}

  step(batch: Batch, at: StepPosition): StepResult {
    const { model, patches, variables } = this.net;
    patches.seedDropout(dropoutSeeds(this.seed, at.epoch, at.step, patches.dropoutCount));
    return tf.tidy(() => {
      const { loss, correct, grads } = lossAndGrads(model, variables, patches.outputKind, batch.x, batch.y);
      this.optimizer.apply(grads, at.lr);
      return { loss, correct };
    });
  }

  async close(): Promise<void> {}
}
