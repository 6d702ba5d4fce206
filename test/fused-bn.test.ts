/**
 * The fused training-mode BatchNormalization (src/train/fused-bn.ts) on the cpu and wasm
 * backends: forward and gradients against the stock composition (tf.moments + tf.batchNorm,
 * autodiff), whole training runs against the stock layer, and the stock layer restored after.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/index.js';
import type { Dataset } from '../src/data/dataset.js';
import { loadMnist, mnistTrainOptions } from './helpers/mnist.js';
import { buildVgg, type VggSpec } from '../src/model/architectures.js';
import { batchNormTraining, useFusedBatchNorm } from '../src/train/fused-bn.js';
import { train } from '../src/train/loop.js';
import { relativeMaxError } from './helpers/backend-nets.js';

tf.env().set('PROD', true); // silences tfjs's "install tfjs-node" banner in test output

const BACKENDS = ['cpu', 'wasm'] as const;
const EPSILON = 1e-3;
// 'A' halves the image first: keeps the cpu backend's conv gradients quick.
const TINY: VggSpec = { cfg: ['A', 4, 'M', 8, 'M'], inputShape: [28, 28, 1], numClasses: 10, head: 'flatten', seed: 1 };
// 64 images in batches of 16: eight steps over two epochs, enough for moving statistics and γ to move.
const OPTIONS = mnistTrainOptions({ epochs: 2, batchSize: 16, lr: 0.05, milestones: [], sparsityLambda: 1e-4, seed: 1 });

let mnist: Dataset;

before(async () => {
  await selectBackend('wasm'); // registers slim's wasm kernels, the fused BN ones included
  const { train: t } = await loadMnist();
  mnist = t.limit(64);
});

function seeded(shape: number[], seed: number, mean = 0, std = 1): Float32Array {
  return tf.tidy(() => tf.randomNormal(shape, mean, std, 'float32', seed).dataSync() as Float32Array);
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number, label: string): void {
  const error = relativeMaxError(actual, expected);
  assert.ok(error <= tolerance, `${label}: relative max error ${error.toExponential(2)} > ${tolerance}`);
}

interface Case {
  shape: number[];
  scale: boolean;
  center: boolean;
}

const CASES: Case[] = [
  { shape: [3, 5, 7, 6], scale: true, center: true },
  { shape: [1, 4, 3, 5], scale: true, center: true }, // N = 1
  { shape: [9, 13], scale: true, center: true }, // 2-D (after a Dense)
  { shape: [2, 3, 3, 1], scale: false, center: false }, // no γ, no β; one channel
  { shape: [5, 7], scale: true, center: false },
  { shape: [2, 3, 11], scale: false, center: true }, // rank 3
];

/** y, mean, variance and the gradients of Σ y·r (r seeded) w.r.t. x, γ, β: fused or stock composition. */
function forwardAndGrads(c: Case, seed: number, fused: boolean): Float32Array[] {
  const channels = c.shape[c.shape.length - 1];
  return tf.tidy(() => {
    // Mean well away from 0, so a variance computed as E[x²] − mean² would show.
    const x = tf.tensor(seeded(c.shape, seed, 3, 2), c.shape);
    const r = tf.tensor(seeded(c.shape, seed + 1), c.shape);
    const gamma = c.scale ? tf.tensor1d(seeded([channels], seed + 2, 1, 0.5)) : undefined;
    const beta = c.center ? tf.tensor1d(seeded([channels], seed + 3)) : undefined;
    const axes = c.shape.slice(0, -1).map((_, i) => i);
    const run = (xs: tf.Tensor, g?: tf.Tensor1D, b?: tf.Tensor1D): { y: tf.Tensor; mean: tf.Tensor; variance: tf.Tensor } => {
      if (fused) return batchNormTraining(xs, g, b, EPSILON);
      const { mean, variance } = tf.moments(xs, axes);
      // Constant γ = 1 / β = 0 when absent: tfjs 4.22 cannot differentiate tf.batchNorm without scale or offset.
      const scale = g ?? tf.onesLike(mean);
      const offset = b ?? tf.zerosLike(mean);
      return { y: tf.batchNorm(xs, mean, variance, offset, scale, EPSILON), mean, variance };
    };
    const { y, mean, variance } = run(x, gamma, beta);
    const inputs = [x, ...(gamma ? [gamma] : []), ...(beta ? [beta] : [])];
    const grads = tf.grads((...args: tf.Tensor[]) => {
      const g = c.scale ? (args[1] as tf.Tensor1D) : undefined;
      const b = c.center ? (args[c.scale ? 2 : 1] as tf.Tensor1D) : undefined;
      return tf.sum(tf.mul(run(args[0], g, b).y, r));
    })(inputs);
    return [y, mean, variance, ...grads].map((t) => t.dataSync() as Float32Array);
  });
}

for (const backend of BACKENDS) {
  describe(`batchNormTraining on ${backend}`, () => {
    it('forward, batch moments and the x, γ, β gradients equal tf.moments + tf.batchNorm under autodiff', async () => {
      await tf.setBackend(backend);
      const before = tf.memory().numTensors;
      CASES.forEach((c, i) => {
        const label = `[${c.shape.join(',')}] scale=${c.scale} center=${c.center}`;
        const fused = forwardAndGrads(c, 10 * i + 1, true); // seed 0 would mean "unseeded" to tf.randomNormal
        const stock = forwardAndGrads(c, 10 * i + 1, false);
        assert.equal(fused.length, stock.length, label);
        const names = ['y', 'mean', 'variance', 'dx', ...(c.scale ? ['dγ'] : []), ...(c.center ? ['dβ'] : [])];
        fused.forEach((values, k) => assertClose(values, stock[k], 1e-4, `${label} ${names[k]}`));
      });
      assert.equal(tf.memory().numTensors, before, 'tensors leaked');
    });

    if (backend === 'wasm') {
      it("runs on slim's two wasm kernels", async () => {
        await tf.setBackend('wasm');
        const profile = await tf.profile(() => {
          forwardAndGrads(CASES[0], 1, true);
        });
        const names = new Set(profile.kernels.map((k) => k.name));
        assert.ok(names.has('SlimBatchMoments') && names.has('SlimBatchNormTrainingGrad'), [...names].join(', '));
      });
    }
  });
}

/** Every weight of the model (trainable and moving statistics), by name. */
function weightValues(model: tf.LayersModel): Map<string, Float32Array> {
  return new Map(model.weights.map((w) => [w.originalName, w.read().dataSync() as Float32Array]));
}

async function trainOnce(
  fusedBatchNorm: boolean,
): Promise<{ losses: number[]; weights: Map<string, Float32Array>; model: tf.LayersModel }> {
  const model = buildVgg(TINY);
  const bnLayers = model.layers.filter((l) => l.getClassName() === 'BatchNormalization');
  const result = await train(
    model,
    { train: mnist },
    { ...OPTIONS, fusedBatchNorm },
    {
      // The fused call is installed exactly while train() runs with the option on.
      onBatch: () => assert.ok(bnLayers.every((l) => hasOwnCall(l) === fusedBatchNorm)),
    },
  );
  return { losses: result.epochs.map((e) => e.loss), weights: weightValues(model), model };
}

function hasOwnCall(layer: tf.layers.Layer): boolean {
  return Object.prototype.hasOwnProperty.call(layer, 'call');
}

for (const backend of BACKENDS) {
  describe(`train() with the fused BatchNorm on ${backend}`, () => {
    it('gives the same losses, weights and moving statistics as the stock layer; leaves the stock layer and no tensors behind', async () => {
      await tf.setBackend(backend);
      const tensorsBefore = tf.memory().numTensors;
      const stock = await trainOnce(false);
      const fused = await trainOnce(true);
      stock.model.dispose();

      fused.losses.forEach((loss, i) =>
        assert.ok(Math.abs(loss - stock.losses[i]) <= 1e-5, `epoch ${i} loss ${loss} vs ${stock.losses[i]}`),
      );
      assert.ok(fused.weights.size > 0 && [...fused.weights.keys()].some((name) => name.includes('moving_variance')));
      for (const [name, values] of fused.weights) assertClose(values, stock.weights.get(name)!, 1e-4, name);

      // Back to stock: no instance override, and inference equals a fresh stock load of the saved model.
      const model = fused.model;
      const bnLayers = model.layers.filter((l) => l.getClassName() === 'BatchNormalization');
      assert.ok(bnLayers.length >= 2);
      assert.ok(
        bnLayers.every((l) => !hasOwnCall(l)),
        'a BatchNormalization layer still has its fused call',
      );
      let artifacts: tf.io.ModelArtifacts | undefined;
      await model.save(
        tf.io.withSaveHandler(async (a) => {
          artifacts = a;
          return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
        }),
      );
      const reloaded = await tf.loadLayersModel(tf.io.fromMemory(artifacts!));
      const [ours, theirs] = tf.tidy(() => {
        const x = tf.tensor(seeded([4, 28, 28, 1], 7), [4, 28, 28, 1]);
        return [model.predict(x) as tf.Tensor, reloaded.predict(x) as tf.Tensor].map((t) => t.dataSync() as Float32Array);
      });
      assert.deepEqual(ours, theirs);
      model.dispose();
      reloaded.dispose();
      assert.equal(tf.memory().numTensors, tensorsBefore, 'tensors leaked');
    });
  });
}

describe('useFusedBatchNorm', () => {
  it('patches BatchNormalization layers of nested models only in training mode, and uninstalls cleanly', async () => {
    await tf.setBackend('wasm');
    const inner = tf.sequential({
      layers: [
        tf.layers.dense({ inputShape: [6], units: 5, kernelInitializer: tf.initializers.glorotNormal({ seed: 1 }) }),
        tf.layers.batchNormalization({ momentum: 0.9 }),
      ],
    });
    const input = tf.input({ shape: [6] });
    const outerBn = tf.layers.batchNormalization({ scale: false, center: false });
    const model = tf.model({ inputs: input, outputs: outerBn.apply(inner.apply(input)) as tf.SymbolicTensor });
    const innerBn = inner.layers[1];
    const x = tf.tensor(seeded([8, 6], 3), [8, 6]);

    const stockInference = tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync());
    const uninstall = useFusedBatchNorm(model);
    const uninstallAgain = useFusedBatchNorm(model); // already installed: patches nothing
    assert.ok(hasOwnCall(innerBn) && hasOwnCall(outerBn));
    // Inference mode stays on the stock path.
    assert.deepEqual(
      tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync()),
      stockInference,
    );
    const movingBefore = innerBn.getWeights()[2].dataSync().slice();
    // Training mode through the fused call; scale = center = false has no γ/β (stock tfjs 4.22 throws there).
    const tensorsBefore = tf.memory().numTensors;
    let trained: tf.Tensor | undefined;
    const profile = await tf.profile(() => {
      trained = tf.tidy(() => model.apply(x, { training: true }) as tf.Tensor);
    });
    // Both layers, the nested one included, took the fused path.
    assert.equal(profile.kernels.filter((k) => k.name === 'SlimBatchMoments').length, 2);
    assert.equal(tf.memory().numTensors, tensorsBefore + 1);
    const values = trained!.dataSync();
    // The outer BN normalises with batch statistics: every channel has mean ≈ 0.
    for (let c = 0; c < 5; c++) {
      let sum = 0;
      for (let n = 0; n < 8; n++) sum += values[n * 5 + c];
      assert.ok(Math.abs(sum / 8) < 1e-5, `channel ${c} mean ${sum / 8}`);
    }
    // Moving mean updated as moving·momentum + batch·(1 − momentum), the batch mean of the Dense output.
    const batchMean = tf.tidy(() => tf.mean(inner.layers[0].apply(x) as tf.Tensor, 0).dataSync());
    const movingAfter = innerBn.getWeights()[2].dataSync();
    movingAfter.forEach((v, c) => assert.ok(Math.abs(v - (movingBefore[c] * 0.9 + batchMean[c] * 0.1)) < 1e-6, `moving mean ${c}`));

    uninstallAgain();
    assert.ok(hasOwnCall(innerBn), 'the second install must not undo the first');
    uninstall();
    assert.ok(!hasOwnCall(innerBn) && !hasOwnCall(outerBn));
    tf.dispose([x, trained!]);
    model.dispose();
  });
});
