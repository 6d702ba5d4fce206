/**
 * Part 2 of "slim the models users have": BatchNormalization saved with scale: false (Keras'
 * InceptionV3 style). prune refuses with one line saying why; sparsity training gives each such BN
 * a γ of ones (same function) and says how many; pruning then goes through the Concatenate
 * blocks exactly when only zeroed channels go. Through the built binary, real MNIST subset.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { addMissingBnScale } from '../../src/model/add-bn-scale.js';
import { fromLayersModel, toLayersModel } from '../../src/model/convert.js';
import { describeRun, runSlim, STACK_FRAME, stderrLines } from '../helpers/cli.js';
import { randomizeBnStatistics, saveWithStockTfjs } from '../helpers/foreign-models.js';
import { inceptionStyle } from '../fixtures/zoo/index.js';
import { loadWithStockTfjs } from '../helpers/stock-load.js';

const BN_COUNT = 9; // stem + 4 per block × 2

let dir: string;
let modelPath: string;
let stockParams: number;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'slim-bnscale-'));
  const model = inceptionStyle();
  randomizeBnStatistics(model);
  stockParams = model.countParams();
  modelPath = await saveWithStockTfjs(model, path.join(dir, 'inception'));
  model.dispose();
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function reportParams(model: string): Promise<number> {
  const result = await runSlim(['report', '--model', model, '--json']);
  assert.equal(result.code, 0, describeRun(result));
  return (JSON.parse(result.stdout) as { params: { total: number } }).params.total;
}

test('report counts the scale-less model like stock countParams(); prune refuses in one line saying why', async () => {
  assert.equal(await reportParams(modelPath), stockParams);
  const result = await runSlim(['prune', '--model', modelPath, '--ratio', '0.3', '--out', path.join(dir, 'never')]);
  // Nothing to slim is a finding about the model (exit 1), as for a model without BatchNormalization.
  assert.equal(result.code, 1, describeRun(result));
  const lines = stderrLines(result).filter((l) => l.startsWith('error'));
  assert.equal(lines.length, 1, describeRun(result));
  assert.match(lines[0], /every BatchNormalization \(9\) has scale: false.*train\.addMissingScale/);
  assert.doesNotMatch(result.stderr, STACK_FRAME);
});

test('adding γ = 1 keeps the function (stock tfjs predictions equal)', async () => {
  const original = await loadWithStockTfjs(modelPath);
  const { artifacts, added } = addMissingBnScale(await fromLayersModel(original));
  assert.equal(added.length, BN_COUNT);
  const withScale = await toLayersModel(artifacts);
  const x = tf.randomUniform([3, 28, 28, 1], 0, 1, 'float32', 5);
  const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(original.predict(x) as tf.Tensor, withScale.predict(x) as tf.Tensor))).dataSync()[0]);
  assert.ok(diff < 1e-6, `outputs differ by ${diff}`);
  tf.dispose(x);
  original.dispose();
  withScale.dispose();
});

test('train (sparsity > 0) adds γ and says how many; then pruning zeroed γ through the Concatenates is exact', async () => {
  const config = path.join(dir, 'config.json');
  await writeFile(
    config,
    JSON.stringify({
      seed: 1,
      backend: 'wasm',
      data: { dataset: 'mnist', trainLimit: 32, testLimit: 32, validationSplit: 0 },
      train: { epochs: 1, batchSize: 32, lr: 0.01, sparsity: 1e-4 },
    }),
  );
  const sparse = path.join(dir, 'sparse');
  const result = await runSlim(['train', '--config', config, '--model', modelPath, '--out', sparse]);
  assert.equal(result.code, 0, describeRun(result));
  assert.match(result.stderr, /added a gamma of ones to 9 BatchNormalization layer\(s\) saved with scale: false/);
  const topology = JSON.parse(await readFile(path.join(sparse, 'model.json'), 'utf8')) as {
    modelTopology: { config: { layers: { class_name: string; config: { scale?: boolean } }[] } };
  };
  const bns = topology.modelTopology.config.layers.filter((l) => l.class_name === 'BatchNormalization');
  assert.equal(bns.length, BN_COUNT);
  assert.ok(bns.every((l) => l.config.scale === true));
  const trained = await loadWithStockTfjs(path.join(sparse, 'model.json'));
  // One γ per BN channel: stem 8, and per block 4 + 4 + 6 + 4.
  assert.equal(trained.countParams(), stockParams + 8 + 2 * (4 + 4 + 6 + 4));

  // Zero γ and β of channels of branch BNs feeding each Concatenate: those channels output 0.
  for (const [bnName, channels] of [
    ['mixed0_a_bn', [1, 2]],
    ['mixed0_b2_bn', [0, 5]],
    ['mixed1_c_bn', [3]],
  ] as const) {
    const bn = trained.getLayer(bnName);
    const [gamma, beta, ...stats] = bn.getWeights();
    const zeroed = (t: tf.Tensor) => {
      const values = t.dataSync().slice();
      for (const c of channels) values[c] = 0;
      return tf.tensor(values, t.shape);
    };
    bn.setWeights([zeroed(gamma), zeroed(beta), ...stats]);
  }
  const zeroedPath = await saveWithStockTfjs(trained, path.join(dir, 'zeroed'));
  const pruned = path.join(dir, 'pruned');
  const prune = await runSlim(['prune', '--model', zeroedPath, '--threshold', '1e-9', '--out', pruned, '--json']);
  assert.equal(prune.code, 0, describeRun(prune));
  assert.equal((JSON.parse(prune.stdout) as { plan: { prunedChannels: number } }).plan.prunedChannels, 5, describeRun(prune));
  const prunedModel = await loadWithStockTfjs(path.join(pruned, 'model.json'));
  // One report counts the pruned model and, as its --baseline, the trained one.
  const report = await runSlim(['report', '--model', pruned, '--baseline', sparse, '--json']);
  assert.equal(report.code, 0, describeRun(report));
  const counted = JSON.parse(report.stdout) as { params: { total: number }; baseline: { params: { total: number } } };
  assert.equal(counted.baseline.params.total, trained.countParams());
  assert.equal(counted.params.total, prunedModel.countParams());
  const x = tf.randomUniform([4, 28, 28, 1], 0, 1, 'float32', 9);
  const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(trained.predict(x) as tf.Tensor, prunedModel.predict(x) as tf.Tensor))).dataSync()[0]);
  assert.ok(diff < 1e-5, `outputs differ by ${diff}`);
  tf.dispose(x);
  trained.dispose();
  prunedModel.dispose();
});
