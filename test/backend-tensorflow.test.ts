/**
 * The tensorflow (tfjs-node) path, run for real on the stand-in backend (helpers/tensorflow-standin.ts):
 * selectBackend's own import of @tensorflow/tfjs-node reaches the stand-in through a resolve
 * hook, then slim's training loop runs on it. What must hold there: none of slim's wasm kernels
 * or patches run, replicas 'auto' is 1, memory is flat, and the weights equal a cpu run's.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { NODE_CPU_PACKAGE, NODE_GPU_PACKAGE, selectBackend } from '../src/backend/index.js';
import type { Dataset } from '../src/data/dataset.js';
import { buildVgg, type VggSpec } from '../src/model/architectures.js';
import { batchNormTraining } from '../src/train/fused-bn.js';
import { train } from '../src/train/loop.js';
import { loadMnist, mnistTrainOptions } from './helpers/mnist.js';
import { kernelRecord, STANDIN_BACKEND } from './helpers/tensorflow-standin.js';
import { registerTfjsNodeHook } from './helpers/tfjs-node-hook.js';

tf.env().set('PROD', true);

const TINY: VggSpec = { cfg: ['A', 4, 'M', 8, 'M'], inputShape: [28, 28, 1], numClasses: 10, head: 'flatten', seed: 7 };
// Three epochs of three steps (48 images in batches of 16): enough to see memory stay flat per epoch.
const OPTIONS = mnistTrainOptions({
  epochs: 3,
  batchSize: 16,
  lr: 0.05,
  milestones: [0.5],
  sparsityLambda: 1e-3,
  seed: 3,
  replicas: 'auto',
});

let mnist: Dataset;

before(async () => {
  registerTfjsNodeHook([NODE_CPU_PACKAGE]);
  mnist = (await loadMnist()).train.limit(48);
});

/** Trains a fresh TINY net on the active backend; weights after, tensors after each epoch, BN patched?. */
async function trainTiny(): Promise<{ weights: Float32Array[]; tensorsPerEpoch: number[]; replicas: number; bnPatched: boolean }> {
  const model = buildVgg(TINY);
  const tensorsPerEpoch: number[] = [];
  let bnPatched = false;
  const result = await train(model, { train: mnist }, OPTIONS, {
    onBatch: () => {
      bnPatched ||= model.layers.some((l) => l.getClassName() === 'BatchNormalization' && Object.prototype.hasOwnProperty.call(l, 'call'));
    },
    onEpoch: () => tensorsPerEpoch.push(tf.memory().numTensors),
  });
  const weights = model.getWeights().map((w) => w.dataSync() as Float32Array);
  model.dispose();
  return { weights, tensorsPerEpoch, replicas: result.replicas, bnPatched };
}

describe('the tensorflow path on the stand-in backend', () => {
  test("auto picks the stand-in through slim's own import, tfjs-node-gpu failing first", async () => {
    const info = await selectBackend('auto');
    assert.equal(tf.getBackend(), 'tensorflow');
    assert.deepEqual(
      { name: info.name, package: info.package, gpu: info.gpu },
      { name: 'tensorflow', package: NODE_CPU_PACKAGE, gpu: false },
    );
    assert.equal(info.detail, `tensorflow (${NODE_CPU_PACKAGE}), CPU, no GPU`);
    assert.deepEqual(
      info.tried.map((t) => t.package),
      [NODE_GPU_PACKAGE],
    );
  });

  test('training (with sparsity) uses no slim wasm kernel or patch, 1 replica, flat memory, the cpu weights', async () => {
    const gradientsBefore = [tf.getGradient('FusedBatchNorm'), tf.getGradient('ClipByValue')];
    await selectBackend('tensorflow');
    kernelRecord.calls.clear();
    kernelRecord.scopes.clear();
    const onTensorflow = await trainTiny();

    assert.equal(onTensorflow.replicas, 1, "replicas 'auto' on tensorflow");
    assert.equal(onTensorflow.bnPatched, false, 'no BatchNormalization layer had its call replaced');
    assert.ok(!kernelRecord.scopes.has('batchNormTraining__op'), 'the fused BatchNorm op never ran');
    assert.ok(
      (kernelRecord.calls.get('FusedBatchNorm') ?? 0) > 0 && (kernelRecord.calls.get('Conv2DBackpropFilter') ?? 0) > 0,
      'the training ran on the stand-in',
    );
    assert.deepEqual(
      [...kernelRecord.calls.keys()].filter((name) => name.startsWith('Slim')),
      [],
    );
    assert.deepEqual(
      tf.getKernelsForBackend('wasm').filter((k) => k.kernelName.startsWith('Slim')),
      [],
      "slim's wasm kernels were never registered",
    );
    assert.deepEqual([tf.getGradient('FusedBatchNorm'), tf.getGradient('ClipByValue')], gradientsBefore, 'stock gradients');
    assert.equal(new Set(onTensorflow.tensorsPerEpoch).size, 1, `tensors per epoch: ${onTensorflow.tensorsPerEpoch.join(', ')}`);

    // Same seed on the cpu backend (which fuses BatchNorm and could run 2 replicas: forced to 1).
    await selectBackend('cpu');
    const onCpu = await (async () => {
      OPTIONS.replicas = 1;
      try {
        return await trainTiny();
      } finally {
        OPTIONS.replicas = 'auto';
      }
    })();
    assert.equal(onCpu.bnPatched, true, 'the cpu run is the fused-BatchNorm one: the check above can fail');
    let maxDiff = 0;
    onCpu.weights.forEach((w, i) => w.forEach((x, j) => (maxDiff = Math.max(maxDiff, Math.abs(x - onTensorflow.weights[i][j])))));
    assert.ok(maxDiff <= 1e-5, `max |weight difference| ${maxDiff}`);
    await selectBackend('tensorflow');
  });

  test('the scope record sees the fused BatchNorm op when it does run on the stand-in', () => {
    kernelRecord.scopes.clear();
    tf.tidy(() => batchNormTraining(tf.ones([2, 3]), tf.ones<tf.Rank.R1>([3]), tf.zeros<tf.Rank.R1>([3])).y);
    assert.equal(tf.getBackend(), STANDIN_BACKEND);
    assert.ok(kernelRecord.scopes.has('batchNormTraining__op'));
  });
});
