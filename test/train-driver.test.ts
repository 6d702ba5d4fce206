/**
 * The training driver's contracts on a real MNIST subset (cpu backend): train() leaves the model's
 * layers stock after it ends or fails (withTrainingPatches), and the state it hands to onEpochEnd
 * resumes a run exactly.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import type { Dataset } from '../src/data/dataset.js';
import { loadMnist, MNIST_PREPROCESS, mnistTrainOptions } from './helpers/mnist.js';
import { InputError, ProblemError } from '../src/errors.js';
import { parseConfig } from '../src/config/load.js';
import { buildVgg, type VggSpec } from '../src/model/architectures.js';
import { train, type TrainOptions } from '../src/train/loop.js';
import { withTrainingPatches } from '../src/train/patches.js';
import { Sgd, type SgdState } from '../src/train/sgd.js';

const PRE = MNIST_PREPROCESS;
// BN, dropout and a softmax output: every kind of patch applies.
const SPEC: VggSpec = {
  cfg: ['A', 4, 'M', 8, 'M'],
  inputShape: [28, 28, 1],
  numClasses: 10,
  head: 'flatten',
  hidden: [16],
  dropout: 0.3,
  seed: 3,
};
const BASE = mnistTrainOptions({ epochs: 2, batchSize: 32, lr: 0.05, milestones: [0.5], sparsityLambda: 1e-3, seed: 5, syncEvery: 2 });

let mnist: Dataset;

before(async () => {
  await tf.setBackend('cpu');
  mnist = (await loadMnist()).train;
});

/** What the patches change, per layer: own `call` overrides, the activation object, dropout seeds. */
function layerState(model: tf.LayersModel): unknown[] {
  return model.layers.map((layer) => ({
    ownCall: Object.prototype.hasOwnProperty.call(layer, 'call'),
    call: layer.call,
    activation: (layer as unknown as { activation?: unknown }).activation,
    seed: (layer as unknown as { seed?: number }).seed,
  }));
}

function stockModel(): { model: tf.LayersModel; stock: unknown[] } {
  const model = buildVgg(SPEC);
  const dropout = model.layers.find((l) => l.getClassName() === 'Dropout')!;
  (dropout as unknown as { seed?: number }).seed = 1234; // a seed of the caller's, to be put back
  const stock = layerState(model);
  assert.ok(stock.every((s) => !(s as { ownCall: boolean }).ownCall));
  return { model, stock };
}

test('train() restores every tfjs-layers patch after a normal end and after a failure mid-training', async () => {
  const data = { train: mnist.limit(96) };
  const { model, stock } = stockModel();
  let patchedDuringTraining = false;
  await train(
    model,
    data,
    { ...BASE, epochs: 1 },
    {
      onBatch: () => {
        patchedDuringTraining ||=
          JSON.stringify(layerState(model).map((s) => (s as { ownCall: boolean }).ownCall)) !== JSON.stringify(stock.map(() => false));
      },
    },
  );
  assert.ok(patchedDuringTraining, 'the fused BatchNorm was not installed during training');
  assert.deepEqual(layerState(model), stock);

  // NaN inputs: ProblemError thrown from inside the epoch.
  await assert.rejects(train(model, data, { ...BASE, preprocess: { ...PRE, scale: Number.NaN } }), ProblemError);
  assert.deepEqual(layerState(model), stock);
  // A bad option fails before anything is patched.
  await assert.rejects(
    train(model, data, { ...BASE, nesterov: true, momentum: 0 }),
    (e: unknown) => e instanceof InputError && /nesterov needs momentum > 0/.test(e.message),
  );
  assert.deepEqual(layerState(model), stock);
  model.dispose();
});

test('withTrainingPatches: patched inside fn (logits out, seeded dropout), stock again after fn throws', async () => {
  const { model, stock } = stockModel();
  const x = tf.tidy(() => tf.randomUniform([2, 28, 28, 1], 0, 1, 'float32', 1));
  const probabilities = tf.tidy(() => (model.predict(x) as tf.Tensor).sum(-1).dataSync());
  await assert.rejects(
    withTrainingPatches(model, { fusedBatchNorm: true }, (patches) => {
      assert.equal(patches.outputKind, 'logits');
      assert.equal(patches.dropoutCount, 1);
      patches.seedDropout([77]);
      assert.equal((model.layers.find((l) => l.getClassName() === 'Dropout') as unknown as { seed: number }).seed, 77);
      // Logits: rows no longer sum to 1.
      const sums = tf.tidy(() => (model.predict(x) as tf.Tensor).sum(-1).dataSync());
      assert.ok(
        sums.some((s) => Math.abs(s - 1) > 1e-3),
        `row sums ${sums.join(',')}`,
      );
      throw new Error('fn failed');
    }),
    /fn failed/,
  );
  assert.deepEqual(layerState(model), stock);
  assert.deepEqual(
    tf.tidy(() => (model.predict(x) as tf.Tensor).sum(-1).dataSync()),
    probabilities,
  );
  x.dispose();
  model.dispose();
});

test('resuming from the state onEpochEnd hands out continues the run bit for bit', async () => {
  // Four steps an epoch of 8 images: bit-for-bit resumption needs steps, not big batches.
  const data = { train: mnist.limit(32) };
  const options: TrainOptions = { ...BASE, batchSize: 8 };
  const tensorsBefore = tf.memory().numTensors;
  const straight = buildVgg(SPEC);
  let snapshot: { weights: Float32Array[]; optimizer: SgdState } | undefined;
  const full = await train(straight, data, options, {
    onEpochEnd: (state) => {
      if (state.nextEpoch !== 1) return;
      snapshot = { weights: straight.getWeights().map((w) => (w.dataSync() as Float32Array).slice()), optimizer: state.optimizerState() };
    },
  });
  assert.ok(snapshot !== undefined && snapshot.optimizer.size === straight.trainableWeights.length);

  const resumed = buildVgg(SPEC);
  const values = snapshot.weights.map((w, i) => tf.tensor(w, straight.weights[i].read().shape));
  resumed.setWeights(values);
  tf.dispose(values);
  const rest = await train(resumed, data, { ...options, resume: { epoch: 1, optimizer: snapshot.optimizer } });
  assert.equal(rest.epochs.length, 1);
  const { seconds: _s1, imagesPerSecond: _i1, ...expected } = full.epochs[1];
  const { seconds: _s2, imagesPerSecond: _i2, ...actual } = rest.epochs[0];
  assert.deepEqual(actual, expected);
  straight.weights.forEach((w, i) => assert.deepEqual(resumed.weights[i].read().dataSync(), w.read().dataSync(), w.name));

  // A checkpoint of another model does not load.
  const sgd = new Sgd({ momentum: 0.9 });
  const [kernel] = resumed.trainableWeights;
  assert.throws(() => sgd.importState(resumed.trainableWeights, new Map([['other/kernel', new Float32Array(1)]])), InputError);
  assert.throws(() => sgd.importState(resumed.trainableWeights, new Map([[kernel.originalName, new Float32Array(1)]])), InputError);
  sgd.dispose();
  straight.dispose();
  resumed.dispose();
  assert.equal(tf.memory().numTensors, tensorsBefore);
});

test('the config checks the training options with the same rules as train(), naming the config path', () => {
  for (const section of ['pretrain', 'train', 'finetune']) {
    assert.throws(
      () => parseConfig(`{"${section}": {"nesterov": true, "momentum": 0}}`, 'c.json'),
      (e: unknown) =>
        e instanceof InputError && e.message.includes(`${section}.nesterov`) && e.message.includes('nesterov needs momentum > 0'),
    );
  }
  assert.equal(parseConfig('{"train": {"nesterov": true}}', 'c.json').train.nesterov, true);
});
