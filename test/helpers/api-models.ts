/** The models the API tests build: the README's "Use from code" model (model/model.json, Node and browser tests) and its small conv+BN net. */
import * as tf from '@tensorflow/tfjs';

/**
 * conv(widths[0])+BN+ReLU → conv(widths[1])+BN+ReLU → global average pool → dense(classes, softmax):
 * two prunable groups; glorot kernels seeded with seed + 1, 2, 3.
 */
export function convBnNet(inputShape: [number, number, number], widths: [number, number], classes: number, seed = 0): tf.LayersModel {
  const init = (s: number) => tf.initializers.glorotUniform({ seed: seed + s });
  return tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape, filters: widths[0], kernelSize: 3, padding: 'same', kernelInitializer: init(1) }),
      tf.layers.batchNormalization(),
      tf.layers.reLU(),
      tf.layers.conv2d({ filters: widths[1], kernelSize: 3, padding: 'same', kernelInitializer: init(2) }),
      tf.layers.batchNormalization(),
      tf.layers.reLU(),
      tf.layers.globalAveragePooling2d({}),
      tf.layers.dense({ units: classes, activation: 'softmax', kernelInitializer: init(3) }),
    ],
  });
}

/** A conv net on 12×12×3 images with BatchNorm whose γ is near zero on every other channel, as sparsity training leaves it. */
export function sparseModel(): tf.LayersModel {
  const model = convBnNet([12, 12, 3], [8, 12], 5);
  for (const bn of model.layers.filter((l) => l.getClassName() === 'BatchNormalization')) {
    const [gamma, ...rest] = bn.getWeights();
    const values = (gamma.arraySync() as number[]).map((_, i) => (i % 2 === 0 ? 1e-4 : 0.5 + i / 20));
    bn.setWeights([tf.tensor1d(values), ...rest]);
  }
  return model;
}
