/**
 * Sweep plans in-process: a plan run in shards (in any order, interrupted and resumed) and
 * gathered gives the rows of the local sweep, bit for bit; finished candidates are never computed
 * again; bad plans, shards and candidates are one-line errors. Real MNIST subset, 8-M-16 VGG
 * sparsity-trained here.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { parseConfig } from '../src/config/load.js';
import type { Config } from '../src/config/schema.js';
import { InputError, InterruptedError, ProblemError } from '../src/errors.js';
import { parseShard, runShard, shardFromEnv } from '../src/executors/local.js';
import { gatherPlan, planPaths, readPlan, writeCandidateFailure, writePlan } from '../src/executors/plan.js';
import { sweepFromConfig, type SweepResult } from '../src/pipeline/sweep.js';
import { trainFromConfig } from '../src/pipeline/stages/train.js';
import { REPO_ROOT } from './helpers/cli.js';
import { loadWithStockTfjs } from './helpers/stock-load.js';
import { capturingOutput } from './helpers/capture-output.js';

const RATIOS = [0.2, 0.4, 0.6];
const EPOCHS = 1;

let dir: string;
let config: Config;
let sparse: string;
let local: SweepResult;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'slim-sweep-plan-'));
  const tiny = JSON.parse(await readFile(path.join(REPO_ROOT, 'test', 'fixtures', 'cli', 'tiny.json'), 'utf8')) as Record<string, unknown>;
  config = parseConfig(
    JSON.stringify({
      ...tiny,
      model: { type: 'vgg', cfg: [8, 'M', 16] },
      data: { dataset: 'mnist', trainLimit: 400, testLimit: 100, validationSplit: 0.25, preprocess: { mean: [0.1307], std: [0.3081] } },
    }),
    'test config',
  );
  sparse = path.join(dir, 'sparse');
  await trainFromConfig('train', config, sparse, { overwrite: true }, capturingOutput().out);
  local = await sweepFromConfig(config, sparse, RATIOS, EPOCHS, capturingOutput().out);
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('plan, shards in any order, gather: the rows, baseline and split of the local sweep, bit for bit', async () => {
  const planDir = path.join(dir, 'plan-a');
  const { out } = capturingOutput();
  const plan = await writePlan(planDir, config, sparse, RATIOS, EPOCHS, out);
  assert.deepEqual(
    plan.candidates.map((c) => c.ratio),
    RATIOS,
  );
  assert.ok(
    plan.candidates.every((c) => Number.isInteger(c.replicas)),
    'the replica count is fixed in the plan',
  );
  assert.equal(plan.config.backend, 'wasm', "the plan names the backend it resolved, not 'auto'");
  const second = await runShard(planDir, { index: 1, count: 2 }, out);
  assert.deepEqual(second.computed, [1]);
  const first = await runShard(planDir, { index: 0, count: 2 }, out);
  assert.deepEqual(first.computed, [0, 2]);
  const gathered = await gatherPlan(planDir);
  assert.deepEqual(gathered.rows, local.rows);
  assert.deepEqual(gathered.baseline, local.baseline);
  assert.equal(gathered.split, local.split);
  assert.equal(gathered.examples, local.examples);
  assert.ok(gathered.rows.every((r) => r.finetuned !== undefined));
  // Each candidate's fine-tuned model is kept beside its row and loads in stock tfjs.
  const model = await loadWithStockTfjs(path.join(planPaths(planDir).candidate(2).model, 'model.json'));
  assert.equal(model.layers.filter((l) => l.getClassName() === 'BatchNormalization').length, 2);
  model.dispose();
});

test('a shard run again computes nothing: finished candidates are skipped, their files untouched', async () => {
  const planDir = path.join(dir, 'plan-b');
  const { out } = capturingOutput();
  await writePlan(planDir, config, sparse, RATIOS, 0, out);
  await runShard(planDir, { index: 0, count: 1 }, out);
  const mtimes = await Promise.all(RATIOS.map((_, i) => stat(planPaths(planDir).candidate(i).row).then((s) => s.mtimeMs)));
  const again = await runShard(planDir, { index: 0, count: 1 }, out);
  assert.deepEqual(again, { computed: [], skipped: [0, 1, 2], failed: [] });
  const after = await Promise.all(RATIOS.map((_, i) => stat(planPaths(planDir).candidate(i).row).then((s) => s.mtimeMs)));
  assert.deepEqual(after, mtimes);
  // Writing the same plan again keeps the folder (re-submitting continues a plan).
  await writePlan(planDir, config, sparse, RATIOS, 0, out);
  assert.deepEqual((await gatherPlan(planDir)).rows.length, RATIOS.length);
});

test('an interrupted fine-tune (SIGTERM, pre-emption) checkpoints; the re-run resumes it and gives the local row', async () => {
  const planDir = path.join(dir, 'plan-c');
  const { out, lines } = capturingOutput();
  await writePlan(planDir, config, sparse, [0.4], EPOCHS, out);
  const stop = new AbortController();
  stop.abort();
  await assert.rejects(runShard(planDir, { index: 0, count: 1 }, out, stop.signal), InterruptedError);
  assert.ok((await stat(planPaths(planDir).candidate(0).checkpoint)).isDirectory(), 'the fine-tune left its checkpoint');
  await assert.rejects(gatherPlan(planDir), ProblemError);
  const resumed = await runShard(planDir, { index: 0, count: 1 }, out);
  assert.deepEqual(resumed.computed, [0]);
  assert.ok(
    lines.some((l) => /fine-tune: resuming from .*checkpoint at epoch 1, step [1-9]/.test(l)),
    lines.join('\n'),
  );
  assert.deepEqual((await gatherPlan(planDir)).rows, [local.rows[1]]);
});

test('gather: missing and failed candidates are named (exit 1); a corrupt candidate is bad input naming its file', async () => {
  const planDir = path.join(dir, 'plan-d');
  const { out } = capturingOutput();
  await writePlan(planDir, config, sparse, RATIOS, 0, out);
  await runShard(planDir, { index: 1, count: 3 }, out);
  await writeCandidateFailure(planDir, 2, 'training diverged');
  await assert.rejects(gatherPlan(planDir), (error: Error) => {
    assert.ok(error instanceof ProblemError);
    assert.match(error.message, /2 of 3 candidate\(s\) not done: ratio 0.2 \(missing\), ratio 0.6 \(failed: training diverged\)/);
    return true;
  });
  await writeFile(planPaths(planDir).candidate(1).row, '{"row": {"ratio": 0.4}');
  await assert.rejects(gatherPlan(planDir), (error: Error) => {
    assert.ok(error instanceof InputError);
    assert.match(error.message, /candidates\/001\/row\.json: corrupt candidate result/);
    assert.equal(error.message.split('\n').length, 1);
    return true;
  });
});

test('a plan folder of another slim version, another model or another config is refused', async () => {
  const planDir = path.join(dir, 'plan-e');
  const { out } = capturingOutput();
  await writePlan(planDir, config, sparse, RATIOS, 0, out);
  await assert.rejects(writePlan(planDir, config, sparse, [0.5], 0, out), /holds a plan with another config, ratios or --finetune-epochs/);
  const other = path.join(dir, 'other');
  await trainFromConfig('train', { ...config, seed: 7 }, other, { overwrite: true }, out);
  await assert.rejects(writePlan(planDir, config, other, RATIOS, 0, out), /holds the plan of another model/);
  const file = planPaths(planDir).plan;
  const text = await readFile(file, 'utf8');
  await writeFile(file, text.replace(/"version": "[^"]*"/, '"version": "0.0.1"'));
  await assert.rejects(readPlan(planDir), /plan written by slim 0\.0\.1, this is slim /);
  await assert.rejects(runShard(planDir, { index: 0, count: 1 }, out), InputError);
  await writeFile(file, text.replace(/"finetuneEpochs": 0/, '"finetuneEpochs": 3'));
  await assert.rejects(readPlan(planDir), /was edited/);
  await assert.rejects(readPlan(path.join(dir, 'nowhere')), /no sweep plan there/);
});

test('shards: I/N with I < N, from the flag or the environment of Slurm, Kubernetes or a CI matrix', () => {
  assert.deepEqual(parseShard('2/4'), { index: 2, count: 4 });
  for (const bad of ['5/4', '4/4', '0/0', '-1/4', '1', 'a/b', '']) assert.throws(() => parseShard(bad), InputError, bad);
  assert.throws(() => parseShard('5/4'), /shard index 5 is not below the shard count 4/);
  assert.deepEqual(shardFromEnv({ SLIM_SHARD: '1/3' }), { index: 1, count: 3 });
  assert.deepEqual(shardFromEnv({ SLURM_ARRAY_TASK_ID: '3', SLURM_ARRAY_TASK_COUNT: '4' }), { index: 3, count: 4 });
  assert.deepEqual(shardFromEnv({ JOB_COMPLETION_INDEX: '0', SLIM_SHARD_COUNT: '9' }), { index: 0, count: 9 });
  assert.throws(() => shardFromEnv({}), /none of SLIM_SHARD, SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX/);
  assert.throws(() => shardFromEnv({ JOB_COMPLETION_INDEX: '2' }), /JOB_COMPLETION_INDEX\/SLIM_SHARD_COUNT/);
});
