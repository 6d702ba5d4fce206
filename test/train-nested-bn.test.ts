/**
 * BatchNormalization inside nested models (the transfer-learning shape: a Sequential or functional
 * body with BN used as one layer of an outer model) trains exactly like the same layers in a flat
 * model: same weights and moving statistics after train() for the same seed, on cpu and wasm
 * (fused BN on, the default there) and with the stock tfjs-layers BN; and the moving statistics
 * serve inference (accuracy in inference mode near the training accuracy, not chance).
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/index.js';
import type { Dataset } from '../src/data/dataset.js';
import { evaluate } from '../src/train/evaluate.js';
import { train, type TrainOptions } from '../src/train/loop.js';
import { relativeMaxError } from './helpers/backend-nets.js';
import { loadMnist, MNIST_PREPROCESS, mnistTrainOptions } from './helpers/mnist.js';

tf.env().set('PROD', true); // silences tfjs's "install tfjs-node" banner in test output

const PRE = MNIST_PREPROCESS;
const OPTIONS = mnistTrainOptions({ epochs: 3, batchSize: 32, lr: 0.05, milestones: [], sparsityLambda: 1e-4, seed: 1 });

let mnistTrain: Dataset;
let mnistTest: Dataset;

before(async () => {
  await selectBackend('wasm'); // registers slim's wasm kernels, the fused BN ones included
  const { train: t, test: v } = await loadMnist();
  mnistTrain = t.limit(256);
  mnistTest = v.limit(500);
});

/**
 * The body's layers, fresh each call with fixed initialisers: a conv BN (rank 4) and a dense BN
 * (rank 2). BN momentum 0.9 so that a few dozen steps settle the moving statistics. The 2×2
 * average pool first halves the image: the cpu backend's conv filter gradient is most of the time.
 */
function bodyLayers(): tf.layers.Layer[] {
  const init = (seed: number) => tf.initializers.glorotNormal({ seed });
  return [
    tf.layers.averagePooling2d({ poolSize: 2 }),
    tf.layers.conv2d({ filters: 6, kernelSize: 3, strides: 2, useBias: false, kernelInitializer: init(1) }),
    tf.layers.batchNormalization({ momentum: 0.9 }),
    tf.layers.reLU(),
    tf.layers.flatten(),
    tf.layers.dense({ units: 24, useBias: false, kernelInitializer: init(2) }),
    tf.layers.batchNormalization({ momentum: 0.9 }),
    tf.layers.reLU(),
  ];
}

const head = (): tf.layers.Layer =>
  tf.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: tf.initializers.glorotNormal({ seed: 3 }) });
const INPUT_SHAPE = [28, 28, 1];

function flat(): tf.LayersModel {
  return tf.sequential({ layers: [tf.layers.inputLayer({ inputShape: INPUT_SHAPE }), ...bodyLayers(), head()] });
}

function sequentialInSequential(): tf.LayersModel {
  const body = tf.sequential({ layers: [tf.layers.inputLayer({ inputShape: INPUT_SHAPE }), ...bodyLayers()] });
  return tf.sequential({ layers: [body, head()] });
}

function functionalBody(): tf.LayersModel {
  const input = tf.input({ shape: INPUT_SHAPE });
  const features = bodyLayers().reduce<tf.SymbolicTensor>((x, layer) => layer.apply(x) as tf.SymbolicTensor, input);
  return tf.model({ inputs: input, outputs: features });
}

function functionalInSequential(): tf.LayersModel {
  return tf.sequential({ layers: [functionalBody(), head()] });
}

/** The bench's shape: a functional body applied inside a functional model. */
function functionalInFunctional(): tf.LayersModel {
  const body = functionalBody();
  const input = tf.input({ shape: INPUT_SHAPE });
  return tf.model({ inputs: input, outputs: head().apply(body.apply(input)) as tf.SymbolicTensor });
}

const NESTED = [
  ['Sequential inside Sequential', sequentialInSequential],
  ['functional body inside Sequential', functionalInSequential],
  ['functional body inside a functional model', functionalInFunctional],
] as const;

function weightValues(model: tf.LayersModel): Float32Array[] {
  return model.getWeights().map((w) => w.dataSync() as Float32Array);
}

/** Every BN layer's moving mean and variance, nested models included, in layer order. */
function movingStatistics(model: tf.LayersModel): Float32Array[] {
  const out: Float32Array[] = [];
  for (const layer of model.layers) {
    if (layer instanceof tf.LayersModel) out.push(...movingStatistics(layer));
    else if (layer.getClassName() === 'BatchNormalization')
      out.push(
        ...layer
          .getWeights()
          .slice(2)
          .map((w) => w.dataSync() as Float32Array),
      );
  }
  return out;
}

async function trained(
  build: () => tf.LayersModel,
  initial: tf.Tensor[],
  options: TrainOptions,
): Promise<{ model: tf.LayersModel; trainAccuracy: number }> {
  const model = build();
  model.setWeights(initial);
  const result = await train(model, { train: mnistTrain }, options);
  return { model, trainAccuracy: result.epochs[result.epochs.length - 1].trainAccuracy };
}

/**
 * Accuracy on `dataset` in one training-mode forward pass (BN normalises with the batch's own
 * statistics). Stock BN updates the moving statistics on the way: call last.
 */
function batchStatisticsAccuracy(model: tf.LayersModel, dataset: Dataset): number {
  const [batch] = [...dataset.batches({ batchSize: dataset.count, preprocess: PRE })];
  const correct = tf.tidy(() => {
    const out = model.apply(batch.x, { training: true }) as tf.Tensor;
    return tf.sum(tf.equal(tf.argMax(out, 1), tf.argMax(batch.y, 1))).dataSync()[0];
  });
  tf.dispose([batch.x, batch.y]);
  return correct / dataset.count;
}

const RUNS = [
  { backend: 'cpu', fusedBatchNorm: undefined, label: 'cpu (fused BN)' },
  { backend: 'wasm', fusedBatchNorm: undefined, label: 'wasm (fused BN)' },
  { backend: 'cpu', fusedBatchNorm: false, label: 'cpu (stock tfjs BN)' },
] as const;

for (const run of RUNS) {
  describe(`BatchNorm in nested models trains like the flat model, ${run.label}`, () => {
    it('same weights and moving statistics; inference accuracy near training accuracy', async () => {
      await tf.setBackend(run.backend);
      const options: TrainOptions = { ...OPTIONS, fusedBatchNorm: run.fusedBatchNorm };
      const reference = flat();
      const initial = reference.getWeights().map((w) => w.clone());
      const flatRun = await trained(flat, initial, options);
      const flatWeights = weightValues(flatRun.model);
      const flatMoving = movingStatistics(flatRun.model);
      assert.equal(flatMoving.length, 4);
      for (const [name, build] of NESTED) {
        const nestedRun = await trained(build, initial, options);
        const nestedWeights = weightValues(nestedRun.model);
        assert.equal(nestedWeights.length, flatWeights.length, `${name}: weight count`);
        nestedWeights.forEach((w, i) => {
          const error = relativeMaxError(w, flatWeights[i]);
          assert.ok(error <= 1e-4, `${name}: weight ${i} differs from the flat model's (relative max error ${error.toExponential(2)})`);
        });
        movingStatistics(nestedRun.model).forEach((m, i) => {
          const error = relativeMaxError(m, flatMoving[i]);
          assert.ok(
            error <= 1e-4,
            `${name}: moving statistic ${i} differs from the flat model's (relative max error ${error.toExponential(2)})`,
          );
        });
        assert.equal(nestedRun.trainAccuracy, flatRun.trainAccuracy, `${name}: training accuracy`);
        // Inference mode reads the moving statistics; the same images normalised with their own batch
        // statistics are what those should stand for. Wrong moving statistics show up as a gap (at
        // worst near-chance accuracy in inference mode, as the bench saw).
        assert.ok(nestedRun.trainAccuracy > 0.6, `${name}: training accuracy ${nestedRun.trainAccuracy}`);
        const inference = evaluate(nestedRun.model, mnistTest, { batchSize: mnistTest.count, preprocess: PRE }).accuracy;
        const withBatchStatistics = batchStatisticsAccuracy(nestedRun.model, mnistTest);
        assert.ok(inference > 0.5, `${name}: test accuracy in inference mode ${inference} (training accuracy ${nestedRun.trainAccuracy})`);
        assert.ok(
          Math.abs(inference - withBatchStatistics) <= 0.05,
          `${name}: test accuracy in inference mode ${inference} vs ${withBatchStatistics} with batch statistics`,
        );
        nestedRun.model.dispose();
      }
      flatRun.model.dispose();
      reference.dispose();
      tf.dispose(initial);
    });
  });
}
