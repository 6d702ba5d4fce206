/** SGD, schedule and sparsity pieces, checked against hand computations. */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import type { Preprocess } from '../src/data/dataset.js';
import { loadMnist } from './helpers/mnist.js';
import { buildVgg } from '../src/model/architectures.js';
import { train } from '../src/train/loop.js';
import { crossEntropy, trainOnLogits } from '../src/train/loss.js';
import { lrAt } from '../src/train/schedule.js';
import { Sgd } from '../src/train/sgd.js';
import { addSparsityGrad, findBnGammas, gammaStats } from '../src/train/sparsity.js';

before(async () => {
  await tf.setBackend('cpu');
});

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-5): void => {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= tol * (1 + Math.abs(b[i])), `[${i}] ${a[i]} vs ${b[i]}`);
};

test('lrAt: step schedule at fractions of the run', () => {
  assert.equal(lrAt(0, 0.1, 160), 0.1);
  assert.equal(lrAt(79, 0.1, 160), 0.1);
  assert.ok(Math.abs(lrAt(80, 0.1, 160) - 0.01) < 1e-12);
  assert.ok(Math.abs(lrAt(119, 0.1, 160) - 0.01) < 1e-12);
  assert.ok(Math.abs(lrAt(120, 0.1, 160) - 0.001) < 1e-12);
  assert.ok(Math.abs(lrAt(159, 0.1, 160) - 0.001) < 1e-12);
  // 3 epochs: epoch 2 has 2/3 done: past 50%, not yet 75% → one drop.
  assert.deepEqual(
    [0, 1, 2].map((e) => lrAt(e, 1, 3, [0.5, 0.75], 0.5)),
    [1, 1, 0.5],
  );
  assert.deepEqual(
    [0, 1, 2, 3].map((e) => lrAt(e, 1, 4, [0.5], 0.1)),
    [1, 1, 0.1, 0.1],
  );
  assert.equal(lrAt(5, 0.3, 10, []), 0.3);
});

test('momentum buffer after 2 steps (plain and Nesterov), decay exclusion, dispose', () => {
  const model = buildVgg({ cfg: [2], inputShape: [3, 3, 1], numClasses: 2, head: 'gap', seed: 1 });
  const kernel = model.getLayer('conv1').trainableWeights[0];
  const gamma = model.getLayer('bn1').trainableWeights[0];
  const w0 = kernel.read().dataSync().slice();
  const g0 = gamma.read().dataSync().slice();
  const tensorsBefore = tf.memory().numTensors;
  const lr = 0.1;
  const mu = 0.9;
  const grad = 0.5;
  const stepTwice = (sgd: Sgd): void => {
    for (let i = 0; i < 2; i++) {
      const grads = new Map<tf.LayerVariable, tf.Tensor>([
        [kernel, tf.fill(kernel.read().shape, grad)],
        [gamma, tf.fill(gamma.read().shape, grad)],
      ]);
      sgd.step(grads, lr);
      tf.dispose([...grads.values()]);
    }
  };
  const plain = new Sgd({ momentum: mu });
  stepTwice(plain);
  // buf1 = g, buf2 = μg + g; w2 = w0 − lr·g − lr·(1+μ)·g.
  close(plain.buffer(kernel)!.dataSync(), new Array(w0.length).fill((1 + mu) * grad));
  close(
    kernel.read().dataSync(),
    Array.from(w0, (w) => w - lr * grad * (2 + mu)),
  );
  plain.dispose();
  assert.equal(tf.memory().numTensors, tensorsBefore);

  model.getLayer('conv1').setWeights([tf.tensor(w0, kernel.read().shape)]);
  const nesterov = new Sgd({ momentum: mu, nesterov: true });
  stepTwice(nesterov);
  // Nesterov update = g + μ·buf: step1 (1+μ)g, step2 g + μ(1+μ)g.
  close(
    kernel.read().dataSync(),
    Array.from(w0, (w) => w - lr * grad * (1 + mu + 1 + mu * (1 + mu))),
  );
  nesterov.dispose();

  // Weight decay skips BN γ when asked, and applies to the kernel.
  model.getLayer('conv1').setWeights([tf.tensor(w0, kernel.read().shape)]);
  model.getLayer('bn1').setWeights([tf.tensor(g0), ...model.getLayer('bn1').getWeights().slice(1)]);
  const decayed = new Sgd({ momentum: 0, weightDecay: 0.01, excludeBnAndBiasFromDecay: true });
  const grads = new Map<tf.LayerVariable, tf.Tensor>([
    [kernel, tf.zeros(kernel.read().shape)],
    [gamma, tf.zeros(gamma.read().shape)],
  ]);
  decayed.step(grads, lr);
  tf.dispose([...grads.values()]);
  close(gamma.read().dataSync(), g0);
  close(
    kernel.read().dataSync(),
    Array.from(w0, (w) => w - lr * 0.01 * w),
  );
  decayed.dispose();
  model.dispose();
});

test('sparsity: finds γ (nested models too, not scale:false), adds λ·sign(γ), stats', () => {
  const inner = buildVgg({ cfg: [3], inputShape: [4, 4, 1], numClasses: 2, head: 'gap', seed: 1 });
  const noScale = tf.layers.batchNormalization({ name: 'bn_noscale', scale: false });
  const outer = tf.sequential({ layers: [tf.layers.batchNormalization({ name: 'bn_outer', inputShape: [4, 4, 1] }), noScale, inner] });
  const gammas = findBnGammas(outer);
  assert.deepEqual(
    gammas.map((g) => g.layerName),
    ['bn_outer', 'bn1'],
  );
  const bn1 = gammas[1].variable;
  inner.getLayer('bn1').setWeights([tf.tensor([0.5, -0.2, 0.005]), ...inner.getLayer('bn1').getWeights().slice(1)]);
  const grads = new Map<tf.LayerVariable, tf.Tensor>([[bn1, tf.tensor([0.1, 0.1, 0.1])]]);
  addSparsityGrad(grads, gammas, 0.01);
  close(grads.get(bn1)!.dataSync(), [0.11, 0.09, 0.11]);
  tf.dispose([...grads.values()]);
  // γ values: bn_outer [1], bn1 [0.5, -0.2, 0.005].
  const stats = gammaStats(outer);
  assert.equal(stats.count, 4);
  assert.ok(Math.abs(stats.meanAbs - (1 + 0.5 + 0.2 + 0.005) / 4) < 1e-6);
  assert.equal(stats.below1e2, 0.25);
  assert.equal(stats.below1e3, 0);
  outer.dispose();
});

test('one training step equals γ − lr·(g + λ·sign γ + wd·γ) (momentum 0, real MNIST batch)', async () => {
  const { train: mnist } = await loadMnist();
  const data = mnist.limit(16);
  const pre: Preprocess = { scale: 1 / 255, mean: [0.1307], std: [0.3081] };
  const model = buildVgg({ cfg: ['A', 3], inputShape: [28, 28, 1], numClasses: 10, head: 'gap', gammaInit: 0.5, seed: 4 });
  // Make γ signs mixed so sign(γ) matters.
  const bn = model.getLayer('bn1');
  bn.setWeights([tf.tensor([0.5, -0.3, 0.2]), ...bn.getWeights().slice(1)]);
  const vars = model.trainableWeights;
  const before = vars.map((v) => v.read().dataSync().slice());
  // Reference gradient by tfjs autodiff on the whole 16-image batch, loss written out here.
  const [batch] = [...data.batches({ batchSize: 16, preprocess: pre })];
  const { grads } = tf.variableGrads(
    () => {
      const p = tf.clipByValue(model.apply(batch.x, { training: true }) as tf.Tensor, 1e-7, 1 - 1e-7);
      return tf.neg(tf.mean(tf.sum(tf.mul(batch.y, tf.log(p)), -1))) as tf.Scalar;
    },
    vars.map((v) => v.read() as tf.Variable),
  );
  const g = vars.map((v) => grads[(v.read() as tf.Variable).name].dataSync().slice());
  tf.dispose([batch.x, batch.y, ...Object.values(grads)]);

  const lr = 0.1;
  const lambda = 0.01;
  const wd = 0.001;
  await train(
    model,
    { train: data },
    {
      epochs: 1,
      batchSize: 16,
      lr,
      momentum: 0,
      nesterov: false,
      weightDecay: wd,
      milestones: [],
      gamma: 0.1,
      sparsityLambda: lambda,
      seed: 9,
      preprocess: pre,
    },
  );
  vars.forEach((v, i) => {
    const isGamma = v.name.includes('bn1/gamma');
    const expected = Array.from(before[i], (w, k) => w - lr * (g[i][k] + (isGamma ? lambda * Math.sign(w) : 0) + wd * w));
    close(v.read().dataSync(), expected, 1e-4);
  });
  const gammaAfter = bn.getWeights()[0].dataSync();
  assert.ok(Math.abs(gammaAfter[1] - (-0.3 - lr * (g[vars.indexOf(bn.trainableWeights[0])][1] - lambda - wd * 0.3))) < 1e-5);
  model.dispose();
});

test('trainOnLogits: softmax models emit logits while training and are restored after', () => {
  const input = tf.input({ shape: [3] });
  const dense = tf.layers.dense({ units: 4, activation: 'softmax', kernelInitializer: 'glorotUniform' }).apply(input) as tf.SymbolicTensor;
  const withDense = tf.model({ inputs: input, outputs: dense });
  const logitsLayer = tf.layers.dense({ units: 4 }).apply(input) as tf.SymbolicTensor;
  const withSoftmaxLayer = tf.model({ inputs: input, outputs: tf.layers.softmax().apply(logitsLayer) as tf.SymbolicTensor });
  const nested = tf.sequential({ layers: [tf.layers.inputLayer({ inputShape: [3] }), withDense] });
  const x = tf.tensor2d([
    [1, -2, 0.5],
    [0.3, 0.1, -1],
  ]);
  for (const model of [withDense, withSoftmaxLayer, nested]) {
    const before = (model.predict(x) as tf.Tensor).arraySync() as number[][];
    const configBefore = JSON.stringify(model.getConfig());
    const { kind, restore } = trainOnLogits(model);
    assert.equal(kind, 'logits');
    const logits = model.predict(x) as tf.Tensor;
    // softmax of what it emits now is what it emitted before.
    const probs = tf.softmax(logits).arraySync() as number[][];
    probs.flat().forEach((p, i) => assert.ok(Math.abs(p - before.flat()[i]) < 1e-6));
    restore();
    assert.deepEqual((model.predict(x) as tf.Tensor).arraySync(), before);
    assert.equal(JSON.stringify(model.getConfig()), configBefore);
  }
  // A logits model is left alone.
  const linear = tf.sequential({ layers: [tf.layers.dense({ inputShape: [3], units: 2 })] });
  assert.equal(trainOnLogits(linear).kind, 'logits');
  tf.dispose(x);
});

test('an example whose true-class probability is below 1e-7 still has a gradient on logits (the clipped log has none)', () => {
  const y = tf.tensor2d([[1, 0, 0]]);
  const logits = tf.tensor2d([[-20, 20, 0]]); // p_true ≈ 4e-18
  const onProbabilities = tf.grad((z: tf.Tensor) => crossEntropy('probabilities', y, tf.softmax(z)))(logits);
  const onLogits = tf.grad((z: tf.Tensor) => crossEntropy('logits', y, z))(logits);
  assert.equal(tf.max(tf.abs(onProbabilities)).arraySync(), 0, 'clipped: no gradient at all');
  // d/dz of −log softmax(z)_true = p − y: about −1 for the true class, +1 for the confident wrong one.
  const g = onLogits.arraySync() as number[][];
  assert.ok(Math.abs(g[0][0] + 1) < 1e-5 && Math.abs(g[0][1] - 1) < 1e-5, JSON.stringify(g));
  tf.dispose([y, logits, onProbabilities, onLogits]);
});
