/**
 * A Keras 3 archive built here from the format's layout (the real Keras 3 fixtures in
 * test/fixtures/keras/ are Dense-only): Functional model with a nested Functional, Rescaling, two
 * random augmentation layers, a BatchNormalization with `scale: false`, an Add, and weights under
 * `layers/<snake_case class>[_<n>]/vars/<i>` in model.weights.h5 as Keras names them, written with
 * h5wasm. The same archive with layer names as group names (what slim wrote before) is read too.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { zipSync } from 'fflate';
import { toLayersModel } from '../../src/model/convert.js';
import { readModel } from '../../src/model/io.js';
import { buildHdf5, isGroup, withHdf5Bytes, type Group } from '../../src/model/keras/hdf5.js';
import type { ModelArtifacts } from '../../src/model/topology.js';
import { describeRun, runSlim, STACK_FRAME, stderrLines, type SlimResult } from '../helpers/cli.js';

type Json = Record<string, unknown>;
const dtype = { module: 'keras', class_name: 'DTypePolicy', config: { name: 'float32' }, registered_name: null };
const init = (className: string, config: Json = {}) => ({
  module: 'keras.initializers',
  class_name: className,
  config,
  registered_name: null,
});
const tensor = (name: string) => ({
  class_name: '__keras_tensor__',
  config: { shape: [null, 8, 8, 4], dtype: 'float32', keras_history: [name, 0, 0] },
});
const call = (...names: string[]) => [{ args: names.length === 1 ? [tensor(names[0])] : [names.map(tensor)], kwargs: {} }];
const layer = (className: string, config: Json, inbound: unknown) => ({
  module: 'keras.layers',
  class_name: className,
  config: { trainable: true, dtype, ...config },
  registered_name: null,
  build_config: { input_shape: [null, 8, 8, 4] },
  name: config.name,
  inbound_nodes: inbound,
});
const input = (name: string, batchShape: (number | null)[]) => ({
  module: 'keras.layers',
  class_name: 'InputLayer',
  registered_name: null,
  name,
  inbound_nodes: [],
  config: { batch_shape: batchShape, dtype: 'float32', sparse: false, ragged: false, name },
});
const conv = (name: string, inbound: unknown) =>
  layer(
    'Conv2D',
    {
      name,
      filters: 4,
      kernel_size: [3, 3],
      strides: [1, 1],
      padding: 'same',
      data_format: 'channels_last',
      dilation_rate: [1, 1],
      groups: 1,
      activation: 'linear',
      use_bias: false,
      kernel_initializer: init('GlorotUniform', { seed: null }),
      bias_initializer: init('Zeros'),
      kernel_regularizer: null,
      bias_regularizer: null,
      activity_regularizer: null,
      kernel_constraint: null,
      bias_constraint: null,
    },
    inbound,
  );
const batchNorm = (name: string, inbound: unknown, scale: boolean) =>
  layer(
    'BatchNormalization',
    {
      name,
      axis: -1,
      momentum: 0.99,
      epsilon: 0.001,
      center: true,
      scale,
      beta_initializer: init('Zeros'),
      gamma_initializer: init('Ones'),
      moving_mean_initializer: init('Zeros'),
      moving_variance_initializer: init('Ones'),
      beta_regularizer: null,
      gamma_regularizer: null,
      beta_constraint: null,
      gamma_constraint: null,
      synchronized: false,
    },
    inbound,
  );

const CONFIG = {
  module: 'keras.src.models.functional',
  class_name: 'Functional',
  registered_name: 'Functional',
  config: {
    name: 'net',
    trainable: true,
    layers: [
      input('image', [null, 8, 8, 3]),
      layer('RandomFlip', { name: 'flip', mode: 'horizontal', seed: null, data_format: 'channels_last' }, call('image')),
      layer(
        'RandomRotation',
        { name: 'rotate', factor: [-0.1, 0.1], fill_mode: 'reflect', interpolation: 'bilinear', seed: null, fill_value: 0 },
        call('flip'),
      ),
      layer('Rescaling', { name: 'rescale', scale: 1 / 255, offset: 0 }, call('rotate')),
      conv('conv1', call('rescale')),
      batchNorm('bn1', call('conv1'), true),
      {
        module: 'keras.src.models.functional',
        class_name: 'Functional',
        registered_name: 'Functional',
        name: 'block',
        inbound_nodes: call('bn1'),
        config: {
          name: 'block',
          trainable: true,
          layers: [
            input('block_in', [null, 8, 8, 4]),
            conv('block_conv', call('block_in')),
            batchNorm('block_bn', call('block_conv'), false),
            layer('Activation', { name: 'block_relu', activation: 'relu' }, call('block_bn')),
          ],
          input_layers: [['block_in', 0, 0]],
          output_layers: [['block_relu', 0, 0]],
        },
      },
      layer('Add', { name: 'add' }, call('bn1', 'block')),
      layer('GlobalAveragePooling2D', { name: 'gap', data_format: 'channels_last', keepdims: false }, call('add')),
      layer(
        'Dense',
        {
          name: 'logits',
          units: 3,
          activation: 'linear',
          use_bias: true,
          kernel_initializer: init('GlorotUniform', { seed: null }),
          bias_initializer: init('Zeros'),
          kernel_regularizer: null,
          bias_regularizer: null,
          kernel_constraint: null,
          bias_constraint: null,
          lora_rank: null,
        },
        call('gap'),
      ),
    ],
    input_layers: [['image', 0, 0]],
    output_layers: [['logits', 0, 0]],
  },
  build_config: { input_shape: [null, 8, 8, 3] },
  compile_config: null,
};
/** 108 + 16 + 144 + 12 (BN without γ) + 15. */
const KNOWN_PARAMS = 295;

/** Deterministic values in [-0.5, 0.5) (+1 for variances and γ). */
function values(count: number, seed: number, shift = 0): Float32Array {
  let state = seed;
  return Float32Array.from({ length: count }, () => {
    state = (state * 16807) % 2147483647;
    return state / 2147483647 - 0.5 + shift;
  });
}

/** Where each layer's vars go: Keras's own paths, or the layer names slim used to write. */
const LAYOUTS = {
  keras: {
    conv1: 'layers/conv2d',
    bn1: 'layers/batch_normalization',
    block_conv: 'layers/functional/layers/conv2d',
    block_bn: 'layers/functional/layers/batch_normalization',
    logits: 'layers/dense',
  },
  names: {
    conv1: 'layers/conv1',
    bn1: 'layers/bn1',
    block_conv: 'layers/block/layers/block_conv',
    block_bn: 'layers/block/layers/block_bn',
    logits: 'layers/logits',
  },
};

async function buildArchive(file: string, layout: keyof typeof LAYOUTS = 'keras'): Promise<void> {
  const at = LAYOUTS[layout];
  const weights = await buildHdf5((f) => {
    const vars = (where: string, arrays: [Float32Array, number[]][]) => {
      let group: Group = f;
      for (const part of where.split('/')) group = (group.keys().includes(part) ? group.get(part) : group.create_group(part)) as Group;
      const v = group.create_group('vars');
      arrays.forEach(([data, shape], i) => v.create_dataset({ name: String(i), data, shape, dtype: '<f' }));
    };
    vars(at.conv1, [[values(108, 1), [3, 3, 3, 4]]]);
    vars(at.bn1, [
      [values(4, 2, 1), [4]],
      [values(4, 3), [4]],
      [values(4, 4), [4]],
      [values(4, 5, 1), [4]],
    ]);
    vars(at.block_conv, [[values(144, 6), [3, 3, 4, 4]]]);
    vars(at.block_bn, [
      [values(4, 7), [4]],
      [values(4, 8), [4]],
      [values(4, 9, 1), [4]],
    ]);
    vars(at.logits, [
      [values(12, 10), [4, 3]],
      [values(3, 11), [3]],
    ]);
    f.create_group('optimizer').create_group('vars');
  });
  const text = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
  await writeFile(
    file,
    zipSync({
      'metadata.json': text({ keras_version: '3.6.0', date_saved: '2026-01-01@00:00:00' }),
      'config.json': text(CONFIG),
      'model.weights.h5': weights,
    }),
  );
}

async function outputs(artifacts: ModelArtifacts, x: tf.Tensor): Promise<Float32Array> {
  const model = await toLayersModel(artifacts);
  try {
    return tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync() as Float32Array);
  } finally {
    model.dispose();
  }
}

let dir: string;
let archive: string;
before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'slim-keras3-'));
  archive = path.join(dir, 'net.keras');
  await buildArchive(archive);
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('Keras 3 archive', () => {
  it('report: known params; augmentation left out with one stderr line', async () => {
    const run = await runSlim(['report', '--model', archive, '--json']);
    assert.equal(run.code, 0, describeRun(run));
    assert.equal(JSON.parse(run.stdout).params.total, KNOWN_PARAMS);
    const lines = stderrLines(run);
    assert.equal(lines.length, 1, describeRun(run));
    assert.match(lines[0], /left out augmentation layer\(s\) flip \(RandomFlip\), rotate \(RandomRotation\).*augmentation config/);
    // It names what slim offers instead, and what it does not.
    assert.match(lines[0], /pad-crop \(data\.augment\.pad\) and horizontal flip \(data\.augment\.flip\), no rotation, zoom/);
  });

  it('weights land where Keras 3 put them (nested model, BN without γ)', async () => {
    const model = await readModel(archive);
    assert.deepEqual(model.weights.get('block_bn/beta')?.data, values(4, 7));
    assert.deepEqual(model.weights.get('block_bn/moving_variance')?.data, values(4, 9, 1));
    assert.equal(model.weights.has('block_bn/gamma'), false);
    assert.deepEqual(model.weights.get('logits/bias')?.data, values(3, 11));
  });

  it('an archive with layer names as weight groups (slim before it followed Keras) reads the same', async () => {
    const old = path.join(dir, 'names.keras');
    await buildArchive(old, 'names');
    const [byKeras, byNames] = [await readModel(archive), await readModel(old)];
    assert.deepEqual([...byNames.weights.keys()].sort(), [...byKeras.weights.keys()].sort());
    for (const [name, w] of byKeras.weights) assert.deepEqual(byNames.weights.get(name)?.data, w.data, name);
  });

  /** `export --format FORMAT` of the archive, run once per format for the tests that read it. */
  const exports = new Map<'keras' | 'h5', Promise<{ out: string; run: SlimResult }>>();
  function exported(format: 'keras' | 'h5'): Promise<{ out: string; run: SlimResult }> {
    if (!exports.has(format)) {
      exports.set(
        format,
        (async () => {
          const out = path.join(dir, `back.${format}`);
          const run = await runSlim(['export', '--model', archive, '--out', out, '--format', format, '--backend', 'cpu']);
          assert.equal(run.code, 0, describeRun(run));
          return { out, run };
        })(),
      );
    }
    return exports.get(format)!;
  }

  it('export --format keras writes the weights where Keras 3 reads them', async () => {
    const { out } = await exported('keras');
    const { unzipSync } = await import('fflate');
    const { readFile } = await import('node:fs/promises');
    const weightsFile = unzipSync(await readFile(out))['model.weights.h5'];
    const paths = await withHdf5Bytes(weightsFile, out, (f) => {
      const found: string[] = [];
      const walk = (group: Group, prefix: string): void => {
        for (const key of group.keys()) {
          const entity = group.get(key);
          if (isGroup(entity)) walk(entity, `${prefix}${key}/`);
          else found.push(`${prefix}${key}`);
        }
      };
      walk(f, '');
      return found.sort();
    });
    // export folds each BatchNormalization into the conv before it, so every conv gains a bias
    const expected = Object.entries({ conv1: 2, block_conv: 2, logits: 2 }).flatMap(([layer, count]) =>
      Array.from({ length: count }, (_, i) => `${LAYOUTS.keras[layer as keyof typeof LAYOUTS.keras]}/vars/${i}`),
    );
    assert.deepEqual(paths, expected.sort());
  });

  for (const format of ['keras', 'h5'] as const) {
    it(`export --format ${format} → read back: same outputs`, async () => {
      const { out, run } = await exported(format);
      const x = tf.randomUniform([2, 8, 8, 3], 0, 255, 'float32', 5);
      const before = await outputs(await readModel(archive), x);
      const after = await outputs(await readModel(out), x);
      x.dispose();
      for (let i = 0; i < before.length; i++)
        assert.ok(Math.abs(before[i] - after[i]) <= 1e-5 * Math.max(1, Math.abs(before[i])), `output ${i}`);
      assert.doesNotMatch(run.stderr, STACK_FRAME);
    });
  }

  it('prune reads it and writes a model with the same outputs when nothing is below the threshold', async () => {
    const out = path.join(dir, 'pruned');
    const run = await runSlim(['prune', '--model', archive, '--out', out, '--threshold', '1e-12']);
    assert.equal(run.code, 0, describeRun(run));
    const x = tf.randomUniform([2, 8, 8, 3], 0, 255, 'float32', 6);
    const before = await outputs(await readModel(archive), x);
    const after = await outputs(await readModel(out), x);
    x.dispose();
    for (let i = 0; i < before.length; i++)
      assert.ok(Math.abs(before[i] - after[i]) <= 1e-5 * Math.max(1, Math.abs(before[i])), `output ${i}`);
  });
});
