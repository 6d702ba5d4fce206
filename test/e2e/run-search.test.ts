/**
 * The accuracy budget (prune.maxAccuracyDrop / --max-drop) and multi-pass slimming (passes /
 * --passes) of `slim run`, through the built binary on a real MNIST subset with a small VGG.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { InputError } from '../../src/errors.js';
import { parseConfig } from '../../src/config/load.js';
import { pruneAmountOverrides } from '../../src/commands/options.js';
import type { RunSummary } from '../../src/pipeline/run.js';
import { describeRun, exists, runSlim, stderrLines } from '../helpers/cli.js';

let dir: string;
let config: string;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'slim-run-search-'));
  config = path.join(dir, 'config.json');
  await writeFile(
    config,
    JSON.stringify({
      seed: 1,
      backend: 'wasm',
      model: { type: 'vgg', cfg: [8, 'M', 16], head: 'flatten' },
      data: { dataset: 'mnist', trainLimit: 500, testLimit: 200, validationSplit: 0.2, preprocess: { mean: [0.1307], std: [0.3081] } },
      train: { epochs: 1, batchSize: 32, lr: 0.05, sparsity: 3e-3 },
      prune: { ratio: 0.5 },
      finetune: { epochs: 1, batchSize: 32, lr: 0.01 },
    }),
  );
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('config: ratio, threshold and maxAccuracyDrop exclude each other; the flags replace one another', () => {
  assert.throws(
    () => parseConfig('{"prune": {"ratio": 0.5, "maxAccuracyDrop": 1}}', 'c.json'),
    (e: unknown) => e instanceof InputError && /maxAccuracyDrop/.test(e.message),
  );
  assert.throws(() => parseConfig('{"prune": {"threshold": 0.1, "maxAccuracyDrop": 1}}', 'c.json'), InputError);
  assert.throws(() => parseConfig('{"passes": 0}', 'c.json'), InputError);
  const budgeted = parseConfig('{"prune": {"ratio": 0.5}}', 'c.json', pruneAmountOverrides({ 'max-drop': 0.5 }));
  assert.equal(budgeted.prune.maxAccuracyDrop, 0.5);
  assert.equal(budgeted.prune.ratio, undefined);
  const fixed = parseConfig('{"prune": {"maxAccuracyDrop": 1}}', 'c.json', pruneAmountOverrides({ ratio: 0.3 }));
  assert.equal(fixed.prune.ratio, 0.3);
  assert.equal(fixed.prune.maxAccuracyDrop, undefined);
  assert.equal(parseConfig('{}', 'c.json').passes, 1);
});

test('run --max-drop: the chosen ratio meets the budget, the next ratio tried above it does not (or it is the upper bound)', async () => {
  const outDir = path.join(dir, 'budget');
  const budget = 1;
  const result = await runSlim(['run', '--config', config, '--max-drop', String(budget), '--out', outDir, '--json']);
  assert.equal(result.code, 0, describeRun(result));
  const summary = JSON.parse(result.stdout) as RunSummary;
  assert.equal(summary.passes.length, 1);
  const search = summary.passes[0].budget!;
  assert.ok(search, 'passes[0].budget');
  assert.equal(search.maxAccuracyDrop, budget);
  assert.equal(search.split, 'val');
  assert.equal(search.searchEpochs, 1);
  assert.equal(summary.prune.ratio, search.ratio, 'the run pruned at the chosen ratio');
  assert.equal(search.candidates[0].phase, 'bracket');
  assert.equal(search.candidates[0].ratio, 0.1);
  for (const c of search.candidates) {
    assert.ok(c.finetuned, `candidate ${c.ratio} was fine-tuned`);
    assert.equal(c.judged, c.finetuned.accuracy);
    assert.ok(Math.abs(c.drop - (search.reference.accuracy - c.judged) * 100) < 1e-4);
    assert.equal(c.withinBudget, c.drop <= budget + 1e-9);
    if (c.sameAs !== undefined) assert.equal(c.channels.removed, search.candidates.find((o) => o.ratio === c.sameAs)!.channels.removed);
  }
  const above = search.candidates.filter((c) => c.ratio > search.ratio).sort((a, b) => a.ratio - b.ratio);
  if (search.ratio > 0) {
    const winner = search.candidates.find((c) => c.ratio === search.ratio)!;
    assert.ok(winner.withinBudget, `winner ${winner.ratio} drops ${winner.drop}`);
  }
  if (above.length === 0) assert.equal(search.ratio, 0.9, 'no ratio above the winner tried: it is the upper bound');
  else assert.equal(above[0].withinBudget, false, `next ratio up ${above[0].ratio} drops ${above[0].drop}`);
  assert.match(search.reason, /budget/);
  const written = JSON.parse(await readFile(path.join(outDir, 'run.json'), 'utf8')) as RunSummary;
  assert.deepEqual(written.passes[0].budget, search);
  assert.match(result.stderr, /accuracy budget: /);
  // The candidates are the report's sweep curve.
  assert.equal(summary.sweep?.length, search.candidates.length);
  assert.equal(summary.sweepSplit, 'val');
  assert.match(await readFile(path.join(outDir, 'report.html'), 'utf8'), /<section id="sweep">/);
});

test('run --passes 2: the second pass prunes the channels the first left, from its fine-tuned model', async () => {
  const outDir = path.join(dir, 'passes');
  const result = await runSlim(['run', '--config', config, '--passes', '2', '--out', outDir, '--json']);
  assert.equal(result.code, 0, describeRun(result));
  const summary = JSON.parse(result.stdout) as RunSummary;
  assert.deepEqual(
    summary.passes.map((p) => p.pass),
    [1, 2],
  );
  const [first, second] = summary.passes as [RunSummary['passes'][0], RunSummary['passes'][0]];
  assert.equal(first.channels.before, 24);
  assert.equal(first.channels.after, 24 - Math.floor(0.5 * 24));
  assert.equal(second.channels.before, first.channels.after);
  assert.equal(second.channels.after, second.channels.before - Math.floor(0.5 * second.channels.before));
  assert.equal(
    second.widths.reduce((a, b) => a + b, 0),
    second.channels.after,
  );
  assert.ok(second.params < first.params && second.macs < first.macs);
  for (const p of summary.passes) for (const a of Object.values(p.accuracy)) assert.ok(a >= 0 && a <= 1);
  assert.equal(first.models.finetuned, path.join(outDir, 'finetuned', 'model.json'));
  assert.equal(second.models.sparse, path.join(outDir, 'pass-2', 'sparse', 'model.json'));
  assert.equal(summary.models.finetuned, path.join(outDir, 'pass-2', 'finetuned', 'model.json'));
  for (const stage of ['sparse', 'pruned', 'finetuned']) assert.ok(await exists(path.join(outDir, 'pass-2', stage, 'weights.bin')), stage);
  // The report compares the final model with the input: both passes' removals.
  assert.equal(summary.report.params.total, second.params);
  assert.match(result.stderr, /pass 2\/2: ratio 0\.5, channels 12 -> 6/);
  const page = await readFile(path.join(outDir, 'report.html'), 'utf8');
  for (const pass of [1, 2])
    for (const stage of ['sparsity trained', 'pruned', 'fine-tuned'])
      assert.ok(page.includes(`pass ${pass} ${stage}<`), `pass ${pass} ${stage} row`);
});

test('run with a bad budget or pass count: exit 2, one error line', async () => {
  for (const args of [
    ['--max-drop', '-1'],
    ['--passes', '0'],
    ['--ratio', '0.5', '--max-drop', '1'],
  ]) {
    const result = await runSlim(['run', '--config', config, '--out', path.join(dir, 'bad'), ...args]);
    assert.equal(result.code, 2, describeRun(result));
    assert.equal(stderrLines(result).filter((l) => l.startsWith('error:')).length, 1, result.stderr);
  }
});
