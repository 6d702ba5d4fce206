/**
 * The library (src/api/node.ts) on live tf.LayersModels: the same plan, pruned model, counts and
 * export the stage functions give, typed errors for the misuses an in-memory model allows, the
 * caller's model never modified, and no side effect on import.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import {
  applyPrune,
  count,
  DisposedModelError,
  exportForInference,
  InputError,
  loadModel,
  PlanMismatchError,
  planPrune,
  ProblemError,
  sparsityTrain,
  sweep,
  TfjsVersionError,
} from '../src/api/node.js';
import { fromLayersModel } from '../src/model/convert.js';
import { makePlan } from '../src/pipeline/prune.js';
import { countModel } from '../src/report/count.js';
import { convBnNet } from './helpers/api-models.js';

// Read at import time, before any test selects a backend: importing the API must not register one.
const backendsAtImport = Object.keys(tf.engine().registryFactory);

/** conv(6)+BN → conv(8)+BN → GAP → dense(3): two prunable groups, on 8×8×1 images. */
function buildModel(seed: number): tf.LayersModel {
  return convBnNet([8, 8, 1], [6, 8], 3, seed);
}

/** γ = 0 on the given channels of each BN (so pruning them leaves the outputs unchanged). */
function zeroGammas(model: tf.LayersModel, channels: number[][]): void {
  const bns = model.layers.filter((l) => l.getClassName() === 'BatchNormalization');
  bns.forEach((bn, i) => {
    const [gamma, ...rest] = bn.getWeights();
    const values = gamma.arraySync() as number[];
    for (const c of channels[i]) values[c] = 0;
    // Spread the others so the plan's order is fixed.
    bn.setWeights([tf.tensor1d(values.map((v, k) => (v === 0 ? 0 : 0.5 + k / 10))), ...rest]);
  });
}

function weightsOf(model: tf.LayersModel): number[][] {
  return model.getWeights().map((w) => Array.from(w.dataSync()));
}

function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let scale = 0;
  let diff = 0;
  for (let i = 0; i < a.length; i++) {
    scale = Math.max(scale, Math.abs(a[i]));
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
  }
  return diff / Math.max(scale, 1e-12);
}

const x = () => tf.randomUniform([4, 8, 8, 1], 0, 1, 'float32', 7);

/** 48 images whose class is which third of the image is bright. */
function stripes(): { xs: tf.Tensor4D; ys: tf.Tensor2D } {
  return tf.tidy(() => {
    const labels = Array.from({ length: 48 }, (_, i) => i % 3);
    const images = labels.map((c) =>
      tf.tensor3d(
        Array.from({ length: 64 }, (_, p) => (Math.floor((p % 8) / 3) === c ? 1 : 0)),
        [8, 8, 1],
      ),
    );
    return { xs: tf.stack(images) as tf.Tensor4D, ys: tf.oneHot(labels, 3).toFloat() as tf.Tensor2D };
  });
}

describe('the library API on live models', () => {
  let model: tf.LayersModel;

  before(async () => {
    await tf.setBackend('cpu');
    model = buildModel(1);
    zeroGammas(model, [
      [1, 4],
      [0, 3, 5],
    ]);
  });

  test('importing it registers no backend (the wasm backend only when a backend is chosen)', () => {
    assert.ok(!backendsAtImport.includes('wasm'), `backends at import: ${backendsAtImport.join(', ')}`);
  });

  test('planPrune gives the plan the prune stage makes (the prune-plan.json object)', async () => {
    const plan = await planPrune(model, { threshold: 1e-6 });
    assert.deepEqual(plan, makePlan(await fromLayersModel(model), { threshold: 1e-6, minChannels: 1, roundTo: 1, importance: 'mean' }));
    assert.deepEqual(
      plan.groups.map((g) => g.keep),
      [
        [0, 2, 3, 5],
        [1, 2, 4, 6, 7],
      ],
    );
  });

  test('applyPrune returns a new, smaller model with the same outputs; the input is untouched', async () => {
    const weightsBefore = weightsOf(model);
    const plan = await planPrune(model, { threshold: 1e-6 });
    const pruned = await applyPrune(model, plan);
    assert.ok(pruned.model instanceof tf.LayersModel && pruned.model !== model);
    assert.ok(pruned.after.params.total < pruned.before.params.total);
    assert.deepEqual(weightsOf(model), weightsBefore, 'the input model keeps its weights');
    const input = x();
    const [a, b] = [model.predict(input) as tf.Tensor, pruned.model.predict(input) as tf.Tensor];
    assert.ok(maxRelDiff(a.dataSync(), b.dataSync()) < 1e-5);
    tf.dispose([input, a, b]);
    pruned.model.dispose();
  });

  test('count gives the report of the model against a baseline', async () => {
    const pruned = await applyPrune(model, await planPrune(model, { ratio: 0.3 }));
    const report = await count(pruned.model, model, { name: 'slim', baselineName: 'input' });
    assert.equal(report.params.total, countModel((await fromLayersModel(pruned.model)).modelTopology).params.total);
    assert.equal(report.model, 'slim');
    assert.ok(report.reduction !== undefined && report.reduction.params > 0 && report.reduction.macs > 0);
    pruned.model.dispose();
  });

  test('exportForInference folds BatchNorm and keeps the outputs', async () => {
    const exported = await exportForInference(model);
    assert.equal(exported.folded.length, 2);
    assert.equal(exported.model.layers.filter((l) => l.getClassName() === 'BatchNormalization').length, 0);
    const input = x();
    const [a, b] = [model.predict(input) as tf.Tensor, exported.model.predict(input) as tf.Tensor];
    assert.ok(maxRelDiff(a.dataSync(), b.dataSync()) < 1e-4);
    tf.dispose([input, a, b]);
    exported.model.dispose();
  });

  test('sparsityTrain trains in place on tensors, reports progress, and shrinks |gamma| against no sparsity', async () => {
    const data = stripes();
    const plain = buildModel(2);
    const sparse = buildModel(2);
    const progress: number[] = [];
    const common = { epochs: 2, batchSize: 8, lr: 0.05 };
    await sparsityTrain(plain, data, { ...common, sparsity: 0 });
    const result = await sparsityTrain(sparse, data, { ...common, sparsity: 0.05, onProgress: (p) => progress.push(p.step) });
    assert.equal(result.epochs.length, 2);
    assert.equal(result.aborted, false);
    assert.deepEqual(progress, [0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5]);
    assert.ok(
      result.epochs[1].gamma.meanAbs <
        0.9 * (await sparsityTrain(plain, data, { ...common, epochs: 1, sparsity: 0 })).epochs[0].gamma.meanAbs,
    );
    tf.dispose([data.xs, data.ys]);
    plain.dispose();
    sparse.dispose();
  });

  test('sparsityTrain takes a tf.data.Dataset and stops on an AbortSignal after the step under way', async () => {
    const data = stripes();
    const dataset = tf.data.zip({
      xs: tf.data.array(tf.unstack(data.xs)),
      ys: tf.data.array(tf.unstack(data.ys)),
    }) as unknown as tf.data.Dataset<{
      xs: tf.Tensor;
      ys: tf.Tensor;
    }>;
    const trained = buildModel(3);
    const controller = new AbortController();
    const steps: number[] = [];
    const result = await sparsityTrain(trained, dataset, {
      epochs: 3,
      batchSize: 8,
      signal: controller.signal,
      onProgress: (p) => {
        steps.push(p.step);
        if (steps.length === 2) controller.abort();
      },
    });
    assert.equal(result.aborted, true);
    assert.deepEqual(steps, [0, 1]);
    assert.equal(result.epochs.length, 0);
    tf.dispose([data.xs, data.ys]);
    trained.dispose();
  });

  test('sweep scores each ratio on the validation tensors, the model untouched', async () => {
    const data = stripes();
    const weightsBefore = weightsOf(model);
    const curve = await sweep(model, { train: data, validation: data }, { ratios: [0.2, 0.4] });
    assert.equal(curve.split, 'val');
    assert.equal(curve.examples, 48);
    assert.deepEqual(
      curve.rows.map((r) => r.ratio),
      [0.2, 0.4],
    );
    assert.ok(curve.rows[1].params < curve.rows[0].params && curve.rows[0].params < curve.baseline.params);
    for (const row of curve.rows) assert.ok(row.accuracy >= 0 && row.accuracy <= 1 && Number.isFinite(row.loss));
    assert.deepEqual(weightsOf(model), weightsBefore);
    tf.dispose([data.xs, data.ys]);
  });

  test('bad arguments: one InputError naming the function and the argument path', async () => {
    await assert.rejects(
      planPrune(model, { ratio: 1.5 }),
      (e: Error) => e instanceof InputError && /^planPrune: options\.ratio: /.test(e.message),
    );
    await assert.rejects(
      planPrune(model, { ratio: 0.5, threshold: 0.1 }),
      (e: Error) => e instanceof InputError && /^planPrune: options: give exactly one of ratio/.test(e.message),
    );
    await assert.rejects(
      sparsityTrain(model, { xs: tf.zeros([2, 8, 8, 1]), ys: tf.zeros([2, 3]) }, { lr: -1 }),
      (e: Error) => e instanceof InputError && /^sparsityTrain: options\.lr: /.test(e.message),
    );
    await assert.rejects(planPrune({} as tf.LayersModel, { ratio: 0.5 }), /^InputError: planPrune: model: expected a tf\.LayersModel/);
  });

  test('a plan made for another model: PlanMismatchError, the model untouched', async () => {
    const other = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 5, kernelSize: 3 }),
        tf.layers.batchNormalization(),
        tf.layers.flatten(),
        tf.layers.dense({ units: 2 }),
      ],
    });
    const foreignPlan = await planPrune(other, { ratio: 0.4 });
    const weightsBefore = weightsOf(model);
    await assert.rejects(applyPrune(model, foreignPlan), (e: Error) => {
      assert.ok(e instanceof PlanMismatchError && e instanceof InputError, String(e));
      assert.equal(e.kind, 'bad-input');
      assert.match(e.message, /^applyPrune: plan: prune plan group/);
      return true;
    });
    assert.deepEqual(weightsOf(model), weightsBefore);
    other.dispose();
  });

  test('a disposed model: DisposedModelError', async () => {
    const gone = buildModel(4);
    gone.dispose();
    await assert.rejects(planPrune(gone, { ratio: 0.5 }), (e: Error) => e instanceof DisposedModelError && /was disposed/.test(e.message));
    await assert.rejects(sparsityTrain(gone, stripes()), DisposedModelError);
  });

  test('a model from another tfjs major: TfjsVersionError; the same major from another copy works', async () => {
    // Another copy of tfjs: not an instance of this copy's LayersModel; its save() says which version built it.
    const fromCopy = (version: string) => ({
      layers: model.layers,
      weights: model.weights,
      getConfig: () => model.getConfig(),
      save: (handler: tf.io.IOHandler) =>
        model.save({
          save: (artifacts: tf.io.ModelArtifacts) => handler.save!({ ...artifacts, generatedBy: `TensorFlow.js tfjs-layers v${version}` }),
        }),
    });
    await assert.rejects(
      planPrune(fromCopy('3.21.0') as unknown as tf.LayersModel, { ratio: 0.5 }),
      (e: Error) => e instanceof TfjsVersionError && /comes from TensorFlow\.js 3\.x, slim runs on 4\./.test(e.message),
    );
    const plan = await planPrune(fromCopy(tf.version_layers) as unknown as tf.LayersModel, { threshold: 1e-6 });
    assert.deepEqual(plan, await planPrune(model, { threshold: 1e-6 }));
  });

  test('nothing to slim is a ProblemError (kind problem)', async () => {
    const plainNet = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 2 })] });
    await assert.rejects(planPrune(plainNet, { ratio: 0.5 }), (e: Error) => e instanceof ProblemError && e.kind === 'problem');
    plainNet.dispose();
  });

  test('loadModel takes tfjs artifacts and checks them like a model file', async () => {
    let saved: tf.io.ModelArtifacts | undefined;
    await model.save(
      tf.io.withSaveHandler(async (a) => ((saved = a), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } })),
    );
    const loaded = await loadModel(saved!);
    assert.deepEqual(weightsOf(loaded), weightsOf(model));
    loaded.dispose();
    const nan = new Float32Array(saved!.weightData as ArrayBuffer);
    const broken = { ...saved!, weightData: Float32Array.from(nan, (v, i) => (i === 3 ? Number.NaN : v)).buffer };
    await assert.rejects(loadModel(broken), (e: Error) => e instanceof InputError && /^loadModel: source: .*NaN/.test(e.message));
  });
});
