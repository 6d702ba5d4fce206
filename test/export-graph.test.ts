/**
 * Graph-model export (src/export/graph-model.ts through the export stage): the folder slim writes
 * loads in stock tf.loadGraphModel from disk, uses tfjs's fused ops, and predicts what the layers
 * model predicts (float: 1e-4 relative; quantized: what the layers model with the same quantized
 * weights predicts). A layer it cannot express is one InputError naming it and the way out.
 */
import { strict as assert } from 'node:assert';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { InputError } from '../src/errors.js';
import { fromLayersModel, toLayersModel } from '../src/model/convert.js';
import type { ModelArtifacts } from '../src/model/topology.js';
import { exportStage } from '../src/pipeline/stages/export.js';
import { loadGraphWithStockTfjs, loadWithStockTfjs } from './helpers/stock-load.js';
import { quietOutput } from './helpers/capture-output.js';

let dir: string;
before(async () => {
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
  dir = await mkdtemp(path.join(tmpdir(), 'slim-export-graph-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A functional CNN with every layer kind the graph form covers, BN both foldable and not. */
async function coverageNet(): Promise<ModelArtifacts> {
  const init = (seed: number) => tf.initializers.glorotNormal({ seed });
  const input = tf.input({ shape: [12, 12, 3], name: 'image' });
  let x = tf.layers.zeroPadding2d({ padding: 1, name: 'pad' }).apply(input) as tf.SymbolicTensor;
  x = tf.layers
    .conv2d({ filters: 8, kernelSize: 3, strides: 2, useBias: false, kernelInitializer: init(1), name: 'stem' })
    .apply(x) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ name: 'stem_bn' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU({ maxValue: 6, name: 'stem_relu6' }).apply(x) as tf.SymbolicTensor;
  const branch = tf.layers
    .depthwiseConv2d({ kernelSize: 3, padding: 'same', depthwiseInitializer: init(2), name: 'dw' })
    .apply(x) as tf.SymbolicTensor;
  const dwAct = tf.layers.activation({ activation: 'relu', name: 'dw_relu' }).apply(branch) as tf.SymbolicTensor;
  const pw = tf.layers.conv2d({ filters: 8, kernelSize: 1, kernelInitializer: init(3), name: 'pw' }).apply(dwAct) as tf.SymbolicTensor;
  const sum = tf.layers.add({ name: 'residual' }).apply([x, pw]) as tf.SymbolicTensor;
  // A BN after an Add has no layer to fold into: the graph form writes it as Mul + AddV2.
  const sumBn = tf.layers.batchNormalization({ name: 'sum_bn' }).apply(sum) as tf.SymbolicTensor;
  const sep = tf.layers
    .separableConv2d({
      filters: 4,
      kernelSize: 3,
      padding: 'same',
      depthwiseInitializer: init(4),
      pointwiseInitializer: init(5),
      name: 'sep',
    })
    .apply(sumBn) as tf.SymbolicTensor;
  const sepAct = tf.layers.activation({ activation: 'tanh', name: 'sep_tanh' }).apply(sep) as tf.SymbolicTensor;
  const cat = tf.layers.concatenate({ name: 'cat' }).apply([sepAct, sumBn]) as tf.SymbolicTensor;
  const maxPool = tf.layers.maxPooling2d({ poolSize: 2, name: 'maxpool' }).apply(cat) as tf.SymbolicTensor;
  const avgPool = tf.layers
    .averagePooling2d({ poolSize: 3, strides: 1, padding: 'same', name: 'avgpool' })
    .apply(maxPool) as tf.SymbolicTensor;
  const gap = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(avgPool) as tf.SymbolicTensor;
  const flat = tf.layers.flatten({ name: 'flat' }).apply(maxPool) as tf.SymbolicTensor;
  const fcA = tf.layers.dense({ units: 6, kernelInitializer: init(6), name: 'fc_a' }).apply(flat) as tf.SymbolicTensor;
  const fcB = tf.layers
    .dense({ units: 6, activation: 'sigmoid', kernelInitializer: init(7), name: 'fc_b' })
    .apply(gap) as tf.SymbolicTensor;
  const mul = tf.layers.multiply({ name: 'gate' }).apply([fcA, fcB]) as tf.SymbolicTensor;
  const out = tf.layers
    .dense({ units: 3, activation: 'softmax', kernelInitializer: init(8), name: 'head' })
    .apply(mul) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: out });
  const artifacts = await fromLayersModel(model);
  model.dispose();
  for (const [name, w] of artifacts.weights) {
    if (name.endsWith('moving_mean')) w.data.forEach((_, i) => (w.data[i] = 0.2 * Math.sin(i)));
    if (name.endsWith('moving_variance')) w.data.forEach((_, i) => (w.data[i] = 0.6 + 0.1 * i));
    if (name.endsWith('gamma')) w.data.forEach((_, i) => (w.data[i] = 0.8 + 0.05 * i));
  }
  return artifacts;
}

/** Max |layers − graph| and max |layers| on one seeded batch. */
function compare(layers: tf.LayersModel, graph: tf.GraphModel): { diff: number; scale: number } {
  return tf.tidy(() => {
    const x = tf.randomNormal([5, 12, 12, 3], 0, 1, 'float32', 3);
    const ya = layers.predict(x) as tf.Tensor;
    const yb = graph.predict(x) as tf.Tensor;
    assert.deepEqual(yb.shape, ya.shape);
    return { diff: tf.max(tf.abs(tf.sub(ya, yb))).dataSync()[0], scale: tf.max(tf.abs(ya)).dataSync()[0] };
  });
}

describe('graph-model export', () => {
  it('loads in stock tf.loadGraphModel with fused ops and predicts what the original layers model predicts', async () => {
    const original = await coverageNet();
    const outDir = path.join(dir, 'graph');
    // The ops of the layers as they are (Dense heads run as convs: test/export-dense-as-conv.test.ts).
    const result = await exportStage(original, { dir: outDir, write: { overwrite: false }, format: 'graph' }, quietOutput(), {
      denseAsConv: false,
    });
    const json = JSON.parse(await readFile(result.written!, 'utf8')) as { format: string; modelTopology: { node: { op: string }[] } };
    assert.equal(json.format, 'graph-model');
    const ops = json.modelTopology.node.map((n) => n.op);
    for (const op of [
      '_FusedConv2D',
      'FusedDepthwiseConv2dNative',
      '_FusedMatMul',
      'DepthwiseConv2dNative',
      'Mul',
      'AddV2',
      'ConcatV2',
      'MaxPool',
      'AvgPool',
      'Mean',
      'Pad',
      'Reshape',
      'Tanh',
    ]) {
      assert.ok(ops.includes(op), `no ${op} in ${[...new Set(ops)].join(', ')}`);
    }
    assert.equal(result.graph!.ops._FusedConv2D, 3); // stem, pw, sep's pointwise part
    const layers = await toLayersModel(original);
    const graph = await loadGraphWithStockTfjs(result.written!);
    try {
      const { diff, scale } = compare(layers, graph);
      assert.ok(diff <= 1e-4 * Math.max(1, scale), `graph vs layers: ${diff}`);
    } finally {
      layers.dispose();
      graph.dispose();
    }
  });

  it('quantized uint8: stock tfjs loads both formats and they predict the same; the graph weights are as small', async () => {
    const original = await coverageNet();
    const quantize = [{ dtype: 'uint8' as const, pattern: '*' }];
    const asGraph = await exportStage(
      original,
      { dir: path.join(dir, 'graph-q'), write: { overwrite: false }, format: 'graph' },
      quietOutput(),
      {
        quantize,
      },
    );
    const asLayers = await exportStage(original, { dir: path.join(dir, 'layers-q'), write: { overwrite: false } }, quietOutput(), {
      quantize,
    });
    const layers = await loadWithStockTfjs(asLayers.written!);
    const graph = await loadGraphWithStockTfjs(asGraph.written!);
    try {
      const { diff, scale } = compare(layers, graph);
      assert.ok(diff <= 1e-4 * Math.max(1, scale), `quantized graph vs quantized layers: ${diff}`);
    } finally {
      layers.dispose();
      graph.dispose();
    }
    // Only the unquantizable extras (zero biases of bias-less convs, the unfolded BN's map, int32 shapes) are float32 or int32.
    assert.ok(asGraph.graph!.weightBytes.raw < asLayers.weightBytes.after.raw * 1.5, JSON.stringify([asGraph.graph, asLayers.weightBytes]));
  });

  it('a layer the graph form cannot express: one InputError naming it and the layers format', async () => {
    const model = tf.sequential({
      layers: [tf.layers.lstm({ units: 3, inputShape: [4, 2], name: 'rnn' }), tf.layers.dense({ units: 2, name: 'out' })],
    });
    const artifacts = await fromLayersModel(model);
    model.dispose();
    await assert.rejects(
      exportStage(artifacts, { dir: path.join(dir, 'lstm'), write: { overwrite: false }, format: 'graph' }, quietOutput()),
      (e: unknown) =>
        e instanceof InputError && /^--format graph: layer 'rnn' \(LSTM\) .*--format layers/.test(e.message) && !e.message.includes('\n'),
    );
  });
});
