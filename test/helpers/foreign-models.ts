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
function invertedResidual(
  x: tf.SymbolicTensor,
  expand: number,
  out: number,
  stride: number,
  name: string,
  scale = true,
): tf.SymbolicTensor {
  const inChannels = x.shape[3] as number;
  let y = tf.layers.conv2d({ filters: expand, kernelSize: 1, useBias: false, name: `${name}_expand` }).apply(x) as tf.SymbolicTensor;
  y = tf.layers.batchNormalization({ name: `${name}_expand_bn`, scale }).apply(y) as tf.SymbolicTensor;
  y = tf.layers.reLU({ maxValue: 6, name: `${name}_expand_relu` }).apply(y) as tf.SymbolicTensor;
  y = tf.layers
    .depthwiseConv2d({ kernelSize: 3, strides: stride, padding: 'same', useBias: false, name: `${name}_dw` })
    .apply(y) as tf.SymbolicTensor;
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
  let x = tf.layers
    .conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', useBias: false, name: `${name}_stem` })
    .apply(input) as tf.SymbolicTensor;
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
    layers: [
      tf.layers.dense({ inputShape: [12], units: 16, activation: 'relu', name: 'dense_1' }),
      tf.layers.dense({ units: classes, activation: 'softmax', name: 'dense_2' }),
    ],
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

function convBn(x: tf.SymbolicTensor, filters: number, kernelSize: number, name: string, strides = 1): tf.SymbolicTensor {
  let y = tf.layers.conv2d({ filters, kernelSize, strides, padding: 'same', useBias: false, name }).apply(x) as tf.SymbolicTensor;
  // Keras' InceptionV3 writes every BatchNormalization with scale: false.
  y = tf.layers.batchNormalization({ scale: false, name: `${name}_bn` }).apply(y) as tf.SymbolicTensor;
  return tf.layers.reLU({ name: `${name}_relu` }).apply(y) as tf.SymbolicTensor;
}

function inceptionBlock(x: tf.SymbolicTensor, name: string): tf.SymbolicTensor {
  const a = convBn(x, 4, 1, `${name}_a`);
  const b = convBn(convBn(x, 4, 1, `${name}_b1`), 6, 3, `${name}_b2`);
  const pooled = tf.layers
    .averagePooling2d({ poolSize: 3, strides: 1, padding: 'same', name: `${name}_pool` })
    .apply(x) as tf.SymbolicTensor;
  const c = convBn(pooled, 4, 1, `${name}_c`);
  return tf.layers.concatenate({ name: `${name}_concat` }).apply([a, b, c]) as tf.SymbolicTensor;
}

/** An InceptionV3-style net on 28×28×1: every BN has scale: false, two Concatenate blocks. */
export function inceptionStyle(classes = 10): tf.LayersModel {
  const input = tf.input({ shape: [28, 28, 1], name: 'input_1' });
  let x = convBn(input, 8, 3, 'stem', 2);
  x = inceptionBlock(x, 'mixed0');
  x = inceptionBlock(x, 'mixed1');
  x = tf.layers.globalAveragePooling2d({ name: 'avg_pool' }).apply(x) as tf.SymbolicTensor;
  const output = tf.layers.dense({ units: classes, activation: 'softmax', name: 'predictions' }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: output, name: 'inception_style' });
}

/** A transfer-learning model: a frozen MobileNetV2-style body (BN included) under a trainable Dense head. */
export function frozenBodyTransfer(classes = 10): tf.LayersModel {
  const body = mobileNetV2Body('body');
  for (const layer of body.layers) layer.trainable = false;
  const input = tf.input({ shape: [28, 28, 1], name: 'image' });
  const features = body.apply(input) as tf.SymbolicTensor;
  const output = tf.layers.dense({ units: classes, activation: 'softmax', name: 'head' }).apply(features) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: output, name: 'transfer' });
}

/**
 * Gives every BatchNormalization non-trivial β and moving statistics (stock tfjs cannot fit a
 * `scale: false` BN: its training path reads the missing γ), so a model looks trained.
 */
export function randomizeBnStatistics(model: tf.LayersModel, seed = 1): void {
  let k = seed;
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'BatchNormalization') continue;
    const values = layer.getWeights().map((w, i) => {
      const name = layer.weights[i].name;
      const low = /moving_variance/.test(name) ? 0.5 : /gamma/.test(name) ? 0.5 : -0.5;
      return tf.randomUniform(w.shape, low, low + 1, 'float32', k++);
    });
    layer.setWeights(values);
    tf.dispose(values);
  }
}
