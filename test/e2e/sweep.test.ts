/**
 * `slim sweep`: ratio parsing, and the sweep through the built binary on a model sparsity-trained
 * here (real MNIST subset, 8-M-16 VGG): one row per ratio, scored on the validation split.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { InputError } from '../../src/errors.js';
import { parseRatios, type SweepResult } from '../../src/pipeline/sweep.js';
import { describeRun, REPO_ROOT, runSlim, stderrLines } from '../helpers/cli.js';

let dir: string;
let config: string;
let sparse: string;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'slim-sweep-'));
  const tiny = JSON.parse(await readFile(path.join(REPO_ROOT, 'test', 'fixtures', 'cli', 'tiny.json'), 'utf8')) as Record<string, unknown>;
  config = path.join(dir, 'config.json');
  await writeFile(
    config,
    JSON.stringify({
      ...tiny,
      model: { type: 'vgg', cfg: [8, 'M', 16] },
      data: { dataset: 'mnist', trainLimit: 600, testLimit: 200, validationSplit: 0.25, preprocess: { mean: [0.1307], std: [0.3081] } },
    }),
  );
  sparse = path.join(dir, 'sparse');
  const trained = await runSlim(['train', '--config', config, '--out', sparse]);
  assert.equal(trained.code, 0, describeRun(trained));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('parseRatios: lists and start:stop:step ranges, sorted, without float noise or repeats', () => {
  assert.deepEqual(parseRatios('0.5,0.2, 0.3'), [0.2, 0.3, 0.5]);
  assert.deepEqual(parseRatios('0.1:0.9:0.1'), [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]);
  assert.deepEqual(parseRatios('0.25:0.75:0.25'), [0.25, 0.5, 0.75]);
  assert.deepEqual(parseRatios('0.3,0.3'), [0.3]);
});

test('parseRatios: empty lists, ratios outside (0, 1), bad steps are InputErrors', () => {
  for (const bad of [
    '',
    ' ',
    '0,0.5',
    '1',
    '0.5,1.2',
    '-0.1',
    '0.1,,0.2',
    'a',
    '0.1:0.5:0',
    '0.1:0.5:-0.1',
    '0.5:0.1:0.1',
    '0.1:0.5',
    '0:0.5:0.1',
  ]) {
    assert.throws(() => parseRatios(bad), InputError, JSON.stringify(bad));
  }
});

test('sweep --json: one row per ratio on the val split, fewer channels / params / MACs as the ratio grows', async () => {
  const html = path.join(dir, 'sweep.html');
  const result = await runSlim(['sweep', '--config', config, '--model', sparse, '--ratios', '0.2:0.8:0.2', '--json', '--html', html]);
  assert.equal(result.code, 0, describeRun(result));
  const sweep = JSON.parse(result.stdout) as SweepResult;
  assert.equal(sweep.split, 'val');
  assert.equal(sweep.examples, 150);
  assert.deepEqual(
    sweep.rows.map((r) => r.ratio),
    [0.2, 0.4, 0.6, 0.8],
  );
  let previous = sweep.baseline;
  assert.equal(previous.channels, 24);
  for (const row of sweep.rows) {
    assert.equal(row.channels.kept + row.channels.removed, 24);
    assert.equal(row.channels.removed, Math.floor(row.ratio * 24), `ratio ${row.ratio}`);
    assert.equal(
      row.widths.reduce((a, b) => a + b, 0),
      row.channels.kept,
    );
    assert.ok(row.params < previous.params && row.macs < previous.macs, `ratio ${row.ratio}: ${row.params} params, ${row.macs} MACs`);
    assert.ok(row.accuracy >= 0 && row.accuracy <= 1 && Number.isFinite(row.loss));
    assert.equal(row.finetuned, undefined);
    previous = { ...previous, params: row.params, macs: row.macs };
  }
  assert.match(result.stderr, /ratio 0\.4: \d+ channels kept/);
  // --html: the swept model's page with the curve, one point per ratio, on the validation split.
  const page = await readFile(html, 'utf8');
  assert.match(page, /<section id="sweep">/);
  const ratioChart = page.slice(page.indexOf('sweep-ratio'), page.indexOf('sweep-macs'));
  assert.equal((ratioChart.match(/aria-roledescription="point"/g) ?? []).length, 4);
  assert.match(ratioChart, /validation accuracy/);
});

test('sweep table on stdout; --finetune-epochs adds the fine-tuned column', async () => {
  const result = await runSlim(['sweep', '--config', config, '--model', sparse, '--ratios', '0.3,0.6', '--finetune-epochs', '1']);
  assert.equal(result.code, 0, describeRun(result));
  const lines = result.stdout.trimEnd().split('\n');
  assert.equal(lines.length, 4, result.stdout);
  assert.match(lines[0], /^ratio\s+channels\s+params\s+MACs\s+val acc \(pruned\)\s+val acc \(fine-tuned\)$/);
  assert.match(lines[1], /^0 \(sparse\)\s+24\s/);
  assert.match(lines[2], /^0\.3\s+17\s.*%\s+\d+\.\d\d%$/);
  assert.match(lines[3], /^0\.6\s+10\s.*%\s+\d+\.\d\d%$/);
});

test('sweep with bad --ratios or --finetune-epochs: exit 2, one error line', async () => {
  for (const args of [
    ['--ratios', '0.5,1'],
    ['--ratios', '0.1:0.9:0'],
    ['--ratios', ''],
    ['--finetune-epochs', '-1'],
  ]) {
    const result = await runSlim(['sweep', '--config', config, '--model', sparse, ...args]);
    assert.equal(result.code, 2, describeRun(result));
    assert.equal(result.stdout, '');
    assert.deepEqual(stderrLines(result).filter((l) => l.startsWith('error:')).length, 1, result.stderr);
  }
});
