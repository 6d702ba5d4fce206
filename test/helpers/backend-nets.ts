/**
 * Small nets and helpers for the backend tests: build the same net (same weights) on any
 * backend, and compute the gradients of a training-mode loss for every trainable weight.
 */
import * as tf from '@tensorflow/tfjs';

export type NetKind = 'vgg' | 'vgg-variants' | 'mobilenet-block';

/** VGG-style: conv 16-32-64 with BN + ReLU, max pooling, GAP, dense softmax (28×28×1 input). */
function vgg(): tf.LayersModel {
  const input = tf.input({ shape: [28, 28, 1] });
  let h: tf.SymbolicTensor = input;
  for (const [index, filters] of [16, 32, 64].entries()) {
    h = tf.layers.conv2d({ filters, kernelSize: 3, padding: 'same', useBias: false }).apply(h) as tf.SymbolicTensor;
    h = tf.layers.batchNormalization().apply(h) as tf.SymbolicTensor;
    h = tf.layers.reLU().apply(h) as tf.SymbolicTensor;
    if (index < 2) h = tf.layers.maxPooling2d({ poolSize: 2 }).apply(h) as tf.SymbolicTensor;
  }
  h = tf.layers.globalAveragePooling2d({}).apply(h) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 10, activation: 'softmax' }).apply(h) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

/** The other layer kinds of the brief: strides, valid padding, other activations and pools. */
function vggVariants(): tf.LayersModel {
  const input = tf.input({ shape: [15, 13, 3] });
  let h = tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'valid' }).apply(input) as tf.SymbolicTensor;
  h = tf.layers.batchNormalization().apply(h) as tf.SymbolicTensor;
  h = tf.layers.leakyReLU({ alpha: 0.1 }).apply(h) as tf.SymbolicTensor;
  h = tf.layers.conv2d({ filters: 12, kernelSize: 5, padding: 'same', activation: 'elu' }).apply(h) as tf.SymbolicTensor;
  h = tf.layers.averagePooling2d({ poolSize: 2, padding: 'same' }).apply(h) as tf.SymbolicTensor;
  h = tf.layers.conv2d({ filters: 6, kernelSize: [2, 3], padding: 'valid', activation: 'relu' }).apply(h) as tf.SymbolicTensor;
  const gmp = tf.layers.globalMaxPooling2d({}).apply(h) as tf.SymbolicTensor;
  let flat = tf.layers.flatten().apply(h) as tf.SymbolicTensor;
  flat = tf.layers.dropout({ rate: 0.3, seed: 7 }).apply(flat) as tf.SymbolicTensor;
  const joined = tf.layers.concatenate().apply([flat, gmp]) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 5, activation: 'softmax' }).apply(joined) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

/** MobileNet-style: conv/2, depthwise + pointwise with BN + ReLU6, depth multiplier 2, separable. */
function mobilenetBlock(): tf.LayersModel {
  const input = tf.input({ shape: [17, 17, 3] });
  const bnRelu6 = (t: tf.SymbolicTensor): tf.SymbolicTensor => {
    const normed = tf.layers.batchNormalization().apply(t) as tf.SymbolicTensor;
    return tf.layers.reLU({ maxValue: 6 }).apply(normed) as tf.SymbolicTensor;
  };
  let h = bnRelu6(
    tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', useBias: false }).apply(input) as tf.SymbolicTensor,
  );
  h = bnRelu6(tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', useBias: false }).apply(h) as tf.SymbolicTensor);
  h = bnRelu6(tf.layers.conv2d({ filters: 16, kernelSize: 1, useBias: false }).apply(h) as tf.SymbolicTensor);
  h = bnRelu6(
    tf.layers
      .depthwiseConv2d({ kernelSize: 3, strides: 2, depthMultiplier: 2, padding: 'valid', useBias: false })
      .apply(h) as tf.SymbolicTensor,
  );
  h = bnRelu6(tf.layers.separableConv2d({ filters: 12, kernelSize: 3, padding: 'same' }).apply(h) as tf.SymbolicTensor);
  h = tf.layers.globalAveragePooling2d({}).apply(h) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 4, activation: 'softmax' }).apply(h) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

export function buildNet(kind: NetKind): tf.LayersModel {
  switch (kind) {
    case 'vgg':
      return vgg();
    case 'vgg-variants':
      return vggVariants();
    case 'mobilenet-block':
      return mobilenetBlock();
  }
}

/** A net on the active backend with the given weight values (in model.getWeights() order). */
export function buildNetWithWeights(kind: NetKind, weights: Float32Array[]): tf.LayersModel {
  const model = buildNet(kind);
  const current = model.getWeights();
  model.setWeights(current.map((w, i) => tf.tensor(weights[i], w.shape)));
  return model;
}

/** Seeded inputs and one-hot labels, as plain arrays so every backend gets the same data. */
export function makeBatch(model: tf.LayersModel, batch: number, seed: number): { x: Float32Array; y: Float32Array } {
  const inputShape = model.inputs[0].shape.slice(1) as number[];
  const classes = model.outputs[0].shape[1] as number;
  const x = tf.tidy(() => tf.randomNormal([batch, ...inputShape], 0, 1, 'float32', seed).dataSync() as Float32Array);
  const labels = tf.tidy(() => tf.randomUniform([batch], 0, classes, 'int32', seed + 1));
  const y = tf.tidy(
    () =>
      tf
        .oneHot(labels as tf.Tensor1D, classes)
        .toFloat()
        .dataSync() as Float32Array,
  );
  labels.dispose();
  return { x, y };
}

/** Gradients of mean categorical crossentropy (training mode: BN batch stats, dropout on). */
export function lossGradients(
  model: tf.LayersModel,
  x: Float32Array,
  y: Float32Array,
  batch: number,
): { loss: number; grads: Float32Array[] } {
  const inputShape = model.inputs[0].shape.slice(1) as number[];
  const classes = model.outputs[0].shape[1] as number;
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const xs = tf.tensor(x, [batch, ...inputShape]);
  const ys = tf.tensor(y, [batch, classes]);
  const { value, grads } = tf.variableGrads(() => {
    const predicted = model.apply(xs, { training: true }) as tf.Tensor;
    return tf.mean(tf.metrics.categoricalCrossentropy(ys, predicted)) as tf.Scalar;
  }, variables);
  // In trainableWeights order, so nets built on different backends line up.
  const out = variables.map((v) => {
    const g = grads[v.name];
    if (g === undefined) throw new Error(`no gradient for ${v.name}`);
    return g.dataSync() as Float32Array;
  });
  const loss = value.dataSync()[0];
  tf.dispose([value, xs, ys, ...Object.values(grads)]);
  return { loss, grads: out };
}

/** max |a − b| / max(1, max |b|): the error measure the kernel tests bound. */
export function relativeMaxError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length mismatch ${a.length} vs ${b.length}`);
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < a.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
    maxRef = Math.max(maxRef, Math.abs(b[i]));
  }
  return maxDiff / Math.max(1, maxRef);
}
