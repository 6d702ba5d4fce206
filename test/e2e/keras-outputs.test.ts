/**
 * Through the built binary: Keras files that keep BatchNorm (prune --format keras|h5, export
 * --no-fold), read back by slim and checked with h5py, and output names that mean what they say
 * (format from the extension, a trailing slash is a folder, a contradicting --format refused).
 * h5py: test/helpers/h5py.ts; skipped without it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { randomizeBnStatistics, saveWithStockTfjs } from '../helpers/foreign-models.js';
import { describeRun, exists, REPO_ROOT, runSlim, STACK_FRAME, stderrLines, type SlimResult } from '../helpers/cli.js';
import { H5PY_SKIP, kerasSummary, PYTHON } from '../helpers/h5py.js';

let dir: string;
let model: string;

function assertOneError(result: SlimResult, pattern: RegExp): void {
  assert.equal(result.code, 2, describeRun(result));
  const errors = stderrLines(result).filter((l) => l.startsWith('error:'));
  assert.equal(errors.length, 1, result.stderr);
  assert.match(errors[0], pattern);
  assert.doesNotMatch(result.stderr, STACK_FRAME);
  assert.equal(result.stdout, '');
}

/** True when `file` starts like a zip archive (.keras). */
async function isZip(file: string): Promise<boolean> {
  return (await readFile(file)).subarray(0, 2).toString('latin1') === 'PK';
}

/** True when `file` starts with the HDF5 signature (.h5). */
async function isHdf5(file: string): Promise<boolean> {
  return (await readFile(file)).subarray(1, 4).toString('latin1') === 'HDF';
}

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'slim-keras-out-'));
  const net = tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 8, kernelSize: 3, padding: 'same', useBias: false }),
      tf.layers.batchNormalization(),
      tf.layers.reLU(),
      tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', useBias: false }),
      tf.layers.batchNormalization(),
      tf.layers.reLU(),
      tf.layers.globalAveragePooling2d({}),
      tf.layers.dense({ units: 4, activation: 'softmax' }),
    ],
  });
  // Non-trivial BN statistics, as training would leave them (training it here cost more than the file's tests).
  randomizeBnStatistics(net);
  model = await saveWithStockTfjs(net, path.join(dir, 'bn-model'));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

let folded: Promise<string> | undefined;
/**
 * `export --out guess.keras` without --format or --no-fold, run once for the two tests that read it
 * (BatchNorm folded away; a .keras name alone makes a Keras 3 file).
 */
function foldedExport(): Promise<string> {
  folded ??= (async () => {
    const out = path.join(dir, 'guess.keras');
    const result = await runSlim(['export', '--model', model, '--out', out, '--backend', 'cpu']);
    assert.equal(result.code, 0, describeRun(result));
    return out;
  })();
  return folded;
}

describe('Keras files that keep BatchNorm', () => {
  for (const ext of ['keras', 'h5'] as const) {
    it(`prune --out pruned.${ext} writes a ${ext} file with BatchNorm, read back by slim and by h5py`, { skip: H5PY_SKIP }, async () => {
      const out = path.join(dir, `pruned.${ext}`);
      const result = await runSlim(['prune', '--model', model, '--ratio', '0.25', '--out', out]);
      assert.equal(result.code, 0, describeRun(result));
      assert.equal(result.stdout.trim(), out);
      assert.ok(ext === 'keras' ? await isZip(out) : await isHdf5(out), `${out} is a ${ext} file`);
      const summary = kerasSummary(out);
      assert.equal(summary.classes.filter((c) => c === 'BatchNormalization').length, 2, JSON.stringify(summary));
      // gamma, beta, moving mean and variance of both BN layers.
      assert.ok(summary.bnWeights >= 8, JSON.stringify(summary));
      const report = await runSlim(['report', '--model', out, '--json']);
      assert.equal(report.code, 0, describeRun(report));
    });
  }

  it('export --no-fold keeps BatchNorm; export folds it (same name rules)', { skip: H5PY_SKIP }, async () => {
    const kept = path.join(dir, 'kept.keras');
    const noFold = await runSlim(['export', '--model', model, '--no-fold', '--out', kept, '--backend', 'cpu']);
    assert.equal(noFold.code, 0, describeRun(noFold));
    assert.match(noFold.stderr, /BatchNormalization kept \(--no-fold\)/);
    assert.equal(kerasSummary(kept).classes.filter((c) => c === 'BatchNormalization').length, 2);
    const folded = await foldedExport();
    assert.deepEqual(
      kerasSummary(folded).classes.filter((c) => c === 'BatchNormalization'),
      [],
    );
    // The kept file trains on in slim too: it reads back with its BN layers.
    const report = await runSlim(['report', '--model', kept, '--json']);
    assert.equal(report.code, 0, describeRun(report));
    assert.match(report.stdout, /BatchNormalization/);
  });
});

describe('Keras metadata', () => {
  it(
    'keeps the source input layer name, writes InputLayer dtype as Keras does, slim_version in its own field',
    { skip: H5PY_SKIP },
    async () => {
      const source = path.join(REPO_ROOT, 'test', 'fixtures', 'keras', 'idaes_keras_model.keras');
      const out = path.join(dir, 'idaes-copy.keras');
      const result = await runSlim(['export', '--model', source, '--no-fold', '--out', out, '--backend', 'cpu']);
      assert.equal(result.code, 0, describeRun(result));
      const script = `
import json, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
config = json.loads(z.read('config.json'))
first = config['config']['layers'][0]
print(json.dumps({'first': [first['class_name'], first['config']['name'], first['config']['dtype']], 'meta': json.loads(z.read('metadata.json'))}))
`;
      const read = spawnSync(PYTHON, ['-c', script, out], { encoding: 'utf8' });
      assert.equal(read.status, 0, read.stderr);
      const { first, meta } = JSON.parse(read.stdout) as { first: unknown[]; meta: Record<string, unknown> };
      assert.deepEqual(first, ['InputLayer', 'dense_input', 'float32']);
      // The source says 2.15.0 (tf-keras's .keras): the file written follows the Keras 3 layout, so it says 3.x.
      assert.match(String(meta['keras_version']), /^3\./);
      assert.equal(typeof meta['slim_version'], 'string');
    },
  );
});

describe('output names mean what they say', () => {
  it('export --out guess.keras (no --format) writes a Keras 3 file', async () => {
    const out = await foldedExport();
    assert.ok((await stat(out)).isFile() && (await isZip(out)));
  });

  it('prune --out name/ (trailing slash) writes a layers folder', async () => {
    const out = path.join(dir, 'pruned-folder') + '/';
    const result = await runSlim(['prune', '--model', model, '--ratio', '0.25', '--out', out]);
    assert.equal(result.code, 0, describeRun(result));
    assert.ok(await exists(path.join(out, 'model.json')));
  });

  const refused: [string[], RegExp][] = [
    [['export', '--format', 'keras', '--out', 'dirout/'], /trailing slash \(a folder\) means a tfjs layers folder, but --format keras/],
    [['export', '--format', 'h5', '--out', 'x.keras'], /extension \.keras means a Keras 3 \.keras file, but --format h5/],
    [['prune', '--ratio', '0.25', '--format', 'layers', '--out', 'x.h5'], /extension \.h5 means a Keras 2 \.h5 file, but --format layers/],
  ];
  for (const [args, message] of refused) {
    it(`${args.join(' ')}: one error line, nothing written`, async () => {
      const outIndex = args.indexOf('--out') + 1;
      const full = [...args];
      full[outIndex] = path.join(dir, 'refused', args[outIndex]);
      const result = await runSlim([...full, '--model', model]);
      assertOneError(result, message);
      assert.equal(await exists(path.join(dir, 'refused')), false);
    });
  }
});
