/** countModel: params match tfjs, MACs match hand counts and published figures. */
import { strict as assert } from 'node:assert';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import type { LayerJson, ModelJson } from '../src/model/topology.js';
import { countModel } from '../src/report/count.js';

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

function seq(name: string, inputShape: number[], layers: LayerJson[]): ModelJson {
  layers[0].config.batch_input_shape = [null, ...inputShape];
  return { class_name: 'Sequential', config: { name, layers } };
}
let counter = 0;
const L = (class_name: string, config: Record<string, unknown>): LayerJson => ({
  class_name,
  config: { name: `${class_name.toLowerCase()}_${counter++}`, ...config },
});

function mobilenetV1(): ModelJson {
  const layers: LayerJson[] = [];
  const bnRelu = () => layers.push(L('BatchNormalization', { axis: -1 }), L('ReLU', { max_value: 6 }));
  layers.push(L('Conv2D', { filters: 32, kernel_size: [3, 3], strides: [2, 2], padding: 'same', use_bias: false }));
  bnRelu();
  const blocks: [number, number][] = [
    [64, 1],
    [128, 2],
    [128, 1],
    [256, 2],
    [256, 1],
    [512, 2],
    [512, 1],
    [512, 1],
    [512, 1],
    [512, 1],
    [512, 1],
    [1024, 2],
    [1024, 1],
  ];
  for (const [filters, stride] of blocks) {
    if (stride === 2)
      layers.push(
        L('ZeroPadding2D', {
          padding: [
            [0, 1],
            [0, 1],
          ],
        }),
      );
    layers.push(
      L('DepthwiseConv2D', {
        kernel_size: [3, 3],
        strides: [stride, stride],
        padding: stride === 2 ? 'valid' : 'same',
        depth_multiplier: 1,
        use_bias: false,
      }),
    );
    bnRelu();
    layers.push(L('Conv2D', { filters, kernel_size: [1, 1], strides: [1, 1], padding: 'same', use_bias: false }));
    bnRelu();
  }
  layers.push(
    L('GlobalAveragePooling2D', {}),
    L('Reshape', { target_shape: [1, 1, 1024] }),
    L('Dropout', { rate: 0.001 }),
    L('Conv2D', { filters: 1000, kernel_size: [1, 1], padding: 'same', use_bias: true }),
    L('Reshape', { target_shape: [1000] }),
    L('Activation', { activation: 'softmax' }),
  );
  return seq('mobilenet_1.00_224', [224, 224, 3], layers);
}

function vgg16(): ModelJson {
  const layers: LayerJson[] = [];
  for (const [filters, convs] of [
    [64, 2],
    [128, 2],
    [256, 3],
    [512, 3],
    [512, 3],
  ]) {
    for (let i = 0; i < convs; i++) layers.push(L('Conv2D', { filters, kernel_size: [3, 3], padding: 'same', activation: 'relu' }));
    layers.push(L('MaxPooling2D', { pool_size: [2, 2], strides: [2, 2] }));
  }
  layers.push(
    L('Flatten', {}),
    L('Dense', { units: 4096, activation: 'relu' }),
    L('Dense', { units: 4096, activation: 'relu' }),
    L('Dense', { units: 1000, activation: 'softmax' }),
  );
  return seq('vgg16', [224, 224, 3], layers);
}

describe('published figures', () => {
  it('MobileNet v1 1.0/224: 4,253,864 params, ≈569M MACs', () => {
    const count = countModel(mobilenetV1());
    assert.equal(count.params.total, 4_253_864);
    assert.equal(count.params.nonTrainable, 21_888);
    assert.ok(Math.abs(count.macs - 569e6) / 569e6 < 0.005, `MACs ${count.macs}`);
  });

  it('VGG16: 138,357,544 params, ≈15.5G MACs', () => {
    const count = countModel(vgg16());
    assert.equal(count.params.total, 138_357_544);
    assert.ok(Math.abs(count.macs - 15.5e9) / 15.5e9 < 0.01, `MACs ${count.macs}`);
  });
});
