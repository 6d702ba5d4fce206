/**
 * Saying what was achieved: the prune line when a floor or rounding keeps the plan from the
 * requested ratio (and the plan's requested/achieved fields), the line for a clamped replicas
 * setting, and epoch numbers that agree between train-log.jsonl and stderr.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { describeReplicaClamp } from '../../src/pipeline/train.js';
import { readEpochLog } from '../../src/report/html/collect.js';
import { describeRun, runSlim, stderrLines } from '../helpers/cli.js';
import { npyDataConfig, writeNpyDataset } from '../fuzz/corpus-data.js';
import { sequentialModel, writeRawModel } from '../fuzz/fixtures.js';

let dir: string;
let model: string;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'slim-achieved-'));
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
  // Two prunable groups: conv (4 channels) and hidden (6 channels); the head is kept whole.
  model = await writeRawModel(path.join(dir, 'model'), await sequentialModel());
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface PlanJson {
  ratio: number;
  candidateChannels: number;
  requestedChannels: number;
  prunedChannels: number;
  achievedRatio: number;
  shortfall?: string[];
}

test('prune --min-channels: one line says what was removed instead of the requested ratio, and why', async () => {
  const result = await runSlim(['prune', '--model', model, '--ratio', '0.9', '--min-channels', '3', '--out', path.join(dir, 'floor')]);
  assert.equal(result.code, 0, describeRun(result));
  const lines = stderrLines(result).filter((line) => line.startsWith('prune: removed'));
  assert.deepEqual(lines, [
    'prune: removed 40.0% of channels (4 of 10), not the requested 90% (min-channels 3 keeps 2 groups at their floor (+5 channels); ' +
      '10 channels behind walls are kept whole and not counted)',
  ]);
  const plan = JSON.parse(await readFile(path.join(dir, 'floor', 'prune-plan.json'), 'utf8')) as PlanJson;
  assert.equal(plan.ratio, 0.9);
  assert.equal(plan.requestedChannels, 9);
  assert.equal(plan.prunedChannels, 4);
  assert.equal(plan.achievedRatio, 0.4);
  assert.deepEqual(plan.shortfall, ['min-channels 3 keeps 2 groups at their floor (+5 channels)']);
});

test('prune --round-to: the rounding is named; a plan that reaches the ratio prints no such line', async () => {
  const rounded = await runSlim(['prune', '--model', model, '--ratio', '0.5', '--round-to', '4', '--dry-run', '--json']);
  assert.equal(rounded.code, 0, describeRun(rounded));
  const plan = JSON.parse(rounded.stdout) as PlanJson;
  assert.equal(plan.requestedChannels, 5);
  assert.equal(plan.prunedChannels, 2);
  assert.deepEqual(plan.shortfall, ['round-to 4 keeps 3 more channels in 1 group']);
  assert.match(
    rounded.stderr,
    /^prune: removed 20\.0% of channels \(2 of 10\), not the requested 50% \(round-to 4 keeps 3 more channels in 1 group;/m,
  );

  const reached = await runSlim(['prune', '--model', model, '--ratio', '0.5', '--dry-run', '--json']);
  const full = JSON.parse(reached.stdout) as PlanJson;
  assert.equal(full.prunedChannels, 5);
  assert.equal(full.achievedRatio, 0.5);
  assert.equal(full.shortfall, undefined);
  assert.doesNotMatch(reached.stderr, /prune: removed/);
});

test('a clamped replicas setting is reported with what was used and why', () => {
  assert.equal(describeReplicaClamp(1000, 2, 'cpu', 2), 'replicas: 1000 requested, 2 used (capped at the 2 core(s) of this machine)');
  assert.equal(describeReplicaClamp(4, 1, 'tensorflow', 8), 'replicas: 4 requested, 1 used (backend tensorflow already uses every core)');
  assert.equal(describeReplicaClamp('auto', 2, 'cpu', 8), undefined);
  assert.equal(describeReplicaClamp(2, 2, 'cpu', 8), undefined);
});

test('train: replicas 1000 says what was used; train-log.jsonl numbers epochs from 1 like stderr', async () => {
  const data = path.join(dir, 'npy');
  await writeNpyDataset(data);
  const config = path.join(dir, 'train.json');
  await writeFile(
    config,
    JSON.stringify({
      seed: 1,
      backend: 'cpu',
      model: { type: 'vgg', cfg: [2] },
      data: {
        ...npyDataConfig(data),
      },
      train: { epochs: 2, batchSize: 16 },
    }),
  );
  const out = path.join(dir, 'trained');
  const result = await runSlim(['train', '--config', config, '--out', out, '--replicas', '1000']);
  assert.equal(result.code, 0, describeRun(result));
  assert.match(result.stderr, /^replicas: 1000 requested, \d+ used \(capped at the \d+ core\(s\) of this machine\)$/m);
  const stderrEpochs = [...result.stderr.matchAll(/^ {2}epoch (\d+)\/2:/gm)].map((m) => Number(m[1]));
  const logFile = path.join(out, 'train-log.jsonl');
  const logEpochs = (await readFile(logFile, 'utf8'))
    .trim()
    .split('\n')
    .map((line) => (JSON.parse(line) as { epoch: number }).epoch);
  assert.deepEqual(stderrEpochs, [1, 2]);
  assert.deepEqual(logEpochs, [1, 2]);
  // The report reads both the 1-based logs and the 0-based ones slim wrote before.
  assert.deepEqual(
    (await readEpochLog(logFile, 'train')).epochs.map((r) => r.epoch),
    [0, 1],
  );
  const legacy = path.join(dir, 'legacy-log.jsonl');
  await writeFile(
    legacy,
    (await readFile(logFile, 'utf8')).replace(/"epoch":(\d+)/g, (_, n: string) => `"epoch":${Number(n) - 1}`),
  );
  assert.deepEqual(
    (await readEpochLog(legacy, 'train')).epochs.map((r) => r.epoch),
    [0, 1],
  );
});
