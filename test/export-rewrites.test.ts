/**
 * Inference rewrites of the export (src/export/simplify.ts through exportModel): on a model holding
 * each pattern, the no-ops are dropped and the activations fused (each change listed), the result
 * predicts what the original predicts within 1e-4 relative, and it loads in stock tfjs from disk.
 * Where a rewrite would change the graph's meaning (a second consumer, an activation already
 * fused) the layer stays and the reason is given.
 */
import { strict as assert } from 'node:assert';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { dropNoOps, fuseActivations } from '../src/export/simplify.js';
import { fromLayersModel } from '../src/model/convert.js';
import { unwrapTopology } from '../src/model/graph.js';
import { writeModel } from '../src/model/io.js';
import type { LayerJson, ModelArtifacts } from '../src/model/topology.js';
import { exportModel } from '../src/pipeline/export.js';
import { loadWithStockTfjs } from './helpers/stock-load.js';

let dir: string;
before(async () => {
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
  dir = await mkdtemp(path.join(tmpdir(), 'slim-export-rewrites-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const layersOf = (a: ModelArtifacts): LayerJson[] => unwrapTopology(a.modelTopology).config.layers as LayerJson[];
const byName = (a: ModelArtifacts, name: string): LayerJson | undefined => layersOf(a).find((l) => l.config.name === name);

/** Every pattern the export rewrites: BN + ReLU after a conv, noise layers, activation layers after each fusable class. */
async function everyPattern(): Promise<ModelArtifacts> {
  const init = (seed: number) => tf.initializers.glorotNormal({ seed });
  const input = tf.input({ shape: [8, 8, 3] });
  let x = tf.layers
    .conv2d({ filters: 8, kernelSize: 3, padding: 'same', useBias: false, kernelInitializer: init(1), name: 'conv' })
    .apply(input);
  x = tf.layers
    .batchNormalization({ name: 'bn', movingVarianceInitializer: 'ones', gammaInitializer: tf.initializers.constant({ value: 1.3 }) })
    .apply(x);
  x = tf.layers.reLU({ name: 'relu' }).apply(x);
  x = tf.layers.dropout({ rate: 0.3, name: 'dropout' }).apply(x);
  x = tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', depthwiseInitializer: init(2), name: 'dw' }).apply(x);
  x = tf.layers.activation({ activation: 'relu6', name: 'dw_relu6' }).apply(x);
  x = tf.layers
    .separableConv2d({ filters: 6, kernelSize: 3, depthwiseInitializer: init(3), pointwiseInitializer: init(4), name: 'sep' })
    .apply(x);
  x = tf.layers.elu({ name: 'sep_elu' }).apply(x);
  x = tf.layers.gaussianNoise({ stddev: 0.5, name: 'noise' }).apply(x);
  x = tf.layers.gaussianDropout({ rate: 0.2, name: 'gdrop' }).apply(x);
  x = tf.layers.flatten({ name: 'flat' }).apply(x);
  x = tf.layers.dense({ units: 12, kernelInitializer: init(5), name: 'fc1' }).apply(x);
  x = tf.layers.activation({ activation: 'tanh', name: 'fc1_tanh' }).apply(x);
  x = tf.layers.dense({ units: 5, kernelInitializer: init(6), name: 'fc2' }).apply(x);
  x = tf.layers.activation({ activation: 'linear', name: 'linear' }).apply(x);
  x = tf.layers.softmax({ name: 'softmax' }).apply(x);
  const model = tf.model({ inputs: input, outputs: x as tf.SymbolicTensor });
  const artifacts = await fromLayersModel(model);
  model.dispose();
  // Non-trivial BN statistics, so folding has something to fold.
  for (const [name, w] of artifacts.weights) {
    if (name.endsWith('moving_mean')) w.data.forEach((_, i) => (w.data[i] = 0.1 * (i - 3)));
    if (name.endsWith('moving_variance')) w.data.forEach((_, i) => (w.data[i] = 0.5 + 0.1 * i));
    if (name.endsWith('beta')) w.data.forEach((_, i) => (w.data[i] = 0.05 * i - 0.2));
  }
  return artifacts;
}

/** Max |a − b| over one seeded batch and max |a|, through the stock loader for `b`. */
async function compareWithStock(original: ModelArtifacts, written: string): Promise<{ diff: number; scale: number }> {
  const { toLayersModel } = await import('../src/model/convert.js');
  const a = await toLayersModel(original);
  const b = await loadWithStockTfjs(written);
  try {
    return tf.tidy(() => {
      const x = tf.randomNormal([3, 8, 8, 3], 0, 1, 'float32', 5);
      const ya = a.predict(x) as tf.Tensor;
      const yb = b.predict(x) as tf.Tensor;
      return { diff: tf.max(tf.abs(tf.sub(ya, yb))).dataSync()[0], scale: tf.max(tf.abs(ya)).dataSync()[0] };
    });
  } finally {
    a.dispose();
    b.dispose();
  }
}

describe('export rewrites on a model with every pattern', () => {
  it('drops each no-op, folds BN, fuses each activation, and lists every change', async () => {
    const original = await everyPattern();
    const outcome = await exportModel(original);
    assert.deepEqual(
      outcome.rewrites.map((r) => [r.kind, r.layer, r.into ?? null, r.activation ?? null]),
      [
        ['dropped', 'dropout', null, null],
        ['dropped', 'noise', null, null],
        ['dropped', 'gdrop', null, null],
        ['dropped', 'linear', null, null],
        ['fused', 'relu', 'conv', 'relu'],
        ['fused', 'dw_relu6', 'dw', 'relu6'],
        ['fused', 'sep_elu', 'sep', 'elu'],
        ['fused', 'fc1_tanh', 'fc1', 'tanh'],
        ['fused', 'softmax', 'fc2', 'softmax'],
        ['as-conv', 'fc1', 'fc1', null],
        ['as-conv', 'fc2', 'fc2_conv', null],
      ],
    );
    assert.deepEqual(outcome.folded, [{ bn: 'bn', into: 'conv' }]);
    assert.deepEqual(
      layersOf(outcome.artifacts).map((l) => l.class_name),
      ['InputLayer', 'Conv2D', 'DepthwiseConv2D', 'SeparableConv2D', 'Conv2D', 'Conv2D', 'Reshape'],
    );
    assert.equal(byName(outcome.artifacts, 'conv')!.config.activation, 'relu');
    assert.equal(byName(outcome.artifacts, 'fc2_conv')!.config.activation, 'softmax');
    assert.ok(outcome.check.maxAbsDiff <= 1e-4 * Math.max(1, outcome.check.maxAbsOutput), `diff ${outcome.check.maxAbsDiff}`);

    const written = await writeModel(path.join(dir, 'every'), outcome.artifacts);
    const { diff, scale } = await compareWithStock(original, written);
    assert.ok(diff <= 1e-4 * Math.max(1, scale), `stock-loaded export differs by ${diff}`);
  });

  it('keeps every layer with fuse, dropNoOps and denseAsConv off (only BN folds)', async () => {
    const outcome = await exportModel(await everyPattern(), { fuse: false, dropNoOps: false, denseAsConv: false });
    assert.deepEqual(outcome.rewrites, []);
    assert.ok(byName(outcome.artifacts, 'dropout') !== undefined && byName(outcome.artifacts, 'relu') !== undefined);
  });
});

describe('rewrites refused where they would change the graph', () => {
  it('an activation whose producer also feeds another layer stays, with the reason', async () => {
    const input = tf.input({ shape: [6] });
    const d = tf.layers.dense({ units: 4, name: 'd' }).apply(input) as tf.SymbolicTensor;
    const r = tf.layers.activation({ activation: 'relu', name: 'r' }).apply(d) as tf.SymbolicTensor;
    const sum = tf.layers.add({ name: 'sum' }).apply([d, r]) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: sum });
    const artifacts = await fromLayersModel(model);
    model.dispose();
    const result = fuseActivations(artifacts);
    assert.deepEqual(result.changes, []);
    assert.equal(result.skipped.length, 1);
    assert.match(result.skipped[0].reason, /output also feeds 'sum'/);
  });

  it('an activation after a layer that already has one stays; a ReLU capped at 3 is no fused activation', async () => {
    const model = tf.sequential({
      layers: [
        tf.layers.dense({ units: 4, inputShape: [3], activation: 'sigmoid', name: 'd1' }),
        tf.layers.activation({ activation: 'relu', name: 'a1' }),
        tf.layers.dense({ units: 4, name: 'd2' }),
        tf.layers.reLU({ maxValue: 3, name: 'r2' }),
      ],
    });
    const artifacts = await fromLayersModel(model);
    model.dispose();
    const result = fuseActivations(artifacts);
    assert.deepEqual(result.changes, []);
    assert.deepEqual(result.skipped, [{ layer: 'a1', reason: "producer 'd1' (Dense) already has activation 'sigmoid'" }]);
  });

  it('drops SpatialDropout2D and AlphaDropout from a Sequential model, but not a first layer carrying the input shape', async () => {
    const model = tf.sequential({
      layers: [
        tf.layers.dropout({ rate: 0.5, inputShape: [4, 4, 2], name: 'first' }),
        tf.layers.conv2d({ filters: 3, kernelSize: 1, name: 'c' }),
        tf.layers.flatten({ name: 'f' }),
        tf.layers.alphaDropout({ rate: 0.1, name: 'alpha' }),
      ],
    });
    const artifacts = await fromLayersModel(model);
    model.dispose();
    // tfjs has no SpatialDropout2D constructor; its JSON form is what Keras files carry.
    const layers = layersOf(artifacts);
    layers.splice(2, 0, { class_name: 'SpatialDropout2D', config: { name: 'sd', rate: 0.2, trainable: true } });
    const result = dropNoOps(artifacts);
    assert.deepEqual(
      result.changes.map((c) => c.layer),
      ['sd', 'alpha'],
    );
    assert.deepEqual(result.skipped, [{ layer: 'first', reason: "carries the model's input shape" }]);
    assert.deepEqual(
      layersOf(result.artifacts).map((l) => l.config.name),
      ['first', 'c', 'f'],
    );
  });
});
