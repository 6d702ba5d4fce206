/** buildGraph: topology parsing and shape inference agree with tfjs's own layer output shapes. */
import { strict as assert } from 'node:assert';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { buildGraph } from '../src/model/graph.js';
import type { ModelJson } from '../src/model/topology.js';
import { InputError } from '../src/errors.js';

before(async () => {
  await tf.setBackend('cpu');
});

describe('buildGraph', () => {
  it('functional model: shared layer, nested Sequential, merges, layers inferred through tfjs', () => {
    const inner = tf.sequential({ name: 'inner', layers: [tf.layers.conv2d({ inputShape: [8, 8, 4], filters: 3, kernelSize: 1 })] });
    const input = tf.input({ shape: [8, 8, 4], name: 'in' });
    const shared = tf.layers.conv2d({ name: 'shared', filters: 4, kernelSize: 3, padding: 'same' });
    const a = shared.apply(input) as tf.SymbolicTensor;
    const b = shared.apply(a) as tf.SymbolicTensor;
    const n = inner.apply(b) as tf.SymbolicTensor;
    const up = tf.layers.upSampling2d({ name: 'up', size: [2, 2] }).apply(n) as tf.SymbolicTensor; // no hand rule
    const crop = tf.layers
      .cropping2D({
        name: 'crop',
        cropping: [
          [4, 4],
          [4, 4],
        ],
      })
      .apply(up) as tf.SymbolicTensor;
    const cat = tf.layers.concatenate({ name: 'cat' }).apply([crop, b]) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: cat });
    const graph = buildGraph(model.toJSON(null, false) as unknown as ModelJson);

    assert.equal(graph.kind, 'functional');
    assert.deepEqual(
      graph.nodes.map((n) => n.id),
      ['in', 'shared', 'shared#1', 'inner', 'up', 'crop', 'cat'],
    );
    assert.equal(graph.nodeById.get('shared#1')!.callCount, 2);
    assert.deepEqual(graph.nodeById.get('shared#1')!.inputs, ['shared:0:0']);
    assert.deepEqual(graph.nodeById.get('cat')!.inputs, ['crop:0:0', 'shared:1:0']);
    assert.equal(graph.nodeById.get('inner')!.inner?.kind, 'sequential');
    for (const layer of model.layers) {
      if (layer === inner) continue; // tfjs has no single outputShape for a model called as a layer
      const node = graph.nodeById.get(layer.name)!;
      assert.deepEqual(node.outputShapes[0], layer.outputShape, `shape of ${layer.name}`);
    }
    assert.deepEqual(graph.tensors.get(graph.outputs[0])!.shape, [null, 8, 8, 7]);
    model.dispose();
  });

  it('Sequential with an implicit input: shapes match tfjs for every layer', () => {
    const model = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [15, 13, 2], filters: 4, kernelSize: [3, 2], strides: [2, 3], padding: 'same', dilationRate: 1 }),
        tf.layers.maxPooling2d({ poolSize: 3, strides: 1, padding: 'valid' }),
        tf.layers.conv2dTranspose({ filters: 3, kernelSize: 3, strides: 2, padding: 'valid' }),
        tf.layers.zeroPadding2d({
          padding: [
            [1, 2],
            [0, 3],
          ],
        }),
        tf.layers.reshape({ targetShape: [160, 3] }),
        tf.layers.conv1d({ filters: 2, kernelSize: 4, strides: 2 }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 3 }),
      ],
    });
    const graph = buildGraph(model.toJSON(null, false) as unknown as ModelJson);
    assert.equal(graph.inputs.length, 1);
    assert.equal(graph.tensors.get(graph.inputs[0])!.producer, null);
    model.layers.forEach((layer, i) => assert.deepEqual(graph.nodes[i].outputShapes[0], layer.outputShape, `shape of ${layer.name}`));
    model.dispose();
  });

  it('names the problem in one line', () => {
    assert.throws(
      () =>
        buildGraph({ class_name: 'Sequential', config: { name: 's', layers: [{ class_name: 'Dense', config: { name: 'd', units: 2 } }] } }),
      /first layer 'd' of 's' has no batch_input_shape/,
    );
    assert.throws(() => buildGraph({ class_name: 'Mystery', config: {} }), InputError);
    assert.throws(
      () =>
        buildGraph({
          class_name: 'Sequential',
          config: { layers: [{ class_name: 'NoSuchLayer', config: { name: 'x', batch_input_shape: [null, 2] } }] },
        }),
      /layer 'x': unknown layer class 'NoSuchLayer'/,
    );
  });
});
