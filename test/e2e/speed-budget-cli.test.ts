/**
 * `slim run --min-speedup X --on RUNTIME` through the built binary: the flags reach prune.minSpeedup,
 * run.json records every candidate with its measured speed-up, a budget no candidate reaches is
 * exit 1 with one error line, and bad input is refused (exit 2) before any training. The choice
 * itself is tested in-process (test/speed-budget.test.ts); the factors here are far from any
 * measured speed-up (0.01× is met by every candidate, 1e6× by none).
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BRACKET_RATIOS } from '../../src/pipeline/budget.js';
import type { RunSummary } from '../../src/pipeline/run.js';
import { describeRun, exists, runSlim, STACK_FRAME, stderrLines } from '../helpers/cli.js';

let dir: string;
let config: string;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'slim-speed-budget-'));
  config = path.join(dir, 'config.json');
  await writeFile(
    config,
    JSON.stringify({
      seed: 1,
      backend: 'wasm',
      model: { type: 'vgg', cfg: [8, 'M', 16], head: 'flatten' },
      data: { dataset: 'mnist', trainLimit: 1000, testLimit: 200, validationSplit: 0.2, preprocess: { mean: [0.1307], std: [0.3081] } },
      train: { epochs: 1, batchSize: 32, lr: 0.05, sparsity: 3e-3 },
      prune: { ratio: 0.5, searchEpochs: 0 },
      finetune: { epochs: 1, batchSize: 32, lr: 0.01 },
      bench: { runtimes: [], runs: 5, warmup: 1 },
    }),
  );
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('slim run --min-speedup X --on RUNTIME', () => {
  test('picks a candidate meeting the budget and records every candidate with its speed-up in run.json', async () => {
    const outDir = path.join(dir, 'met');
    const result = await runSlim(['run', '--config', config, '--out', outDir, '--min-speedup', '0.01', '--on', 'node:wasm']);
    assert.equal(result.code, 0, describeRun(result));
    const summary = JSON.parse(await readFile(path.join(outDir, 'run.json'), 'utf8')) as RunSummary;
    const search = summary.passes[0].speedBudget!;
    assert.deepEqual(search.minSpeedup, { factor: 0.01, on: 'node:wasm', batch: 1 });
    assert.deepEqual(
      search.candidates.map((c) => c.ratio),
      BRACKET_RATIOS,
    );
    for (const c of search.candidates) assert.ok(c.speedup > 0 && c.meetsSpeed && typeof c.drop === 'number', `ratio ${c.ratio}`);
    assert.equal(summary.prune.ratio, search.ratio, 'the run pruned at the chosen ratio');
    assert.match(result.stderr, /speed budget: chose ratio 0\.\d+ is [\d.]+× faster on node:wasm/);

    // slim sweep takes the same flags: every candidate timed on the budget's runtime, the pick in --json.
    const swept = await runSlim([
      'sweep',
      '--model',
      path.join(outDir, 'sparse'),
      '--config',
      config,
      '--ratios',
      '0.3,0.6',
      '--min-speedup',
      '0.01',
      '--on',
      'node:wasm',
      '--json',
    ]);
    assert.equal(swept.code, 0, describeRun(swept));
    const sweep = JSON.parse(swept.stdout) as { rows: { ratio: number; latency?: { runtime: string } }[]; speedBudget: { ratio: number } };
    assert.deepEqual(
      sweep.rows.map((r) => r.latency?.runtime),
      ['node:wasm', 'node:wasm'],
    );
    assert.ok([0.3, 0.6].includes(sweep.speedBudget.ratio));
  });

  test('no candidate reaching the budget: exit 1, one error line naming the best speed-up reached', async () => {
    const outDir = path.join(dir, 'unmet');
    const result = await runSlim(['run', '--config', config, '--out', outDir, '--min-speedup', '1000000', '--on', 'node:wasm']);
    assert.equal(result.code, 1, describeRun(result));
    const errors = stderrLines(result).filter((l) => l.startsWith('error:'));
    assert.equal(errors.length, 1, describeRun(result));
    assert.match(
      errors[0],
      /^error: speed budget: no candidate ratio .* reaches 1000000× on node:wasm at batch 1: the best speed-up reached is [\d.]+× \(ratio 0\.\d\)$/,
    );
    assert.doesNotMatch(result.stderr, STACK_FRAME);
    assert.equal(await exists(path.join(outDir, 'run.json')), false);
  });

  const refusals: [string, string[], RegExp][] = [
    ['an unknown runtime', ['--min-speedup', '2', '--on', 'node:gpu'], /prune\.minSpeedup\.on \(from --on\): /],
    ['X = 0', ['--min-speedup', '0', '--on', 'node:wasm'], /prune\.minSpeedup\.factor \(from --min-speedup\): .*>0/],
    ['a missing --on', ['--min-speedup', '2'], /--min-speedup 2: needs --on RUNTIME \(node:wasm, /],
    ['--on without --min-speedup', ['--on', 'node:wasm'], /--on node:wasm: only with --min-speedup X/],
  ];
  for (const [what, flags, message] of refusals) {
    test(`bad input: ${what} is exit 2 with one error line, nothing written`, async () => {
      const outDir = path.join(dir, 'refused');
      const result = await runSlim(['run', '--config', config, '--out', outDir, ...flags]);
      assert.equal(result.code, 2, describeRun(result));
      const lines = stderrLines(result);
      assert.equal(lines.filter((l) => l.startsWith('error:')).length, 1, describeRun(result));
      assert.match(result.stderr, message);
      assert.equal(await exists(outDir), false);
    });
  }

  test('bad input: a runtime not available here is exit 2 before any training', async () => {
    const outDir = path.join(dir, 'no-browser');
    const result = await runSlim(['run', '--config', config, '--out', outDir, '--min-speedup', '2', '--on', 'chromium:wasm'], {
      env: { PATH: '/nonexistent' },
    });
    assert.equal(result.code, 2, describeRun(result));
    assert.match(
      stderrLines(result).at(-1)!,
      /^error: prune\.minSpeedup\.on chromium:wasm: not available here: no Chromium or Chrome found on PATH; fix: install Chromium/,
    );
    assert.equal(await exists(path.join(outDir, 'sparse')), false, 'refused before sparsity training');
  });
});
