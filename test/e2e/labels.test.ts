/**
 * Label checks (README "Datasets"): every label of every split within [0, classes), where classes
 * is a model file's output width or, for a built-in architecture, the dataset's class count (the
 * training split's when the format declares none); refused with one line naming the file, the
 * index and the value, before anything is sized by the labels. Empty class folders are refused.
 * The first command of each test goes through the binary; the others (run and eval, finetune) are
 * parsed and run in-process by the same buildCli, their error mapped by main()'s describeFailure.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { listImageFolder } from '../../src/data/folder.js';
import { describeRun, runSlim, STACK_FRAME, stderrLines, type SlimResult } from '../helpers/cli.js';
import { refusalInProcess } from '../helpers/cli-in-process.js';
import { npyDataConfig, writeNpyDataset } from '../fuzz/corpus-data.js';
import { int32Bytes, labels, npy, sequentialModel, writeRawModel } from '../fuzz/fixtures.js';

const TRAIN_N = 40;
const TEST_N = 20;

let dir: string;
let model: string;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'slim-labels-'));
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
  // 8x8x1 input, 10 outputs: fits the npy dataset below.
  model = await writeRawModel(path.join(dir, 'model'), await sequentialModel());
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** An npy dataset (40 train / 20 test, 10 classes) with `label` at `index` of the `split` labels; returns a train config. */
async function configWithLabel(name: string, split: 'train' | 'test', index: number, label: number, withModel = false): Promise<string> {
  const data = path.join(dir, name);
  const n = split === 'train' ? TRAIN_N : TEST_N;
  const values = Array.from(labels(n), (l, i) => (i === index ? label : l));
  await writeNpyDataset(data, { [`y_${split}.npy`]: npy('<i4', [n], int32Bytes(values)) });
  const config = path.join(dir, `${name}.json`);
  await writeFile(
    config,
    JSON.stringify({
      seed: 1,
      backend: 'cpu',
      model: withModel ? { type: 'file', path: model } : { type: 'vgg', cfg: [2] },
      data: {
        ...npyDataConfig(data),
      },
      train: { epochs: 1, batchSize: 16 },
      finetune: { epochs: 1, batchSize: 16 },
      prune: { ratio: 0.5 },
    }),
  );
  return config;
}

/**
 * assertOneErrorLine's checks on a run parsed in-process by the binary's buildCli, its error mapped
 * by main()'s describeFailure (test/helpers/cli-in-process.ts): for the second and later commands
 * of a test whose first goes through the binary.
 */
async function assertOneErrorLineInProcess(args: string[], pattern: RegExp): Promise<void> {
  const refusal = await refusalInProcess(args);
  const why = `slim ${args.join(' ')}: ${JSON.stringify(refusal)}`;
  assert.equal(refusal.exitCode, 2, why);
  assert.equal(refusal.stdout, '', why);
  assert.ok(!refusal.stderr.split('\n').some((line) => line.startsWith('error:')), why);
  assert.match(`error: ${refusal.line}`, pattern, why);
  assert.doesNotMatch(refusal.stderr, STACK_FRAME, why);
  assert.doesNotMatch(refusal.stderr, /epoch/, 'refused before training');
}

function assertOneErrorLine(result: SlimResult, pattern: RegExp): void {
  assert.equal(result.code, 2, describeRun(result));
  assert.equal(result.stdout, '');
  const errors = stderrLines(result).filter((line) => line.startsWith('error:'));
  assert.equal(errors.length, 1, result.stderr);
  assert.match(errors[0], pattern);
  assert.doesNotMatch(result.stderr, STACK_FRAME);
  assert.doesNotMatch(result.stderr, /epoch/, 'refused before training');
}

test('a training label of 1e9 is refused by name, without sizing anything by it', async () => {
  const config = await configWithLabel('huge', 'train', 5, 1e9);
  assertOneErrorLine(
    await runSlim(['train', '--config', config, '--out', path.join(dir, 'out-huge')]),
    /y_train\.npy: label 5 is 1000000000, which would make 1000000001 classes for 40 examples/,
  );
});

test('a stray test label does not add a class: train, run and eval refuse it the same way', async () => {
  const config = await configWithLabel('stray', 'test', 4, 13);
  const line = /y_test\.npy: label 4 is 13, outside 0\.\.9/;
  assertOneErrorLine(await runSlim(['train', '--config', config, '--out', path.join(dir, 'out-stray')]), line);
  await assertOneErrorLineInProcess(['run', '--config', config, '--out', path.join(dir, 'run-stray')], line);
  await assertOneErrorLineInProcess(['eval', '--model', model, '--config', config], line);
});

test('with a model file, labels must fit its output width (train and finetune)', async () => {
  const config = await configWithLabel('wide', 'train', 7, 12, true);
  const line = /y_train\.npy: label 7 is 12, outside 0\.\.9/;
  assertOneErrorLine(await runSlim(['train', '--config', config, '--out', path.join(dir, 'out-wide')]), line);
  await assertOneErrorLineInProcess(['finetune', '--config', config, '--model', model, '--out', path.join(dir, 'ft-wide')], line);
});

test('an empty class folder in the training split is refused; the test split may lack a class', async () => {
  const root = path.join(dir, 'folders');
  for (const cls of ['a', 'b', 'empty']) await mkdir(path.join(root, 'train', cls), { recursive: true });
  for (const cls of ['a', 'b']) await writeFile(path.join(root, 'train', cls, 'x.png'), 'not decoded by a listing');
  await assert.rejects(listImageFolder(path.join(root, 'train')), (error: Error) => {
    assert.equal(error.name, 'InputError');
    assert.match(error.message, /train\/empty: class folder has no \.png\/\.jpg\/\.jpeg\/\.webp images/);
    return true;
  });
  await mkdir(path.join(root, 'test', 'a'), { recursive: true });
  await mkdir(path.join(root, 'test', 'b'), { recursive: true });
  await writeFile(path.join(root, 'test', 'b', 'y.png'), 'x');
  const test = await listImageFolder(path.join(root, 'test'), ['a', 'b']);
  assert.deepEqual(Array.from(test.labels), [1]);
});
