/** The model the README's "Use from code" examples load as model/model.json (Node and browser tests). */
import * as tf from '@tensorflow/tfjs';

/** A conv net on 12×12×3 images with BatchNorm whose γ is near zero on every other channel, as sparsity training leaves it. */
export function sparseModel(): tf.LayersModel {
  const init = (seed: number) => tf.initializers.glorotUniform({ seed });
  const model = tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [12, 12, 3], filters: 8, kernelSize: 3, padding: 'same', kernelInitializer: init(1) }),
      tf.layers.batchNormalization(),
      tf.layers.reLU(),
      tf.layers.conv2d({ filters: 12, kernelSize: 3, padding: 'same', kernelInitializer: init(2) }),
      tf.layers.batchNormalization(),
      tf.layers.reLU(),
      tf.layers.globalAveragePooling2d({}),
      tf.layers.dense({ units: 5, activation: 'softmax', kernelInitializer: init(3) }),
    ],
  });
  for (const bn of model.layers.filter((l) => l.getClassName() === 'BatchNormalization')) {
    const [gamma, ...rest] = bn.getWeights();
    const values = (gamma.arraySync() as number[]).map((_, i) => (i % 2 === 0 ? 1e-4 : 0.5 + i / 20));
    bn.setWeights([tf.tensor1d(values), ...rest]);
  }
  return model;
}
