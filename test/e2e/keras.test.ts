/**
 * Keras files in and out, through the built binary on real fixtures (test/fixtures/README.md):
 * legacy Keras 2 HDF5 full models, an HDF5 file saved under `.keras`, and Keras 3 archives that
 * slim writes itself and reads back.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { readNpy } from '../../src/data/npy.js';
import { toLayersModel } from '../../src/model/convert.js';
import { readModel } from '../../src/model/io.js';
import { reportFor } from '../../src/pipeline/report.js';
import { unzipSync } from 'fflate';
import { buildHdf5, isGroup, withHdf5Bytes, type Group } from '../../src/model/keras/hdf5.js';
import { encodeKerasFile } from '../../src/model/keras/write.js';
import type { ModelArtifacts } from '../../src/model/topology.js';
import { describeFailure } from '../../src/cli.js';
import { describeRun, REPO_ROOT, runSlim, STACK_FRAME, stderrLines } from '../helpers/cli.js';

const FIXTURES = path.join(REPO_ROOT, 'test', 'fixtures', 'keras');
const fixture = (name: string) => path.join(FIXTURES, name);

/** Runs both models on the same inputs and returns max |a−b| / max(1, max|a|). */
async function relativeDiff(a: ModelArtifacts, b: ModelArtifacts, input: tf.Tensor): Promise<number> {
  const ma = await toLayersModel(a);
  const mb = await toLayersModel(b);
  try {
    return tf.tidy(() => {
      const ya = ma.predict(input) as tf.Tensor;
      const yb = mb.predict(input) as tf.Tensor;
      const diff = tf.max(tf.abs(tf.sub(ya, yb))).dataSync()[0];
      return diff / Math.max(1, tf.max(tf.abs(ya)).dataSync()[0]);
    });
  } finally {
    ma.dispose();
    mb.dispose();
  }
}

function mnistShapedInput(): tf.Tensor {
  return tf.randomNormal([4, 28, 28, 1], 0, 1, 'float32', 7);
}

let dir: string;
before(async () => {
  // src/cli.js (for describeFailure) registers slim's wasm backend too; the comparisons here run on cpu, as before.
  await tf.setBackend('cpu');
  dir = await mkdtemp(path.join(os.tmpdir(), 'slim-keras-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('keras files: report', () => {
  const known = [
    ['wgan_discriminator.h5', 97536],
    ['cnn_batch_norm.h5', 79],
    ['mlp_hdf5_named.keras', 46],
    ['idaes_PT_data_2_10_10_2_relu.keras', 162],
    ['idaes_keras_model.keras', 2293],
  ] as const;
  /** params.total per fixture, as `slim report --json` prints it. */
  const counted = new Map<string, number>();
  before(async () => {
    // Two files per run (--model and --baseline, each counted in full): three spawns for five files.
    for (let i = 0; i < known.length; i += 2) {
      const [model, baseline] = [known[i][0], known[i + 1]?.[0]];
      const run = await runSlim(['report', '--model', fixture(model), ...(baseline ? ['--baseline', fixture(baseline)] : []), '--json']);
      assert.equal(run.code, 0, describeRun(run));
      const report = JSON.parse(run.stdout) as { params: { total: number }; baseline?: { params: { total: number } } };
      counted.set(model, report.params.total);
      if (baseline) counted.set(baseline, report.baseline!.params.total);
    }
  });
  for (const [file, params] of known) {
    it(`${file}: params equal the model's known count (${params})`, () => {
      assert.equal(counted.get(file), params);
    });
  }
});

describe('keras files: a legacy HDF5 model saved under a .keras name', () => {
  it('is read as HDF5 by every command: export both ways, prune says there is nothing to slim (no BatchNormalization)', async () => {
    const file = fixture('mlp_hdf5_named.keras');
    const original = await readModel(file);
    for (const format of ['keras', 'h5'] as const) {
      const out = path.join(dir, `mlp-named.${format}`);
      const run = await runSlim(['export', '--model', file, '--format', format, '--out', out, '--backend', 'cpu']);
      assert.equal(run.code, 0, describeRun(run));
      const back = await readModel(out);
      const input = tf.randomNormal([4, ...original.modelTopology.config.layers[0].config.batch_input_shape.slice(1)], 0, 1, 'float32', 5);
      assert.ok((await relativeDiff(original, back, input)) <= 1e-6, format);
      input.dispose();
    }
    const prune = await runSlim(['prune', '--model', file, '--ratio', '0.5', '--out', path.join(dir, 'mlp-pruned')]);
    assert.equal(prune.code, 1, describeRun(prune));
    assert.match(stderrLines(prune).at(-1)!, /^error: prune: nothing to slim: the model has no BatchNormalization layer/);
  });
});

/** Dataset paths in a .keras archive's model.weights.h5 under `layers` (`\` as tf-keras on Windows joined them → `/`). */
async function keras3WeightPaths(file: string): Promise<string[]> {
  const weightsFile = unzipSync(await readFile(file))['model.weights.h5'];
  return withHdf5Bytes(weightsFile, file, (f) => {
    const found: string[] = [];
    const walk = (group: Group, prefix: string): void => {
      for (const key of group.keys()) {
        const entity = group.get(key);
        const name = `${prefix}${key.replaceAll('\\', '/')}`;
        if (isGroup(entity)) walk(entity, `${name}/`);
        else if (name.startsWith('layers/')) found.push(name);
      }
    };
    walk(f, '');
    return found.sort();
  });
}

describe('keras files: real Keras 3 archives (IDAES surrogates, Dense only)', () => {
  for (const [file, inputs] of [
    ['idaes_PT_data_2_10_10_2_relu.keras', 2],
    ['idaes_keras_model.keras', 2],
  ] as const) {
    it(`${file}: export --format keras and h5 give the same outputs; the .keras keeps Keras's weight layout`, async () => {
      const original = await readModel(fixture(file));
      const x = tf.randomNormal([8, inputs], 0, 1, 'float32', 11);
      for (const format of ['keras', 'h5'] as const) {
        const out = path.join(dir, `idaes-${file}.${format}`);
        const run = await runSlim(['export', '--model', fixture(file), '--format', format, '--out', out, '--backend', 'cpu']);
        assert.equal(run.code, 0, describeRun(run));
        assert.ok((await relativeDiff(original, await readModel(out), x)) <= 1e-6, format);
        if (format === 'keras') assert.deepEqual(await keras3WeightPaths(out), await keras3WeightPaths(fixture(file)));
      }
      x.dispose();
    });
  }

  it('prune reads it and says there is nothing to slim (no BatchNormalization)', async () => {
    const run = await runSlim([
      'prune',
      '--model',
      fixture('idaes_PT_data_2_10_10_2_relu.keras'),
      '--ratio',
      '0.5',
      '--out',
      path.join(dir, 'never-idaes'),
    ]);
    assert.equal(run.code, 1, describeRun(run));
    assert.match(stderrLines(run).at(-1)!, /^error: prune: nothing to slim: the model has no BatchNormalization layer/);
  });
});

describe('keras files: reference outputs and round trips', () => {
  it('cnn_batch_norm.h5 reproduces the outputs Keras saved beside it', async () => {
    const model = await readModel(fixture('cnn_batch_norm.h5'));
    const input = await readNpy(fixture('cnn_batch_norm.input.npy'));
    const expected = await readNpy(fixture('cnn_batch_norm.predictions.npy'));
    const live = await toLayersModel(model);
    const y = tf.tidy(() => (live.predict(tf.tensor(Float32Array.from(input.data as Float64Array), input.shape)) as tf.Tensor).dataSync());
    live.dispose();
    assert.equal(y.length, expected.data.length);
    for (let i = 0; i < y.length; i++)
      assert.ok(Math.abs(y[i] - Number(expected.data[i])) < 1e-5, `output ${i}: ${y[i]} vs ${expected.data[i]}`);
  });

  for (const format of ['keras', 'h5'] as const) {
    it(`export --format ${format} round trips: read back by slim, same outputs, same reference outputs`, async () => {
      const out = path.join(dir, `roundtrip.${format}`);
      const run = await runSlim(['export', '--model', fixture('cnn_batch_norm.h5'), '--out', out, '--format', format, '--backend', 'cpu']);
      assert.equal(run.code, 0, describeRun(run));
      assert.equal(run.stdout.trim(), out);
      const back = await readModel(out);
      const input = await readNpy(fixture('cnn_batch_norm.input.npy'));
      const expected = await readNpy(fixture('cnn_batch_norm.predictions.npy'));
      const live = await toLayersModel(back);
      const y = tf.tidy(() =>
        (live.predict(tf.tensor(Float32Array.from(input.data as Float64Array), input.shape)) as tf.Tensor).dataSync(),
      );
      live.dispose();
      for (let i = 0; i < y.length; i++)
        assert.ok(Math.abs(y[i] - Number(expected.data[i])) < 1e-4, `output ${i}: ${y[i]} vs ${expected.data[i]}`);

      // and the round-tripped file reports like the original, less the BatchNormalization export folds
      // (one channel: γ, β, mean, variance). The report stage in-process: `slim report` on Keras files
      // is shown through the binary above.
      const [again, original] = [await reportFor(out), await reportFor(fixture('cnn_batch_norm.h5'))];
      assert.equal(again.params.total, original.params.total - 4);
      assert.equal(again.params.nonTrainable, 0);
    });
  }

  it('.keras → slim → .keras → read back keeps every weight and the outputs (wgan_discriminator)', async () => {
    const original = await readModel(fixture('wgan_discriminator.h5'));
    const first = path.join(dir, 'wgan.keras');
    await writeFile(first, await encodeKerasFile(original, 'keras'));
    const once = await readModel(first);
    const second = path.join(dir, 'wgan-again.keras');
    await writeFile(second, await encodeKerasFile(once, 'keras'));
    const twice = await readModel(second);
    assert.deepEqual([...twice.weights.keys()].sort(), [...original.weights.keys()].sort());
    for (const [name, w] of original.weights) assert.deepEqual(twice.weights.get(name)?.data, w.data, name);
    const input = mnistShapedInput();
    assert.ok((await relativeDiff(original, twice, input)) <= 1e-6);
    input.dispose();
  });
});

describe('keras files: prune', () => {
  it('removing only zero-γ channels leaves the outputs unchanged (.keras and .h5 inputs)', async () => {
    const original = await readModel(fixture('wgan_discriminator.h5'));
    // Zero a third of batch_normalization_1's γ: those channels carry only β, which pruning folds on.
    const gamma = original.weights.get('batch_normalization_1/gamma')!;
    const zeroed = Float32Array.from(gamma.data as Float32Array);
    for (let c = 0; c < zeroed.length; c += 3) zeroed[c] = 0;
    original.weights.set('batch_normalization_1/gamma', { ...gamma, data: zeroed });
    for (const format of ['keras', 'h5'] as const) {
      const input = path.join(dir, `zero-gamma.${format}`);
      await writeFile(input, await encodeKerasFile(original, format));
      const out = path.join(dir, `pruned-${format}`);
      const run = await runSlim(['prune', '--model', input, '--out', out, '--threshold', '1e-12', '--json']);
      assert.equal(run.code, 0, describeRun(run));
      const pruned = await readModel(out);
      assert.equal(pruned.weights.get('batch_normalization_1/gamma')!.shape[0], zeroed.length - Math.ceil(zeroed.length / 3));
      const x = mnistShapedInput();
      assert.ok((await relativeDiff(original, pruned, x)) <= 1e-5);
      x.dispose();
    }
  });
});

describe('keras files: one-line refusals', () => {
  /** The refusal line and exit code the CLI would give for `readModel(file)`, as report (no weights) and prune/export read it. */
  async function refusalOf(file: string, weights: boolean): Promise<{ line: string; exitCode: number }> {
    const err: unknown = await readModel(file, weights ? {} : { weights: false }).then(
      () => assert.fail(`${file} was read`),
      (e: unknown) => e,
    );
    const failure = describeFailure(err);
    return { line: `error: ${failure.line}`, exitCode: failure.exitCode };
  }

  /** A file as `words` names it: a pattern, or the whole line when it is known to the byte. */
  function assertLine(line: string, words: RegExp | string, what: string): void {
    if (typeof words === 'string') assert.equal(line, words, what);
    else assert.match(line, words, what);
  }

  /**
   * Every bad file × every command that reads it: the refusal comes from readModel, which report
   * (without weights), prune and export call first, and describeFailure (the CLI's one error
   * mapping) turns into the line and exit code — checked in-process for each pair. The binary then
   * shows each file once and each command once (one line, exit 2, no stack): spawning all nine
   * pairs checked the same shared path three times over.
   */
  async function assertRefused(file: string, words: RegExp | string, command: 'report' | 'prune' | 'export'): Promise<void> {
    for (const weights of [false, true]) {
      const refusal = await refusalOf(file, weights);
      assert.equal(refusal.exitCode, 2, `${file} (weights: ${weights})`);
      assertLine(refusal.line, words, `${file} (weights: ${weights})`);
    }
    const args =
      command === 'report'
        ? ['report', '--model', file]
        : command === 'prune'
          ? ['prune', '--model', file, '--ratio', '0.5', '--out', path.join(dir, 'never-prune')]
          : ['export', '--model', file, '--format', 'keras', '--out', path.join(dir, 'never-export.keras')];
    const run = await runSlim(args);
    assert.equal(run.code, 2, describeRun(run));
    const lines = stderrLines(run);
    assert.equal(lines.length, 1, describeRun(run));
    assertLine(lines[0], words, command);
    assert.doesNotMatch(run.stderr, STACK_FRAME);
  }

  for (const [file, words, command] of [
    ['sequential_lambda.h5', /Lambda/, 'report'],
    ['simple_rnn_weights_only.h5', /weights only/, 'prune'],
  ] as const) {
    it(`${file}: one line naming what and why, exit 2, no stack (report, prune, export; ${command} through the binary)`, async () => {
      await assertRefused(fixture(file), words, command);
    });
  }

  it('a truncated .h5 is refused in one line (libhdf5 says why), for every command that reads it (export through the binary)', async () => {
    const whole = await readFile(fixture('cnn_batch_norm.h5'));
    const file = path.join(dir, 'truncated.h5');
    await writeFile(file, whole.subarray(0, 12000));
    await assertRefused(
      file,
      `error: ${file}: not a readable HDF5 file (truncated file: eof = 12000, sblock->base_addr = 0, stored_eof = 22584)`,
      'export',
    );
  });

  it('a custom layer and a subclassed model are refused in one line', async () => {
    const { zipSync } = await import('fflate');
    const cases: [string, unknown, RegExp][] = [
      [
        'custom.keras',
        {
          module: 'keras',
          class_name: 'Sequential',
          registered_name: null,
          config: {
            name: 's',
            layers: [
              {
                module: 'keras.layers',
                class_name: 'InputLayer',
                config: { batch_shape: [null, 4], dtype: 'float32', name: 'in' },
                registered_name: null,
              },
              { module: 'my_package.layers', class_name: 'MyBlock', config: { name: 'my_block' }, registered_name: 'Custom>MyBlock' },
            ],
          },
        },
        /my_block.*custom/,
      ],
      ['subclassed.keras', { module: 'my_models', class_name: 'MyModel', config: {}, registered_name: 'Custom>MyModel' }, /subclassed/],
    ];
    for (const [name, config, words] of cases) {
      const file = path.join(dir, name);
      await writeFile(
        file,
        zipSync({
          'config.json': new TextEncoder().encode(JSON.stringify(config)),
          'metadata.json': new TextEncoder().encode('{"keras_version":"3.6.0"}'),
        }),
      );
      // In-process as report reads it (the line and exit code the CLI prints), then through the
      // binary for the first case: the CLI path is the same for both.
      const refusal = await refusalOf(file, false);
      assert.equal(refusal.exitCode, 2, name);
      assert.match(refusal.line, words);
      if (name !== 'custom.keras') continue;
      const run = await runSlim(['report', '--model', file]);
      assert.equal(run.code, 2, describeRun(run));
      assert.equal(stderrLines(run).length, 1, describeRun(run));
      assert.match(run.stderr, words);
      assert.doesNotMatch(run.stderr, STACK_FRAME);
    }
  });
});

describe('keras files: train, finetune, eval and run', () => {
  // The discriminator fixture ends in Flatten (2048 values); a 10-way Dense head on it makes a
  // classifier for the MNIST-shaped data the stages need. Its trunk keeps the fixture's weights.
  async function classifierFile(format: 'keras' | 'h5' = 'keras'): Promise<string> {
    const model = await readModel(fixture('wgan_discriminator.h5'));
    model.modelTopology.config.layers.push({
      class_name: 'Dense',
      config: {
        name: 'head',
        units: 10,
        activation: 'linear',
        use_bias: true,
        trainable: true,
        dtype: 'float32',
        kernel_initializer: { class_name: 'GlorotUniform', config: { seed: 1 } },
        bias_initializer: { class_name: 'Zeros', config: {} },
      },
    });
    const kernel = tf.tidy(() => tf.randomNormal([2048, 10], 0, 0.02, 'float32', 3).dataSync() as Float32Array);
    model.weights.set('head/kernel', { shape: [2048, 10], dtype: 'float32', data: kernel });
    model.weights.set('head/bias', { shape: [10], dtype: 'float32', data: new Float32Array(10) });
    const file = path.join(dir, `classifier.${format}`);
    await writeFile(file, await encodeKerasFile(model, format));
    return file;
  }

  /** A config that trains `model` for one epoch (one step) on 32 MNIST images (the run's out is `dir/<name>`). */
  async function tinyConfig(model: string, name: string): Promise<string> {
    const config = path.join(dir, `${name}.json`);
    await writeFile(
      config,
      JSON.stringify({
        seed: 1,
        backend: 'wasm',
        // About reading Keras files: one replica, whatever the cores (replicas 'auto' would pick 2 for this net on 2+ cores).
        replicas: 1,
        out: path.join(dir, name),
        model: { type: 'file', path: model },
        data: { dataset: 'mnist', trainLimit: 32, testLimit: 32, validationSplit: 0 },
        train: { epochs: 1, batchSize: 32, lr: 0.01 },
        prune: { ratio: 0.3 },
        finetune: { epochs: 1, batchSize: 32, lr: 0.01 },
      }),
    );
    return config;
  }

  it('every stage accepts --model my.keras (eval and finetune also my.h5)', async () => {
    const model = await classifierFile();
    const config = await tinyConfig(model, 'run');
    for (const args of [
      ['train', '--config', config, '--model', model, '--out', path.join(dir, 'trained')],
      ['finetune', '--config', config, '--model', model, '--out', path.join(dir, 'finetuned')],
      ['eval', '--config', config, '--model', model],
      ['run', '--config', config],
      ['eval', '--config', config, '--model', await classifierFile('h5')],
      ['finetune', '--config', config, '--model', await classifierFile('h5'), '--out', path.join(dir, 'finetuned-h5')],
    ]) {
      const run = await runSlim(args);
      assert.equal(run.code, 0, `${args[0]}: ${describeRun(run)}`);
      assert.doesNotMatch(run.stderr, STACK_FRAME);
    }
  });

  it('train --model my.h5 and run with an .h5 model in its config write models slim reads back', async () => {
    const model = await classifierFile('h5');
    const config = await tinyConfig(model, 'run-h5');
    const train = await runSlim(['train', '--config', config, '--model', model, '--out', path.join(dir, 'trained-h5')]);
    assert.equal(train.code, 0, describeRun(train));
    const trained = await readModel(path.join(dir, 'trained-h5'));
    assert.equal(trained.weights.get('head/kernel')!.shape[1], 10);
    const run = await runSlim(['run', '--config', config, '--json']);
    assert.equal(run.code, 0, describeRun(run));
    assert.doesNotMatch(run.stderr, STACK_FRAME);
    const pruned = await readModel(path.join(dir, 'run-h5', 'pruned'));
    // ratio 0.3 of the discriminator's 96 BatchNormalization channels goes
    const widths = ['batch_normalization_1', 'batch_normalization_2'].map((bn) => pruned.weights.get(`${bn}/gamma`)!.shape[0]);
    assert.ok(widths[0] + widths[1] < 96, `kept ${widths.join('+')} of 96 channels`);
  });
});

describe('keras files: Keras 2 naming', () => {
  it("reads scope-suffixed weight names (bn_1/bn_1_1/gamma:0) and layer names holding '/'", async () => {
    // A legacy file as Keras 2 writes it when a layer was created twice in one session and named 'stem/conv'.
    const config = {
      class_name: 'Sequential',
      config: {
        name: 's',
        layers: [
          {
            class_name: 'Conv2D',
            config: {
              name: 'stem/conv',
              batch_input_shape: [null, 4, 4, 1],
              filters: 2,
              kernel_size: [1, 1],
              strides: [1, 1],
              padding: 'valid',
              data_format: 'channels_last',
              dilation_rate: [1, 1],
              activation: 'linear',
              use_bias: false,
              kernel_initializer: { class_name: 'Ones', config: {} },
              dtype: 'float32',
              trainable: true,
            },
          },
          {
            class_name: 'BatchNormalization',
            config: {
              name: 'bn_1',
              axis: -1,
              momentum: 0.99,
              epsilon: 0.001,
              center: true,
              scale: true,
              dtype: 'float32',
              trainable: true,
            },
          },
        ],
      },
    };
    const file = path.join(dir, 'naming.h5');
    await writeFile(
      file,
      await buildHdf5((f) => {
        f.create_attribute('model_config', JSON.stringify(config));
        f.create_attribute('keras_version', '2.2.4');
        const weights = f.create_group('model_weights');
        weights.create_attribute('layer_names', ['stem/conv', 'bn_1']);
        const stem = weights.create_group('stem').create_group('conv');
        stem.create_attribute('weight_names', ['stem/conv/kernel:0']);
        stem
          .create_group('stem')
          .create_group('conv')
          .create_dataset({
            name: 'kernel:0',
            data: new Float32Array([2, 3]),
            shape: [1, 1, 1, 2],
            dtype: '<f',
          });
        const bn = weights.create_group('bn_1');
        // Stored out of Keras order on purpose: the names, not the order, decide which is which.
        bn.create_attribute('weight_names', ['bn_1_1/beta:0', 'bn_1_1/gamma:0', 'bn_1_1/moving_mean:0', 'bn_1_1/moving_variance:0']);
        const scope = bn.create_group('bn_1_1');
        for (const [name, values] of [
          ['gamma', [5, 6]],
          ['beta', [7, 8]],
          ['moving_mean', [0, 0]],
          ['moving_variance', [1, 1]],
        ] as const) {
          scope.create_dataset({ name: `${name}:0`, data: new Float32Array(values), shape: [2], dtype: '<f' });
        }
      }),
    );
    const model = await readModel(file);
    assert.deepEqual([...model.weights.get('stem/conv/kernel')!.data], [2, 3]);
    assert.deepEqual([...model.weights.get('bn_1/gamma')!.data], [5, 6]);
    assert.deepEqual([...model.weights.get('bn_1/beta')!.data], [7, 8]);
    // and it survives a round trip through both writers
    for (const format of ['h5', 'keras'] as const) {
      const out = path.join(dir, `naming-back.${format}`);
      await writeFile(out, await encodeKerasFile(model, format));
      const back = await readModel(out);
      assert.deepEqual([...back.weights.get('bn_1/beta')!.data], [7, 8], format);
      assert.deepEqual([...back.weights.get('stem/conv/kernel')!.data], [2, 3], format);
    }
  });
});
