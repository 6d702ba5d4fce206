/**
 * Through the built binary: the loss follows the model's head. Binary sigmoid classifiers (one
 * unit, 0/1 labels; also Dense + Activation('sigmoid') inside a nested model), multi-label heads
 * (k sigmoid units, 0/1 label rows), one-hot and soft label rows for softmax heads, and one error
 * line for heads slim cannot train. Data: real MNIST digits (0, 1, 2) written as .npz archives.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { saveWithStockTfjs } from '../helpers/foreign-models.js';
import { writeDigitsNpz } from '../helpers/digits-npz.js';
import { describeRun, runSlim, STACK_FRAME, stderrLines } from '../helpers/cli.js';

let dir: string;

/** Writes x_train/y_train/x_test/y_test; `label` maps a digit to its label row (or a scalar label). */
async function writeNpz(name: string, digits: number, label: (digit: number) => number[]): Promise<string> {
  return writeDigitsNpz(dir, name, digits, label);
}

/** A small conv net with BN (so prune has groups) ending in `head`. */
function convNet(head: (x: tf.SymbolicTensor) => tf.SymbolicTensor, nested = false): tf.LayersModel {
  const input = tf.input({ shape: [28, 28, 1] });
  let x = tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', useBias: false }).apply(input) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization().apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU().apply(x) as tf.SymbolicTensor;
  x = tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', useBias: false }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization().apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU().apply(x) as tf.SymbolicTensor;
  x = tf.layers.flatten().apply(x) as tf.SymbolicTensor;
  if (!nested) return tf.model({ inputs: input, outputs: head(x) });
  // The head as a nested model: Dense without activation, then Activation('sigmoid').
  const inner = tf.input({ shape: [7 * 7 * 8] });
  const headModel = tf.model({ inputs: inner, outputs: head(inner), name: 'head_model' });
  return tf.model({ inputs: input, outputs: headModel.apply(x) as tf.SymbolicTensor });
}

async function saveModel(name: string, model: tf.LayersModel): Promise<string> {
  return saveWithStockTfjs(model, path.join(dir, name));
}

async function configFile(name: string, body: Record<string, unknown>): Promise<string> {
  const file = path.join(dir, `${name}.json`);
  await writeFile(file, JSON.stringify({ seed: 1, backend: 'wasm', ...body }));
  return file;
}

const npzData = (file: string) => ({ dataset: 'npz', file, validationSplit: 0 });

/** The test accuracy `slim eval --json` reports (0..1). */
async function evalTop1(model: string, config: string): Promise<number> {
  const result = await runSlim(['eval', '--model', model, '--config', config, '--json']);
  assert.equal(result.code, 0, describeRun(result));
  return (JSON.parse(result.stdout) as { top1: number }).top1;
}

function assertOneError(result: Awaited<ReturnType<typeof runSlim>>, pattern: RegExp): void {
  assert.equal(result.code, 2, describeRun(result));
  const errors = stderrLines(result).filter((l) => l.startsWith('error:'));
  assert.equal(errors.length, 1, result.stderr);
  assert.match(errors[0], pattern);
  assert.doesNotMatch(result.stderr, STACK_FRAME);
}

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'slim-heads-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('binary sigmoid head (0 vs 1 digits, scalar 0/1 labels)', () => {
  let npz: string;
  before(async () => {
    npz = await writeNpz('binary', 2, (d) => [d]);
  });

  it('eval states binary cross-entropy; run trains, prunes and fine-tunes it well above chance', async () => {
    const model = await saveModel(
      'binary',
      convNet((x) => tf.layers.dense({ units: 1, activation: 'sigmoid' }).apply(x) as tf.SymbolicTensor),
    );
    const config = await configFile('binary', {
      model: { type: 'file', path: model, trained: false },
      data: npzData(npz),
      train: { epochs: 2, batchSize: 32, lr: 0.05, sparsity: 1e-4 },
      prune: { ratio: 0.25 },
      finetune: { epochs: 1, batchSize: 32, lr: 0.01 },
      bench: { runtimes: [] }, // run's speed measurement is test/e2e/run-bench.test.ts's
      out: path.join(dir, 'run-binary'),
    });
    const evalResult = await runSlim(['eval', '--model', model, '--config', config]);
    assert.equal(evalResult.code, 0, describeRun(evalResult));
    assert.match(evalResult.stderr, /loss: binary cross-entropy, sigmoid head dense\w* \(Dense, 1 unit\), accuracy at 0\.5/);
    const run = await runSlim(['run', '--config', config]);
    assert.equal(run.code, 0, describeRun(run));
    assert.match(run.stderr, /binary cross-entropy/);
    // 0 vs 1 is easy: a head trained with the wrong loss (or accuracy by arg-max of one unit) stays at chance.
    const top1 = await evalTop1(path.join(dir, 'run-binary', 'finetuned'), config);
    assert.ok(top1 > 0.9, `fine-tuned binary accuracy ${top1}`);
  });

  it('Dense without activation + Activation(sigmoid) in a nested model is the same head', async () => {
    const model = await saveModel(
      'binary-nested',
      convNet((x) => {
        const logit = tf.layers.dense({ units: 1 }).apply(x) as tf.SymbolicTensor;
        return tf.layers.activation({ activation: 'sigmoid' }).apply(logit) as tf.SymbolicTensor;
      }, true),
    );
    const config = await configFile('binary-nested', {
      model: { type: 'file', path: model, trained: false },
      data: npzData(npz),
      train: { epochs: 2, batchSize: 32, lr: 0.05 },
    });
    const out = path.join(dir, 'trained-nested');
    const trained = await runSlim(['train', '--config', config, '--out', out]);
    assert.equal(trained.code, 0, describeRun(trained));
    assert.match(trained.stderr, /loss: binary cross-entropy, sigmoid head activation\w* \(Activation, 1 unit\)/);
    assert.ok((await evalTop1(out, config)) > 0.9);
  });
});

describe('multi-label sigmoid head (3 units, 0/1 label rows)', () => {
  it('trains with binary cross-entropy per unit; accuracy per label at 0.5', async () => {
    // Labels: is it a 0, is it a 1, is it not a 0 — rows like [0, 1, 1].
    const npz = await writeNpz('multi', 3, (d) => [d === 0 ? 1 : 0, d === 1 ? 1 : 0, d !== 0 ? 1 : 0]);
    const model = await saveModel(
      'multi',
      convNet((x) => tf.layers.dense({ units: 3, activation: 'sigmoid' }).apply(x) as tf.SymbolicTensor),
    );
    const config = await configFile('multi', {
      model: { type: 'file', path: model, trained: false },
      data: npzData(npz),
      train: { epochs: 2, batchSize: 32, lr: 0.05 },
    });
    const out = path.join(dir, 'trained-multi');
    const trained = await runSlim(['train', '--config', config, '--out', out]);
    assert.equal(trained.code, 0, describeRun(trained));
    assert.match(trained.stderr, /binary cross-entropy per unit \(multi-label\)/);
    const evalResult = await runSlim(['eval', '--model', out, '--config', config, '--json']);
    assert.equal(evalResult.code, 0, describeRun(evalResult));
    const summary = JSON.parse(evalResult.stdout) as { top1: number; confusion: number[][] };
    assert.ok(summary.top1 > 0.85, `per-label accuracy ${summary.top1}`);
    assert.deepEqual(summary.confusion, [], 'multi-label has no single predicted class');
  });
});

describe('label rows for softmax heads', () => {
  const softmaxNet = () => convNet((x) => tf.layers.dense({ units: 3, activation: 'softmax' }).apply(x) as tf.SymbolicTensor);

  it('one-hot float32 rows train like integer labels; accuracy by arg-max', async () => {
    const npz = await writeNpz('onehot', 3, (d) => [0, 1, 2].map((c) => (c === d ? 1 : 0)));
    const model = await saveModel('onehot', softmaxNet());
    const config = await configFile('onehot', {
      model: { type: 'file', path: model, trained: false },
      data: npzData(npz),
      train: { epochs: 2, batchSize: 32, lr: 0.05 },
    });
    const out = path.join(dir, 'trained-onehot');
    const trained = await runSlim(['train', '--config', config, '--out', out]);
    assert.equal(trained.code, 0, describeRun(trained));
    assert.match(trained.stderr, /3 classes/);
    assert.match(trained.stderr, /categorical cross-entropy/);
    assert.ok((await evalTop1(out, config)) > 0.85);
  });

  it('soft rows (label smoothing) are accepted: the loss is the cross-entropy on the distribution', async () => {
    const npz = await writeNpz('soft', 3, (d) => [0, 1, 2].map((c) => (c === d ? 0.8 : 0.1)));
    const model = await saveModel('soft', softmaxNet());
    const config = await configFile('soft', { data: npzData(npz) });
    const result = await runSlim(['eval', '--model', model, '--config', config, '--json']);
    assert.equal(result.code, 0, describeRun(result));
    const { loss } = JSON.parse(result.stdout) as { loss: number };
    // An untrained 3-way softmax is near uniform: its cross-entropy on any distribution is near ln 3.
    assert.ok(Math.abs(loss - Math.log(3)) < 0.2, `loss ${loss}`);
  });

  it('multi-hot rows for a softmax head: one error line naming the row', async () => {
    const npz = await writeNpz('multihot-softmax', 3, (d) => [1, d === 1 ? 1 : 0, 0]);
    const model = await saveModel('multihot-softmax', softmaxNet());
    const config = await configFile('multihot-softmax', { data: npzData(npz) });
    assertOneError(
      await runSlim(['eval', '--model', model, '--config', config]),
      /y_test: label row \d+ sums to 2; a softmax head needs one-hot or soft rows/,
    );
  });
});

describe('heads slim cannot train', () => {
  it('a linear regression output (Dense(1)) is refused in one line naming the layer', async () => {
    const npz = await writeNpz('regression', 2, (d) => [d]);
    const model = await saveModel(
      'regression',
      convNet((x) => tf.layers.dense({ units: 1, name: 'price' }).apply(x) as tf.SymbolicTensor),
    );
    const config = await configFile('regression', { model: { type: 'file', path: model }, data: npzData(npz), train: { epochs: 1 } });
    assertOneError(
      await runSlim(['eval', '--model', model, '--config', config]),
      /output layer price \(Dense\) emits one linear value \(a regression head\)/,
    );
    assertOneError(
      await runSlim(['train', '--config', config, '--out', path.join(dir, 'never')]),
      /price \(Dense\) emits one linear value/,
    );
  });
});
