/**
 * The loss that fits the model's head, decided from its last layer (one place):
 * - softmax outputs are probabilities (clipped log), linear outputs over >= 2 units are logits
 *   (fused softmax cross-entropy): categorical cross-entropy, accuracy by arg-max;
 * - sigmoid outputs are independent probabilities: binary cross-entropy, accuracy at 0.5. One
 *   sigmoid unit is a binary classifier (labels 0/1), k units are multi-label (0/1 label vectors).
 * A nested model's head is its own last layer's; Dense(linear) followed by Activation('sigmoid')
 * is the same head as Dense('sigmoid').
 */
import * as tf from '#tfjs';
import { InputError } from '../errors.js';

export type OutputKind = 'probabilities' | 'logits' | 'binary-probabilities' | 'binary-logits';

/** Clipping of probabilities before the log, as Keras does (epsilon 1e-7). */
const PROB_EPSILON = 1e-7;

/** The model's last layer (inside nested models). */
function headLayer(model: tf.LayersModel): tf.layers.Layer {
  if (model.outputs.length !== 1) {
    throw new InputError(`model ${model.name} has ${model.outputs.length} outputs; slim trains single-output classifiers`);
  }
  const layer = model.outputs[0].sourceLayer;
  return layer instanceof tf.LayersModel ? headLayer(layer) : layer;
}

/** Values per example of the model's output (undefined when not fixed). */
export function outputUnits(model: tf.LayersModel): number | undefined {
  const shape = model.outputs[0]?.shape;
  const last = shape?.[shape.length - 1];
  return typeof last === 'number' && last > 0 ? last : undefined;
}

/** Decides from the output layer's activation (and width) what the model emits, hence the loss. */
export function outputKind(model: tf.LayersModel): OutputKind {
  const layer = headLayer(model);
  const className = layer.getClassName();
  const units = outputUnits(model);
  const activation: unknown = className === 'Softmax' ? 'softmax' : layer.getConfig()['activation'];
  const kind: OutputKind | undefined =
    activation === 'softmax'
      ? 'probabilities'
      : activation === 'sigmoid'
        ? 'binary-probabilities'
        : activation === 'linear' || (activation === undefined && className !== 'Activation')
          ? 'logits'
          : undefined;
  if (kind === undefined) {
    throw new InputError(
      `model output layer ${layer.name} (${className}) has activation ${String(activation)}; ` +
        'slim trains classifiers that end in softmax, linear logits or sigmoid',
    );
  }
  if (units === 1 && (kind === 'logits' || kind === 'probabilities')) {
    const what = kind === 'logits' ? 'one linear value (a regression head)' : 'one softmax value (always 1)';
    throw new InputError(
      `model output layer ${layer.name} (${className}) emits ${what}; slim trains classifiers: ` +
        "softmax or linear logits over >= 2 classes, or sigmoid (Dense(1, 'sigmoid') for binary labels)",
    );
  }
  return kind;
}

/** True for sigmoid heads (binary or multi-label). */
export function isBinaryKind(kind: OutputKind): boolean {
  return kind === 'binary-probabilities' || kind === 'binary-logits';
}

/**
 * The class count the data must have for this model: its output width, except a single sigmoid
 * unit, which classifies 2 classes (labels 0/1).
 */
export function dataClasses(model: tf.LayersModel): number | undefined {
  const units = outputUnits(model);
  return units === 1 && isBinaryKind(outputKind(model)) ? 2 : units;
}

/** One human line naming the loss the head gets, e.g. for stderr. */
export function describeLoss(model: tf.LayersModel): string {
  const kind = outputKind(model);
  const units = outputUnits(model);
  const layer = headLayer(model);
  const head = `${layer.name} (${layer.getClassName()}, ${units ?? '?'} unit${units === 1 ? '' : 's'})`;
  if (!isBinaryKind(kind)) {
    return `loss: categorical cross-entropy on ${kind === 'logits' ? 'logits' : 'softmax'} (head ${head}), accuracy by arg-max`;
  }
  return units === 1
    ? `loss: binary cross-entropy, sigmoid head ${head}, accuracy at 0.5`
    : `loss: binary cross-entropy per unit (multi-label), sigmoid head ${head}, accuracy per label at 0.5`;
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
  if (kind === 'logits' || kind === 'binary-logits') return { kind, restore: () => {} };
  const logitsKind: OutputKind = kind === 'probabilities' ? 'logits' : 'binary-logits';
  const layer = headLayer(model);
  if (layer.getClassName() === 'Softmax') {
    // A Softmax layer's call applies softmax to its input: make it the identity on this instance.
    const instance = layer as unknown as { call: (inputs: tf.Tensor | tf.Tensor[], kwargs: unknown) => tf.Tensor | tf.Tensor[] };
    const own = Object.prototype.hasOwnProperty.call(instance, 'call');
    const saved = instance.call;
    instance.call = (inputs) => (Array.isArray(inputs) ? inputs[0] : inputs);
    return {
      kind: logitsKind,
      restore: () => {
        if (own) instance.call = saved;
        else delete (instance as Partial<typeof instance>).call;
      },
    };
  }
  // Dense / Conv / Activation with activation 'softmax' or 'sigmoid': swap in tfjs' own linear activation object.
  const holder = layer as unknown as ActivationHolder;
  const saved = holder.activation;
  holder.activation = (tf.layers.activation({ activation: 'linear' }) as unknown as ActivationHolder).activation;
  return {
    kind: logitsKind,
    restore: () => {
      holder.activation = saved;
    },
  };
}

/**
 * The 0/1 targets of a sigmoid head: `y` as it is when as wide as the output (multi-label, or
 * 0/1 labels of width 1), its class-1 column when a single unit meets 2-class one-hot rows.
 */
function binaryTargets(y: tf.Tensor2D, output: tf.Tensor): tf.Tensor {
  const units = output.shape[output.shape.length - 1];
  return units === 1 && y.shape[1] === 2 ? tf.slice(y, [0, 1], [-1, 1]) : y;
}

/** Keeps a NaN/Infinity output visible in a loss (wasm's clipByValue maps NaN to the lower bound). */
function withNaNOf(loss: tf.Scalar, output: tf.Tensor): tf.Scalar {
  // 0·sum(output) is NaN exactly when an output is NaN/Infinity and 0 otherwise (no gradient).
  return tf.add<tf.Scalar>(loss, tf.mul(0, tf.sum(output)));
}

/**
 * Mean cross-entropy of a batch. `y` holds one row per example: one-hot or a distribution over
 * the classes (categorical heads); 0/1 per unit, or 2-class one-hot for a single unit (sigmoid heads).
 */
export function crossEntropy(kind: OutputKind, y: tf.Tensor2D, output: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    if (kind === 'logits') return tf.losses.softmaxCrossEntropy<tf.Tensor, tf.Scalar>(y, output);
    if (kind === 'binary-logits') {
      // Mean over examples of the mean over units, as Keras' binary_crossentropy.
      return tf.losses.sigmoidCrossEntropy<tf.Tensor, tf.Scalar>(binaryTargets(y, output), output, undefined, 0, tf.Reduction.MEAN);
    }
    const p = tf.clipByValue(output, PROB_EPSILON, 1 - PROB_EPSILON);
    if (kind === 'binary-probabilities') {
      const t = binaryTargets(y, output);
      const perUnit = tf.add(tf.mul(t, tf.log(p)), tf.mul(tf.sub(1, t), tf.log(tf.sub(1, p))));
      return withNaNOf(tf.neg(tf.mean(perUnit)) as tf.Scalar, output);
    }
    return withNaNOf(tf.neg(tf.mean(tf.sum(tf.mul(y, tf.log(p)), -1))) as tf.Scalar, output);
  });
}

/**
 * Correct predictions in a batch (float32 scalar): rows whose arg-max matches the label's arg-max
 * (categorical heads); for sigmoid heads, per row the share of units on the right side of 0.5
 * (0 for logits), so one sigmoid unit counts 0 or 1 per example.
 */
export function correctCount(y: tf.Tensor2D, output: tf.Tensor, kind: OutputKind = 'logits'): tf.Scalar {
  return tf.tidy(() => {
    if (!isBinaryKind(kind)) return tf.sum(tf.cast(tf.equal(tf.argMax(output, -1), tf.argMax(y, -1)), 'float32'));
    const predicted = kind === 'binary-logits' ? tf.greater(output, 0) : tf.greater(output, 0.5);
    const truth = tf.greater(binaryTargets(y, output), 0.5);
    return tf.sum(tf.mean(tf.cast(tf.equal(predicted, truth), 'float32'), -1));
  });
}
