/**
 * Part 3 of "slim the models users have": a transfer-learning model whose MobileNetV2-style body
 * is frozen (BN included). Sparsity training unfreezes it by default (one stderr line), "as-saved"
 * keeps it frozen and the epoch log shows its γ did not move; the written model keeps the saved
 * trainable flags. Through the built binary, real MNIST subset.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { describeRun, runSlim } from '../helpers/cli.js';
import { randomizeBnStatistics, saveWithStockTfjs } from '../helpers/foreign-models.js';
import { frozenBodyTransfer } from '../fixtures/zoo/index.js';
import { loadWithStockTfjs } from '../helpers/stock-load.js';

interface GammaStats {
  count: number;
  meanAbs: number;
}
interface EpochLine {
  gammaByTrainable: { frozen: GammaStats; trainable: GammaStats; unmoved: number };
}
interface LayerJson {
  class_name: string;
  config: { trainable?: boolean; layers?: LayerJson[] };
}

const BODY_BN_CHANNELS = 8 + (16 + 16 + 8) + (24 + 24 + 12) + (24 + 24 + 12);

let dir: string;
let modelPath: string;
let stockParams: number;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'slim-frozen-'));
  const model = frozenBodyTransfer();
  // Non-trivial BN statistics (the frozen body's too), as a trained model has, without training on the test's cpu backend.
  randomizeBnStatistics(model);
  stockParams = model.countParams();
  modelPath = await saveWithStockTfjs(model, path.join(dir, 'transfer'));
  model.dispose();
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function trainWith(name: string, trainable: string | undefined): Promise<{ stderr: string; log: EpochLine[]; body: LayerJson }> {
  const config = path.join(dir, `${name}.json`);
  await writeFile(
    config,
    JSON.stringify({
      seed: 1,
      backend: 'wasm',
      data: { dataset: 'mnist', trainLimit: 64, testLimit: 64, validationSplit: 0 },
      train: { epochs: 1, batchSize: 32, lr: 0.05, sparsity: 1e-3, ...(trainable !== undefined ? { trainable } : {}) },
    }),
  );
  const out = path.join(dir, name);
  const result = await runSlim(['train', '--config', config, '--model', modelPath, '--out', out]);
  assert.equal(result.code, 0, describeRun(result));
  const log = (await readFile(path.join(out, 'train-log.jsonl'), 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as EpochLine);
  const topology = JSON.parse(await readFile(path.join(out, 'model.json'), 'utf8')) as {
    modelTopology: { config: { layers: LayerJson[] } };
  };
  const body = topology.modelTopology.config.layers.find((l) => l.class_name === 'Functional' || l.class_name === 'Model')!;
  return { stderr: result.stderr, log, body };
}

function frozenLeaves(body: LayerJson): number {
  return (body.config.layers ?? []).filter((l) => l.config.trainable === false).length;
}

test('report counts the frozen transfer model like stock countParams() (trainable split too)', async () => {
  const result = await runSlim(['report', '--model', modelPath, '--json']);
  assert.equal(result.code, 0, describeRun(result));
  const report = JSON.parse(result.stdout) as { params: { total: number; trainable: number } };
  assert.equal(report.params.total, stockParams);
  const stock = await loadWithStockTfjs(modelPath);
  const trainable = stock.trainableWeights.reduce((n, w) => n + (w.shape as number[]).reduce((a, b) => a * b, 1), 0);
  assert.equal(report.params.trainable, trainable);
  stock.dispose();
});

test('default ("all"): one line says what was unfrozen, γ moves, the written model keeps the saved flags', async () => {
  const saved = JSON.parse(await readFile(modelPath, 'utf8')) as { modelTopology: { config: { layers: LayerJson[] } } };
  const savedFrozen = frozenLeaves(saved.modelTopology.config.layers.find((l) => l.config.layers !== undefined)!);
  assert.ok(savedFrozen > 10);
  const { stderr, log, body } = await trainWith('all', undefined);
  const lines = stderr.split('\n').filter((l) => /unfroze/.test(l));
  assert.equal(lines.length, 1, stderr);
  assert.match(lines[0], /trainable "all" unfroze \d+ layer\(s\) saved as frozen/);
  const last = log[log.length - 1].gammaByTrainable;
  assert.equal(last.frozen.count, 0);
  assert.equal(last.trainable.count, BODY_BN_CHANNELS);
  assert.ok(last.unmoved < BODY_BN_CHANNELS / 10, `γ values that did not move: ${last.unmoved}`);
  assert.equal(frozenLeaves(body), savedFrozen);
});

test('"as-saved": nothing unfrozen, the log shows every frozen γ unmoved', async () => {
  const { stderr, log } = await trainWith('as-saved', 'as-saved');
  assert.doesNotMatch(stderr, /unfroze/);
  const last = log[log.length - 1].gammaByTrainable;
  assert.equal(last.frozen.count, BODY_BN_CHANNELS);
  assert.equal(last.unmoved, BODY_BN_CHANNELS);
  assert.match(stderr, new RegExp(`frozen gamma: ${BODY_BN_CHANNELS} \\(unmoved ${BODY_BN_CHANNELS}\\)`));
});

test('"bn": only BatchNorm opens, and its γ moves', async () => {
  const { stderr, log } = await trainWith('bn', 'bn');
  assert.match(stderr, /trainable "bn" unfroze 10 layer\(s\)/);
  const last = log[log.length - 1].gammaByTrainable;
  assert.equal(last.frozen.count, 0);
  assert.ok(last.unmoved < BODY_BN_CHANNELS / 10, `γ values that did not move: ${last.unmoved}`);
});
