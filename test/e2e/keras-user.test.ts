/**
 * Through the built binary, a Keras user's models end to end: Keras 3 archives of the usual shape
 * (InputLayer, Rescaling(1/255), Conv-BN blocks) with a binary sigmoid head on scalar 0/1 labels or a
 * softmax head on one-hot label rows (.npz of real MNIST digits), fine-tuned by slim into Keras
 * files that keep BatchNorm, which slim then evaluates well above chance.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { fromLayersModel } from '../../src/model/convert.js';
import { encodeKerasFile } from '../../src/model/keras/write.js';
import { writeDigitsNpz } from '../helpers/digits-npz.js';
import { describeRun, runSlim, STACK_FRAME } from '../helpers/cli.js';

let dir: string;

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'slim-keras-user-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A Keras 3 archive: InputLayer, Rescaling(1/255), two Conv-BN-ReLU blocks, Flatten, Dense(units, activation). */
async function kerasNet(name: string, units: number, activation: 'sigmoid' | 'softmax'): Promise<string> {
  const net = tf.sequential({
    layers: [
      tf.layers.inputLayer({ batchInputShape: [null, 28, 28, 1], name: 'input_layer' }),
      tf.layers.rescaling({ scale: 1 / 255, name: 'rescaling' }),
      tf.layers.conv2d({
        filters: 8,
        kernelSize: 3,
        strides: 2,
        padding: 'same',
        useBias: false,
        name: 'conv2d',
        kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
      }),
      tf.layers.batchNormalization({ name: 'batch_normalization' }),
      tf.layers.reLU({ name: 're_lu' }),
      tf.layers.conv2d({
        filters: 8,
        kernelSize: 3,
        strides: 2,
        padding: 'same',
        useBias: false,
        name: 'conv2d_1',
        kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }),
      }),
      tf.layers.batchNormalization({ name: 'batch_normalization_1' }),
      tf.layers.reLU({ name: 're_lu_1' }),
      tf.layers.flatten({ name: 'flatten' }),
      tf.layers.dense({ units, activation, name: 'dense', kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }),
    ],
  });
  const file = path.join(dir, `${name}.keras`);
  await writeFile(file, await encodeKerasFile(await fromLayersModel(net), 'keras'));
  net.dispose();
  return file;
}

async function configFile(name: string, npz: string): Promise<string> {
  const file = path.join(dir, `${name}.json`);
  await writeFile(
    file,
    JSON.stringify({
      seed: 1,
      backend: 'wasm',
      replicas: 1,
      data: { dataset: 'npz', file: npz, validationSplit: 0 },
      finetune: { epochs: 1, batchSize: 32, lr: 0.05 },
    }),
  );
  return file;
}

/** finetune `model` into `out`, then eval the file written; returns finetune's stderr and eval's top-1. */
async function finetuneAndEval(model: string, config: string, out: string): Promise<{ stderr: string; top1: number }> {
  const tuned = await runSlim(['finetune', '--model', model, '--config', config, '--out', out]);
  assert.equal(tuned.code, 0, describeRun(tuned));
  assert.doesNotMatch(tuned.stderr, STACK_FRAME);
  assert.equal(tuned.stdout.trim(), out);
  const evaluated = await runSlim(['eval', '--model', out, '--config', config, '--json']);
  assert.equal(evaluated.code, 0, describeRun(evaluated));
  return { stderr: tuned.stderr, top1: (JSON.parse(evaluated.stdout) as { top1: number }).top1 };
}

describe("a Keras user's models, fine-tuned into Keras files", () => {
  it('binary sigmoid head, Rescaling input, scalar 0/1 labels → tuned.keras, well above chance', async () => {
    const npz = await writeDigitsNpz(dir, 'binary', 2, (d) => [d]);
    const model = await kerasNet('binary', 1, 'sigmoid');
    const { stderr, top1 } = await finetuneAndEval(model, await configFile('binary', npz), path.join(dir, 'binary-tuned.keras'));
    assert.match(stderr, /loss: binary cross-entropy, sigmoid head dense \(Dense, 1 unit\), accuracy at 0\.5/);
    // Raw 0..255 pixels go in: the model's Rescaling scales them, slim's default scaling steps aside.
    assert.match(stderr, /preprocess: identity \(scale 1\): the model scales its input itself \(rescaling \(Rescaling x0\.0039/);
    assert.ok(top1 > 0.9, `binary accuracy ${top1}`);
  });

  it('softmax head, one-hot float32 label rows → tuned.h5, well above chance', async () => {
    const npz = await writeDigitsNpz(dir, 'one-hot', 3, (d) => [0, 1, 2].map((c) => (c === d ? 1 : 0)));
    const model = await kerasNet('softmax', 3, 'softmax');
    const { top1 } = await finetuneAndEval(model, await configFile('one-hot', npz), path.join(dir, 'one-hot-tuned.h5'));
    assert.ok(top1 > 0.8, `one-hot accuracy ${top1} (chance 0.33)`);
  });
});
