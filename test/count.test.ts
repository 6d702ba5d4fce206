/** countModel: params match tfjs, MACs match hand counts and published figures. */
import { strict as assert } from 'node:assert';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import type { ModelJson } from '../src/model/topology.js';
import { countModel } from '../src/report/count.js';
import { mobilenetV1Topology, vgg16Topology } from './fixtures/zoo/index.js';

const topologyOf = (m: tf.LayersModel): ModelJson => m.toJSON(null, false) as unknown as ModelJson;

function tfjsTrainable(m: tf.LayersModel): number {
  return m.trainableWeights.reduce((a, w) => a + w.shape.reduce<number>((x, y) => x * (y ?? 0), 1), 0);
}

function assertMatchesTfjs(m: tf.LayersModel): void {
  const count = countModel(topologyOf(m));
  assert.equal(count.params.total, m.countParams(), 'total params');
  assert.equal(count.params.trainable, tfjsTrainable(m), 'trainable params');
  assert.equal(count.params.nonTrainable, m.countParams() - tfjsTrainable(m), 'non-trainable params');
  assert.equal(count.flops, 2 * count.macs);
  m.dispose();
}

before(async () => {
  await tf.setBackend('cpu');
});

describe('params equal tfjs countParams', () => {
  it('conv/BN/pool/flatten/dense Sequential', () => {
    assertMatchesTfjs(
      tf.sequential({
        layers: [
          tf.layers.conv2d({ inputShape: [12, 12, 3], filters: 8, kernelSize: 3, useBias: false }),
          tf.layers.batchNormalization(),
          tf.layers.reLU({ maxValue: 6 }),
          tf.layers.maxPooling2d({ poolSize: 2 }),
          tf.layers.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, padding: 'same' }),
          // tfjs does not serialise SeparableConv2D's depthMultiplier, so keep it at 1 here.
          tf.layers.separableConv2d({ filters: 6, kernelSize: 3 }),
          tf.layers.conv2dTranspose({ filters: 4, kernelSize: 3, strides: 2 }),
          tf.layers.zeroPadding2d({
            padding: [
              [1, 0],
              [0, 1],
            ],
          }),
          tf.layers.averagePooling2d({ poolSize: 2, padding: 'same' }),
          tf.layers.flatten(),
          tf.layers.dense({ units: 7 }),
          tf.layers.batchNormalization({ trainable: false }),
          tf.layers.dense({ units: 3, activation: 'softmax' }),
        ],
      }),
    );
  });

  it('sequence model: Embedding, Conv1D, LSTM, GRU, SimpleRNN, LayerNormalization, Dense on rank 3', () => {
    assertMatchesTfjs(
      tf.sequential({
        layers: [
          tf.layers.embedding({ inputDim: 50, outputDim: 8, inputLength: 10 }),
          tf.layers.conv1d({ filters: 6, kernelSize: 3, padding: 'same' }),
          tf.layers.lstm({ units: 5, returnSequences: true }),
          tf.layers.gru({ units: 4, returnSequences: true }),
          tf.layers.layerNormalization(),
          tf.layers.dense({ units: 3 }),
          tf.layers.simpleRNN({ units: 2 }),
          tf.layers.repeatVector({ n: 2 }), // no handler: counted through tfjs
        ],
      }),
    );
  });

  it('functional model with Add/Concatenate and a nested Sequential with a frozen layer', () => {
    const inner = tf.sequential({
      name: 'inner',
      // A frozen layer inside the nested model (tfjs does not serialise a container's own trainable flag).
      layers: [
        tf.layers.dense({ inputShape: [6], units: 5, trainable: false }),
        tf.layers.batchNormalization(),
        tf.layers.dense({ units: 4 }),
      ],
    });
    const input = tf.input({ shape: [6] });
    const a = tf.layers.dense({ units: 6 }).apply(input) as tf.SymbolicTensor;
    const s = tf.layers.add().apply([a, input]) as tf.SymbolicTensor;
    const n = inner.apply(s) as tf.SymbolicTensor;
    const c = tf.layers.concatenate().apply([n, s]) as tf.SymbolicTensor;
    const out = tf.layers.dense({ units: 2 }).apply(c) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: out });
    const count = countModel(topologyOf(model));
    assert.ok(
      count.layers.some((l) => l.path.startsWith('inner/')),
      'nested layers listed with their path',
    );
    assertMatchesTfjs(model);
  });
});

describe('MACs', () => {
  it('hand-computed small conv net', () => {
    const model = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [8, 8, 3], filters: 4, kernelSize: 3, padding: 'same' }), // 8·8·3·3·3·4 = 6912
        tf.layers.conv2d({ filters: 2, kernelSize: 1, strides: 2 }), // 4·4·4·2 = 128
        tf.layers.depthwiseConv2d({ kernelSize: 3 }), // 2·2·3·3·2 = 72
        tf.layers.flatten(),
        tf.layers.dense({ units: 5 }), // 8·5 = 40
      ],
    });
    const count = countModel(topologyOf(model));
    assert.deepEqual(
      count.layers.map((l) => l.macs),
      [6912, 128, 72, 0, 40],
    );
    assert.equal(count.macs, 7152);
    assert.deepEqual(count.layers[2].outputShape, [null, 2, 2, 2]);
    model.dispose();
  });
});

// --- standard architectures from topology JSON only (no weights allocated) ---

describe('published figures', () => {
  it('MobileNet v1 1.0/224: 4,253,864 params, ≈569M MACs', () => {
    const count = countModel(mobilenetV1Topology());
    assert.equal(count.params.total, 4_253_864);
    assert.equal(count.params.nonTrainable, 21_888);
    assert.ok(Math.abs(count.macs - 569e6) / 569e6 < 0.005, `MACs ${count.macs}`);
  });

  it('VGG16: 138,357,544 params, ≈15.5G MACs', () => {
    const count = countModel(vgg16Topology());
    assert.equal(count.params.total, 138_357_544);
    assert.ok(Math.abs(count.macs - 15.5e9) / 15.5e9 < 0.01, `MACs ${count.macs}`);
  });
});
