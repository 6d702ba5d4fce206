/**
 * Through the built binary: preprocessing that lives inside the model. A model that starts with
 * Rescaling(1/255), trained here on raw MNIST pixels (0..255), evaluates well under slim's defaults
 * (slim's own scaling steps aside, said on stderr) and a config that also scales gets a warning.
 * Float images already in [0, 1] under the default 1/255 scale get a warning too.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { zipSync } from 'fflate';
import { npy } from '../fuzz/fixtures.js';
import { saveWithStockTfjs } from '../helpers/foreign-models.js';
import { loadMnist } from '../helpers/mnist.js';
import { describeRun, runSlim } from '../helpers/cli.js';

let dir: string;
let model: string;
let npzU8: string;
let npzFloat: string;

/** The first `count` examples of digits 0 and 1: raw pixels and labels. */
function zeroOnes(images: Uint8Array | Float32Array, labels: ArrayLike<number>, count: number): { pixels: Uint8Array; labels: number[] } {
  const pixels: number[] = [];
  const kept: number[] = [];
  for (let i = 0; i < labels.length && kept.length < count; i++) {
    if (labels[i] > 1) continue;
    kept.push(labels[i]);
    for (let p = 0; p < 784; p++) pixels.push(images[i * 784 + p]);
  }
  return { pixels: Uint8Array.from(pixels), labels: kept };
}

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'slim-in-model-'));
  const { train, test } = await loadMnist();
  const tr = zeroOnes(train.images, train.labels, 128);
  const te = zeroOnes(test.images, test.labels, 300);
  const u8: Record<string, Uint8Array> = {};
  const f32: Record<string, Uint8Array> = {};
  for (const [split, d] of [
    ['train', tr],
    ['test', te],
  ] as const) {
    const n = d.labels.length;
    u8[`x_${split}.npy`] = npy('|u1', [n, 28, 28], d.pixels);
    f32[`x_${split}.npy`] = npy('<f4', [n, 28, 28], new Uint8Array(Float32Array.from(d.pixels, (p) => p / 255).buffer));
    u8[`y_${split}.npy`] = f32[`y_${split}.npy`] = npy('|u1', [n], Uint8Array.from(d.labels));
  }
  npzU8 = path.join(dir, 'u8.npz');
  npzFloat = path.join(dir, 'float.npz');
  await writeFile(npzU8, zipSync(u8));
  await writeFile(npzFloat, zipSync(f32));

  // Trained on raw 0..255 pixels, as a Keras user trains a model that starts with Rescaling.
  const input = tf.input({ shape: [28, 28, 1] });
  let x = tf.layers.rescaling({ scale: 1 / 255 }).apply(input) as tf.SymbolicTensor;
  x = tf.layers.conv2d({ filters: 4, kernelSize: 3, strides: 2, activation: 'relu' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.flatten().apply(x) as tf.SymbolicTensor;
  const net = tf.model({ inputs: input, outputs: tf.layers.dense({ units: 2, activation: 'softmax' }).apply(x) as tf.SymbolicTensor });
  net.compile({ optimizer: tf.train.adam(0.01), loss: 'sparseCategoricalCrossentropy' });
  const xs = tf.tensor4d(Float32Array.from(tr.pixels), [tr.labels.length, 28, 28, 1]);
  const ys = tf.tensor1d(tr.labels, 'float32');
  // 0 vs 1 separates in a few steps: 8 steps reached 97-100 % test accuracy in six trials (the check is > 90 %).
  await net.fit(xs, ys, { epochs: 2, batchSize: 32, verbose: 0 });
  tf.dispose([xs, ys]);
  model = await saveWithStockTfjs(net, path.join(dir, 'rescaling'));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function config(name: string, data: Record<string, unknown>): Promise<string> {
  const file = path.join(dir, `${name}.json`);
  await writeFile(file, JSON.stringify({ backend: 'cpu', data: { dataset: 'npz', validationSplit: 0, ...data } }));
  return file;
}

test('a model starting with Rescaling: the default preprocessing becomes the identity, said on stderr', async () => {
  const result = await runSlim(['eval', '--model', model, '--config', await config('default', { file: npzU8 }), '--json']);
  assert.equal(result.code, 0, describeRun(result));
  assert.match(result.stderr, /preprocess: identity \(scale 1\): the model scales its input itself \(rescaling\w* \(Rescaling x0\.0039/);
  // Scaled twice, the pixels would be <= 1/255² and the model would answer one class for all (about 50 %).
  const { top1 } = JSON.parse(result.stdout) as { top1: number };
  assert.ok(top1 > 0.9, `accuracy ${top1}`);
});

test('a config that also sets a preprocessing gets a warning: the input is scaled twice', async () => {
  const file = await config('twice', { file: npzU8, preprocess: { scale: 0.5 } });
  const result = await runSlim(['eval', '--model', model, '--config', file]);
  assert.equal(result.code, 0, describeRun(result));
  assert.match(
    result.stderr,
    /warning: config data\.preprocess \(scale 0\.5, .*\) is applied before the model's own rescaling\w* .*: the input is scaled twice/,
  );
});

test('float images already in [0, 1] under the default scale: warned', async () => {
  // A model without Rescaling: the default 1/255 applies to the already scaled floats.
  const input = tf.input({ shape: [28, 28, 1] });
  const flat = tf.layers.flatten().apply(input) as tf.SymbolicTensor;
  const plain = tf.model({ inputs: input, outputs: tf.layers.dense({ units: 2, activation: 'softmax' }).apply(flat) as tf.SymbolicTensor });
  const plainFile = await saveWithStockTfjs(plain, path.join(dir, 'plain'));
  const result = await runSlim(['eval', '--model', plainFile, '--config', await config('float', { file: npzFloat })]);
  assert.equal(result.code, 0, describeRun(result));
  assert.match(result.stderr, /warning: float images already lie in \[0, 1\] and data\.preprocess\.scale is 1\/255/);
  const scaled = await runSlim([
    'eval',
    '--model',
    plainFile,
    '--config',
    await config('float-1', { file: npzFloat, preprocess: { scale: 1 } }),
  ]);
  assert.equal(scaled.code, 0, describeRun(scaled));
  assert.doesNotMatch(scaled.stderr, /float images already lie/);
});
