/**
 * The config.json slim writes into a `.keras` archive, checked against what Keras 3 itself writes:
 * key by key against a real Keras 3.2.1 archive (test/fixtures/keras, IDAES), and for every layer
 * class slim writes against the keys Keras 3's own `get_config` gives that class and its
 * serialization wrapper (`module`, `class_name`, `config`, `registered_name`, `build_config`,
 * and in a functional model `name` and `inbound_nodes` of `{args, kwargs}` calls).
 * Keras 3 builds each layer with `cls(**config)` and refuses a key its constructor does not take,
 * so a key slim writes that Keras does not is a file Keras cannot load.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { unzipSync } from 'fflate';
import { fromLayersModel } from '../src/model/convert.js';
import { readModel } from '../src/model/io.js';
import { encodeKerasFile } from '../src/model/keras/write.js';
import type { ModelArtifacts } from '../src/model/topology.js';
import { REPO_ROOT } from './helpers/cli.js';

type Json = Record<string, unknown>;

const FIXTURES = path.join(REPO_ROOT, 'test', 'fixtures', 'keras');

/** The config.json of a Keras 3 archive's bytes. */
function configOf(archive: Uint8Array): Json {
  return JSON.parse(new TextDecoder().decode(unzipSync(archive)['config.json'])) as Json;
}

async function writtenConfig(artifacts: ModelArtifacts): Promise<Json> {
  return configOf(await encodeKerasFile(artifacts, 'keras'));
}

const layersOf = (config: Json): Json[] => (config.config as Json).layers as Json[];
const keys = (value: unknown): string[] => Object.keys(value as Json).sort();

/** Keys every Keras 3 layer's get_config writes (Layer.get_config), and one it writes when set. */
const LAYER_BASE = ['name', 'trainable', 'dtype'];
const LAYER_OPTIONAL = ['activity_regularizer'];

/**
 * The keys Keras 3's get_config writes for each class slim writes (besides LAYER_BASE), as read in
 * its source (keras/src/layers/…: each class's get_config and __init__). Keys Keras adds in later
 * releases with a default (lora_rank, groups, keepdims, …) may be absent from slim's files.
 */
const KERAS3_CONFIG_KEYS: Record<string, string[]> = {
  InputLayer: ['batch_shape', 'dtype', 'sparse', 'ragged', 'name', 'optional'],
  Rescaling: ['scale', 'offset'],
  Conv2D: [
    'filters',
    'kernel_size',
    'strides',
    'padding',
    'data_format',
    'dilation_rate',
    'groups',
    'activation',
    'use_bias',
    'kernel_initializer',
    'bias_initializer',
    'kernel_regularizer',
    'bias_regularizer',
    'kernel_constraint',
    'bias_constraint',
    'lora_rank',
    'lora_alpha',
  ],
  DepthwiseConv2D: [
    'kernel_size',
    'strides',
    'padding',
    'data_format',
    'dilation_rate',
    'depth_multiplier',
    'activation',
    'use_bias',
    'depthwise_initializer',
    'bias_initializer',
    'depthwise_regularizer',
    'bias_regularizer',
    'depthwise_constraint',
    'bias_constraint',
  ],
  SeparableConv2D: [
    'filters',
    'kernel_size',
    'strides',
    'padding',
    'data_format',
    'dilation_rate',
    'depth_multiplier',
    'activation',
    'use_bias',
    'depthwise_initializer',
    'pointwise_initializer',
    'bias_initializer',
    'depthwise_regularizer',
    'pointwise_regularizer',
    'bias_regularizer',
    'depthwise_constraint',
    'pointwise_constraint',
    'bias_constraint',
  ],
  Dense: [
    'units',
    'activation',
    'use_bias',
    'kernel_initializer',
    'bias_initializer',
    'kernel_regularizer',
    'bias_regularizer',
    'kernel_constraint',
    'bias_constraint',
    'lora_rank',
    'lora_alpha',
    'quantization_config',
  ],
  BatchNormalization: [
    'axis',
    'momentum',
    'epsilon',
    'center',
    'scale',
    'beta_initializer',
    'gamma_initializer',
    'moving_mean_initializer',
    'moving_variance_initializer',
    'beta_regularizer',
    'gamma_regularizer',
    'beta_constraint',
    'gamma_constraint',
    'synchronized',
    'renorm',
    'renorm_clipping',
    'renorm_momentum',
  ],
  ReLU: ['max_value', 'negative_slope', 'threshold'],
  Activation: ['activation'],
  MaxPooling2D: ['pool_size', 'strides', 'padding', 'data_format'],
  AveragePooling2D: ['pool_size', 'strides', 'padding', 'data_format'],
  GlobalAveragePooling2D: ['data_format', 'keepdims'],
  Flatten: ['data_format'],
  Dropout: ['rate', 'noise_shape', 'seed'],
  Add: [],
  Concatenate: ['axis'],
};

/** Keys without a default in Keras 3's constructor: a file without them cannot be loaded. */
const REQUIRED: Record<string, string[]> = {
  InputLayer: ['batch_shape'],
  Conv2D: ['filters', 'kernel_size'],
  SeparableConv2D: ['filters', 'kernel_size'],
  DepthwiseConv2D: ['kernel_size'],
  Dense: ['units'],
  Rescaling: ['scale'],
  Dropout: ['rate'],
  Activation: ['activation'],
};

const isShape = (v: unknown): boolean => Array.isArray(v) && v.every((d) => d === null || Number.isInteger(d));
const isIntList = (v: unknown): boolean => Array.isArray(v) && v.every((d) => Number.isInteger(d));
const isSerialized = (v: unknown, module: string): boolean =>
  typeof v === 'object' &&
  v !== null &&
  keys(v).join() === 'class_name,config,module,registered_name' &&
  (v as Json).module === module &&
  (v as Json).registered_name === null;

/** Value types Keras 3 writes, by key (tuples are JSON lists). */
const VALUE_TYPES: Record<string, (v: unknown) => boolean> = {
  name: (v) => typeof v === 'string',
  trainable: (v) => typeof v === 'boolean',
  dtype: (v) =>
    isSerialized(v, 'keras') &&
    (v as Json).class_name === 'DTypePolicy' &&
    typeof ((v as Json).config as Json).name === 'string' &&
    keys((v as Json).config).join() === 'name',
  filters: Number.isInteger,
  units: Number.isInteger,
  depth_multiplier: Number.isInteger,
  kernel_size: isIntList,
  strides: isIntList,
  dilation_rate: isIntList,
  pool_size: isIntList,
  padding: (v) => v === 'valid' || v === 'same',
  data_format: (v) => v === 'channels_last' || v === 'channels_first',
  activation: (v) => typeof v === 'string',
  use_bias: (v) => typeof v === 'boolean',
  center: (v) => typeof v === 'boolean',
  scale: (v) => typeof v === 'boolean' || typeof v === 'number',
  axis: (v) => Number.isInteger(v) || isIntList(v),
  momentum: (v) => typeof v === 'number',
  epsilon: (v) => typeof v === 'number',
  offset: (v) => typeof v === 'number',
  rate: (v) => typeof v === 'number',
  max_value: (v) => v === null || typeof v === 'number',
  batch_shape: isShape,
  sparse: (v) => typeof v === 'boolean',
};
for (const suffix of ['initializer', 'regularizer', 'constraint']) {
  for (const key of new Set(
    Object.values(KERAS3_CONFIG_KEYS)
      .flat()
      .filter((k) => k.endsWith(`_${suffix}`)),
  )) {
    VALUE_TYPES[key] = (v) => (suffix !== 'initializer' && v === null) || isSerialized(v, `keras.${suffix}s`);
  }
}

/** One functional model with every layer class slim writes (Keras 3's own names). */
function everyLayerModel(): tf.LayersModel {
  const input = tf.input({ shape: [16, 16, 3], name: 'input_layer' });
  let x = tf.layers.rescaling({ scale: 1 / 255, name: 'rescaling' }).apply(input) as tf.SymbolicTensor;
  x = tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', useBias: false, name: 'conv2d' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ name: 'batch_normalization' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU({ name: 're_lu' }).apply(x) as tf.SymbolicTensor;
  const a = tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', name: 'depthwise_conv2d' }).apply(x) as tf.SymbolicTensor;
  const b = tf.layers
    .separableConv2d({ filters: 8, kernelSize: 3, padding: 'same', name: 'separable_conv2d' })
    .apply(x) as tf.SymbolicTensor;
  let y = tf.layers.add({ name: 'add' }).apply([a, b]) as tf.SymbolicTensor;
  y = tf.layers.activation({ activation: 'relu', name: 'activation' }).apply(y) as tf.SymbolicTensor;
  let c = tf.layers.concatenate({ name: 'concatenate' }).apply([y, x]) as tf.SymbolicTensor;
  c = tf.layers.maxPooling2d({ poolSize: 2, name: 'max_pooling2d' }).apply(c) as tf.SymbolicTensor;
  c = tf.layers.averagePooling2d({ poolSize: 2, name: 'average_pooling2d' }).apply(c) as tf.SymbolicTensor;
  const pooled = tf.layers.globalAveragePooling2d({ name: 'global_average_pooling2d' }).apply(c) as tf.SymbolicTensor;
  const flat = tf.layers.flatten({ name: 'flatten' }).apply(c) as tf.SymbolicTensor;
  let d = tf.layers.concatenate({ name: 'concatenate_1' }).apply([pooled, flat]) as tf.SymbolicTensor;
  d = tf.layers.dropout({ rate: 0.5, name: 'dropout' }).apply(d) as tf.SymbolicTensor;
  d = tf.layers.dense({ units: 3, activation: 'softmax', name: 'dense' }).apply(d) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: d, name: 'functional' });
}

/** Checks one layer entry of a written config against Keras 3's serialization of its class. */
function checkLayer(layer: Json, functional: boolean): void {
  const className = String(layer.class_name);
  const where = `${className} '${String((layer.config as Json).name)}'`;
  const kerasKeys = KERAS3_CONFIG_KEYS[className];
  assert.ok(kerasKeys !== undefined, `${where}: a class this test knows`);
  const wrapper = ['class_name', 'config', 'module', 'registered_name'];
  if (className !== 'InputLayer') wrapper.push('build_config');
  if (functional) wrapper.push('inbound_nodes', 'name');
  assert.deepEqual(keys(layer), wrapper.sort(), `${where}: wrapper keys`);
  assert.equal(layer.module, 'keras.layers', where);
  assert.equal(layer.registered_name, null, where);

  const config = layer.config as Json;
  const allowed = new Set(className === 'InputLayer' ? kerasKeys : [...LAYER_BASE, ...LAYER_OPTIONAL, ...kerasKeys]);
  const foreign = Object.keys(config).filter((k) => !allowed.has(k));
  assert.deepEqual(foreign, [], `${where}: keys Keras 3 does not write (its constructor refuses them)`);
  for (const key of [...(className === 'InputLayer' ? ['name', 'dtype'] : LAYER_BASE), ...(REQUIRED[className] ?? [])]) {
    assert.ok(key in config, `${where}: has ${key}`);
  }
  for (const [key, value] of Object.entries(config)) {
    const type = className === 'InputLayer' && key === 'dtype' ? (v: unknown) => v === 'float32' : VALUE_TYPES[key];
    if (type !== undefined) assert.ok(type(value), `${where}: ${key} = ${JSON.stringify(value)} is not of the type Keras 3 writes`);
  }

  if (className !== 'InputLayer') {
    const build = layer.build_config as Json;
    assert.deepEqual(keys(build), ['input_shape'], `${where}: build_config`);
    const merge = className === 'Add' || className === 'Concatenate';
    const shape = build.input_shape;
    assert.ok(
      merge ? Array.isArray(shape) && shape.length >= 2 && shape.every(isShape) : isShape(shape),
      `${where}: build_config.input_shape`,
    );
  }
  if (functional) {
    assert.equal(layer.name, config.name, `${where}: name beside config`);
    const nodes = layer.inbound_nodes as Json[];
    if (className === 'InputLayer') assert.deepEqual(nodes, [], `${where}: an InputLayer's call is not serialized`);
    for (const node of nodes) {
      assert.deepEqual(keys(node), ['args', 'kwargs'], `${where}: a call is {args, kwargs}`);
      const args = node.args as unknown[];
      const tensors = (Array.isArray(args[0]) ? args[0] : args) as Json[];
      for (const tensor of tensors) {
        assert.equal(tensor.class_name, '__keras_tensor__', where);
        const t = tensor.config as Json;
        assert.deepEqual(keys(t), ['dtype', 'keras_history', 'shape'], where);
        const [producer, nodeIndex, tensorIndex] = t.keras_history as unknown[];
        assert.ok(typeof producer === 'string' && Number.isInteger(nodeIndex) && Number.isInteger(tensorIndex), `${where}: keras_history`);
        assert.ok(isShape(t.shape), `${where}: tensor shape`);
      }
    }
  }
}

describe('Keras 3 config.json: against a real Keras 3.2.1 archive, key by key', () => {
  it('a Sequential read and written back has the wrapper, config keys, value types and build_config Keras wrote', async () => {
    const file = path.join(FIXTURES, 'idaes_PT_data_2_10_10_2_relu.keras');
    const reference = configOf(await readFile(file));
    const written = await writtenConfig(await readModel(file));

    // Top level: slim writes no compile_config (it does not compile); everything else as Keras.
    assert.deepEqual(
      keys(written),
      keys(reference).filter((k) => k !== 'compile_config'),
    );
    for (const key of ['module', 'class_name', 'registered_name', 'build_config']) assert.deepEqual(written[key], reference[key], key);
    const refModel = reference.config as Json;
    const model = written.config as Json;
    assert.deepEqual(keys(model), keys(refModel));
    for (const key of ['name', 'trainable', 'build_input_shape']) assert.deepEqual(model[key], refModel[key], key);

    const refLayers = layersOf(reference);
    const layers = layersOf(written);
    assert.equal(layers.length, refLayers.length);
    layers.forEach((layer, i) => {
      const ref = refLayers[i];
      const where = `layers[${i}] ${String(ref.class_name)}`;
      assert.deepEqual(keys(layer), keys(ref), `${where}: wrapper keys`);
      for (const key of ['module', 'class_name', 'registered_name', 'build_config'])
        assert.deepEqual(layer[key], ref[key], `${where}: ${key}`);
      const config = layer.config as Json;
      const refConfig = ref.config as Json;
      assert.deepEqual(keys(config), keys(refConfig), `${where}: config keys`);
      for (const [key, value] of Object.entries(refConfig)) {
        // Keras 3.2 wrote a layer's dtype as a name, later releases as a DTypePolicy object; both load.
        if (key === 'dtype' && ref.class_name !== 'InputLayer') {
          assert.ok(VALUE_TYPES.dtype(config.dtype), `${where}: dtype`);
          assert.equal(((config.dtype as Json).config as Json).name, value, `${where}: dtype name`);
        } else assert.deepEqual(config[key], value, `${where}: ${key}`);
      }
      if (ref.class_name !== 'InputLayer') checkLayer(layer, false);
    });
  });
});

describe('Keras 3 config.json: every layer class slim writes', () => {
  it('functional: each layer has the keys, value types, wrapper and call structure Keras 3 writes', async () => {
    const model = everyLayerModel();
    const written = await writtenConfig(await fromLayersModel(model));
    model.dispose();
    assert.equal(written.class_name, 'Functional');
    assert.equal(written.module, 'keras.src.models.functional');
    assert.equal(written.registered_name, 'Functional');
    // Functional.get_config: no dtype, unlike a Sequential.
    assert.deepEqual(keys(written.config), ['input_layers', 'layers', 'name', 'output_layers', 'trainable']);
    const layers = layersOf(written);
    assert.deepEqual(
      [...new Set(layers.map((l) => String(l.class_name)))].sort(),
      Object.keys(KERAS3_CONFIG_KEYS).sort(),
      'the model holds every class of the table',
    );
    for (const layer of layers) checkLayer(layer, true);
    const byName = new Map(layers.map((l) => [String(l.name), l]));
    assert.deepEqual((byName.get('conv2d')!.build_config as Json).input_shape, [null, 16, 16, 3]);
    assert.deepEqual((byName.get('add')!.build_config as Json).input_shape, [
      [null, 16, 16, 8],
      [null, 16, 16, 8],
    ]);
  });

  it('a Keras 2 Sequential (tf-keras .keras) written back: its InputLayer kept, no batch_input_shape on Dense (Keras 3 refuses it)', async () => {
    const written = await writtenConfig(await readModel(path.join(FIXTURES, 'idaes_keras_model.keras')));
    assert.equal(written.class_name, 'Sequential');
    assert.equal(written.module, 'keras');
    assert.deepEqual(keys(written.config), ['build_input_shape', 'dtype', 'layers', 'name', 'trainable']);
    const layers = layersOf(written);
    assert.deepEqual(
      layers.map((l) => [l.class_name, (l.config as Json).name]),
      [
        ['InputLayer', 'dense_input'],
        ['Dense', 'dense'],
        ['Dense', 'dense_1'],
        ['Dense', 'dense_2'],
      ],
    );
    for (const layer of layers) checkLayer(layer, false);
    assert.deepEqual((layers[1].build_config as Json).input_shape, [null, 2]);
  });
});
