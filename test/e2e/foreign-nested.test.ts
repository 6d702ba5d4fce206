/**
 * Part 1 of "slim the models users have": a Teachable-Machine-shaped model (Sequential >
 * Sequential > functional MobileNetV2-style body, then a Sequential Dense head; no outer layer
 * declares an input shape), with BN statistics that look trained, saved by stock tfjs, through the built
 * binary's report, prune (exact when only zero-γ channels go), finetune and export.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { describeRun, runSlim } from '../helpers/cli.js';
import { randomizeBnStatistics, saveWithStockTfjs } from '../helpers/foreign-models.js';
import { teachableMachineLike } from '../fixtures/zoo/index.js';
import { loadWithStockTfjs } from '../helpers/stock-load.js';

let dir: string;
let modelPath: string;
let stockParams: number;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'slim-nested-'));
  const model = teachableMachineLike();
  // Non-trivial BN statistics in every nested BN, as training would leave them, without training on the test's cpu backend.
  randomizeBnStatistics(model);
  // Zero γ and β of some channels inside the doubly nested body (expand BN and the depthwise BN
  // that shares its channels): those channels output exactly 0.
  const body = (model.layers[0] as tf.Sequential).layers[0] as tf.LayersModel;
  const zeroChannels = [
    ['b1', [0, 3, 5]],
    ['b3', [1, 2]],
  ] as const;
  for (const [bnName, channels] of zeroChannels.flatMap(
    ([block, c]) =>
      [
        [`model_1_${block}_expand_bn`, c],
        [`model_1_${block}_dw_bn`, c],
      ] as const,
  )) {
    const bn = body.getLayer(bnName);
    const [gamma, beta, ...stats] = bn.getWeights();
    const zeroed = (t: tf.Tensor) => {
      const values = t.dataSync().slice();
      for (const c of channels) values[c] = 0;
      return tf.tensor(values, t.shape);
    };
    bn.setWeights([zeroed(gamma), zeroed(beta), ...stats]);
  }
  stockParams = model.countParams();
  modelPath = await saveWithStockTfjs(model, path.join(dir, 'tm'));
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

test('report counts a nested Sequential model like stock tfjs countParams()', async () => {
  assert.equal(await reportParams(modelPath), stockParams);
});

test('prune removes only the zero-γ channels of the nested body and the outputs stay the same', async () => {
  const out = path.join(dir, 'pruned');
  const result = await runSlim(['prune', '--model', modelPath, '--threshold', '1e-6', '--out', out, '--json']);
  assert.equal(result.code, 0, describeRun(result));
  const { plan } = JSON.parse(result.stdout) as { plan: { prunedChannels: number } };
  assert.equal(plan.prunedChannels, 5, describeRun(result));
  const [original, pruned] = [await loadWithStockTfjs(modelPath), await loadWithStockTfjs(path.join(out, 'model.json'))];
  assert.equal(await reportParams(out), pruned.countParams());
  assert.ok(pruned.countParams() < original.countParams());
  const x = tf.randomUniform([4, 28, 28, 1], 0, 1, 'float32', 3);
  const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(original.predict(x) as tf.Tensor, pruned.predict(x) as tf.Tensor))).dataSync()[0]);
  assert.ok(diff < 1e-5, `outputs differ by ${diff}`);
  tf.dispose([x]);
  original.dispose();
  pruned.dispose();
});

test('finetune and export run on the pruned nested model; stock tfjs loads both', async () => {
  const config = path.join(dir, 'config.json');
  await writeFile(
    config,
    JSON.stringify({
      seed: 1,
      backend: 'wasm',
      model: { type: 'file', path: modelPath },
      data: { dataset: 'mnist', trainLimit: 64, testLimit: 64, validationSplit: 0 },
      finetune: { epochs: 1, batchSize: 32, lr: 0.01 },
    }),
  );
  const pruned = path.join(dir, 'pruned-ft-input');
  const prune = await runSlim(['prune', '--model', modelPath, '--ratio', '0.3', '--out', pruned]);
  assert.equal(prune.code, 0, describeRun(prune));
  const tuned = path.join(dir, 'tuned');
  const finetune = await runSlim(['finetune', '--config', config, '--model', pruned, '--out', tuned]);
  assert.equal(finetune.code, 0, describeRun(finetune));
  const exported = path.join(dir, 'exported');
  const exportRun = await runSlim(['export', '--model', tuned, '--out', exported]);
  assert.equal(exportRun.code, 0, describeRun(exportRun));
  // One report counts both: the tuned model and, as its --baseline, the exported one.
  const report = await runSlim(['report', '--model', tuned, '--baseline', exported, '--json']);
  assert.equal(report.code, 0, describeRun(report));
  const counted = JSON.parse(report.stdout) as { params: { total: number }; baseline: { params: { total: number } } };
  for (const [folder, params] of [
    [tuned, counted.params.total],
    [exported, counted.baseline.params.total],
  ] as const) {
    const model = await loadWithStockTfjs(path.join(folder, 'model.json'));
    assert.equal(params, model.countParams(), folder);
    model.dispose();
  }
});
