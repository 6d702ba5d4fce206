/**
 * The accuracy budget over a plan folder, in-process: round 1 (the whole bracket) run in shards,
 * gathered; when the search needs bisection, gather appends the next round to the plan; after it,
 * gather chooses the local search's winner with the local search's record, candidate for
 * candidate. Real MNIST subset, 8-M-16 VGG sparsity-trained here.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { parseConfig } from '../src/config/load.js';
import type { Config } from '../src/config/schema.js';
import { ProblemError } from '../src/errors.js';
import { BUDGET_BRACKET, gatherBudget, replayBudget, roundPlanned, runBudgetRounds } from '../src/executors/budget-rounds.js';
import { runShard } from '../src/executors/local.js';
import { gatherPlan, measureGathered, readPlan, writePlan } from '../src/executors/plan.js';
import { startBackend } from '../src/pipeline/backend.js';
import { searchRatioWithinBudget, type BudgetSearch } from '../src/pipeline/budget.js';
import { loadLayersModel } from '../src/pipeline/model.js';
import { prepareSweepData } from '../src/pipeline/sweep.js';
import { trainFromConfig } from '../src/pipeline/stages/train.js';
import { REPO_ROOT } from './helpers/cli.js';
import { capturingOutput } from './helpers/capture-output.js';

/** Points: on this fixture ratios 0.1-0.4 are within, 0.5 is over, so the search bisects (the test checks that it does). */
const BUDGET = 5;

let dir: string;
let config: Config;
let sparse: string;
let local: BudgetSearch;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'slim-budget-plan-'));
  const tiny = JSON.parse(await readFile(path.join(REPO_ROOT, 'test', 'fixtures', 'cli', 'tiny.json'), 'utf8')) as Record<string, unknown>;
  config = parseConfig(
    JSON.stringify({
      ...tiny,
      model: { type: 'vgg', cfg: [8, 'M', 16] },
      data: { dataset: 'mnist', trainLimit: 1000, testLimit: 100, validationSplit: 0.2, preprocess: { mean: [0.1307], std: [0.3081] } },
      train: { epochs: 2, batchSize: 32, lr: 0.05, sparsity: 3e-3 },
      prune: { maxAccuracyDrop: BUDGET },
    }),
    'test config',
  );
  sparse = path.join(dir, 'sparse');
  await trainFromConfig(
    'train',
    { ...config, prune: { ...config.prune, maxAccuracyDrop: undefined } },
    sparse,
    { overwrite: true },
    capturingOutput().out,
  );
  const { out } = capturingOutput();
  await startBackend(config.backend, out);
  const { model } = await loadLayersModel(sparse);
  try {
    const data = await prepareSweepData(config, model, out);
    local = await searchRatioWithinBudget(model, { ...config.prune, maxAccuracyDrop: BUDGET }, data, config, out);
  } finally {
    model.dispose();
  }
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('budget plan: bracket in shards, a bisection round appended by gather, then the local search chosen and recorded', async () => {
  const planDir = path.join(dir, 'plan-a');
  const { out, lines } = capturingOutput();
  const budget = { maxAccuracyDrop: BUDGET, searchEpochs: 1 };
  const plan = await writePlan(planDir, config, sparse, BUDGET_BRACKET, 1, out, budget);
  assert.deepEqual(
    plan.candidates.map((c) => c.ratio),
    BUDGET_BRACKET,
  );
  assert.deepEqual(plan.budget, budget);
  await runShard(planDir, { index: 1, count: 2 }, out);
  await runShard(planDir, { index: 0, count: 2 }, out);

  // The fixture's search bisects: gather plans round 2, every bisection candidate the local search scored among it.
  const bisected = local.candidates.filter((c) => c.phase === 'bisect' && c.sameAs === undefined).map((c) => c.ratio);
  assert.ok(bisected.length > 0, 'the fixture needs bisection');
  const first = await gatherBudget(planDir, out);
  assert.ok('plan' in first, 'a bisection round is planned');
  assert.equal(first.round, 2);
  assert.ok(first.added.length <= 7, `at most 2^3 - 1 candidates: ${first.added.join(', ')}`);
  for (const ratio of bisected) assert.ok(first.added.includes(ratio), `round 2 holds ${ratio}: ${first.added.join(', ')}`);
  const reread = await readPlan(planDir);
  assert.deepEqual(
    reread.candidates.filter((c) => c.round === 2).map((c) => c.ratio),
    first.added,
  );
  assert.ok(lines.some((l) => /bisection round 2: \d+ candidate\(s\)/.test(l)));
  // What `slim sweep --gather` says then (exit 1): the round, its ratios, and how to go on.
  const message = roundPlanned(planDir, first).message;
  assert.ok(message.includes(`needs bisection round 2 (ratios ${first.added.join(', ')}), added to the plan`), message);
  assert.ok(message.includes(`slim sweep --plan ${planDir} --shard I/N`), message);
  // Its candidates are not done yet: gather names them (exit 1), and adds no third round.
  await assert.rejects(gatherBudget(planDir, out), (error: Error) => {
    assert.ok(error instanceof ProblemError);
    assert.match(
      error.message,
      new RegExp(`${first.added.length} of ${9 + first.added.length} candidate\\(s\\) not done: ratio ${first.added[0]} \\(missing\\)`),
    );
    return true;
  });

  // Round 2 runs as round 1 did (a shard skips the bracket, done already); then gather chooses as the local search.
  const second = await runShard(planDir, { index: 0, count: 1 }, out);
  assert.deepEqual(
    second.computed,
    first.added.map((_, i) => 9 + i),
  );
  const chosen = await gatherBudget(planDir, out);
  assert.ok('done' in chosen, 'the search has chosen');
  assert.equal(chosen.done.budget.ratio, local.ratio);
  assert.equal(chosen.done.budget.reason, local.reason);
  assert.deepEqual(chosen.done.budget, local);
  assert.equal(chosen.done.rows.length, 9 + first.added.length, 'every computed candidate is a row of the gathered sweep');
  assert.ok(lines.some((l) => l.includes(`accuracy budget: chose ratio ${local.ratio}: `)) || local.ratio === 0);
});

test('a budget plan on the local executor runs round after round to the same choice; the rows decide, not the order they came in', async () => {
  const planDir = path.join(dir, 'plan-a');
  const { out } = capturingOutput();
  const plan = await readPlan(planDir);
  const rounds: number[] = [];
  const result = await runBudgetRounds(planDir, plan, async (current) => rounds.push(current.candidates.length), out);
  assert.deepEqual(rounds, [plan.candidates.length], 'every round is done: one gather chooses');
  assert.deepEqual(result.budget, local);
  // The replay reads rows by ratio: reversed rows give the same record.
  const rows = (await gatherPlan(planDir)).rows;
  const replayed = await replayBudget(planDir, plan, [...rows].reverse(), out);
  assert.ok('search' in replayed);
  assert.deepEqual(replayed.search, local);
  // Without the bisection rows, the same round 2 is needed again.
  const bracketOnly = await replayBudget(planDir, plan, rows.slice(0, 9), out);
  assert.deepEqual(bracketOnly, { needed: plan.candidates.filter((c) => c.round === 2).map((c) => c.ratio) });
});

test('--latency of a gathered plan: measured at gather on this machine, every row timed against the unpruned model', async () => {
  const planDir = path.join(dir, 'plan-a');
  const { out } = capturingOutput();
  const gathered = await gatherPlan(planDir);
  const timed = await measureGathered(planDir, gathered, { runtime: 'node:wasm', batch: 1, runs: 3 }, out);
  assert.equal(timed.rows.length, gathered.rows.length);
  for (const [i, row] of timed.rows.entries()) {
    const { latency, ...rest } = row;
    assert.deepEqual(rest, gathered.rows[i], 'the accuracy columns are the gathered ones');
    assert.equal(latency?.runtime, 'node:wasm');
    assert.ok(latency.ms > 0 && latency.baselineMs > 0 && latency.speedup > 0, JSON.stringify(latency));
  }
});
