/** Training loop on a real MNIST subset with a tiny VGG (cpu backend). */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import type { Dataset, Preprocess } from '../src/data/dataset.js';
import { loadMnist } from './helpers/mnist.js';
import { ProblemError } from '../src/errors.js';
import { buildVgg, type VggSpec } from '../src/model/architectures.js';
import { evaluate } from '../src/train/evaluate.js';
import { train, type TrainOptions } from '../src/train/loop.js';
import { gammaStats } from '../src/train/sparsity.js';

const PRE: Preprocess = { scale: 1 / 255, mean: [0.1307], std: [0.3081] };
// 'A' first halves the image: the cpu backend's conv filter gradient is slow, this keeps tests short.
const TINY: VggSpec = { cfg: ['A', 4, 'M', 8, 'M'], inputShape: [28, 28, 1], numClasses: 10, head: 'flatten', seed: 1 };
const BASE: TrainOptions = {
  epochs: 2,
  batchSize: 32,
  lr: 0.05,
  momentum: 0.9,
  nesterov: false,
  weightDecay: 1e-4,
  milestones: [0.5, 0.75],
  gamma: 0.1,
  sparsityLambda: 0,
  seed: 1,
  preprocess: PRE,
};

let mnistTrain: Dataset;
let mnistTest: Dataset;

before(async () => {
  await tf.setBackend('cpu');
  const { train: t, test: v } = await loadMnist();
  mnistTrain = t;
  mnistTest = v.limit(500);
});

test('loss falls and accuracy beats chance widely; BN moving stats move; memory is stable', async () => {
  const model = buildVgg(TINY);
  // 320 training images in batches of 16 (20 steps an epoch), 40 for validation.
  const { train: tr, val } = mnistTrain.limit(360).split(1 / 9, 3);
  const movingBefore = model.getLayer('bn1').getWeights()[2].dataSync().slice();
  const tensorsBefore = tf.memory().numTensors;
  const perEpochTensors: number[] = [];
  const batchSteps: number[] = [];
  const result = await train(
    model,
    { train: tr, val },
    { ...BASE, epochs: 3, batchSize: 16 },
    {
      onBatch: (b) => {
        batchSteps.push(b.step);
        assert.ok(Number.isFinite(b.loss) && b.imagesPerSecond > 0);
      },
      onEpoch: () => perEpochTensors.push(tf.memory().numTensors),
    },
  );
  const [e0, , e2] = result.epochs;
  assert.equal(result.epochs.length, 3);
  assert.deepEqual(
    result.epochs.map((e) => e.lr),
    [0.05, 0.05, 0.05 * 0.1],
  );
  assert.ok(e2.loss < e0.loss * 0.6, `loss ${e0.loss} → ${e2.loss}`);
  assert.ok(e2.trainAccuracy > 0.6, `train accuracy ${e2.trainAccuracy}`);
  assert.ok(e2.valAccuracy! > 0.6, `val accuracy ${e2.valAccuracy}`);
  assert.ok(Number.isFinite(e2.valLoss) && e2.seconds > 0 && e2.imagesPerSecond > 0);
  assert.equal(e2.gamma.count, 12);
  assert.equal(batchSteps.length, 3 * 20);
  // Inference-mode evaluation on held-out MNIST test images.
  const testResult = evaluate(model, mnistTest, { batchSize: 100, preprocess: PRE });
  assert.equal(testResult.count, 500);
  assert.ok(testResult.accuracy > 0.6, `test accuracy ${testResult.accuracy}`);
  // training: true really updated BN's moving variance (it starts at ones).
  const movingAfter = model.getLayer('bn1').getWeights()[2].dataSync();
  assert.ok(
    movingAfter.some((v, i) => Math.abs(v - movingBefore[i]) > 1e-3),
    'BN moving variance unchanged',
  );
  // No leaks: same tensor count after every epoch and after train() as before it.
  assert.ok(
    perEpochTensors.every((n) => n === perEpochTensors[0]),
    `per-epoch tensors ${perEpochTensors.join(',')}`,
  );
  assert.equal(tf.memory().numTensors, tensorsBefore);
  model.dispose();
});

test('a large λ shrinks mean |γ| far more than λ = 0 (same seed)', async () => {
  // Twelve steps of 16 images: the λ term's pull on γ does not depend on the batch size.
  const data = { train: mnistTrain.limit(192) };
  const run = async (lambda: number): Promise<number> => {
    const model = buildVgg(TINY);
    const r = await train(model, data, { ...BASE, epochs: 1, batchSize: 16, sparsityLambda: lambda, milestones: [] });
    model.dispose();
    return r.epochs[0].gamma.meanAbs;
  };
  const plain = await run(0);
  const sparse = await run(0.5);
  assert.ok(plain > 0.8, `λ=0 mean |γ| ${plain}`);
  assert.ok(sparse < plain * 0.5, `λ=0.5 mean |γ| ${sparse} vs ${plain}`);
});

test('same seed → identical losses (with dropout); another seed → different', async () => {
  const spec: VggSpec = { ...TINY, hidden: [16], dropout: 0.3 };
  const data = { train: mnistTrain.limit(48) };
  const run = async (seed: number): Promise<number[]> => {
    const model = buildVgg(spec);
    const r = await train(model, data, { ...BASE, epochs: 2, batchSize: 16, seed, syncEvery: 2 });
    const stats = gammaStats(model);
    model.dispose();
    return [...r.epochs.map((e) => e.loss), stats.meanAbs];
  };
  const a = await run(7);
  assert.deepEqual(await run(7), a);
  assert.notDeepEqual(await run(8), a);
});

// lr 1e6 is not enough here: clipped probabilities keep the loss finite (≈ -log 1e-7) while weights explode.
test('divergence (huge lr, or NaN inputs) throws ProblemError and leaks nothing', async () => {
  const data = { train: mnistTrain.limit(128) };
  const before = tf.memory().numTensors;
  const model = buildVgg(TINY);
  const modelTensors = tf.memory().numTensors;
  await assert.rejects(
    train(model, data, { ...BASE, lr: 1e12, epochs: 1, syncEvery: 1 }),
    (err: unknown) =>
      err instanceof ProblemError && /^training diverged at epoch 1, step \d+ \(loss NaN\); try a lower lr/.test(err.message),
  );
  assert.equal(tf.memory().numTensors, modelTensors);
  model.dispose();

  const model2 = buildVgg(TINY);
  await assert.rejects(
    train(model2, data, { ...BASE, epochs: 1, preprocess: { ...PRE, scale: Number.NaN } }),
    (err: unknown) => err instanceof ProblemError && /training diverged at epoch 1, step 1 \(loss NaN\)/.test(err.message),
  );
  model2.dispose();
  assert.equal(tf.memory().numTensors, before);
});
