/**
 * ReLU(max_value=6) in the export: the layers format keeps the ReLU layer (tfjs-layers runs it as
 * relu + clipByValue; the 'relu6' activation setting would run relu + minimum, slower on wasm),
 * and says why on stderr; the graph format fuses relu6 into the conv kernel. Both load in stock
 * tfjs and predict what the input model predicts (1e-4 relative).
 */
import { strict as assert } from 'node:assert';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { Output } from '../src/io/output.js';
import { fromLayersModel, toLayersModel } from '../src/model/convert.js';
import type { ModelArtifacts } from '../src/model/topology.js';
import { exportStage } from '../src/pipeline/stages/export.js';
import { loadGraphWithStockTfjs, loadWithStockTfjs } from './helpers/stock-load.js';

let dir: string;
let original: ModelArtifacts;
before(async () => {
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
  dir = await mkdtemp(path.join(tmpdir(), 'slim-export-relu6-'));
  // An inverted-residual unit as MobileNetV2 writes it: conv → BN → ReLU6, depthwise → BN → ReLU6,
  // a 1×1 projection, and an Activation('relu6') after a Dense (already relu + minimum in tfjs-layers).
  const init = (seed: number) => tf.initializers.glorotNormal({ seed });
  const input = tf.input({ shape: [10, 10, 3] });
  let x = tf.layers.conv2d({ filters: 12, kernelSize: 1, useBias: false, kernelInitializer: init(1), name: 'expand' }).apply(input);
  x = tf.layers.batchNormalization({ name: 'expand_bn', gammaInitializer: tf.initializers.constant({ value: 4 }) }).apply(x);
  x = tf.layers.reLU({ maxValue: 6, name: 'expand_relu6' }).apply(x);
  x = tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', useBias: false, depthwiseInitializer: init(2), name: 'dw' }).apply(x);
  x = tf.layers.batchNormalization({ name: 'dw_bn', gammaInitializer: tf.initializers.constant({ value: 4 }) }).apply(x);
  x = tf.layers.reLU({ maxValue: 6, name: 'dw_relu6' }).apply(x);
  x = tf.layers.conv2d({ filters: 4, kernelSize: 1, kernelInitializer: init(3), name: 'project' }).apply(x);
  x = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(x);
  x = tf.layers.dense({ units: 5, kernelInitializer: init(4), name: 'fc' }).apply(x);
  x = tf.layers.activation({ activation: 'relu6', name: 'fc_relu6' }).apply(x);
  const model = tf.model({ inputs: input, outputs: x as tf.SymbolicTensor });
  original = await fromLayersModel(model);
  model.dispose();
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function capture(): { out: Output; lines: string[] } {
  const lines: string[] = [];
  const stderr = new Writable({
    write: (chunk: Buffer, _e, done) => {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  return { out: new Output({ stderr, color: false, progress: false }), lines };
}

/** Max |a − b| and max |a| on one seeded batch. */
function compare(a: tf.LayersModel, b: tf.LayersModel | tf.GraphModel): { diff: number; scale: number } {
  return tf.tidy(() => {
    const x = tf.randomNormal([4, 10, 10, 3], 0, 2, 'float32', 3);
    const ya = a.predict(x) as tf.Tensor;
    const yb = b.predict(x) as tf.Tensor;
    return { diff: tf.max(tf.abs(tf.sub(ya, yb))).dataSync()[0], scale: tf.max(tf.abs(ya)).dataSync()[0] };
  });
}

/** The kernels one predict runs, by name. */
async function kernelNames(model: tf.LayersModel): Promise<string[]> {
  const x = tf.zeros([1, 10, 10, 3]);
  const info = await tf.profile(() => model.predict(x));
  tf.dispose([info.result, x]);
  return info.kernels.map((k) => k.name);
}

describe('ReLU(max_value=6) in the export', () => {
  it('the layers format keeps each ReLU6 layer (clip, not minimum), says why, and predicts as the input does', async () => {
    const { out, lines } = capture();
    const result = await exportStage(original, { dir: path.join(dir, 'layers'), write: { overwrite: false }, format: 'layers' }, out);
    assert.deepEqual(
      result.rewrites.filter((r) => r.kind === 'fused').map((r) => [r.layer, r.into, r.activation]),
      [['fc_relu6', 'fc', 'relu6']],
    );
    assert.deepEqual(
      result.rewritesSkipped.map((s) => s.layer),
      ['expand_relu6', 'dw_relu6'],
    );
    for (const name of ['expand_relu6', 'dw_relu6']) {
      assert.ok(
        lines.some((l) => l.includes(`left in place: ${name}:`) && l.includes('relu + minimum')),
        `no reason for ${name} in:\n${lines.join('\n')}`,
      );
    }
    const stock = await loadWithStockTfjs(result.written!);
    const input = await toLayersModel(original);
    try {
      const kernels = await kernelNames(stock);
      assert.equal(kernels.filter((k) => k === 'ClipByValue').length, 2, kernels.join(' '));
      assert.equal(kernels.filter((k) => k === 'Minimum').length, 1, kernels.join(' ')); // fc_relu6 only
      const { diff, scale } = compare(input, stock);
      assert.ok(diff <= 1e-4 * Math.max(1, scale), `stock-loaded layers export differs by ${diff}`);
    } finally {
      stock.dispose();
      input.dispose();
    }
  });

  it('the graph format fuses relu6 into the conv kernels (and keeps it as its own op with --no-fuse)', async () => {
    const opsOf = async (written: string) =>
      (
        JSON.parse(await readFile(written, 'utf8')) as {
          modelTopology: { node: { op: string; attr?: { fused_ops?: { list: { s: string[] } } } }[] };
        }
      ).modelTopology.node;
    const fused = await exportStage(
      original,
      { dir: path.join(dir, 'graph'), write: { overwrite: false }, format: 'graph' },
      capture().out,
    );
    const nodes = await opsOf(fused.written!);
    const fusedOps = (op: string) =>
      nodes
        .filter((n) => n.op === op)
        .map((n) => (n.attr?.fused_ops?.list.s ?? []).map((s) => Buffer.from(s, 'base64').toString()).join('+'));
    // expand, project, and fc (the global pool → Dense head runs as a 1×1 conv in the graph form)
    assert.deepEqual(fusedOps('_FusedConv2D'), ['BiasAdd+Relu6', 'BiasAdd', 'BiasAdd+Relu6']);
    assert.deepEqual(fusedOps('FusedDepthwiseConv2dNative'), ['BiasAdd+Relu6']);
    assert.ok(!nodes.some((n) => n.op === 'Relu6' || n.op === 'ClipByValue' || n.op === 'Minimum'), nodes.map((n) => n.op).join(' '));

    const unfused = await exportStage(
      original,
      { dir: path.join(dir, 'graph-no-fuse'), write: { overwrite: false }, format: 'graph' },
      capture().out,
      { fuse: false },
    );
    assert.equal((await opsOf(unfused.written!)).filter((n) => n.op === 'Relu6').length, 3);

    const input = await toLayersModel(original);
    for (const written of [fused.written!, unfused.written!]) {
      const graph = await loadGraphWithStockTfjs(written);
      try {
        const { diff, scale } = compare(input, graph);
        assert.ok(diff <= 1e-4 * Math.max(1, scale), `stock-loaded graph export differs by ${diff}`);
      } finally {
        graph.dispose();
      }
    }
    input.dispose();
  });
});
