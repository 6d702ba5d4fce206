import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { InputError } from '../src/errors.js';
import { fromLayersModel, toLayersModel } from '../src/model/convert.js';
import { readModel, resolveModelPath, writeModel } from '../src/model/io.js';
import type { ModelArtifacts, WeightMap } from '../src/model/topology.js';
import { loadWithStockTfjs, loadWithStockTfjsFiles } from './helpers/stock-load.js';

let root: string;
let dirCounter = 0;
/** A fresh, not-yet-existing path under the test's temp root. */
function freshPath(label: string): string {
  dirCounter += 1;
  return path.join(root, `${label}-${dirCounter}`);
}

before(async () => {
  await tf.setBackend('cpu');
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'slim-io-test-'));
});
after(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

/** Gives every weight non-trivial values (BN moving variance stays positive), deterministically. */
function randomizeWeights(model: tf.LayersModel, seed: number): void {
  const values = model.getWeights().map((w, i) => tf.randomUniform(w.shape, 0.1, 1.2, 'float32', seed + i));
  model.setWeights(values);
  tf.dispose(values);
}

function buildSequentialCnn(): tf.LayersModel {
  const model = tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 4, kernelSize: 3, padding: 'same' }),
      tf.layers.batchNormalization(),
      tf.layers.activation({ activation: 'relu' }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.conv2d({ filters: 6, kernelSize: 3 }),
      tf.layers.batchNormalization(),
      tf.layers.flatten(),
      tf.layers.dense({ units: 3, activation: 'softmax' }),
    ],
  });
  randomizeWeights(model, 1);
  // Compiled, so model.json carries a trainingConfig that stock tfjs must accept on load.
  model.compile({ optimizer: 'adam', loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  return model;
}

function buildBranchingFunctional(): tf.LayersModel {
  const input = tf.input({ shape: [6, 6, 3] });
  const a = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same' }).apply(input) as tf.SymbolicTensor;
  const b = tf.layers.conv2d({ filters: 4, kernelSize: 1 }).apply(input) as tf.SymbolicTensor;
  const sum = tf.layers.add().apply([a, b]) as tf.SymbolicTensor;
  const normed = tf.layers.batchNormalization().apply(sum) as tf.SymbolicTensor;
  const c = tf.layers.conv2d({ filters: 2, kernelSize: 1 }).apply(input) as tf.SymbolicTensor;
  const joined = tf.layers.concatenate().apply([normed, c]) as tf.SymbolicTensor;
  const pooled = tf.layers.globalAveragePooling2d({}).apply(joined) as tf.SymbolicTensor;
  const output = tf.layers.dense({ units: 2 }).apply(pooled) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: output });
  randomizeWeights(model, 11);
  return model;
}

function buildNestedSequentialInFunctional(): tf.LayersModel {
  const inner = tf.sequential({
    name: 'inner_block',
    layers: [
      tf.layers.conv2d({ inputShape: [6, 6, 2], filters: 3, kernelSize: 3, padding: 'same' }),
      tf.layers.batchNormalization(),
      tf.layers.activation({ activation: 'relu' }),
    ],
  });
  const input = tf.input({ shape: [6, 6, 2] });
  const features = inner.apply(input) as tf.SymbolicTensor;
  const more = tf.layers.conv2d({ filters: 2, kernelSize: 1 }).apply(features) as tf.SymbolicTensor;
  const flat = tf.layers.flatten().apply(more) as tf.SymbolicTensor;
  const output = tf.layers.dense({ units: 2 }).apply(flat) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: output });
  randomizeWeights(model, 21);
  return model;
}

function disposeAll(...items: Array<tf.Tensor | tf.LayersModel>): void {
  for (const item of items) item.dispose();
}

function predictValues(model: tf.LayersModel, input: tf.Tensor): number[] {
  return tf.tidy(() => Array.from((model.predict(input) as tf.Tensor).dataSync()));
}

function inputFor(model: tf.LayersModel, seed: number): tf.Tensor {
  const shape = model.inputs[0].shape.map((d) => d ?? 2);
  return tf.randomNormal(shape, 0, 1, 'float32', seed);
}

function assertSameWeights(actual: WeightMap, expected: WeightMap): void {
  assert.deepEqual([...actual.keys()], [...expected.keys()]);
  for (const [name, w] of expected) {
    const got = actual.get(name)!;
    assert.deepEqual(got.shape, w.shape, name);
    assert.equal(got.dtype, w.dtype, name);
    assert.deepEqual(Array.from(got.data), Array.from(w.data), name);
  }
}

/** Runs `fn`, expecting a one-line InputError whose message matches `pattern`. */
async function assertInputError(fn: () => Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(fn, (error: unknown) => {
    assert.ok(error instanceof InputError, `expected InputError, got ${String(error)}`);
    assert.match(error.message, pattern);
    assert.ok(!error.message.includes('\n'), 'message is one line');
    return true;
  });
}

/** Writes a model.json + named shard files by hand (for old / quantized / sharded layouts). */
async function writeRawModel(dir: string, modelJson: unknown, shards: Record<string, Uint8Array>): Promise<string> {
  await fs.mkdir(dir, { recursive: true });
  for (const [name, bytes] of Object.entries(shards)) {
    await fs.mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await fs.writeFile(path.join(dir, name), bytes);
  }
  const file = path.join(dir, 'model.json');
  await fs.writeFile(file, typeof modelJson === 'string' ? modelJson : JSON.stringify(modelJson));
  return file;
}

function bytesOf(data: Float32Array | Int32Array | Uint16Array | Uint8Array): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

describe('round trips through stock tfjs', () => {
  const builders: Array<[string, () => tf.LayersModel]> = [
    ['Sequential CNN', buildSequentialCnn],
    ['functional model with branches', buildBranchingFunctional],
    ['nested Sequential inside a functional model', buildNestedSequentialInFunctional],
  ];
  for (const [label, build] of builders) {
    test(`${label}: write → stock tf.loadLayersModel predicts exactly the same`, async () => {
      const model = build();
      const artifacts = await fromLayersModel(model);
      const out = freshPath('roundtrip');
      const written = await writeModel(out, artifacts);
      assert.equal(written, path.join(out, 'model.json'));
      assert.deepEqual((await fs.readdir(out)).sort(), ['model.json', 'weights.bin']);

      const json = JSON.parse(await fs.readFile(written, 'utf8'));
      assert.equal(json.format, 'layers-model');
      assert.match(json.generatedBy, /TensorFlow\.js/);
      assert.equal(json.convertedBy, 'slim');
      assert.equal(json.weightsManifest.length, 1);
      assert.deepEqual(json.weightsManifest[0].paths, ['weights.bin']);
      assert.equal(json.modelTopology.model_config, undefined);

      const input = inputFor(model, 5);
      const expected = predictValues(model, input);
      for (const load of [loadWithStockTfjs, loadWithStockTfjsFiles]) {
        const loaded = await load(written);
        assert.deepEqual(predictValues(loaded, input), expected);
        loaded.dispose();
      }

      // slim's own reader gives back the very same weights, and a model built from them agrees too.
      const read = await readModel(out);
      assertSameWeights(read.weights, artifacts.weights);
      assert.equal(read.path, written);
      assert.deepEqual(
        read.weightSpecs.map((s) => s.name),
        [...artifacts.weights.keys()],
      );
      const rebuilt = await toLayersModel(read);
      assert.deepEqual(predictValues(rebuilt, input), expected);
      rebuilt.dispose();
      input.dispose();
      model.dispose();
    });
  }
});

describe('reading', () => {
  test('multi-group, multi-shard manifest', async () => {
    const model = buildSequentialCnn();
    const artifacts = await fromLayersModel(model);
    const entries = [...artifacts.weights.entries()];
    // Group 0: the first three weights over three shards cut at odd byte offsets; then one group per weight.
    const firstThree = entries.slice(0, 3);
    const group0Bytes = Buffer.concat(firstThree.map(([, w]) => Buffer.from(bytesOf(w.data))));
    const cuts = [7, 23];
    const shards: Record<string, Uint8Array> = {
      'group1-shard1of3.bin': group0Bytes.subarray(0, cuts[0]),
      'group1-shard2of3.bin': group0Bytes.subarray(cuts[0], cuts[1]),
      'group1-shard3of3.bin': group0Bytes.subarray(cuts[1]),
    };
    const manifest: unknown[] = [
      {
        paths: Object.keys(shards),
        weights: firstThree.map(([name, w]) => ({ name, shape: w.shape, dtype: w.dtype })),
      },
    ];
    entries.slice(3).forEach(([name, w], i) => {
      const shardName = `sub/group${i + 2}-shard1of1`; // no extension and a subfolder: both legal
      shards[shardName] = bytesOf(w.data);
      manifest.push({ paths: [shardName], weights: [{ name, shape: w.shape, dtype: w.dtype }] });
    });
    const dir = freshPath('sharded');
    const file = await writeRawModel(
      dir,
      { modelTopology: artifacts.modelTopology, format: 'layers-model', weightsManifest: manifest },
      shards,
    );

    const read = await readModel(dir);
    assertSameWeights(read.weights, artifacts.weights);

    // The hand-made fixture is valid for stock tfjs too, and both agree on predictions.
    const input = inputFor(model, 7);
    const expected = predictValues(model, input);
    const stock = await loadWithStockTfjs(file);
    assert.deepEqual(predictValues(stock, input), expected);
    const ours = await toLayersModel(read);
    assert.deepEqual(predictValues(ours, input), expected);
    disposeAll(input, stock, ours);
    model.dispose();
  });

  test('uint8 / uint16 / float16 quantized weights are dequantized to float32', async () => {
    const model = tf.sequential({
      layers: [tf.layers.dense({ inputShape: [3], units: 3, name: 'q8' }), tf.layers.dense({ units: 2, name: 'f16', useBias: false })],
    });
    const topology = (await fromLayersModel(model)).modelTopology;

    const kernelQ = Uint8Array.from([0, 1, 2, 3, 4, 5, 6, 7, 255]); // 9 bytes: the next weight starts at an odd offset
    const biasQ = Uint16Array.from([0, 1000, 65535]);
    // float16 bit patterns and their exact values.
    const halfBits = Uint16Array.from([0x3c00, 0xc000, 0x3800, 0x2e66, 0x7bff, 0x0001]);
    const halfValues = [1, -2, 0.5, 0.0999755859375, 65504, 2 ** -24];
    const group = Buffer.concat([Buffer.from(kernelQ), Buffer.from(bytesOf(biasQ)), Buffer.from(bytesOf(halfBits))]);
    const manifest = [
      {
        paths: ['group1-shard1of1.bin'],
        weights: [
          { name: 'q8/kernel', shape: [3, 3], dtype: 'float32', quantization: { dtype: 'uint8', scale: 0.5, min: -1 } },
          { name: 'q8/bias', shape: [3], dtype: 'float32', quantization: { dtype: 'uint16', scale: 0.25, min: 2 } },
          { name: 'f16/kernel', shape: [3, 2], dtype: 'float32', quantization: { dtype: 'float16' } },
        ],
      },
    ];
    const dir = freshPath('quantized');
    const file = await writeRawModel(dir, { modelTopology: topology, weightsManifest: manifest }, { 'group1-shard1of1.bin': group });

    const read = await readModel(file);
    const kernel = read.weights.get('q8/kernel')!;
    assert.equal(kernel.dtype, 'float32');
    assert.deepEqual(
      Array.from(kernel.data),
      Array.from(kernelQ, (q) => q * 0.5 - 1),
    );
    assert.deepEqual(
      Array.from(read.weights.get('q8/bias')!.data),
      Array.from(biasQ, (q) => Math.fround(q * 0.25 + 2)),
    );
    assert.deepEqual(Array.from(read.weights.get('f16/kernel')!.data), halfValues.map(Math.fround));
    assert.deepEqual(
      read.weightSpecs.map((s) => s.dtype),
      ['float32', 'float32', 'float32'],
    );

    // Stock tfjs dequantizes the same file to the same values.
    const stock = await loadWithStockTfjs(file);
    for (const variable of stock.weights) {
      const ours = read.weights.get(variable.originalName)!;
      assert.deepEqual(Array.from(variable.read().dataSync()), Array.from(ours.data), variable.originalName);
    }
    // Written back, the model is plain float32 and stock-loadable.
    const rewritten = await writeModel(freshPath('dequantized'), read);
    const json = JSON.parse(await fs.readFile(rewritten, 'utf8'));
    assert.ok(json.weightsManifest[0].weights.every((w: { quantization?: unknown }) => w.quantization === undefined));
    const input = tf.tensor2d([[0.3, -1, 2]]);
    const reloaded = await loadWithStockTfjs(rewritten);
    assert.deepEqual(predictValues(reloaded, input), predictValues(stock, input));
    disposeAll(input, stock, reloaded);
    model.dispose();
  });

  test('int32 (plain and uint8-quantized, rounded like tfjs) and bool (widened to int32 0/1)', async () => {
    const topology = (await fromLayersModel(tf.sequential({ layers: [tf.layers.dense({ inputShape: [1], units: 1 })] }))).modelTopology;
    const plain = Int32Array.from([-7, 2147483647]);
    const quantized = Uint8Array.from([0, 1, 2, 3]); // q*0.4 + 0.1 → 0.1, 0.5, 0.9, 1.3
    const flags = Uint8Array.from([0, 1, 5]);
    const dir = freshPath('int-bool');
    await writeRawModel(
      dir,
      {
        modelTopology: topology,
        weightsManifest: [
          {
            paths: ['w.bin'],
            weights: [
              { name: 'plain', shape: [2], dtype: 'int32' },
              { name: 'quantized', shape: [2, 2], dtype: 'int32', quantization: { dtype: 'uint8', scale: 0.4, min: 0.1 } },
              { name: 'flags', shape: [3], dtype: 'bool' },
            ],
          },
        ],
      },
      { 'w.bin': Buffer.concat([Buffer.from(bytesOf(plain)), Buffer.from(quantized), Buffer.from(flags)]) },
    );
    const read = await readModel(dir);
    assert.deepEqual(Array.from(read.weights.get('plain')!.data), [-7, 2147483647]);
    assert.deepEqual(Array.from(read.weights.get('quantized')!.data), [0, 1, 1, 1]);
    const flagWeight = read.weights.get('flags')!;
    assert.equal(flagWeight.dtype, 'int32');
    assert.deepEqual(Array.from(flagWeight.data), [0, 1, 1]);
    assert.equal(read.weightSpecs[2].dtype, 'bool');
  });

  test('old format: model_config wrapper and list-style Sequential config are normalised', async () => {
    const model = buildSequentialCnn();
    const artifacts = await fromLayersModel(model);
    const modern = artifacts.modelTopology;
    const oldTopology = {
      keras_version: '2.1.6',
      backend: 'tensorflow',
      model_config: { class_name: 'Sequential', config: modern.config.layers },
      training_config: { optimizer_config: { class_name: 'SGD', config: {} }, loss: 'categorical_crossentropy' },
    };
    const weightBytes = Buffer.concat([...artifacts.weights.values()].map((w) => Buffer.from(bytesOf(w.data))));
    const dir = freshPath('old');
    await writeRawModel(
      dir,
      {
        modelTopology: oldTopology,
        weightsManifest: [
          {
            paths: ['weights.bin'],
            weights: [...artifacts.weights].map(([name, w]) => ({ name, shape: w.shape, dtype: w.dtype })),
          },
        ],
      },
      { 'weights.bin': weightBytes },
    );

    const read = await readModel(dir);
    assert.equal(read.modelTopology.class_name, 'Sequential');
    assert.equal(read.modelTopology.keras_version, '2.1.6');
    assert.equal(read.modelTopology.backend, 'tensorflow');
    assert.equal(read.modelTopology.config.name, 'sequential');
    assert.deepEqual(read.modelTopology.config.layers, modern.config.layers);
    assert.equal((read.modelTopology as unknown as Record<string, unknown>).model_config, undefined);

    const input = inputFor(model, 9);
    const expected = predictValues(model, input);
    const rebuilt = await toLayersModel(read);
    assert.deepEqual(predictValues(rebuilt, input), expected);
    const stock = await loadWithStockTfjs(await writeModel(freshPath('old-rewritten'), read));
    assert.deepEqual(predictValues(stock, input), expected);
    disposeAll(input, rebuilt, stock);
    model.dispose();
  });

  test('old format: a nested Sequential with a list config is normalised too', async () => {
    const model = buildNestedSequentialInFunctional();
    const artifacts = await fromLayersModel(model);
    const modern = structuredClone(artifacts.modelTopology);
    const oldTopology = structuredClone(modern);
    const nested = oldTopology.config.layers.find((l: { class_name: string }) => l.class_name === 'Sequential');
    assert.ok(nested, 'fixture has a nested Sequential');
    nested.config = nested.config.layers; // old list style, name only on the layer entry
    const out = freshPath('nested-old');
    const written = await writeModel(out, { ...artifacts, modelTopology: oldTopology });
    const read = await readModel(written);
    const normalizedNested = read.modelTopology.config.layers.find((l: { class_name: string }) => l.class_name === 'Sequential');
    assert.equal(normalizedNested.config.name, nested.name);
    assert.deepEqual(normalizedNested.config.layers, nested.config);

    const input = inputFor(model, 3);
    const stock = await loadWithStockTfjs(written);
    assert.deepEqual(predictValues(stock, input), predictValues(model, input));
    disposeAll(input, stock);
    model.dispose();
  });

  test('weights: false reads only model.json (shards may be absent)', async () => {
    const model = buildSequentialCnn();
    const artifacts = await fromLayersModel(model);
    const out = freshPath('topology-only');
    await writeModel(out, artifacts);
    await fs.rm(path.join(out, 'weights.bin'));

    const read = await readModel(out, { weights: false });
    assert.equal(read.weights.size, 0);
    assert.deepEqual(
      read.weightSpecs,
      [...artifacts.weights].map(([name, w]) => ({ name, shape: w.shape, dtype: w.dtype })),
    );
    assert.deepEqual(read.modelTopology, artifacts.modelTopology);
    await assertInputError(() => readModel(out), /weight file "weights\.bin" is missing/);
    model.dispose();
  });

  test('resolveModelPath accepts a model.json or its folder', async () => {
    const out = freshPath('resolve');
    const written = await writeModel(
      out,
      await fromLayersModel(tf.sequential({ layers: [tf.layers.dense({ inputShape: [2], units: 1 })] })),
    );
    assert.equal(resolveModelPath(out), written);
    assert.equal(resolveModelPath(written), written);
    assert.throws(() => resolveModelPath(path.join(out, 'nope')), InputError);
    const empty = freshPath('empty');
    await fs.mkdir(empty);
    assert.throws(() => resolveModelPath(empty), /folder has no model\.json/);
  });
});

describe('reading errors', () => {
  let artifacts: ModelArtifacts;
  let specs: Array<{ name: string; shape: number[]; dtype: string }>;
  let bytes: Buffer;
  before(async () => {
    const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 3, name: 'd' })] });
    artifacts = await fromLayersModel(model);
    specs = [...artifacts.weights].map(([name, w]) => ({ name, shape: w.shape, dtype: w.dtype }));
    bytes = Buffer.concat([...artifacts.weights.values()].map((w) => Buffer.from(bytesOf(w.data))));
    model.dispose();
  });
  const withPaths = (paths: string[]) => ({
    modelTopology: artifacts.modelTopology,
    format: 'layers-model',
    weightsManifest: [{ paths, weights: specs }],
  });

  test('shard paths that escape the model folder are refused, even without reading weights', async () => {
    const outside = freshPath('outside');
    await fs.mkdir(outside);
    await fs.writeFile(path.join(outside, 'x.bin'), bytes);
    const dir = freshPath('escape');
    const relativeEscape = path.relative(dir, path.join(outside, 'x.bin'));
    for (const bad of [relativeEscape, 'sub/../../x.bin', path.join(outside, 'x.bin'), 'http://example.com/x.bin', 'file:///etc/passwd']) {
      await writeRawModel(dir, withPaths([bad]), {});
      await assertInputError(() => readModel(dir), /points outside the model's folder/);
      await assertInputError(() => readModel(dir, { weights: false }), /points outside the model's folder/);
    }
    // A symlink inside the folder that leads out of it.
    await fs.symlink(path.join(outside, 'x.bin'), path.join(dir, 'link.bin'));
    await writeRawModel(dir, withPaths(['link.bin']), {});
    await assertInputError(() => readModel(dir), /weight file "link\.bin" links outside the model's folder/);
  });

  test('missing shard names the file and the weight that needs it', async () => {
    const dir = freshPath('missing');
    const half = 20;
    await writeRawModel(dir, withPaths(['a.bin', 'b.bin']), { 'a.bin': bytes.subarray(0, half) });
    // Byte 20 lies inside d/kernel (48 bytes), so that is the weight named.
    await assertInputError(() => readModel(dir), /weight file "b\.bin" is missing \(needed for weight "d\/kernel"\)/);
  });

  test('short shard names the file and the weight cut off', async () => {
    const dir = freshPath('short');
    await writeRawModel(dir, withPaths(['weights.bin']), { 'weights.bin': bytes.subarray(0, bytes.length - 4) });
    await assertInputError(
      () => readModel(dir),
      /weight file "weights\.bin" is too short: weights group 0 needs 60 bytes but its files hold 56, so weight "d\/bias" is cut off/,
    );
    await writeRawModel(dir, withPaths(['weights.bin']), { 'weights.bin': Buffer.concat([bytes, Buffer.alloc(4)]) });
    await assertInputError(() => readModel(dir), /"weights\.bin" is too long/);
  });

  test('bad JSON, missing modelTopology, foreign formats', async () => {
    const dir = freshPath('badjson');
    await writeRawModel(dir, '{"modelTopology": ', {});
    await assertInputError(() => readModel(dir), /model\.json: not valid JSON/);
    await writeRawModel(dir, { weightsManifest: [] }, {});
    await assertInputError(() => readModel(dir), /model\.json: has no modelTopology/);
    await writeRawModel(dir, { format: 'graph-model', modelTopology: { node: [] } }, {});
    await assertInputError(() => readModel(dir), /is a tfjs graph model/);
    await writeRawModel(dir, { format: 'onnx', modelTopology: artifacts.modelTopology }, {});
    await assertInputError(() => readModel(dir), /unknown format "onnx"/);
    await writeRawModel(
      dir,
      {
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: ['w.bin'], weights: [{ name: 'x', shape: [2], dtype: 'string' }] }],
      },
      {},
    );
    await assertInputError(() => readModel(dir), /weight "x" has dtype "string"/);
  });
});

describe('writing is atomic', () => {
  async function smallArtifacts(seed: number): Promise<ModelArtifacts> {
    const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [3], units: 2, name: 'w' })] });
    randomizeWeights(model, seed);
    const artifacts = await fromLayersModel(model);
    model.dispose();
    return artifacts;
  }
  /** Everything in `dir` that is not `keep`: temp/aside folders would show up here. */
  async function leftovers(dir: string, keep: string[]): Promise<string[]> {
    return (await fs.readdir(dir)).filter((name) => !keep.includes(name));
  }

  test('a bad weight fails before anything is visible', async () => {
    const parent = freshPath('atomic-parent');
    await fs.mkdir(parent);
    const artifacts = await smallArtifacts(1);
    const weights: WeightMap = new Map(artifacts.weights);
    weights.set('w/bias', { shape: [2], dtype: 'float32', data: new Float32Array(3) });
    await assertInputError(
      () => writeModel(path.join(parent, 'out'), { ...artifacts, weights }),
      /weight "w\/bias": data has 3 values but shape \[2\] needs 2/,
    );
    assert.deepEqual(await fs.readdir(parent), []);
  });

  test('a failure midway (after weights.bin is written) leaves the previous model untouched and no temp folders', async () => {
    const parent = freshPath('atomic-midway');
    const out = path.join(parent, 'model');
    const first = await smallArtifacts(2);
    await writeModel(out, first);
    // BigInt cannot be serialised: model.json fails after weights.bin already sits in the temp folder.
    const poisoned = { ...(await smallArtifacts(3)), userDefinedMetadata: { size: 1n } };
    await assertInputError(() => writeModel(out, poisoned), /cannot serialise model\.json/);
    assert.deepEqual(await leftovers(parent, ['model']), []);
    assertSameWeights((await readModel(out)).weights, first.weights);
  });

  test('a previous model folder is replaced; a folder with other files is refused unless overwrite', async () => {
    const parent = freshPath('atomic-replace');
    const out = path.join(parent, 'model');
    await writeModel(out, await smallArtifacts(4));
    const second = await smallArtifacts(5);
    await writeModel(out, second);
    assertSameWeights((await readModel(out)).weights, second.weights);
    assert.deepEqual(await leftovers(parent, ['model']), []);

    await fs.writeFile(path.join(out, 'notes.txt'), 'keep me');
    const third = await smallArtifacts(6);
    await assertInputError(() => writeModel(out, third), /holds files other than a slim model; --overwrite replaces it/);
    assert.equal(await fs.readFile(path.join(out, 'notes.txt'), 'utf8'), 'keep me');
    assertSameWeights((await readModel(out)).weights, second.weights);

    await writeModel(out, third, { overwrite: true });
    assert.deepEqual((await fs.readdir(out)).sort(), ['model.json', 'weights.bin']);
    assertSameWeights((await readModel(out)).weights, third.weights);
    assert.deepEqual(await leftovers(parent, ['model']), []);

    const file = path.join(parent, 'a-file');
    await fs.writeFile(file, '');
    await assertInputError(() => writeModel(file, third), /exists and is not a folder/);
  });
});
