/**
 * Through the built binary: pruning a model whose |γ| do not separate (never sparsity-trained)
 * warns before cutting and names what to do; a sparsity-trained-like model (half its γ near zero)
 * prunes without the warning. The plan's groups are numbered from 1, and "1 channel" is singular.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { saveWithStockTfjs } from '../helpers/foreign-models.js';
import { describeRun, runSlim } from '../helpers/cli.js';

let dir: string;

/** Conv → BN → ReLU twice, with BN γ set by `gamma(layer, channel)`. */
async function bnModel(name: string, gamma: (layer: number, channel: number) => number): Promise<string> {
  const net = tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 8, kernelSize: 3, padding: 'same' }),
      tf.layers.batchNormalization(),
      tf.layers.reLU(),
      tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same' }),
      tf.layers.batchNormalization(),
      tf.layers.reLU(),
      tf.layers.flatten(),
      tf.layers.dense({ units: 3, activation: 'softmax' }),
    ],
  });
  net.layers
    .filter((l) => l.getClassName() === 'BatchNormalization')
    .forEach((bn, k) => {
      const [g, ...rest] = bn.getWeights();
      bn.setWeights([tf.tensor1d(Array.from({ length: g.shape[0] }, (_, c) => gamma(k, c))), ...rest]);
    });
  return saveWithStockTfjs(net, path.join(dir, name));
}

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'slim-separation-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('a model never sparsity-trained: prune warns that the |gamma| do not separate and suggests slim train', async () => {
  const model = await bnModel('dense-gammas', (k, c) => 0.8 + 0.05 * c + 0.01 * k);
  const result = await runSlim(['prune', '--model', model, '--ratio', '0.5', '--dry-run']);
  assert.equal(result.code, 0, describeRun(result));
  assert.match(
    result.stderr,
    /warning: prune: the \|gamma\| do not separate: 0\.0% of BN channels are near zero, the plan removes 50\.0%.*slim train.*smaller ratio/,
  );
  assert.match(result.stdout, /^ {2}group 1: 8 -> 4 channels/m, result.stdout);
  assert.doesNotMatch(result.stdout, /group 0:/);
  const written = await runSlim(['prune', '--model', model, '--ratio', '0.5', '--out', path.join(dir, 'pruned-dense')]);
  assert.equal(written.code, 0, describeRun(written));
  assert.match(written.stderr, /warning: prune: the \|gamma\| do not separate/);
});

test('half the γ near zero (what sparsity training leaves): no warning; one kept channel reads "1 channel"', async () => {
  const model = await bnModel('sparse-gammas', (_k, c) => (c % 2 === 0 ? 1e-4 : 1));
  const result = await runSlim(['prune', '--model', model, '--ratio', '0.5', '--dry-run']);
  assert.equal(result.code, 0, describeRun(result));
  assert.doesNotMatch(result.stderr, /do not separate/);
  const tiny = await bnModel('one-left', (_k, c) => (c === 0 ? 1 : 1e-4));
  const one = await runSlim(['prune', '--model', tiny, '--ratio', '0.875', '--dry-run']);
  assert.equal(one.code, 0, describeRun(one));
  assert.match(one.stdout, /group 1: 8 -> 1 channel {2}\[/);
});
