/**
 * Through the built binary: `finetune` writes a trainable Keras file (BatchNorm kept) when --out
 * names one or --format says so, through the same writer as prune and export; and a Keras 3
 * Sequential keeps its own layer names (its InputLayer `input_layer…`) when slim writes it back.
 * The files are read back by slim and checked with h5py (test/helpers/h5py.ts; skipped without it).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { fromLayersModel } from '../../src/model/convert.js';
import { readModel } from '../../src/model/io.js';
import { encodeKerasFile } from '../../src/model/keras/write.js';
import { randomizeBnStatistics } from '../helpers/foreign-models.js';
import { describeRun, REPO_ROOT, runSlim, STACK_FRAME, stderrLines } from '../helpers/cli.js';
import { H5PY_SKIP, kerasSummary, PYTHON } from '../helpers/h5py.js';

let dir: string;
/** A Keras 3 archive of a small Conv-BN net whose Sequential starts with an InputLayer named as Keras 3 names it. */
let source: string;
let config: string;

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'slim-keras-finetune-'));
  const net = tf.sequential({
    name: 'digits',
    layers: [
      tf.layers.inputLayer({ batchInputShape: [null, 28, 28, 1], name: 'input_layer' }),
      tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', useBias: false, name: 'conv2d' }),
      tf.layers.batchNormalization({ name: 'batch_normalization' }),
      tf.layers.reLU({ name: 're_lu' }),
      tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', useBias: false, name: 'conv2d_1' }),
      tf.layers.batchNormalization({ name: 'batch_normalization_1' }),
      tf.layers.reLU({ name: 're_lu_1' }),
      tf.layers.globalAveragePooling2d({ name: 'global_average_pooling2d' }),
      tf.layers.dense({ units: 10, activation: 'softmax', name: 'dense' }),
    ],
  });
  // Non-trivial BN statistics, as training would leave them (finetune below does the training this file checks).
  randomizeBnStatistics(net);
  source = path.join(dir, 'digits.keras');
  await writeFile(source, await encodeKerasFile(await fromLayersModel(net), 'keras'));
  net.dispose();
  config = path.join(dir, 'config.json');
  await writeFile(
    config,
    JSON.stringify({
      seed: 1,
      backend: 'wasm',
      replicas: 1,
      data: { dataset: 'mnist', trainLimit: 32, testLimit: 32, validationSplit: 0 },
      finetune: { epochs: 1, batchSize: 32, lr: 0.01 },
    }),
  );
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** What `slim eval --json` and `slim finetune --json` print, as far as these tests read it. */
interface AccuracyJson {
  top1?: number;
  testAccuracy?: number;
  model?: string;
}

describe('finetune writes a Keras file that keeps BatchNorm', () => {
  const cases = [
    { name: 'tuned.keras', flags: [] as string[], magic: (b: Buffer) => b.subarray(0, 2).toString('latin1') === 'PK', evaluate: true },
    // One eval through the binary is enough to show the file is the model finetune measured.
    { name: 'tuned.h5', flags: ['--format', 'h5'], magic: (b: Buffer) => b.subarray(1, 4).toString('latin1') === 'HDF', evaluate: false },
  ];
  for (const { name, flags, magic, evaluate } of cases) {
    it(
      `finetune ${flags.join(' ')} --out ${name}: BatchNorm and names kept, read back by h5py and slim, same accuracy`,
      { skip: H5PY_SKIP },
      async () => {
        const out = path.join(dir, name);
        const tuned = await runSlim(['finetune', '--config', config, '--model', source, '--out', out, ...flags, '--json']);
        assert.equal(tuned.code, 0, describeRun(tuned));
        const result = JSON.parse(tuned.stdout) as AccuracyJson;
        assert.equal(result.model, out);
        assert.ok(magic(await readFile(out)), `${out} is a ${path.extname(name)} file`);

        const summary = kerasSummary(out);
        assert.deepEqual(summary.names.slice(0, 3), ['input_layer', 'conv2d', 'batch_normalization'], JSON.stringify(summary));
        assert.equal(summary.classes.filter((c) => c === 'BatchNormalization').length, 2);
        // gamma, beta, moving mean and variance of both BN layers.
        assert.ok(summary.bnWeights >= 8, JSON.stringify(summary));

        // It was trained: the kernels moved; and it is the model finetune measured.
        const before = await readModel(source);
        const after = await readModel(out);
        const kernel = (m: typeof before) => [...m.weights.get('conv2d/kernel')!.data];
        assert.notDeepEqual(kernel(after), kernel(before));
        if (!evaluate) return;
        const evaluated = await runSlim(['eval', '--config', config, '--model', out, '--json']);
        assert.equal(evaluated.code, 0, describeRun(evaluated));
        assert.equal((JSON.parse(evaluated.stdout) as AccuracyJson).top1, result.testAccuracy);
      },
    );
  }

  it('an existing --out file is refused before training; a contradicting --format in one line', async () => {
    const existing = path.join(dir, 'existing.keras');
    await writeFile(existing, 'not a model');
    for (const [args, message] of [
      [['--out', existing], /existing\.keras: exists; --overwrite replaces it/],
      [['--out', path.join(dir, 'x.keras'), '--format', 'layers'], /extension \.keras means a Keras 3 \.keras file, but --format layers/],
    ] as const) {
      const result = await runSlim(['finetune', '--config', config, '--model', source, ...args]);
      assert.equal(result.code, 2, describeRun(result));
      const errors = stderrLines(result).filter((l) => l.startsWith('error:'));
      assert.equal(errors.length, 1, result.stderr);
      assert.match(errors[0], message);
      assert.doesNotMatch(result.stderr, STACK_FRAME);
      assert.doesNotMatch(result.stderr, /epoch/);
    }
    assert.equal(await readFile(existing, 'utf8'), 'not a model');
    await assert.rejects(stat(path.join(dir, 'x.keras')));
  });
});

describe("a Keras 3 Sequential's names survive slim", () => {
  // A real Keras 3.2.1 archive (test/fixtures/README.md): Sequential `PT_data_2_10_10_2_relu`, InputLayer `input_layer_3`.
  const fixture = path.join(REPO_ROOT, 'test', 'fixtures', 'keras', 'idaes_PT_data_2_10_10_2_relu.keras');

  /** The model name and layer names of a Keras file's config, as Python reads it. */
  function configNames(file: string): { model: string; layers: string[] } {
    const script = `
import h5py, json, sys, zipfile
path = sys.argv[1]
if zipfile.is_zipfile(path):
    config = json.loads(zipfile.ZipFile(path).read('config.json'))
else:
    config = json.loads(h5py.File(path, 'r').attrs['model_config'])
print(json.dumps({'model': config['config']['name'], 'layers': [l['config']['name'] for l in config['config']['layers']]}))
`;
    const result = spawnSync(PYTHON, ['-c', script, file], { encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    return JSON.parse(result.stdout) as { model: string; layers: string[] };
  }

  it('export --no-fold to .keras and .h5 keeps the InputLayer name input_layer_3 and every other name', { skip: H5PY_SKIP }, async () => {
    const expected = configNames(fixture);
    assert.equal(expected.layers[0], 'input_layer_3');
    for (const ext of ['keras', 'h5']) {
      const out = path.join(dir, `idaes.${ext}`);
      const result = await runSlim(['export', '--model', fixture, '--no-fold', '--out', out, '--backend', 'cpu']);
      assert.equal(result.code, 0, describeRun(result));
      assert.deepEqual(configNames(out), expected, ext);
    }
  });
});
