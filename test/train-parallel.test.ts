/** Data-parallel training (replicas in worker threads) on a real MNIST subset, wasm backend when it starts. */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/select.js';
import { parseConfig } from '../src/config/load.js';
import type { Batch, BatchSource, Dataset } from '../src/data/dataset.js';
import { loadMnist, MNIST_PREPROCESS, mnistTrainOptions } from './helpers/mnist.js';
import { ProblemError } from '../src/errors.js';
import { buildVgg, type VggSpec } from '../src/model/architectures.js';
import { train, type TrainOptions } from '../src/train/loop.js';
import { decodeRows, rowBatches, shareRows } from '../src/train/replica-data.js';
import { allocateExchange, GradientExchange } from '../src/train/replica-exchange.js';
import { emptyPart } from '../src/train/replica-part.js';
import type { ReplicaSplit } from '../src/train/replica-split.js';
import { chooseReplicas, effectiveReplicas, replicaWorkload, ReplicatedRunner, ReplicaWorker } from '../src/train/replicas.js';
import { withTrainingPatches } from '../src/train/patches.js';
import type { SgdState } from '../src/train/sgd.js';
import { LocalRunner, Optimizer, trainingModel } from '../src/train/step.js';

tf.env().set('PROD', true); // silences tfjs's "install tfjs-node" banner (the replicas mirror it)

const PRE = MNIST_PREPROCESS;
const NO_BN: VggSpec = { cfg: [4, 'M', 8, 'M'], inputShape: [28, 28, 1], numClasses: 10, head: 'flatten', batchNorm: false, seed: 1 };
const WITH_BN: VggSpec = {
  cfg: [8, 'M', 16, 'M'],
  inputShape: [28, 28, 1],
  numClasses: 10,
  head: 'flatten',
  hidden: [16],
  dropout: 0.2,
  seed: 2,
};
const BASE = mnistTrainOptions({ epochs: 1, batchSize: 64, lr: 0.05, milestones: [], sparsityLambda: 1e-4, seed: 1 });

let mnist: Dataset;
let backendName: string;

before(async () => {
  try {
    backendName = (await selectBackend('wasm')).name;
  } catch {
    backendName = (await selectBackend('cpu')).name;
  }
  mnist = (await loadMnist()).train;
});

/** Largest |a − b| over the largest |b|, per weight; the worst over all weights. */
function worstRelativeError(a: tf.Tensor[], b: tf.Tensor[]): number {
  let worst = 0;
  a.forEach((t, i) => {
    const x = t.dataSync();
    const y = b[i].dataSync();
    let diff = 0;
    let scale = 0;
    for (let k = 0; k < x.length; k++) {
      diff = Math.max(diff, Math.abs(x[k] - y[k]));
      scale = Math.max(scale, Math.abs(y[k]));
    }
    worst = Math.max(worst, scale > 0 ? diff / scale : diff);
  });
  return worst;
}

test('without BN or dropout, 2 replicas give the weights of 1 (mean of part gradients = full-batch gradient)', async () => {
  // Batch 45 over 512 images: parts of 23 + 22, and a last batch of 17 (9 + 8), so the weighting by part size matters.
  const data = { train: mnist.limit(512) };
  const options: TrainOptions = { ...BASE, batchSize: 45 };
  const single = buildVgg(NO_BN);
  const parallel = buildVgg(NO_BN);
  const one = await train(single, data, { ...options, replicas: 1 });
  const two = await train(parallel, data, { ...options, replicas: 2 });
  assert.equal(one.replicas, 1);
  assert.equal(two.replicas, 2);
  const error = worstRelativeError(parallel.getWeights(), single.getWeights());
  assert.ok(error <= 1e-5, `worst relative weight difference ${error.toExponential(2)}`);
  assert.ok(
    Math.abs(two.epochs[0].loss - one.epochs[0].loss) <= 1e-5 * one.epochs[0].loss,
    `loss ${two.epochs[0].loss} vs ${one.epochs[0].loss}`,
  );
  assert.equal(two.epochs[0].trainAccuracy, one.epochs[0].trainAccuracy);
  single.dispose();
  parallel.dispose();
});

test('replicas decode their own rows: the same floats as the whole-batch decode, augmentation included', () => {
  const data = mnist.limit(100).withAugment({ pad: 2, flip: true, seed: 9 });
  const options = { batchSize: 32, shuffleSeed: 3, epoch: 1 };
  const rows = shareRows(data, PRE);
  const decoded = [...rowBatches(data, options)];
  const whole = [...data.batches({ ...options, preprocess: PRE, train: true })];
  assert.deepEqual(
    decoded.map((b) => b.size),
    whole.map((b) => b.size),
  );
  decoded.forEach((batch, b) => {
    // Any split into parts decodes to the rows of the whole batch.
    const first = decodeRows(rows, batch.indices.subarray(0, 13), batch.epoch);
    const rest = decodeRows(rows, batch.indices.subarray(13), batch.epoch);
    assert.deepEqual(Float32Array.from([...first.x, ...rest.x]), whole[b].x.dataSync());
    assert.deepEqual(Float32Array.from([...first.y, ...rest.y]), whole[b].y.dataSync());
  });
  whole.forEach((b) => tf.dispose([b.x, b.y]));
  // Shared once per dataset: a second stage on the same data reuses the copy.
  assert.equal(shareRows(data, PRE).images, rows.images);
  assert.ok(rows.images.buffer instanceof SharedArrayBuffer);
});

test('per-replica decode with augmentation: 2 replicas = the values path bit for bit, = 1 replica to float rounding (BN-free)', async () => {
  const data = mnist.limit(256).withAugment({ pad: 2, flip: true, seed: 4 });
  // The same batches through the generic path: a source that is not a Dataset sends decoded rows to the workers.
  const streamed: BatchSource = {
    name: 'streamed',
    count: data.count,
    numClasses: data.numClasses,
    imageShape: data.imageShape,
    batchCount: (size, drop) => data.batchCount(size, drop),
    batches: (options) => data.batches(options),
  };
  const options: TrainOptions = { ...BASE, batchSize: 45 };
  const [single, rowsPath, valuesPath] = [buildVgg(NO_BN), buildVgg(NO_BN), buildVgg(NO_BN)];
  const one = await train(single, { train: data }, { ...options, replicas: 1 });
  const rows = await train(rowsPath, { train: data }, { ...options, replicas: 2 });
  const values = await train(valuesPath, { train: streamed }, { ...options, replicas: 2 });
  assert.equal(rows.replicas, 2);
  assert.deepEqual(trainableValues(rowsPath), trainableValues(valuesPath));
  assert.equal(rows.epochs[0].loss, values.epochs[0].loss);
  const error = worstRelativeError(rowsPath.getWeights(), single.getWeights());
  assert.ok(error <= 1e-5, `worst relative weight difference ${error.toExponential(2)}`);
  assert.equal(rows.epochs[0].trainAccuracy, one.epochs[0].trainAccuracy);
  [single, rowsPath, valuesPath].forEach((m) => m.dispose());
});

test('with BN and dropout, 2 replicas train: loss falls, weights finite, hooks and validation run, no tensor leak', async () => {
  const { train: tr, val } = mnist.limit(1280).split(0.1, 3);
  const model = buildVgg(WITH_BN);
  const tensorsBefore = tf.memory().numTensors;
  const perEpochTensors: number[] = [];
  let batches = 0;
  const result = await train(
    model,
    { train: tr, val },
    { ...BASE, epochs: 3, replicas: 2, syncEvery: 3 },
    {
      onBatch: (b) => {
        batches++;
        assert.ok(Number.isFinite(b.loss));
      },
      onEpoch: () => perEpochTensors.push(tf.memory().numTensors),
    },
  );
  assert.equal(result.replicas, 2);
  const [first, , last] = result.epochs;
  assert.ok(last.loss < first.loss * 0.8, `loss ${first.loss} → ${last.loss}`);
  assert.ok(last.trainAccuracy > 0.5 && last.valAccuracy! > 0.5, `accuracy ${last.trainAccuracy} / ${last.valAccuracy}`);
  assert.equal(batches, 3 * tr.batchCount(64));
  assert.ok(
    model.getWeights().every((w) => w.dataSync().every(Number.isFinite)),
    'non-finite weight',
  );
  assert.ok(
    perEpochTensors.every((n) => n === perEpochTensors[0]),
    `per-epoch tensors ${perEpochTensors.join(',')}`,
  );
  assert.equal(tf.memory().numTensors, tensorsBefore);
  model.dispose();
});

test('a replica worker steps: its gradient of every weight reaches the shared exchange, finite; it leaks no tensors', async () => {
  const model = buildVgg(WITH_BN);
  await withTrainingPatches(model, { fusedBatchNorm: true }, async (patches) => {
    const net = trainingModel(model, patches);
    const optimizer = new Optimizer(net, BASE);
    const sizes = net.variables.map((v) => v.size);
    const buffers = allocateExchange(2, sizes);
    // This thread plays replica 0 with an empty part: the summed gradient is the worker's alone.
    const main = new GradientExchange(buffers, 0);
    const worker = await ReplicaWorker.start(model, {
      backend: backendName as 'wasm' | 'cpu',
      fusedBatchNorm: true,
      replica: 1,
      exchange: buffers,
      optimizer,
    });
    try {
      const totalWeights = model.trainableWeights.reduce((n, w) => n + w.read().size, 0);
      assert.equal(main.reduced.length, totalWeights);
      const counts: number[] = [];
      for (let step = 0; step < 4; step++) {
        const x = new Float32Array(8 * 28 * 28).map((_, i) => Math.sin(i + step));
        const y = new Float32Array(8 * 10).map((_, i) => (i % 10 === (Math.floor(i / 10) + step) % 10 ? 1 : 0));
        emptyPart(main);
        worker.step({
          type: 'step',
          rows: 8,
          input: { kind: 'values', x, xShape: [8, 28, 28, 1], y, yShape: [8, 10] },
          weight: 1,
          lr: 0.01,
          dropoutSeeds: [step, step + 1],
        });
        await main.reduceAsync();
        const { loss, correct } = main.partStats(1);
        assert.ok(Number.isFinite(loss) && main.reduced.every(Number.isFinite));
        // Every weight (each conv/dense kernel, BN γ/β) got a non-zero gradient from the worker's rows.
        let offset = 0;
        for (const size of sizes) {
          assert.ok(
            main.reduced.subarray(offset, offset + size).some((g) => g !== 0),
            `zero gradient at ${offset}`,
          );
          offset += size;
        }
        assert.ok(correct >= 0 && correct <= 8);
        counts.push(await worker.numTensors());
      }
      assert.ok(
        counts.every((n) => n === counts[0]),
        `replica tensors per step ${counts.join(', ')}`,
      );
    } finally {
      await worker.terminate();
      optimizer.dispose();
    }
  });
  model.dispose();
});

/** Trainable weight values, copied out. */
function trainableValues(model: tf.LayersModel): Float32Array[] {
  return model.trainableWeights.map((w) => (w.read().dataSync() as Float32Array).slice());
}

test('replicas keep bitwise identical weights without a weight broadcast (checked every step), and the check can fail', async () => {
  const data = { train: mnist.limit(640) };
  const model = buildVgg(WITH_BN);
  process.env['SLIM_DEBUG_REPLICA_CHECK_EVERY'] = '1';
  try {
    // 2 epochs × 10 steps, a checksum comparison of all trainable weights after each step.
    const result = await train(model, data, { ...BASE, epochs: 2, replicas: 2 });
    assert.equal(result.replicas, 2);
  } finally {
    delete process.env['SLIM_DEBUG_REPLICA_CHECK_EVERY'];
  }
  // The same comparison, by hand, after many steps; then with one weight changed on the main thread only.
  await withTrainingPatches(model, { fusedBatchNorm: true }, async (patches) => {
    const net = trainingModel(model, patches);
    const optimizer = new Optimizer(net, BASE);
    const runner = await ReplicatedRunner.start(net, optimizer, 5, 2, { backend: backendName as 'wasm' | 'cpu', fusedBatchNorm: true });
    try {
      let step = 0;
      for (const batch of mnist.limit(64 * 30).batches({ batchSize: 64, preprocess: PRE, shuffleSeed: 5, epoch: 0, train: true })) {
        const { loss, correct } = await runner.step(batch, { epoch: 0, step: step++, lr: 0.05 });
        tf.dispose([loss, correct, batch.x, batch.y]);
      }
      assert.equal(runner.trace.steps, 30);
      await runner.checkReplicaWeights();
      const [kernel] = net.variables;
      kernel.assign(tf.tidy(() => tf.add(kernel, 1e-6)));
      await assert.rejects(
        runner.checkReplicaWeights(),
        (e: unknown) => e instanceof ProblemError && /replica 1's weights differ/.test(e.message),
      );
    } finally {
      await runner.close();
      optimizer.dispose();
    }
  });
  model.dispose();
});

test('uneven parts (a split by speed) keep the full-batch gradient: BN-free weights = 1 replica, copies identical', async () => {
  // Parts of 70 % / 30 %, then 25 % / 75 %, alternating; a batch of 64 and a last one of 17.
  let calls = 0;
  const uneven: ReplicaSplit = {
    sizes: (total) => {
      const first = calls++ % 2 === 0 ? Math.ceil(0.7 * total) : Math.ceil(0.25 * total);
      return [first, total - first];
    },
    observe: () => {},
  };
  const batches = (): Batch[] => [
    ...mnist.limit(64 * 5 + 17).batches({ batchSize: 64, preprocess: PRE, shuffleSeed: 2, epoch: 0, train: true }),
  ];
  const trained: tf.Tensor[][] = [];
  const losses: number[][] = [];
  for (const replicas of [1, 2]) {
    const model = buildVgg(NO_BN);
    await withTrainingPatches(model, { fusedBatchNorm: true }, async (patches) => {
      const net = trainingModel(model, patches);
      const optimizer = new Optimizer(net, BASE);
      const runner =
        replicas === 1
          ? new LocalRunner(net, optimizer, 3)
          : await ReplicatedRunner.start(net, optimizer, 3, 2, {
              backend: backendName as 'wasm' | 'cpu',
              fusedBatchNorm: true,
              split: uneven,
            });
      const seen: number[] = [];
      try {
        let step = 0;
        for (const batch of batches()) {
          const { loss, correct } = await runner.step(batch, { epoch: 0, step: step++, lr: 0.05 });
          seen.push(loss.dataSync()[0]);
          tf.dispose([loss, correct, batch.x, batch.y]);
        }
        if (runner instanceof ReplicatedRunner) {
          assert.deepEqual(runner.trace.partRows, [45 + 16 + 45 + 16 + 45 + 5, 19 + 48 + 19 + 48 + 19 + 12]);
          await runner.checkReplicaWeights();
        }
      } finally {
        await runner.close();
        optimizer.dispose();
      }
      losses.push(seen);
    });
    trained.push(model.getWeights().map((w) => w.clone()));
    model.dispose();
  }
  const error = worstRelativeError(trained[1], trained[0]);
  assert.ok(error <= 1e-5, `worst relative weight difference ${error.toExponential(2)}`);
  losses[1].forEach((l, i) => assert.ok(Math.abs(l - losses[0][i]) <= 1e-5 * losses[0][i], `step ${i}: loss ${l} vs ${losses[0][i]}`));
  trained.flat().forEach((t) => t.dispose());
});

test("train() with replicaSplit 'speed': the copies stay identical (checked every step) and the run learns", async () => {
  const data = { train: mnist.limit(640) };
  const model = buildVgg(WITH_BN);
  process.env['SLIM_DEBUG_REPLICA_CHECK_EVERY'] = '1';
  try {
    const result = await train(model, data, { ...BASE, epochs: 2, replicas: 2, replicaSplit: 'speed' });
    assert.equal(result.replicas, 2);
    assert.ok(result.epochs[1].loss < result.epochs[0].loss, `loss ${result.epochs.map((e) => e.loss).join(' → ')}`);
  } finally {
    delete process.env['SLIM_DEBUG_REPLICA_CHECK_EVERY'];
  }
  model.dispose();
});

test('a replicated run is bit-reproducible for a fixed seed and replica count, and resumes bit for bit', async () => {
  const data = { train: mnist.limit(384) };
  const options: TrainOptions = { ...BASE, epochs: 2, replicas: 2 };
  const first = buildVgg(WITH_BN);
  const second = buildVgg(WITH_BN);
  let snapshot: { weights: Float32Array[]; optimizer: SgdState } | undefined;
  const full = await train(first, data, options, {
    onEpochEnd: (state) => {
      if (state.nextEpoch === 1)
        snapshot = { weights: first.getWeights().map((w) => (w.dataSync() as Float32Array).slice()), optimizer: state.optimizerState() };
    },
  });
  const again = await train(second, data, options);
  assert.deepEqual(trainableValues(second), trainableValues(first));
  assert.equal(again.epochs[1].loss, full.epochs[1].loss);

  // Resume from the end of epoch 1 with 2 replicas: the workers start from the checkpoint's weights and momentum.
  const resumed = buildVgg(WITH_BN);
  const values = snapshot!.weights.map((w, i) => tf.tensor(w, first.weights[i].read().shape));
  resumed.setWeights(values);
  tf.dispose(values);
  const rest = await train(resumed, data, { ...options, resume: { epoch: 1, optimizer: snapshot!.optimizer } });
  assert.equal(rest.epochs[0].loss, full.epochs[1].loss);
  assert.deepEqual(trainableValues(resumed), trainableValues(first));
  [first, second, resumed].forEach((m) => m.dispose());
});

test('a replica that dies mid-run fails the run with one line, after the last completed epoch was handed out', async () => {
  const data = { train: mnist.limit(256) }; // 4 steps an epoch: the worker exits at its 6th step (epoch 1)
  const model = buildVgg(WITH_BN);
  const epochsEnded: number[] = [];
  process.env['SLIM_DEBUG_REPLICA_EXIT_AT_STEP'] = '5';
  try {
    await assert.rejects(
      train(model, data, { ...BASE, epochs: 3, replicas: 2 }, { onEpochEnd: (state) => void epochsEnded.push(state.nextEpoch) }),
      (e: unknown) => e instanceof Error && e.message === 'training replica exited unexpectedly (code 70)',
    );
  } finally {
    delete process.env['SLIM_DEBUG_REPLICA_EXIT_AT_STEP'];
  }
  assert.deepEqual(epochsEnded, [1]);
  model.dispose();
});

test('a failing replica surfaces as the single path error and its worker ends', async () => {
  const data = { train: mnist.limit(128) };
  const before = tf.memory().numTensors;
  // NaN inputs: the same ProblemError as with 1 replica (which one depends on the backend:
  // wasm's ReLU turns NaN into 0, so there the NaN shows in BN γ at the end of the epoch).
  const nanInputs: TrainOptions = { ...BASE, preprocess: { ...PRE, scale: Number.NaN } };
  const failure = async (replicas: number): Promise<ProblemError> => {
    const model = buildVgg(WITH_BN);
    try {
      await train(model, data, { ...nanInputs, replicas });
    } catch (error) {
      assert.ok(error instanceof ProblemError, `replicas ${replicas}: ${String(error)}`);
      return error;
    } finally {
      model.dispose();
    }
    assert.fail(`replicas ${replicas}: NaN inputs did not fail`);
  };
  const single = await failure(1);
  assert.match(single.message, /^training diverged /);
  assert.equal((await failure(2)).message, single.message);

  // A layer class registered only on the main thread: the replica cannot rebuild the model.
  class MainThreadOnlyScale extends tf.layers.Layer {
    static readonly className = 'MainThreadOnlyScale';
    override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
      return tf.mul(Array.isArray(inputs) ? inputs[0] : inputs, 2);
    }
  }
  tf.serialization.registerClass(MainThreadOnlyScale);
  const custom = tf.sequential({
    layers: [
      tf.layers.flatten({ inputShape: [28, 28, 1] }),
      new MainThreadOnlyScale({}),
      tf.layers.dense({ units: 10, activation: 'softmax' }),
    ],
  });
  await assert.rejects(train(custom, data, { ...BASE, replicas: 2 }), /^Error: training replica failed: .*MainThreadOnlyScale/);
  custom.dispose();
  assert.equal(tf.memory().numTensors, before);
  // node:test would hang here if a worker were still running.
});

test('effectiveReplicas: only single-threaded backends, capped at the cores', () => {
  assert.equal(effectiveReplicas(1, 'wasm', 8), 1);
  assert.equal(effectiveReplicas(2, 'wasm', 2), 2);
  assert.equal(effectiveReplicas(2, 'cpu', 4), 2);
  assert.equal(effectiveReplicas(4, 'wasm', 2), 2);
  assert.equal(effectiveReplicas(2, 'wasm', 1), 1);
  assert.equal(effectiveReplicas(2, 'tensorflow', 16), 1);
  assert.equal(effectiveReplicas('auto', 'tensorflow', 16), 1);
  assert.equal(effectiveReplicas(2, 'webgl', 16), 1);
  assert.equal(effectiveReplicas('auto', 'wasm', 2), 2);
  assert.equal(effectiveReplicas('auto', 'cpu', 16), 2);
  assert.equal(effectiveReplicas('auto', 'wasm', 1), 1);
  for (const bad of [0, -1, 1.5, Number.NaN]) assert.throws(() => effectiveReplicas(bad, 'wasm', 2), /replicas must be a positive integer/);
});

test("replicas 'auto' weighs the model's work per step: 1 for tiny nets and on tensorflow, 2+ for a quickstart-sized net, and says why", () => {
  const tiny = buildVgg(NO_BN);
  const quickstart = buildVgg({ cfg: [16, 'M', 32, 'M', 64], inputShape: [28, 28, 1], numClasses: 10, head: 'flatten', seed: 1 });
  const tinyWork = replicaWorkload(tiny, 64)!;
  const quickWork = replicaWorkload(quickstart, 64)!;
  assert.ok(
    quickWork.macsPerImage > 10 * tinyWork.macsPerImage &&
      quickWork.parameters === quickstart.trainableWeights.reduce((n, w) => n + w.read().size, 0),
  );
  const tinyChoice = chooseReplicas('auto', 'wasm', 16, tinyWork);
  assert.equal(tinyChoice.replicas, 1);
  assert.match(tinyChoice.reason, /^model too small to pay \(est\. [\d.]+ ms a step/);
  assert.deepEqual(chooseReplicas('auto', 'tensorflow', 16, quickWork), {
    replicas: 1,
    reason: 'backend tensorflow already uses every core',
  });
  assert.equal(chooseReplicas('auto', 'wasm', 1, quickWork).replicas, 1);
  const two = chooseReplicas('auto', 'wasm', 2, quickWork);
  assert.equal(two.replicas, 2);
  assert.match(two.reason, /on 2 of 2 cores$/);
  const many = chooseReplicas('auto', 'wasm', 16, quickWork).replicas;
  assert.ok(many > 2 && many <= 64 / 8, `16 cores: ${many}`);
  // A small batch limits the split (≥ 8 rows a replica); an explicit count is only capped at the cores.
  assert.equal(chooseReplicas('auto', 'wasm', 16, { ...quickWork, batchSize: 16 }).replicas <= 2, true);
  assert.deepEqual(chooseReplicas(8, 'wasm', 4, tinyWork), { replicas: 4, reason: 'capped at 4 core(s)' });
  assert.equal(chooseReplicas('auto', 'wasm', 16, { ...quickWork, batchSize: 8 }).replicas, 1, 'batch 8: under 8 rows a replica');
  // The config's default: every training stage asks for 'auto' unless the config or --replicas says otherwise.
  assert.equal(parseConfig('{}', 'default.json').replicas, 'auto');
  tiny.dispose();
  quickstart.dispose();
});
