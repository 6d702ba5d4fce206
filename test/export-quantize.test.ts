/**
 * Weight quantization (src/export/quantize.ts, the manifest encoder, exportModel): what slim writes
 * is tfjs's own quantized manifest, stock tf.loadLayersModel decodes it to exactly the values the
 * output check used, patterns pick weights like tfjs-converter's, a quantized input is reported,
 * and on real MNIST the uint8 quickstart net keeps its test accuracy.
 */
import { strict as assert } from 'node:assert';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/select.js';
import { InputError } from '../src/errors.js';
import { globToRegExp, quantizeWeights } from '../src/export/quantize.js';
import { buildVgg } from '../src/model/architectures.js';
import { fromLayersModel, toLayersModel } from '../src/model/convert.js';
import { floatToHalf } from '../src/model/io-manifest.js';
import { readModel, writeModel } from '../src/model/io.js';
import type { ModelArtifacts, WeightMap } from '../src/model/topology.js';
import { exportModel } from '../src/pipeline/export.js';
import { evaluate } from '../src/train/evaluate.js';
import { train } from '../src/train/loop.js';
import { loadMnist, mnistTrainOptions, MNIST_PREPROCESS } from './helpers/mnist.js';
import { loadWithStockTfjs } from './helpers/stock-load.js';

let dir: string;
before(async () => {
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
  dir = await mkdtemp(path.join(tmpdir(), 'slim-export-quantize-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function smallConvNet(): Promise<ModelArtifacts> {
  const model = tf.sequential({
    layers: [
      tf.layers.conv2d({
        filters: 6,
        kernelSize: 3,
        inputShape: [6, 6, 2],
        activation: 'relu',
        kernelInitializer: tf.initializers.glorotNormal({ seed: 1 }),
        name: 'conv',
      }),
      tf.layers.flatten({ name: 'flat' }),
      tf.layers.dense({
        units: 4,
        kernelInitializer: tf.initializers.glorotNormal({ seed: 2 }),
        biasInitializer: tf.initializers.constant({ value: 0.25 }),
        name: 'fc',
      }),
    ],
  });
  const artifacts = await fromLayersModel(model);
  model.dispose();
  return artifacts;
}

/** The weights stock tfjs holds after loading `modelJson`, by variable name order of the manifest. */
async function stockWeights(modelJson: string): Promise<Float32Array[]> {
  const model = await loadWithStockTfjs(modelJson);
  try {
    return model.getWeights().map((w) => w.dataSync() as Float32Array);
  } finally {
    model.dispose();
  }
}

describe('quantized weights in the tfjs manifest format', () => {
  for (const dtype of ['uint8', 'uint16', 'float16'] as const) {
    it(`${dtype}: stock tfjs decodes exactly the values the check used, at ${dtype === 'uint8' ? 1 : 2} byte(s) a weight`, async () => {
      const original = await smallConvNet();
      const outcome = await exportModel(original, { quantize: [{ dtype, pattern: '*' }] });
      const q = outcome.quantized!;
      assert.equal(q.quantization.size, 4);
      assert.ok(q.check.maxAbsDiff <= q.check.tolerance);
      const written = await writeModel(path.join(dir, dtype), outcome.artifacts, { quantization: q.quantization });
      const json = JSON.parse(await readFile(written, 'utf8')) as {
        weightsManifest: { weights: { quantization?: { dtype: string } }[] }[];
      };
      for (const spec of json.weightsManifest[0].weights) assert.equal(spec.quantization?.dtype, dtype);
      const count = [...original.weights.values()].reduce((n, w) => n + w.data.length, 0);
      assert.equal((await stat(path.join(path.dirname(written), 'weights.bin'))).size, count * (dtype === 'uint8' ? 1 : 2));
      assert.equal(outcome.weightBytes.after.raw, count * (dtype === 'uint8' ? 1 : 2));
      assert.equal(outcome.weightBytes.before.raw, count * 4);

      const loaded = await stockWeights(written);
      const expected = [...outcome.artifacts.weights.values()].map((w) => w.data);
      assert.equal(loaded.length, expected.length);
      loaded.forEach((values, i) => assert.deepEqual([...values], [...expected[i]], `weight ${i}`));
      // And those values are within one grid step of the float weights.
      const floats = [...original.weights.values()];
      floats.forEach((w, i) => {
        const range = Math.max(...w.data.map(Math.abs));
        const step = dtype === 'uint8' ? (2 * range) / 255 : dtype === 'uint16' ? (2 * range) / 65535 : range * 2 ** -10;
        w.data.forEach((v, j) => assert.ok(Math.abs(expected[i][j] - v) <= step, `${dtype} weight ${i}[${j}] ${v} → ${expected[i][j]}`));
      });
      // slim reads its own output back, knowing it was quantized.
      const reread = await readModel(written);
      assert.ok(reread.weightSpecs.every((s) => s.quantization?.dtype === dtype));
    });
  }

  it('zero weights stay exactly zero and a constant weight decodes exactly', () => {
    const weights: WeightMap = new Map([
      ['a/kernel', { shape: [5], dtype: 'float32', data: new Float32Array([0, -0.7, 0.3, 0, 1.9]) }],
      ['a/bias', { shape: [3], dtype: 'float32', data: new Float32Array([0.5, 0.5, 0.5]) }],
    ]);
    const result = quantizeWeights(weights, [{ dtype: 'uint8', pattern: '*' }]);
    const kernel = result.weights.get('a/kernel')!.data;
    assert.equal(kernel[0], 0);
    assert.equal(kernel[3], 0);
    assert.ok(Math.abs(result.weights.get('a/bias')!.data[0] - 0.5) <= 0.5 / 255);
  });

  it('patterns: the first matching rule wins, int32 weights stay, a pattern matching nothing is bad input', () => {
    const weights: WeightMap = new Map([
      ['conv1/kernel', { shape: [2], dtype: 'float32', data: new Float32Array([1, -1]) }],
      ['conv1/bias', { shape: [2], dtype: 'float32', data: new Float32Array([1, 2]) }],
      ['fc/kernel', { shape: [2], dtype: 'float32', data: new Float32Array([3, 4]) }],
      ['emb/ids', { shape: [2], dtype: 'int32', data: new Int32Array([1, 2]) }],
    ]);
    const result = quantizeWeights(weights, [
      { dtype: 'float16', pattern: 'conv*/bias' },
      { dtype: 'uint8', pattern: 'conv*' },
      { dtype: 'uint16', pattern: '*' },
    ]);
    assert.deepEqual(Object.fromEntries([...result.quantization].map(([name, q]) => [name, q.dtype])), {
      'conv1/kernel': 'uint8',
      'conv1/bias': 'float16',
      'fc/kernel': 'uint16',
    });
    assert.throws(
      () => quantizeWeights(weights, [{ dtype: 'uint8', pattern: 'dense*' }]),
      (e: unknown) => e instanceof InputError && /'dense\*' matches no weight/.test(e.message),
    );
    assert.ok(globToRegExp('conv?/k*').test('conv1/kernel') && !globToRegExp('conv?').test('conv12'));
  });

  it('float16 refuses a weight beyond its range; halves round to nearest even', () => {
    const weights: WeightMap = new Map([['big', { shape: [1], dtype: 'float32', data: new Float32Array([70000]) }]]);
    assert.throws(() => quantizeWeights(weights, [{ dtype: 'float16', pattern: '*' }]), /beyond float16's range/);
    assert.equal(floatToHalf(1), 0x3c00);
    assert.equal(floatToHalf(-2), 0xc000);
    assert.equal(floatToHalf(65504), 0x7bff);
    assert.equal(floatToHalf(2 ** -24), 0x0001);
    assert.equal(floatToHalf(1 + 2 ** -11), 0x3c00); // tie → even
    assert.equal(floatToHalf(1 + 3 * 2 ** -11), 0x3c02);
  });

  it('an already quantized input is dequantized on read and said so', async () => {
    const original = await smallConvNet();
    const first = await exportModel(original, { quantize: [{ dtype: 'uint8', pattern: '*' }] });
    const written = await writeModel(path.join(dir, 'twice-in'), first.artifacts, { quantization: first.quantized!.quantization });
    const reread = await readModel(written);
    const inputQuantization = new Map(reread.weightSpecs.map((s) => [s.name, s.quantization!]));
    const again = await exportModel(reread, { quantize: [{ dtype: 'uint8', pattern: '*' }], inputQuantization });
    assert.equal(again.inputQuantized, 'uint8 4 weights');
    assert.equal(again.weightBytes.before.raw, again.weightBytes.after.raw);
    // Requantizing values already on a uint8 grid moves them by at most rounding noise.
    for (const [name, w] of again.artifacts.weights) {
      const before = reread.weights.get(name)!.data;
      const range = Math.max(...before.map(Math.abs));
      w.data.forEach((v, i) => assert.ok(Math.abs(v - before[i]) <= range / 255 + 1e-7, name));
    }
  });
});

describe('quickstart net on real MNIST', () => {
  it('uint8 weights keep the test accuracy (and download at most a quarter of the float bytes)', async (t) => {
    // wasm's SIMD convs keep this training short; the other tests stay on cpu.
    await selectBackend('wasm');
    after(() => tf.setBackend('cpu'));
    const { train: mnistTrain, test } = await loadMnist();
    const model = buildVgg({ cfg: [16, 'M', 32, 'M', 64], inputShape: [28, 28, 1], numClasses: 10, head: 'flatten', seed: 42 });
    const { train: tr, val } = mnistTrain.limit(1600).split(100 / 1600, 1);
    await train(
      model,
      { train: tr, val },
      mnistTrainOptions({ epochs: 1, batchSize: 64, lr: 0.05, milestones: [], sparsityLambda: 0, seed: 1 }),
    );
    const artifacts = await fromLayersModel(model);
    model.dispose();
    const outcome = await exportModel(artifacts, { quantize: [{ dtype: 'uint8', pattern: '*' }] });
    const testSet = test.limit(1000);
    const accuracyOf = async (a: ModelArtifacts): Promise<number> => {
      const m = await toLayersModel(a);
      try {
        return evaluate(m, testSet, { batchSize: 250, preprocess: MNIST_PREPROCESS }).accuracy;
      } finally {
        m.dispose();
      }
    };
    const floatAccuracy = await accuracyOf(artifacts);
    const uint8Accuracy = await accuracyOf(outcome.artifacts);
    t.diagnostic(
      `test accuracy on ${testSet.count} MNIST images: float ${floatAccuracy}, uint8 ${uint8Accuracy}; gzip ${JSON.stringify(outcome.weightBytes)}`,
    );
    assert.ok(floatAccuracy > 0.8, `float accuracy ${floatAccuracy}`);
    // 1000 examples: 0.3 points is 3 of them.
    assert.ok(Math.abs(floatAccuracy - uint8Accuracy) <= 0.003, `float ${floatAccuracy} vs uint8 ${uint8Accuracy}`);
    assert.ok(outcome.weightBytes.after.gzip <= outcome.weightBytes.before.gzip / 4, JSON.stringify(outcome.weightBytes));
  });
});
