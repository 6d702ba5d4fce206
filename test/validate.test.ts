/**
 * Model validation (src/model/validate.ts, through readModel), the nothing-to-slim answer, the
 * stock-load check before writing, and the CLI's one-line errors and exit codes (0/1/2/3).
 * In-process for the many model faults, through the built binary for what a user sees.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { InputError, ProblemError } from '../src/errors.js';
import { describeFailure } from '../src/cli.js';
import { parseConfig } from '../src/config/load.js';
import { fromLayersModel } from '../src/model/convert.js';
import { readModel, writeModel } from '../src/model/io.js';
import type { ModelArtifacts } from '../src/model/topology.js';
import { exportModel } from '../src/pipeline/export.js';
import { checkStockLoadable } from '../src/pipeline/verify.js';
import { nothingToSlimReason } from '../src/prune/slimmable.js';
import { writeEditedModel } from './helpers/edited-model.js';
import { describeRun, exists, runSlim, stderrLines, STACK_FRAME } from './helpers/cli.js';

let root: string;
let counter = 0;
const fresh = (label: string): string => path.join(root, `${label}-${++counter}`);

before(async () => {
  await tf.setBackend('cpu');
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'slim-validate-test-'));
});
after(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

/** conv → BN → relu → flatten → dense: every weight kind validation looks at. */
async function smallCnn(options: { batchNorm?: boolean; inputShape?: number[] } = {}): Promise<ModelArtifacts> {
  const layers: tf.layers.Layer[] = [
    tf.layers.conv2d({ inputShape: options.inputShape ?? [6, 6, 1], filters: 4, kernelSize: 3, name: 'conv' }),
  ];
  if (options.batchNorm !== false) layers.push(tf.layers.batchNormalization({ name: 'bn' }));
  layers.push(
    tf.layers.reLU({ name: 'relu' }),
    tf.layers.flatten({ name: 'flat' }),
    tf.layers.dense({ units: 3, name: 'head', activation: 'softmax' }),
  );
  const model = tf.sequential({ layers });
  const artifacts = await fromLayersModel(model);
  model.dispose();
  return artifacts;
}

/** A fresh folder holding `artifacts` with model.json edited by `edit`. */
function writeEdited(artifacts: ModelArtifacts, edit: (json: Record<string, any>) => void): Promise<string> {
  return writeEditedModel(fresh('model'), artifacts, edit);
}

function layerConfig(json: Record<string, any>, name: string): Record<string, any> {
  const layer = json.modelTopology.config.layers.find((l: any) => l.config.name === name);
  assert.ok(layer, name);
  return layer.config;
}

async function assertRefused(dir: string, words: RegExp): Promise<void> {
  await assert.rejects(readModel(dir), (error: unknown) => {
    assert.ok(error instanceof InputError, String(error));
    assert.match(error.message, words);
    assert.ok(error.message.startsWith(path.join(dir, 'model.json')), `names the file: ${error.message}`);
    assert.doesNotMatch(error.message, /\n/);
    return true;
  });
}

describe('validation of layer configs (readModel)', () => {
  const cases: [string, (json: Record<string, any>) => void, RegExp][] = [
    ['units ≤ 0', (j) => (layerConfig(j, 'head').units = -3), /layer 'head' \(Dense\): units: must be a positive integer, got -3/],
    [
      'non-integer units',
      (j) => (layerConfig(j, 'head').units = 2.5),
      /layer 'head' \(Dense\): units: must be a positive integer, got 2\.5/,
    ],
    [
      'zero kernel',
      (j) => (layerConfig(j, 'conv').kernel_size = [0, 3]),
      /layer 'conv' \(Conv2D\): kernel_size: must be a positive integer or a list of 2/,
    ],
    ['zero filters', (j) => (layerConfig(j, 'conv').filters = 0), /layer 'conv' \(Conv2D\): filters: must be a positive integer, got 0/],
    ['negative strides', (j) => (layerConfig(j, 'conv').strides = [-1, 1]), /layer 'conv' \(Conv2D\): strides:/],
    [
      'unknown activation',
      (j) => (layerConfig(j, 'head').activation = 'swoosh'),
      /layer 'head' \(Dense\): activation: unknown activation "swoosh"/,
    ],
    [
      'zero input dim',
      (j) => (layerConfig(j, 'conv').batch_input_shape = [null, 0, 6, 1]),
      /layer 'conv' \(Conv2D\): batch_input_shape: every dimension must be a positive integer or null/,
    ],
    [
      'rank-2 input into Conv2D',
      (j) => (layerConfig(j, 'conv').batch_input_shape = [null, 36]),
      /layer 'conv' \(Conv2D\): input has rank 2 .* it needs rank 4/,
    ],
    [
      'unknown layer class',
      (j) => (j.modelTopology.config.layers[2].class_name = 'MyCustomLayer'),
      /layer 'relu' \(MyCustomLayer\): unknown layer class 'MyCustomLayer'/,
    ],
    ['duplicate layer names', (j) => (layerConfig(j, 'relu').name = 'bn'), /duplicate layer name 'bn'/],
  ];
  for (const [label, edit, words] of cases) {
    test(label, async () => assertRefused(await writeEdited(await smallCnn(), edit), words));
  }

  test('units of 1e999 (Infinity in JSON) are refused, not allocated', async () => {
    const dir = await writeEdited(await smallCnn(), (j) => (layerConfig(j, 'head').units = 424242));
    const file = path.join(dir, 'model.json');
    await fs.writeFile(file, (await fs.readFile(file, 'utf8')).replace('424242', '1e999'));
    await assertRefused(dir, /units: must be a positive integer, got null|units: must be a positive integer/);
  });

  test('a topology claiming 1e12 units with weights attached is refused before anything is allocated', async () => {
    const dir = await writeEdited(await smallCnn(), (j) => {
      layerConfig(j, 'head').units = 1e12;
      for (const spec of j.weightsManifest[0].weights) {
        if (spec.name === 'head/kernel') spec.shape = [64, 1e12];
        if (spec.name === 'head/bias') spec.shape = [1e12];
      }
    });
    await assertRefused(dir, /more than a tensor can hold/);
  });

  test('JSON nested deeper than any model is refused in one line (no stack overflow)', async () => {
    const dir = await writeEdited(await smallCnn(), () => undefined);
    const file = path.join(dir, 'model.json');
    const json = JSON.parse(await fs.readFile(file, 'utf8'));
    // JSON.stringify would overflow on this depth: build the text by hand.
    const text = JSON.stringify(json).replace('"name":"relu"', `"name":"relu","deep":${'{"a":'.repeat(20000)}1${'}'.repeat(20000)}`);
    await fs.writeFile(file, text);
    await assertRefused(dir, /nested deeper than 100 levels/);
  });

  test('a deeply nested config file is refused in one line too', () => {
    const text = `{"data": ${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}`;
    assert.throws(
      () => parseConfig(text, 'deep.json'),
      (error: unknown) => error instanceof InputError && /^deep\.json: JSON nested deeper than 100 levels/.test(error.message),
    );
  });

  test('graph faults: a layer reading a tensor nobody produces', async () => {
    const input = tf.input({ shape: [4], name: 'in' });
    const d1 = tf.layers.dense({ units: 3, name: 'd1' }).apply(input) as tf.SymbolicTensor;
    const d2 = tf.layers.dense({ units: 2, name: 'd2' }).apply(d1) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: d2 });
    const artifacts = await fromLayersModel(model);
    model.dispose();
    const dir = await writeEdited(artifacts, (j) => {
      const d2Layer = j.modelTopology.config.layers.find((l: any) => l.name === 'd2');
      d2Layer.inbound_nodes[0][0][0] = 'nowhere';
    });
    await assertRefused(dir, /unknown layer 'nowhere'/);
    const cyclic = await writeEdited(artifacts, (j) => {
      const d1Layer = j.modelTopology.config.layers.find((l: any) => l.name === 'd1');
      d1Layer.inbound_nodes[0][0][0] = 'd2';
    });
    await assertRefused(cyclic, /reads a tensor no layer produces/);
  });
});

describe('validation of weights against the config (readModel)', () => {
  test('a weight shape that does not match the config', async () => {
    const dir = await writeEdited(await smallCnn(), (j) => {
      j.weightsManifest[0].weights.find((s: any) => s.name === 'conv/kernel').shape = [3, 3, 2, 2];
    });
    await assertRefused(dir, /layer 'conv' \(Conv2D\): weight 'conv\/kernel' has shape \[3, 3, 2, 2\], its config implies \[3, 3, 1, 4\]/);
  });

  test('a missing BN weight the config names', async () => {
    const artifacts = await smallCnn();
    artifacts.weights.delete('bn/gamma');
    await assertRefused(await writeEdited(artifacts, () => undefined), /layer 'bn' \(BatchNormalization\): weight 'gamma' is missing/);
  });

  test('an extra weight, and a weight of no layer', async () => {
    const artifacts = await smallCnn();
    artifacts.weights.set('head/extra', { shape: [3], dtype: 'float32', data: new Float32Array(3) });
    await assertRefused(
      await writeEdited(artifacts, () => undefined),
      /layer 'head' \(Dense\): weight 'head\/extra' is not one of its weights \(kernel, bias\)/,
    );
    const stray = await smallCnn();
    stray.weights.set('ghost/kernel', { shape: [3], dtype: 'float32', data: new Float32Array(3) });
    await assertRefused(await writeEdited(stray, () => undefined), /weight 'ghost\/kernel' belongs to no layer/);
    const onRelu = await smallCnn();
    onRelu.weights.set('relu/kernel', { shape: [1], dtype: 'float32', data: new Float32Array(1) });
    await assertRefused(await writeEdited(onRelu, () => undefined), /layer 'relu' \(ReLU\): weight 'relu\/kernel' is extra/);
  });

  test('an int32 weight where float32 is needed', async () => {
    const artifacts = await smallCnn();
    artifacts.weights.set('head/bias', { shape: [3], dtype: 'int32', data: new Int32Array(3) });
    await assertRefused(await writeEdited(artifacts, () => undefined), /weight 'head\/bias' is int32; float32 is needed/);
  });

  for (const bad of [NaN, Infinity, -Infinity]) {
    test(`a ${bad} weight value is named`, async () => {
      const artifacts = await smallCnn();
      artifacts.weights.get('bn/gamma')!.data[2] = bad;
      await assertRefused(await writeEdited(artifacts, () => undefined), new RegExp(`weight 'bn/gamma' holds ${bad} at index 2`));
    });
  }

  test('a negative BatchNorm moving_variance is named', async () => {
    const artifacts = await smallCnn();
    artifacts.weights.get('bn/moving_variance')!.data[1] = -0.5;
    await assertRefused(
      await writeEdited(artifacts, () => undefined),
      /weight 'bn\/moving_variance' holds -0\.5 at index 1 \(a variance cannot be negative\)/,
    );
  });

  test('a valid model reads as before, and report (no weights read) checks the manifest too', async () => {
    const dir = await writeEdited(await smallCnn(), () => undefined);
    assert.equal((await readModel(dir)).weights.size, 8);
    const bad = await writeEdited(await smallCnn(), (j) => {
      j.weightsManifest[0].weights.find((s: any) => s.name === 'head/bias').shape = [1, 3];
    });
    await assert.rejects(readModel(bad, { weights: false }), /weight 'head\/bias' has shape \[1, 3\]/);
  });
});

describe('nothing to slim', () => {
  test('no BatchNormalization, and BatchNormalization without γ, each get a reason', async () => {
    assert.match(nothingToSlimReason((await smallCnn({ batchNorm: false })).modelTopology)!, /no BatchNormalization layer/);
    const scaleless = await smallCnn();
    scaleless.modelTopology.config.layers[1].config.scale = false;
    assert.match(nothingToSlimReason(scaleless.modelTopology)!, /every BatchNormalization \(1\) has scale: false.*train\.addMissingScale/);
    assert.equal(nothingToSlimReason(scaleless.modelTopology, true), null);
    assert.equal(nothingToSlimReason((await smallCnn()).modelTopology), null);
  });

  test('slim prune on a model without BatchNormalization: exit 1, one line, nothing written', async () => {
    const model = fresh('no-bn');
    await writeModel(model, await smallCnn({ batchNorm: false }));
    const out = fresh('no-bn-out');
    const run = await runSlim(['prune', '--model', model, '--ratio', '0.5', '--out', out]);
    assert.equal(run.code, 1, describeRun(run));
    assert.equal(stderrLines(run).length, 1, describeRun(run));
    assert.match(stderrLines(run)[0], /^error: prune: nothing to slim: the model has no BatchNormalization layer/);
    assert.equal(run.stdout, '');
    assert.equal(await exists(out), false);
  });

  test('slim train (sparsity > 0) and slim run refuse before any training', async () => {
    const model = fresh('no-bn-28');
    await writeModel(model, await smallCnn({ batchNorm: false, inputShape: [28, 28, 1] }));
    for (const command of ['train', 'run']) {
      const config = path.join(root, `${command}-no-bn.json`);
      await fs.writeFile(
        config,
        JSON.stringify({
          seed: 1,
          backend: 'cpu',
          model: { type: 'file', path: model },
          data: { dataset: 'mnist', trainLimit: 64, testLimit: 64 },
          train: { epochs: 1, batchSize: 32, lr: 0.01 },
          prune: { ratio: 0.5 },
          finetune: { epochs: 1 },
        }),
      );
      const out = fresh(`${command}-out`);
      const run = await runSlim([command, '--config', config, '--out', out]);
      assert.equal(run.code, 1, describeRun(run));
      const errors = stderrLines(run).filter((l) => l.startsWith('error:'));
      assert.equal(errors.length, 1, describeRun(run));
      assert.match(errors[0], new RegExp(`^error: ${command}: nothing to slim`));
      assert.doesNotMatch(run.stderr, /epoch 1/);
      assert.equal(await exists(out), false);
    }
  });
});

describe('never write what stock tfjs cannot load', () => {
  test('a model whose weights do not fit its config is refused (ProblemError)', async () => {
    const artifacts = await smallCnn();
    artifacts.weights.set('head/bias', { shape: [5], dtype: 'float32', data: new Float32Array(5) });
    await assert.rejects(checkStockLoadable(artifacts, 'out'), (error: unknown) => {
      assert.ok(error instanceof ProblemError);
      assert.match(error.message, /^out: stock tfjs could not load the model slim was about to write/);
      return true;
    });
    await checkStockLoadable(await smallCnn(), 'out');
  });

  test('a model whose outputs overflow to Inf/NaN fails the load check and the export check', async () => {
    const artifacts = await smallCnn();
    // A zero input meets the bias, a random one the kernel; both overflow in the head.
    for (const name of ['conv/kernel', 'conv/bias', 'head/kernel']) artifacts.weights.get(name)!.data.fill(3e38);
    await assert.rejects(checkStockLoadable(artifacts, 'out'), /outputs NaN or Inf/);
    await assert.rejects(exportModel(artifacts), (error: unknown) => {
      assert.ok(error instanceof ProblemError);
      assert.match(error.message, /NaN or Inf/);
      return true;
    });
  });
});

describe('one line per error, exit codes', () => {
  test('an unexpected exception is a bug: its own line and exit 3', () => {
    const failure = describeFailure(new TypeError('x is undefined'));
    assert.equal(failure.exitCode, 3);
    assert.equal(failure.line, 'internal error (a bug in slim, please report it): x is undefined (--verbose shows the stack)');
  });

  test('system errors with a path are one line in words, bad input', () => {
    const error = Object.assign(new Error("EACCES: permission denied, mkdtemp '/root/.x-'"), {
      code: 'EACCES',
      path: '/root/.x-',
      syscall: 'mkdtemp',
    });
    assert.deepEqual(describeFailure(error), { line: '/root/.x-: permission denied (EACCES on mkdtemp)', exitCode: 2, verboseLines: [] });
    const full = Object.assign(new Error('ENOSPC'), { code: 'ENOSPC', syscall: 'write' });
    assert.equal(describeFailure(full).exitCode, 1);
  });

  test('bad choices, empty values, no command, and zod errors: exactly one line through the binary', async () => {
    const model = fresh('cli');
    await writeModel(model, await smallCnn());
    const config = path.join(root, 'two-bad.json');
    await fs.writeFile(config, JSON.stringify({ seed: 'x', train: { lr: 'fast' } }));
    const cases: [string[], RegExp][] = [
      [
        ['prune', '--model', model, '--out', fresh('o'), '--importance', 'median'],
        /^error: Invalid values: Argument: importance, Given: "median", Choices: .* \(slim --help shows the usage\)$/,
      ],
      [['report', '--model', model, '--backend', 'gpu'], /^error: (Invalid values: Argument: backend|Unknown argument)/],
      [['prune', '--model', model, '--out', fresh('o'), '--ratio', ''], /^error: --ratio: the value is empty/],
      [['report', '--model', ''], /^error: --model: the value is empty/],
      [['report', '--model='], /^error: --model: the value is empty/],
      [[], /^error: give a command: .*\(slim --help lists them\)$/],
      [['train', '--config', config, '--out', fresh('o')], /^error: .*two-bad\.json: seed: .* \(and 1 more: train\.lr\)$/],
    ];
    for (const [args, words] of cases) {
      const run = await runSlim(args);
      assert.equal(run.code, 2, describeRun(run));
      const lines = stderrLines(run);
      assert.equal(lines.length, 1, describeRun(run));
      assert.match(lines[0], words, describeRun(run));
      assert.doesNotMatch(run.stderr, STACK_FRAME);
      assert.doesNotMatch(run.stderr, /internal error/);
      assert.equal(run.stdout, '');
    }
  });

  test('a model tfjs would reject reaches the user as one line, exit 2, never "internal error"', async () => {
    const dir = await writeEdited(await smallCnn(), (j) => (layerConfig(j, 'head').units = -16));
    for (const args of [
      ['report', '--model', dir],
      ['prune', '--model', dir, '--ratio', '0.5', '--out', fresh('o')],
      ['export', '--model', dir, '--out', fresh('o')],
    ]) {
      const run = await runSlim(args);
      assert.equal(run.code, 2, describeRun(run));
      assert.equal(stderrLines(run).length, 1, describeRun(run));
      assert.match(stderrLines(run)[0], /model\.json: layer 'head' \(Dense\): units: must be a positive integer, got -16$/);
    }
  });
});
