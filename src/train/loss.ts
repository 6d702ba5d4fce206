/**
 * Classification loss that fits the model's last layer: softmax outputs are probabilities
 * (clipped log), linear outputs are logits (fused softmax cross-entropy).
 */
import * as tf from '@tensorflow/tfjs';
import { InputError } from '../errors.js';

export type OutputKind = 'probabilities' | 'logits';

/** Clipping of probabilities before the log, as Keras does (epsilon 1e-7). */
const PROB_EPSILON = 1e-7;

/** Decides from the output layer's activation whether the model emits probabilities or logits. */
export function outputKind(model: tf.LayersModel): OutputKind {
  if (model.outputs.length !== 1) {
    throw new InputError(`model ${model.name} has ${model.outputs.length} outputs; slim trains single-output classifiers`);
  }
  const layer = model.outputs[0].sourceLayer;
  if (layer instanceof tf.LayersModel) return outputKind(layer);
  const className = layer.getClassName();
  if (className === 'Softmax') return 'probabilities';
  const activation: unknown = layer.getConfig()['activation'];
  if (activation === 'softmax') return 'probabilities';
  if (activation === 'linear' || (activation === undefined && className !== 'Activation')) return 'logits';
  throw new InputError(
    `model output layer ${layer.name} (${className}) has activation ${String(activation)}; ` +
      'slim trains classifiers that end in softmax or in linear logits',
  );
}

/** What tfjs-layers keeps on a layer with an `activation` option (Dense, Conv*, Activation). */
interface ActivationHolder {
  activation: unknown;
}

/**
 * For the duration of training, makes a model whose output layer applies softmax emit the logits
 * before it, so the loss is the fused log-softmax cross-entropy (what PyTorch's reference uses).
 * Why: Keras' loss on probabilities clips p to [1e-7, 1 − 1e-7] before the log, so an example
 * whose true-class probability underflowed below 1e-7 contributes no gradient at all — exactly the
 * examples a freshly pruned model gets most confidently wrong. Same gradient (p − y) otherwise.
 * Returns the kind of output the model now emits and a function that restores the layer.
 */
export function trainOnLogits(model: tf.LayersModel): { kind: OutputKind; restore: () => void } {
  const kind = outputKind(model);
  if (kind === 'logits') return { kind, restore: () => {} };
  let layer = model.outputs[0].sourceLayer;
  while (layer instanceof tf.LayersModel) layer = layer.outputs[0].sourceLayer;
  if (layer.getClassName() === 'Softmax') {
    // A Softmax layer's call applies softmax to its input: make it the identity on this instance.
    const instance = layer as unknown as { call: (inputs: tf.Tensor | tf.Tensor[], kwargs: unknown) => tf.Tensor | tf.Tensor[] };
    const own = Object.prototype.hasOwnProperty.call(instance, 'call');
    const saved = instance.call;
    instance.call = (inputs) => (Array.isArray(inputs) ? inputs[0] : inputs);
    return {
      kind: 'logits',
      restore: () => {
        if (own) instance.call = saved;
        else delete (instance as Partial<typeof instance>).call;
      },
    };
  }
  // Dense / Conv / Activation with activation 'softmax': swap in tfjs' own linear activation object.
  const holder = layer as unknown as ActivationHolder;
  const saved = holder.activation;
  holder.activation = (tf.layers.activation({ activation: 'linear' }) as unknown as ActivationHolder).activation;
  return {
    kind: 'logits',
    restore: () => {
      holder.activation = saved;
    },
  };
}

/** Mean categorical cross-entropy of a batch; `y` is one-hot. */
export function crossEntropy(kind: OutputKind, y: tf.Tensor2D, output: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    if (kind === 'logits') return tf.losses.softmaxCrossEntropy(y, output) as tf.Scalar;
    const p = tf.clipByValue(output, PROB_EPSILON, 1 - PROB_EPSILON);
    const loss = tf.neg(tf.mean(tf.sum(tf.mul(y, tf.log(p)), -1)));
    // wasm's clipByValue maps NaN to the lower bound, which would hide a diverged model behind a
    // finite loss; 0·sum(output) is NaN exactly when an output is NaN/Infinity and 0 otherwise
    // (it adds nothing to the gradient).
    return tf.add(loss, tf.mul(0, tf.sum(output))) as tf.Scalar;
  });
}

/** Number of rows whose arg-max matches the one-hot label (int32 scalar). */
export function correctCount(y: tf.Tensor2D, output: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.sum(tf.cast(tf.equal(tf.argMax(output, -1), tf.argMax(y, -1)), 'int32')));
}
