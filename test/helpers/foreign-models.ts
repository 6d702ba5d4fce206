/**
 * Helpers for the foreign-model tests: save a model the way stock tfjs does (model.json +
 * weights.bin), train it a little, or make its BN statistics look trained. The models themselves
 * (Teachable Machine-like, Inception-style with `scale: false`, frozen transfer body) live in the zoo.
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

/** Trains a few plain steps on random data so BN statistics and weights are not at their initial values. */
export async function trainFewSteps(model: tf.LayersModel, classes = 10, seed = 1): Promise<void> {
  model.compile({ optimizer: tf.train.sgd(0.01), loss: 'categoricalCrossentropy' });
  const x = tf.randomUniform([32, 28, 28, 1], 0, 1, 'float32', seed);
  const labels = tf.randomUniform([32], 0, classes, 'int32', seed + 1);
  const y = tf.oneHot(labels, classes);
  await model.fit(x, y, { epochs: 2, batchSize: 16, verbose: 0 });
  tf.dispose([x, labels, y]);
}

/**
 * Gives every BatchNormalization non-trivial β and moving statistics (stock tfjs cannot fit a
 * `scale: false` BN: its training path reads the missing γ), so a model looks trained — without
 * the cost of training it (conv gradients on the test process's cpu backend take seconds). BN
 * layers inside nested models (a Sequential or functional model used as a layer) count too.
 */
export function randomizeBnStatistics(model: tf.LayersModel, seed = 1): void {
  let k = seed;
  for (const layer of bnLayersOf(model)) {
    const values = layer.getWeights().map((w, i) => {
      const name = layer.weights[i].name;
      const low = /moving_variance/.test(name) ? 0.5 : /gamma/.test(name) ? 0.5 : -0.5;
      return tf.randomUniform(w.shape, low, low + 1, 'float32', k++);
    });
    layer.setWeights(values);
    tf.dispose(values);
  }
}

/** The model's BatchNormalization layers in layer order, nested models' included. */
function bnLayersOf(model: tf.LayersModel): tf.layers.Layer[] {
  return model.layers.flatMap((layer) =>
    layer instanceof tf.LayersModel ? bnLayersOf(layer) : layer.getClassName() === 'BatchNormalization' ? [layer] : [],
  );
}
