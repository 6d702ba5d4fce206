/**
 * `slim run` end to end through the built binary, and what a diverging training run leaves behind
 * (exit 1, one clear line, no output folder). Real MNIST subset, 4-M-8 VGG.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { describeRun, exists, REPO_ROOT, runSlim, STACK_FRAME, stderrLines, type SlimResult } from '../helpers/cli.js';

const TINY_CONFIG = path.join(REPO_ROOT, 'test', 'fixtures', 'cli', 'tiny.json');

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'slim-cli-run-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The tiny fixture config with some sections replaced, written to the temp folder. */
async function tinyConfigWith(name: string, changes: Record<string, unknown>): Promise<string> {
  const config = { ...(JSON.parse(await readFile(TINY_CONFIG, 'utf8')) as Record<string, unknown>), ...changes };
  const file = path.join(dir, name);
  await writeFile(file, JSON.stringify(config, null, 2));
  return file;
}

function inUnit(x: unknown): boolean {
  return typeof x === 'number' && x >= 0 && x <= 1;
}

interface RunJson {
  out: string;
  models: Record<string, string>;
  accuracy: { sparse: number; pruned: number; finetuned: number; baseline?: number };
  report: { params: { total: number }; reduction?: { params: number; macs: number } };
  prune: { prunedChannels: number; candidateChannels: number };
}

test('run --config --json: every stage, accuracies in [0, 1], report reductions, one folder per stage', async () => {
  const outDir = path.join(dir, 'run');
  // No speed measurement (bench.runtimes []): run's timing of the exported models is test/e2e/run-bench.test.ts's.
  const config = await tinyConfigWith('run.json', { out: outDir, bench: { runtimes: [] } });
  // --replicas 2: every training stage runs data-parallel in a worker thread (on 2+ cores), rows split by measured speed.
  const result = await runSlim(['run', '--config', config, '--json', '--replicas', '2', '--replica-split', 'speed']);
  assert.equal(result.code, 0, describeRun(result));
  const summary = JSON.parse(result.stdout) as RunJson;
  assert.equal(summary.out, outDir);
  for (const stage of ['sparse', 'pruned', 'finetuned'] as const) {
    assert.ok(inUnit(summary.accuracy[stage]), `accuracy.${stage} = ${summary.accuracy[stage]}`);
  }
  assert.equal(summary.accuracy.baseline, undefined, 'an untrained built-in model has no baseline accuracy');
  assert.ok(summary.report.reduction, 'report.reduction');
  assert.ok(inUnit(summary.report.reduction.params) && inUnit(summary.report.reduction.macs));
  assert.ok(summary.report.reduction.params > 0);
  assert.ok(summary.prune.prunedChannels > 0);

  const entries = (await readdir(outDir)).sort();
  for (const name of ['input', 'sparse', 'pruned', 'finetuned', 'exported', 'run.json'])
    assert.ok(entries.includes(name), `${name} in ${entries.join(',')}`);
  for (const stage of ['input', 'sparse', 'pruned', 'finetuned']) {
    assert.equal(summary.models[stage], path.join(outDir, stage, 'model.json'));
    assert.ok(await exists(path.join(outDir, stage, 'weights.bin')), `${stage}/weights.bin`);
  }
  assert.ok(await exists(path.join(outDir, 'sparse', 'train-log.jsonl')));
  assert.ok(await exists(path.join(outDir, 'pruned', 'prune-plan.json')));
  assert.ok(await exists(path.join(outDir, 'finetuned', 'finetune-log.jsonl')));
  // exported/: the fine-tuned model with every BatchNormalization folded into its conv.
  assert.equal(summary.models.exported, path.join(outDir, 'exported', 'model.json'));
  const layerClasses = (text: string): string[] => [...text.matchAll(/"class_name":\s*"(\w+)"/g)].map((m) => m[1]);
  const finetunedClasses = layerClasses(await readFile(path.join(outDir, 'finetuned', 'model.json'), 'utf8'));
  const exportedClasses = layerClasses(await readFile(path.join(outDir, 'exported', 'model.json'), 'utf8'));
  assert.ok(finetunedClasses.includes('BatchNormalization'));
  assert.ok(!exportedClasses.includes('BatchNormalization'), `exported layers: ${exportedClasses.join(', ')}`);
  assert.match(result.stderr, /folded \d+ BatchNormalization layers? into/);
  if (availableParallelism() >= 2) assert.match(result.stderr, /2 replicas \(worker threads, rows split by measured speed;/);
  // run.json is the same summary stdout carried.
  assert.deepEqual(JSON.parse(await readFile(path.join(outDir, 'run.json'), 'utf8')), summary);
  // The human side: stage logs and the report went to stderr.
  assert.match(result.stderr, /sparsity train/);
  assert.match(result.stderr, /FLOPs = 2 x MACs/);
  assert.doesNotMatch(result.stderr, STACK_FRAME);
});

function assertDiverged(result: SlimResult): void {
  assert.equal(result.code, 1, describeRun(result));
  assert.equal(result.stdout, '');
  const errors = stderrLines(result).filter((l) => l.startsWith('error:'));
  assert.equal(errors.length, 1, result.stderr);
  assert.match(errors[0], /diverged/);
  assert.doesNotMatch(result.stderr, STACK_FRAME);
}

// The cpu backend keeps NaN through clipByValue, so the NaN loss shows at once; few images and
// batches of 8 keep it quick (a cpu step of 32 images costs ~0.8 s CPU, and the loss is read every few steps).
test('train with lr 1e12 diverges: exit 1, one line saying so, no --out folder (cpu)', async () => {
  const outDir = path.join(dir, 'diverged-cpu');
  const config = await tinyConfigWith('diverge-cpu.json', {
    data: { dataset: 'mnist', trainLimit: 160, testLimit: 100, validationSplit: 0 },
    train: { epochs: 1, batchSize: 8, lr: 0.05 },
  });
  const result = await runSlim(['train', '--config', config, '--backend', 'cpu', '--lr', '1e12', '--out', outDir]);
  assertDiverged(result);
  assert.equal(await exists(outDir), false);
});

test('train with lr 1e12 diverges on wasm too: exit 1, no --out folder', async () => {
  const outDir = path.join(dir, 'diverged-wasm');
  const result = await runSlim(['train', '--config', TINY_CONFIG, '--backend', 'wasm', '--lr', '1e12', '--out', outDir]);
  assertDiverged(result);
  assert.equal(await exists(outDir), false);
});

test('run that diverges: exit 1 and no stage folder after the failed one', async () => {
  const outDir = path.join(dir, 'run-diverged');
  const config = await tinyConfigWith('run-diverge.json', {
    out: outDir,
    backend: 'cpu',
    data: { dataset: 'mnist', trainLimit: 160, testLimit: 100, validationSplit: 0 },
    train: { epochs: 1, batchSize: 8, lr: 1e12 },
  });
  const result = await runSlim(['run', '--config', config]);
  assertDiverged(result);
  // input/ is written before training; nothing from the diverged stage on may exist.
  for (const stage of ['sparse', 'pruned', 'finetuned', 'run.json']) {
    assert.equal(await exists(path.join(outDir, stage)), false, `${stage} exists after divergence`);
  }
});
