/**
 * SGD with momentum / Nesterov and L2 weight decay, with PyTorch's semantics (the paper's code):
 *   g ← g + wd·w;  buf ← momentum·buf + g;  step = nesterov ? g + momentum·buf : buf;  w ← w − lr·step
 * (buf starts at zero, which equals PyTorch's "buf = g on the first step" with dampening 0).
 */
import * as tf from '#tfjs';
import { InputError } from '../errors.js';

export interface SgdOptions {
  momentum?: number;
  nesterov?: boolean;
  weightDecay?: number;
  /** Skip weight decay on BN γ/β and on biases (default false: decay everything, as the paper's code). */
  excludeBnAndBiasFromDecay?: boolean;
}

/** True for variables that "exclude from decay" leaves alone: BN gamma/beta and biases. */
export function isBnOrBias(name: string): boolean {
  return /\/(gamma|beta|bias)(_\d+)?$/.test(name);
}

/**
 * Momentum buffers by the LayerVariable's originalName (e.g. 'conv1/kernel': unique within a model
 * and the same in a rebuilt or reloaded copy, unlike `name`, which tfjs makes unique per process).
 */
export type SgdState = Map<string, Float32Array>;

export class Sgd {
  readonly momentum: number;
  readonly nesterov: boolean;
  readonly weightDecay: number;
  readonly excludeBnAndBias: boolean;
  private readonly buffers = new Map<tf.LayerVariable, tf.Variable>();

  constructor(options: SgdOptions = {}) {
    this.momentum = options.momentum ?? 0.9;
    this.nesterov = options.nesterov ?? false;
    this.weightDecay = options.weightDecay ?? 0;
    this.excludeBnAndBias = options.excludeBnAndBiasFromDecay ?? false;
    if (this.nesterov && this.momentum <= 0) throw new RangeError('Nesterov momentum needs momentum > 0');
  }

  /**
   * Applies one step. `grads` maps each variable to its gradient (already including any
   * sparsity term). Writes go through LayerVariable.write so layer constraints still apply.
   */
  step(grads: Map<tf.LayerVariable, tf.Tensor>, lr: number): void {
    tf.tidy(() => {
      for (const [variable, grad] of grads) {
        const w = variable.read();
        let g = grad;
        if (this.weightDecay !== 0 && !(this.excludeBnAndBias && isBnOrBias(variable.name))) {
          g = tf.add(g, tf.mul(w, this.weightDecay));
        }
        let update = g;
        if (this.momentum !== 0) {
          let buf = this.buffers.get(variable);
          if (buf === undefined) {
            buf = tf.variable(tf.zerosLike(w), false);
            this.buffers.set(variable, buf);
          }
          const newBuf = tf.add(tf.mul(buf, this.momentum), g);
          buf.assign(newBuf);
          update = this.nesterov ? tf.add(g, tf.mul(newBuf, this.momentum)) : newBuf;
        }
        variable.write(tf.sub(w, tf.mul(update, lr)));
      }
    });
  }

  /** The momentum buffer of a variable (undefined before its first step); for tests and checkpoints. */
  buffer(variable: tf.LayerVariable): tf.Variable | undefined {
    return this.buffers.get(variable);
  }

  /** A copy of every momentum buffer (variables not stepped yet have none: they start at zero). */
  exportState(): SgdState {
    return new Map([...this.buffers].map(([variable, buf]) => [variable.originalName, (buf.dataSync() as Float32Array).slice()] as const));
  }

  /**
   * Sets the momentum buffers of `variables` from `state` (exportState of a run on the same
   * architecture); a buffer that fits no variable is an InputError (a checkpoint of another model).
   */
  importState(variables: readonly tf.LayerVariable[], state: SgdState): void {
    const byName = new Map(variables.map((v) => [v.originalName, v] as const));
    for (const [name, values] of state) {
      const variable = byName.get(name);
      if (variable === undefined)
        throw new InputError(`optimizer state has a buffer for ${name}, which is not a trainable weight of this model`);
      const shape = variable.read().shape;
      if (values.length !== variable.read().size) {
        throw new InputError(`optimizer state for ${name} has ${values.length} values, the weight has ${variable.read().size}`);
      }
      this.buffers.get(variable)?.dispose();
      // tidy frees the tensor the variable is made from (variables themselves outlive tidy).
      this.buffers.set(
        variable,
        tf.tidy(() => tf.variable(tf.tensor(values, shape), false)),
      );
    }
  }

  dispose(): void {
    for (const b of this.buffers.values()) b.dispose();
    this.buffers.clear();
  }
}
