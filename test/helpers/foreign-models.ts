/**
 * Models built the way tfjs users' models arrive (Teachable Machine, Keras applications with
 * `scale: false`, frozen transfer-learning bodies), saved by stock tfjs to model.json + weights.bin.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';

/** Saves through tfjs's own `model.save` (its serialiser and weight encoder), written to disk as tfjs-node does. */
export async function saveWithStockTfjs(model: tf.LayersModel, dir: string): Promise<string> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  const a = artifacts!;
  await fs.mkdir(dir, { recursive: true });
  const modelJson = {
    modelTopology: a.modelTopology,
    format: 'layers-model',
    generatedBy: a.generatedBy,
    convertedBy: a.convertedBy ?? null,
    weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs }],
  };
  await fs.writeFile(path.join(dir, 'weights.bin'), Buffer.from(a.weightData as ArrayBuffer));
  const file = path.join(dir, 'model.json');
  await fs.writeFile(file, JSON.stringify(modelJson));
  return file;
}

/** A MobileNetV2 inverted-residual block: 1×1 expand, 3×3 depthwise, 1×1 project (+ Add when shapes match). */
function invertedResidual(x: tf.SymbolicTensor, expand: number, out: number, stride: number, name: string, scale = true): tf.SymbolicTensor {
  const inChannels = x.shape[3] as number;
  let y = tf.layers.conv2d({ filters: expand, kernelSize: 1, useBias: false, name: `${name}_expand` }).apply(x) as tf.SymbolicTensor;
  y = tf.layers.batchNormalization({ name: `${name}_expand_bn`, scale }).apply(y) as tf.SymbolicTensor;
  y = tf.layers.reLU({ maxValue: 6, name: `${name}_expand_relu` }).apply(y) as tf.SymbolicTensor;
  y = tf.layers.depthwiseConv2d({ kernelSize: 3, strides: stride, padding: 'same', useBias: false, name: `${name}_dw` }).apply(y) as tf.SymbolicTensor;
  y = tf.layers.batchNormalization({ name: `${name}_dw_bn`, scale }).apply(y) as tf.SymbolicTensor;
  y = tf.layers.reLU({ maxValue: 6, name: `${name}_dw_relu` }).apply(y) as tf.SymbolicTensor;
  y = tf.layers.conv2d({ filters: out, kernelSize: 1, useBias: false, name: `${name}_project` }).apply(y) as tf.SymbolicTensor;
  y = tf.layers.batchNormalization({ name: `${name}_project_bn`, scale }).apply(y) as tf.SymbolicTensor;
  if (stride === 1 && inChannels === out) y = tf.layers.add({ name: `${name}_add` }).apply([x, y]) as tf.SymbolicTensor;
  return y;
}

/** A small functional MobileNetV2-style body on 28×28×1 (stem, three inverted-residual blocks, GAP). */
export function mobileNetV2Body(name = 'mobilenetv2_body', scale = true): tf.LayersModel {
  const input = tf.input({ shape: [28, 28, 1], name: `${name}_input` });
  let x = tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', useBias: false, name: `${name}_stem` }).apply(input) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ name: `${name}_stem_bn`, scale }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU({ maxValue: 6, name: `${name}_stem_relu` }).apply(x) as tf.SymbolicTensor;
  x = invertedResidual(x, 16, 8, 1, `${name}_b1`, scale);
  x = invertedResidual(x, 24, 12, 2, `${name}_b2`, scale);
  x = invertedResidual(x, 24, 12, 1, `${name}_b3`, scale);
  x = tf.layers.globalAveragePooling2d({ name: `${name}_gap` }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: x, name });
}

/**
 * Teachable Machine's image-model shape: Sequential[ Sequential[ functional body ], Sequential[ Dense head ] ].
 * No outer layer declares an input shape; only the body's InputLayer does.
 */
export function teachableMachineLike(classes = 10): tf.Sequential {
  const body = mobileNetV2Body('model_1');
  const truncated = tf.sequential({ layers: [body], name: 'sequential_8' });
  const head = tf.sequential({
    layers: [tf.layers.dense({ inputShape: [12], units: 16, activation: 'relu', name: 'dense_1' }), tf.layers.dense({ units: classes, activation: 'softmax', name: 'dense_2' })],
    name: 'sequential_10',
  });
  return tf.sequential({ layers: [truncated, head], name: 'sequential_11' });
}

/** Trains a few plain steps on random data so BN statistics and weights are not at their initial values. */
export async function trainFewSteps(model: tf.LayersModel, classes = 10, seed = 1): Promise<void> {
  model.compile({ optimizer: tf.train.sgd(0.01), loss: 'categoricalCrossentropy' });
  const x = tf.randomUniform([32, 28, 28, 1], 0, 1, 'float32', seed);
  const labels = tf.randomUniform([32], 0, classes, 'int32', seed + 1);
  const y = tf.oneHot(labels, classes);
  await model.fit(x, y, { epochs: 2, batchSize: 16, verbose: 0 });
  tf.dispose([x, labels, y]);
}
