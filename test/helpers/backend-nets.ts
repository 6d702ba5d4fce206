/**
 * Helpers for the backend tests: build the same net (same weights) on any backend, and compute
 * the gradients of a training-mode loss for every trainable weight. The nets live in the zoo.
 */
import * as tf from '@tensorflow/tfjs';
import { kernelMobileNetBlock, kernelVgg, kernelVggVariants } from '../fixtures/zoo/index.js';

export type NetKind = 'vgg' | 'vgg-variants' | 'mobilenet-block';

export function buildNet(kind: NetKind): tf.LayersModel {
  switch (kind) {
    case 'vgg':
      return kernelVgg();
    case 'vgg-variants':
      return kernelVggVariants();
    case 'mobilenet-block':
      return kernelMobileNetBlock();
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
    return tf.mean<tf.Scalar>(tf.metrics.categoricalCrossentropy(ys, predicted));
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
