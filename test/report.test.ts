import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { fromLayersModel } from '../src/model/convert.js';
import { countModel } from '../src/report/count.js';
import { buildReport, renderReport } from '../src/report/render.js';
import { wallsOf } from '../src/pipeline/report.js';
import { pruneModel } from '../src/pipeline/prune.js';

async function modelWithWall(): Promise<tf.LayersModel> {
  const input = tf.input({ shape: [8, 8, 3] });
  let x = tf.layers.conv2d({ filters: 6, kernelSize: 3, padding: 'same', useBias: false, name: 'c1' }).apply(input) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ name: 'b1' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU({ name: 'r1' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.conv2d({ filters: 4, kernelSize: 1, name: 'c2' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ name: 'b2' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.softmax({ name: 'sm' }).apply(x) as tf.SymbolicTensor; // mixes channels: a wall
  x = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 2, name: 'fc' }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

test('report: per-type totals add up, walls are listed, channels before -> after', async () => {
  await tf.setBackend('cpu');
  const model = await modelWithWall();
  const artifacts = await fromLayersModel(model);
  model.dispose();
  // Make half of b1's channels dead so the prune is predictable.
  const gamma = artifacts.weights.get([...artifacts.weights.keys()].find((k) => k.endsWith('b1/gamma'))!)!;
  (gamma.data as Float32Array).set([1, 0, 1, 0, 1, 0]);
  const pruned = pruneModel(artifacts, { ratio: 0.5, minChannels: 1, roundTo: 1, importance: 'sum' });

  const walls = wallsOf(pruned.artifacts.modelTopology);
  assert.ok(
    walls.some((w) => w.layer === 'sm'),
    `softmax listed as a wall: ${JSON.stringify(walls)}`,
  );

  const report = buildReport('after', pruned.after, { path: 'before', count: pruned.before }, walls);
  const sum = (key: 'params' | 'macs') => report.byType.reduce((a, t) => a + t[key], 0);
  assert.equal(sum('params'), report.params.total);
  assert.equal(sum('macs'), report.macs);
  assert.equal(
    report.byType.find((t) => t.className === 'Conv2D')!.baseline!.params,
    countModel(artifacts.modelTopology)
      .layers.filter((l) => l.className === 'Conv2D')
      .reduce((a, l) => a + l.params, 0),
  );
  // b1's group lost 3 channels; b2's group touches the softmax wall and stays whole.
  const c1 = report.layers.find((l) => l.name === 'c1')!;
  assert.deepEqual(
    [c1.baseline!.outputShape, c1.outputShape],
    [
      [null, 8, 8, 6],
      [null, 8, 8, 3],
    ],
  );
  assert.deepEqual(report.layers.find((l) => l.name === 'c2')!.outputShape, [null, 8, 8, 4]);

  const text = renderReport(report);
  assert.match(text, /c1\s+Conv2D\s+\(\?,8,8,3\)\s+6 -> 3/);
  assert.match(text, /not prunable through[^\n]*\n\s+sm \(Softmax\)/);
  assert.match(text, /FLOPs = 2 x MACs/);
});
