/**
 * `slim eval` through bin/slim.js on a tiny model trained here (real MNIST subset): the stdout
 * table, --json with top-1/top-5 and the confusion counts (rows = true class), and exit codes;
 * and the eval and prune stages called in a loop on one loaded model and test split (as a ratio sweep will).
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { parseConfig } from '../../src/config/load.js';
import { toLayersModel } from '../../src/model/convert.js';
import { readModel } from '../../src/model/io.js';
import { prepareTestData } from '../../src/pipeline/data.js';
import { evalStage } from '../../src/pipeline/stages/eval.js';
import { pruneStage } from '../../src/pipeline/stages/prune.js';
import { REPO_ROOT, runSlim } from '../helpers/cli.js';
import { capturingOutput } from '../helpers/capture-output.js';

const TINY_CONFIG = path.join(REPO_ROOT, 'test', 'fixtures', 'cli', 'tiny.json');

let dir: string;
let modelDir: string;
let trainedAccuracy: number;
before(async () => {
  // The stage modules register the wasm backend too; the in-process checks run on cpu.
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
  dir = await mkdtemp(path.join(tmpdir(), 'slim-eval-'));
  modelDir = path.join(dir, 'model');
  const trained = await runSlim(['train', '--config', TINY_CONFIG, '--out', modelDir, '--json', '--no-progress']);
  assert.equal(trained.code, 0, trained.stderr);
  trainedAccuracy = (JSON.parse(trained.stdout) as { testAccuracy: number }).testAccuracy;
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('text: a short table of examples, top-1, top-5 (10 classes) and loss on stdout', async () => {
  const r = await runSlim(['eval', '--model', modelDir, '--config', TINY_CONFIG]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.equal(lines.length, 4);
  assert.match(lines[0], /^examples\s+500$/);
  assert.match(lines[1], /^top-1 accuracy\s+\d+\.\d\d%$/);
  assert.match(lines[2], /^top-5 accuracy\s+\d+\.\d\d%$/);
  assert.match(lines[3], /^loss\s+\d+\.\d{4}$/);
  assert.match(r.stderr, /data: mnist: 500 test, 28x28x1, 10 classes/);
});

test('--json: top-1 equals what training measured, top-5 >= top-1, confusion rows = true classes', async () => {
  const r = await runSlim(['eval', '--model', modelDir, '--config', TINY_CONFIG, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout) as { count: number; top1: number; top5: number; confusion: number[][]; numClasses: number };
  assert.equal(s.count, 500);
  assert.equal(s.numClasses, 10);
  assert.ok(Math.abs(s.top1 - trainedAccuracy) < 1e-6, `${s.top1} vs ${trainedAccuracy}`);
  assert.ok(s.top5 >= s.top1 && s.top5 <= 1);
  assert.equal(s.confusion.length, 10);
  // Rows are true classes: row sums are the label counts of the first 500 MNIST test images.
  const data = await prepareTestData(parseConfig(await readFile(TINY_CONFIG, 'utf8'), 'tiny.json').data, 1);
  const labelCounts = new Array<number>(10).fill(0);
  for await (const b of data.test.batches({ batchSize: 500, preprocess: data.preprocess })) {
    const labels = b.y.argMax(1);
    for (const l of labels.dataSync()) labelCounts[l] += 1;
    labels.dispose();
    b.x.dispose();
    b.y.dispose();
  }
  assert.deepEqual(
    s.confusion.map((row) => row.reduce((a, v) => a + v, 0)),
    labelCounts,
  );
  const diagonal = s.confusion.reduce((a, row, i) => a + row[i], 0);
  assert.equal(diagonal, Math.round(s.top1 * 500));
});

test('exit codes: 2 for a missing flag, a missing model, data that does not fit the model', async () => {
  const noModel = await runSlim(['eval', '--config', TINY_CONFIG]);
  assert.equal(noModel.code, 2);
  assert.match(noModel.stderr, /model/);
  const missing = await runSlim(['eval', '--model', path.join(dir, 'nope'), '--config', TINY_CONFIG]);
  assert.equal(missing.code, 2);
  assert.equal(missing.stdout, '');
  const config = JSON.parse(await readFile(TINY_CONFIG, 'utf8')) as { data: Record<string, unknown> };
  config.data.resize = [10, 10];
  const resized = path.join(dir, 'resized.json');
  await writeFile(resized, JSON.stringify(config));
  const wrong = await runSlim(['eval', '--model', modelDir, '--config', resized]);
  assert.equal(wrong.code, 2);
  assert.match(wrong.stderr, /model input shape \[null, 28, 28, 1\] does not take the data's 10x10x1 images/);
  assert.equal(
    wrong.stderr
      .trim()
      .split('\n')
      .filter((l) => l.includes('error')).length,
    1,
  );
});

test('the model fills in what the config leaves open: MNIST becomes 32x32x3 for a CIFAR-shaped model', async () => {
  const data = parseConfig(JSON.stringify({ data: { dataset: 'mnist', testLimit: 8 } }), 'c.json').data;
  const prepared = await prepareTestData(data, 1, { height: 32, width: 32, channels: 3, numClasses: 10 });
  assert.deepEqual(prepared.imageShape, [32, 32, 3]);
  assert.equal(prepared.test.count, 8);
});

test('stages run repeatedly on one loaded model and test split: inputs stay intact, each call logs its own lines', async () => {
  const config = parseConfig(await readFile(TINY_CONFIG, 'utf8'), 'tiny.json');
  const data = await prepareTestData(config.data, config.seed);
  const artifacts = await readModel(modelDir);
  const topologyBefore = JSON.stringify(artifacts.modelTopology);
  const weightsBefore = [...artifacts.weights.values()].map((w) => Array.from(w.data));
  const model = await toLayersModel(artifacts);
  const { out, lines } = capturingOutput();
  try {
    const base = await evalStage(model, data, { batchSize: 256, line: { model: 'input model' } }, out);
    assert.ok(Math.abs(base.accuracy - trainedAccuracy) < 1e-6, `${base.accuracy} vs ${trainedAccuracy}`);
    // This untrained model is at chance level: a warning line may follow the accuracy line.
    assert.ok(lines.includes(`input model: test accuracy ${(base.accuracy * 100).toFixed(2)}%`), lines.join('\n'));

    const params: number[] = [];
    for (const ratio of [0.25, 0.5]) {
      const logged = lines.length;
      const pruned = await pruneStage(artifacts, { ...config.prune, ratio }, undefined, out);
      assert.equal(pruned.written, undefined, 'no destination: nothing written');
      assert.match(lines[logged], new RegExp(`^prune plan: \\d+ of \\d+ BN channels removed \\(ratio ${ratio},`));
      const prunedModel = await toLayersModel(pruned.artifacts);
      try {
        const result = await evalStage(prunedModel, data, { batchSize: 256 }, out);
        assert.equal(result.count, 500);
      } finally {
        prunedModel.dispose();
      }
      params.push(pruned.after.params.total);
    }
    assert.ok(params[1] < params[0], `a larger ratio leaves fewer params: ${params.join(' vs ')}`);

    // The stages neither changed nor disposed what they were given.
    assert.equal(JSON.stringify(artifacts.modelTopology), topologyBefore);
    assert.deepEqual(
      [...artifacts.weights.values()].map((w) => Array.from(w.data)),
      weightsBefore,
    );
    const again = await evalStage(model, data, { batchSize: 256 }, out);
    assert.equal(again.accuracy, base.accuracy);
  } finally {
    model.dispose();
  }
});
