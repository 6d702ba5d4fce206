/**
 * BatchNorm folding (src/export/fold-bn.ts, src/pipeline/export.ts, `slim export`) on real tfjs
 * models with non-trivial BN statistics: the folded model predicts what the original predicts,
 * has no BatchNormalization where one was folded, loads in stock tfjs, and every BN left in place
 * is reported with a reason.
 */
import { strict as assert } from 'node:assert';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { mulberry32 } from '../src/data/dataset.js';
import { ProblemError } from '../src/errors.js';
import { isModelClass, unwrapTopology } from '../src/model/graph.js';
import { fromLayersModel, toLayersModel } from '../src/model/convert.js';
import { writeModel } from '../src/model/io.js';
import type { LayerJson, ModelArtifacts } from '../src/model/topology.js';
import { exportModel } from '../src/pipeline/export.js';
import { foldBatchNorm } from '../src/export/fold-bn.js';
import { defaultRegistry } from '../src/layers/registry.js';
import { countModel } from '../src/report/count.js';
import { describeRun, runSlim } from './helpers/cli.js';
import { loadWithStockTfjs } from './helpers/stock-load.js';

let dir: string;
before(async () => {
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
  dir = await mkdtemp(path.join(tmpdir(), 'slim-fold-bn-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const init = (seed: number): ReturnType<typeof tf.initializers.glorotNormal> => tf.initializers.glorotNormal({ seed });

/** Artifacts of `model` with random BN γ, β, moving mean, moving variance (> 0) and random biases. */
async function withRandomStats(model: tf.LayersModel, seed: number): Promise<ModelArtifacts> {
  const artifacts = await fromLayersModel(model);
  model.dispose();
  const random = mulberry32(seed);
  for (const [name, w] of artifacts.weights) {
    const role = name.split('/').pop()!;
    const data = w.data;
    for (let i = 0; i < data.length; i++) {
      if (role === 'gamma') data[i] = (random() < 0.5 ? -1 : 1) * (0.3 + 1.5 * random());
      else if (role === 'beta' || role === 'bias') data[i] = 2 * random() - 1;
      else if (role === 'moving_mean') data[i] = 2 * random() - 1;
      else if (role === 'moving_variance') data[i] = 0.05 + 2 * random();
    }
  }
  return artifacts;
}

/** Predicts of two live models on one seeded batch: max |diff| and max |y|. */
function compare(a: tf.LayersModel, b: tf.LayersModel, inputShape: number[]): { diff: number; scale: number } {
  return tf.tidy(() => {
    const x = tf.randomNormal([3, ...inputShape], 0, 1, 'float32', 11);
    const ya = a.predict(x) as tf.Tensor;
    const yb = b.predict(x) as tf.Tensor;
    return { diff: tf.max(tf.abs(tf.sub(ya, yb))).dataSync()[0], scale: tf.max(tf.abs(ya)).dataSync()[0] };
  });
}

async function assertSameOutputs(original: ModelArtifacts, folded: ModelArtifacts, inputShape: number[]): Promise<void> {
  const a = await toLayersModel(original);
  const b = await toLayersModel(folded);
  const { diff, scale } = compare(a, b, inputShape);
  a.dispose();
  b.dispose();
  assert.ok(scale > 0.1, `outputs too small to test anything (max |y| ${scale})`);
  assert.ok(diff <= 1e-4 * Math.max(1, scale), `folded outputs differ by ${diff} (max |y| ${scale})`);
}

/** Every layer entry (nested models' included) by path. */
function layerEntries(artifacts: ModelArtifacts): Map<string, LayerJson> {
  const out = new Map<string, LayerJson>();
  const walk = (holder: { config: unknown }, prefix: string): void => {
    const config = holder.config as { layers?: LayerJson[] } | LayerJson[];
    const list = Array.isArray(config) ? config : (config.layers ?? []);
    for (const l of list) {
      const name = String(l.name ?? l.config.name);
      out.set(prefix + name, l);
      if (isModelClass(l.class_name)) walk(l, `${prefix}${name}/`);
    }
  };
  walk(unwrapTopology(artifacts.modelTopology), '');
  return out;
}

function bnPaths(artifacts: ModelArtifacts): string[] {
  return [...layerEntries(artifacts)].filter(([, l]) => l.class_name === 'BatchNormalization').map(([p]) => p);
}

/** BN params per channel: moving mean + variance, plus γ and β when used. */
function paramsPerChannel(bn: LayerJson): number {
  return 2 + (bn.config.scale !== false ? 1 : 0) + (bn.config.center !== false ? 1 : 0);
}

/** Params removed by the folds: each folded BN's, minus the bias added to a producer that had none. */
function expectedParamDrop(original: ModelArtifacts, folded: { bn: string; into: string }[]): number {
  const entries = layerEntries(original);
  const count = countModel(original.modelTopology);
  let drop = 0;
  for (const f of folded) {
    const bnParams = count.layers.find((l) => l.path === f.bn)!.params;
    drop += bnParams;
    if (entries.get(f.into)!.config.use_bias === false) drop -= bnParams / paramsPerChannel(entries.get(f.bn)!);
  }
  return drop;
}

function assertParamDrop(original: ModelArtifacts, result: ReturnType<typeof foldBatchNorm>): void {
  const before = countModel(original.modelTopology).params.total;
  const after = countModel(result.artifacts.modelTopology).params.total;
  assert.equal(before - after, expectedParamDrop(original, result.folded));
}

describe('foldBatchNorm', () => {
  it('Sequential: conv with and without bias, depthwise ×2, separable, transposed conv, Dense → 1-D BN', async () => {
    const inputShape = [10, 10, 3];
    const model = tf.sequential({
      layers: [
        tf.layers.conv2d({ name: 'conv_bias', inputShape, filters: 6, kernelSize: 3, padding: 'same', kernelInitializer: init(1) }),
        tf.layers.batchNormalization({ name: 'bn1' }),
        tf.layers.reLU({ name: 'relu1' }),
        tf.layers.conv2d({ name: 'conv_nobias', filters: 5, kernelSize: 3, useBias: false, kernelInitializer: init(2) }),
        tf.layers.batchNormalization({ name: 'bn2', epsilon: 0.01 }),
        tf.layers.depthwiseConv2d({ name: 'dw', kernelSize: 3, depthMultiplier: 2, useBias: false, depthwiseInitializer: init(3) }),
        tf.layers.batchNormalization({ name: 'bn3' }),
        tf.layers.separableConv2d({
          name: 'sep',
          filters: 4,
          kernelSize: 3,
          padding: 'same',
          depthwiseInitializer: init(4),
          pointwiseInitializer: init(5),
        }),
        tf.layers.batchNormalization({ name: 'bn4' }),
        tf.layers.conv2dTranspose({ name: 'deconv', filters: 3, kernelSize: 2, strides: 2, kernelInitializer: init(6) }),
        tf.layers.batchNormalization({ name: 'bn5' }),
        tf.layers.flatten({ name: 'flat' }),
        tf.layers.dense({ name: 'fc', units: 7, kernelInitializer: init(7) }),
        tf.layers.batchNormalization({ name: 'bn6' }),
        tf.layers.dense({ name: 'out', units: 3, kernelInitializer: init(8) }),
      ],
    });
    const original = await withRandomStats(model, 1);
    const result = foldBatchNorm(original);
    assert.deepEqual(result.folded, [
      { bn: 'bn1', into: 'conv_bias' },
      { bn: 'bn2', into: 'conv_nobias' },
      { bn: 'bn3', into: 'dw' },
      { bn: 'bn4', into: 'sep' },
      { bn: 'bn5', into: 'deconv' },
      { bn: 'bn6', into: 'fc' },
    ]);
    assert.deepEqual(result.skipped, []);
    assert.deepEqual(bnPaths(result.artifacts), []);
    const entries = layerEntries(result.artifacts);
    for (const name of ['conv_nobias', 'dw']) assert.equal(entries.get(name)!.config.use_bias, true, `${name} now uses a bias`);
    // The new biases sit right after their kernels; the BN weights are gone.
    const names = [...result.artifacts.weights.keys()];
    assert.equal(names[names.indexOf('conv_nobias/kernel') + 1], 'conv_nobias/bias');
    assert.deepEqual(result.artifacts.weights.get('dw/bias')!.shape, [10]);
    assert.ok(!names.some((n) => n.startsWith('bn')), names.join(', '));
    // The input is untouched.
    assert.equal(bnPaths(original).length, 6);
    await assertSameOutputs(original, result.artifacts, inputShape);
    assertParamDrop(original, result);
  });

  it('BatchNormalization with scale=false and with center=false', async () => {
    const inputShape = [6, 6, 2];
    const model = tf.sequential({
      layers: [
        tf.layers.conv2d({ name: 'c1', inputShape, filters: 4, kernelSize: 3, kernelInitializer: init(11) }),
        tf.layers.batchNormalization({ name: 'bn_noscale', scale: false }),
        tf.layers.conv2d({ name: 'c2', filters: 3, kernelSize: 1, useBias: false, kernelInitializer: init(12) }),
        tf.layers.batchNormalization({ name: 'bn_nocenter', center: false }),
        tf.layers.globalAveragePooling2d({ name: 'gap' }),
      ],
    });
    const original = await withRandomStats(model, 2);
    const result = foldBatchNorm(original);
    assert.deepEqual(
      result.folded.map((f) => f.bn),
      ['bn_noscale', 'bn_nocenter'],
    );
    await assertSameOutputs(original, result.artifacts, inputShape);
    assertParamDrop(original, result);
  });

  it('Conv1D → BN on a sequence', async () => {
    const inputShape = [12, 3];
    const model = tf.sequential({
      layers: [
        tf.layers.conv1d({ name: 'c1d', inputShape, filters: 5, kernelSize: 3, kernelInitializer: init(13) }),
        tf.layers.batchNormalization({ name: 'bn' }),
        tf.layers.globalAveragePooling1d({ name: 'gap' }),
      ],
    });
    const original = await withRandomStats(model, 12);
    const result = foldBatchNorm(original);
    assert.deepEqual(result.folded, [{ bn: 'bn', into: 'c1d' }]);
    await assertSameOutputs(original, result.artifacts, inputShape);
  });

  it('functional ResNet-style block: conv→BN→Add with a conv→BN shortcut; outputs rewired', async () => {
    const inputShape = [8, 8, 3];
    const input = tf.input({ shape: inputShape, name: 'img' });
    const c1 = tf.layers
      .conv2d({ name: 'c1', filters: 4, kernelSize: 3, padding: 'same', useBias: false, kernelInitializer: init(21) })
      .apply(input) as tf.SymbolicTensor;
    const b1 = tf.layers.batchNormalization({ name: 'b1' }).apply(c1) as tf.SymbolicTensor;
    const r1 = tf.layers.reLU({ name: 'r1' }).apply(b1) as tf.SymbolicTensor;
    const c2 = tf.layers
      .conv2d({ name: 'c2', filters: 4, kernelSize: 3, padding: 'same', kernelInitializer: init(22) })
      .apply(r1) as tf.SymbolicTensor;
    const b2 = tf.layers.batchNormalization({ name: 'b2' }).apply(c2) as tf.SymbolicTensor;
    const cs = tf.layers.conv2d({ name: 'cs', filters: 4, kernelSize: 1, kernelInitializer: init(23) }).apply(input) as tf.SymbolicTensor;
    const bs = tf.layers.batchNormalization({ name: 'bs' }).apply(cs) as tf.SymbolicTensor;
    const sum = tf.layers.add({ name: 'add' }).apply([b2, bs]) as tf.SymbolicTensor;
    const c3 = tf.layers.conv2d({ name: 'c3', filters: 2, kernelSize: 1, kernelInitializer: init(24) }).apply(sum) as tf.SymbolicTensor;
    // The model output is a BN: output_layers must be pointed at c3.
    const b3 = tf.layers.batchNormalization({ name: 'b3' }).apply(c3) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: b3, name: 'resblock' });
    const original = await withRandomStats(model, 3);
    const result = foldBatchNorm(original);
    assert.deepEqual(result.folded.map((f) => `${f.bn}>${f.into}`).sort(), ['b1>c1', 'b2>c2', 'b3>c3', 'bs>cs']);
    assert.deepEqual(result.skipped, []);
    assert.deepEqual(bnPaths(result.artifacts), []);
    const add = layerEntries(result.artifacts).get('add')!;
    assert.deepEqual(
      add.inbound_nodes![0].map((ref: unknown[]) => ref[0]),
      ['c2', 'cs'],
    );
    assert.deepEqual(unwrapTopology(result.artifacts.modelTopology).config.output_layers, [['c3', 0, 0]]);
    await assertSameOutputs(original, result.artifacts, inputShape);
    assertParamDrop(original, result);
  });

  it('skips, with a reason: a conv feeding two layers, a conv with relu, a BN on a pooling layer', async () => {
    const inputShape = [6, 6, 2];
    const input = tf.input({ shape: inputShape, name: 'img' });
    const split = tf.layers
      .conv2d({ name: 'split', filters: 3, kernelSize: 1, kernelInitializer: init(31) })
      .apply(input) as tf.SymbolicTensor;
    const bnSplit = tf.layers.batchNormalization({ name: 'bn_split' }).apply(split) as tf.SymbolicTensor;
    const both = tf.layers.add({ name: 'add' }).apply([bnSplit, split]) as tf.SymbolicTensor;
    const relu = tf.layers
      .conv2d({ name: 'relu_conv', filters: 3, kernelSize: 1, activation: 'relu', kernelInitializer: init(32) })
      .apply(both) as tf.SymbolicTensor;
    const bnRelu = tf.layers.batchNormalization({ name: 'bn_relu' }).apply(relu) as tf.SymbolicTensor;
    const pool = tf.layers.maxPooling2d({ name: 'pool', poolSize: 2 }).apply(bnRelu) as tf.SymbolicTensor;
    const bnPool = tf.layers.batchNormalization({ name: 'bn_pool' }).apply(pool) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: bnPool });
    const original = await withRandomStats(model, 4);
    const result = foldBatchNorm(original);
    assert.deepEqual(result.folded, []);
    const reasons = new Map(result.skipped.map((s) => [s.bn, s.reason]));
    assert.match(reasons.get('bn_split')!, /producer 'split' \(Conv2D\) output also feeds 'add'/);
    assert.match(reasons.get('bn_relu')!, /producer 'relu_conv' \(Conv2D\) has activation 'relu'/);
    assert.match(reasons.get('bn_pool')!, /producer 'pool' \(MaxPooling2D\) cannot absorb/);
    assert.equal(bnPaths(result.artifacts).length, 3);
    await assertSameOutputs(original, result.artifacts, inputShape);
  });

  it('folds inside a nested Sequential used as a layer of a functional model', async () => {
    const inputShape = [6, 6, 2];
    const inner = tf.sequential({
      name: 'block',
      layers: [
        tf.layers.conv2d({ name: 'inner_conv', inputShape, filters: 3, kernelSize: 3, kernelInitializer: init(41) }),
        tf.layers.batchNormalization({ name: 'inner_bn' }),
      ],
    });
    const input = tf.input({ shape: inputShape, name: 'img' });
    const y = inner.apply(input) as tf.SymbolicTensor;
    const head = tf.layers.conv2d({ name: 'head', filters: 2, kernelSize: 1, kernelInitializer: init(42) }).apply(y) as tf.SymbolicTensor;
    const bn = tf.layers.batchNormalization({ name: 'head_bn' }).apply(head) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: bn });
    const original = await withRandomStats(model, 5);
    const result = foldBatchNorm(original);
    assert.deepEqual(result.folded.map((f) => `${f.bn}>${f.into}`).sort(), ['block/inner_bn>block/inner_conv', 'head_bn>head']);
    assert.deepEqual(bnPaths(result.artifacts), []);
    await assertSameOutputs(original, result.artifacts, inputShape);
  });

  it('written with writeModel, loads in stock tf.loadLayersModel and predicts the same', async () => {
    const inputShape = [8, 8, 1];
    const model = tf.sequential({
      layers: [
        tf.layers.conv2d({ name: 'conv1', inputShape, filters: 4, kernelSize: 3, useBias: false, kernelInitializer: init(51) }),
        tf.layers.batchNormalization({ name: 'bn1' }),
        tf.layers.reLU({ name: 'relu1' }),
        tf.layers.globalAveragePooling2d({ name: 'gap' }),
        tf.layers.dense({ name: 'fc', units: 3, kernelInitializer: init(52) }),
      ],
    });
    const original = await withRandomStats(model, 6);
    const result = foldBatchNorm(original);
    const written = await writeModel(path.join(dir, 'stock'), result.artifacts);
    const stock = await loadWithStockTfjs(written);
    const live = await toLayersModel(original);
    assert.ok(!stock.layers.some((l) => l.getClassName() === 'BatchNormalization'));
    const { diff, scale } = compare(live, stock, inputShape);
    stock.dispose();
    live.dispose();
    assert.ok(diff <= 1e-4 * Math.max(1, scale), `stock-loaded folded model differs by ${diff}`);
  });
});

describe('exportModel (pipeline)', () => {
  it('reports the check and the params before/after', async () => {
    const model = tf.sequential({
      layers: [
        tf.layers.dense({ name: 'fc', inputShape: [5], units: 4, kernelInitializer: init(61) }),
        tf.layers.batchNormalization({ name: 'bn' }),
      ],
    });
    const original = await withRandomStats(model, 7);
    const outcome = await exportModel(original);
    assert.deepEqual(outcome.folded, [{ bn: 'bn', into: 'fc' }]);
    assert.ok(outcome.check.maxAbsDiff <= outcome.check.tolerance);
    assert.equal(outcome.before.params.total - outcome.after.params.total, 16);
  });

  it('fails with ProblemError when folding changed the outputs', async () => {
    // A deliberately wrong facet: scales the Dense kernel's INPUT axis (square kernel, so the sizes still match).
    // exportModel uses the default registry, so this test swaps the handler there and puts it back.
    const dense = defaultRegistry.get('Dense')!;
    defaultRegistry.register({ ...dense, foldsAffine: { ...dense.foldsAffine!, kernelOutputAxes: [-2] } });
    try {
      const model = tf.sequential({
        layers: [
          tf.layers.dense({ name: 'fc', inputShape: [4], units: 4, kernelInitializer: init(62) }),
          tf.layers.batchNormalization({ name: 'bn' }),
        ],
      });
      const original = await withRandomStats(model, 8);
      await assert.rejects(
        exportModel(original),
        (err: unknown) => err instanceof ProblemError && /changed the outputs by up to/.test(err.message),
      );
    } finally {
      defaultRegistry.register(dense);
    }
  });
});

describe('slim export (built binary)', () => {
  it('exits 0, prints the path on stdout, and the written model loads and has no BatchNormalization', async () => {
    const model = tf.sequential({
      layers: [
        tf.layers.conv2d({ name: 'conv1', inputShape: [8, 8, 1], filters: 4, kernelSize: 3, kernelInitializer: init(71) }),
        tf.layers.batchNormalization({ name: 'bn1' }),
        tf.layers.reLU({ name: 'relu1' }),
        tf.layers.conv2d({ name: 'conv2', filters: 4, kernelSize: 3, kernelInitializer: init(72) }),
        tf.layers.batchNormalization({ name: 'bn2' }),
        tf.layers.flatten({ name: 'flat' }),
        tf.layers.dense({ name: 'fc', units: 3, kernelInitializer: init(73) }),
      ],
    });
    const source = await writeModel(path.join(dir, 'cli-in'), await withRandomStats(model, 9));
    const outDir = path.join(dir, 'cli-out');
    const result = await runSlim(['export', '--model', source, '--out', outDir, '--backend', 'cpu']);
    assert.equal(result.code, 0, describeRun(result));
    assert.equal(result.stdout, `${path.join(outDir, 'model.json')}\n`);
    assert.match(result.stderr, /folded 2 BatchNormalization layers into conv1, conv2; 0 skipped/);
    assert.match(result.stderr, /max \|diff\| /);
    const loaded = await loadWithStockTfjs(path.join(outDir, 'model.json'));
    assert.ok(!loaded.layers.some((l) => l.getClassName() === 'BatchNormalization'));
    loaded.dispose();
  });
});
