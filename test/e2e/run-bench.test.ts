/**
 * The realised speed-up in the product: `slim run` times the exported slim model against the
 * exported input on node:wasm into run.json and report.html; `bench.runtimes: []` turns it off;
 * `slim bench` on the run folder compares the same two models.
 */
import { strict as assert } from 'node:assert';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { benchReportSchema, type BenchReport } from '../../src/config/schema.js';
import { outputSchema } from '../../src/config/outputs.js';
import { describeRun, REPO_ROOT, runSlim } from '../helpers/cli.js';

const TINY = path.join(REPO_ROOT, 'test', 'fixtures', 'cli', 'tiny.json');

describe('slim run measures the realised speed-up', () => {
  let work: string;
  before(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'slim-run-bench-'));
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('run.json and report.html hold the measured speed-up with its runtime; slim bench reads the run folder', async () => {
    const outDir = path.join(work, 'run');
    const result = await runSlim(['run', '--config', TINY, '--out', outDir]);
    assert.equal(result.code, 0, describeRun(result));
    const run = JSON.parse(await readFile(path.join(outDir, 'run.json'), 'utf8'));
    const bench = benchReportSchema.parse(run.bench);
    assert.deepEqual(
      bench.rows.map((r) => [r.runtime, r.batch]),
      [
        ['node:wasm', 1],
        ['node:wasm', 32],
      ],
    );
    assert.ok(bench.rows.every((r) => r.speedup! > 0 && r.macsSpeedup! > 1));
    assert.match(result.stderr, /realised speed-up on node:wasm, batch 32: [\d.]+× \(MACs [\d.]+×\)/);
    const html = await readFile(path.join(outDir, 'report.html'), 'utf8');
    assert.doesNotMatch(html, /not measured/);
    assert.match(html, /realised speed-up \(measured\)<\/dt><dd>node:wasm batch 1: [\d.]+×/);
    assert.match(html, /<figure class="chart" id="bench-speedup"><svg/);

    const again = await runSlim(['bench', '--model', outDir, '--runtime', 'node:wasm', '--batch', '1', '--runs', '2', '--json']);
    assert.equal(again.code, 0, describeRun(again));
    const report = outputSchema('bench').parse(JSON.parse(again.stdout)) as BenchReport;
    assert.equal(report.model.path, path.join(outDir, 'exported', 'model.json'));
    assert.match(report.baseline!.path, /input\/model\.json \(exported in memory\)$/);
    assert.equal(report.macsSpeedup, bench.macsSpeedup);

    // slim report --bench: the same comparison beside the counts.
    const reported = await runSlim(['report', '--model', outDir, '--bench', 'node:wasm', '--json']);
    assert.equal(reported.code, 0, describeRun(reported));
    const withBench = JSON.parse(reported.stdout) as { bench: unknown; macs: number };
    assert.deepEqual(
      benchReportSchema.parse(withBench.bench).rows.map((r) => r.runtime),
      ['node:wasm', 'node:wasm'],
    );

    // slim sweep --latency: a measured latency and speed-up column per candidate.
    const swept = await runSlim([
      'sweep',
      '--model',
      path.join(outDir, 'sparse'),
      '--config',
      TINY,
      '--ratios',
      '0.3,0.6',
      '--latency',
      'node:wasm',
    ]);
    assert.equal(swept.code, 0, describeRun(swept));
    const lines = swept.stdout.split('\n');
    assert.match(lines[0], /ms node:wasm b1\s+speed-up$/);
    assert.match(lines[1], /^0 \(sparse\).*\s[\d.]+\s+1\.00×$/);
    for (const line of lines.slice(2, 4)) assert.match(line, /^0\.[36]\s.*\s[\d.]+\s+[\d.]+×$/);
    assert.match(swept.stderr, /ratio 0\.6: .*, node:wasm [\d.]+ ms \([\d.]+× faster\)/);
  });

  it('bench.runtimes: [] turns the measurement off', async () => {
    const config = JSON.parse(await readFile(TINY, 'utf8'));
    config.bench = { runtimes: [] };
    const outDir = path.join(work, 'off');
    const result = await runSlim(['run', '--config', '-', '--out', outDir], { input: JSON.stringify(config) });
    assert.equal(result.code, 0, describeRun(result));
    const run = JSON.parse(await readFile(path.join(outDir, 'run.json'), 'utf8'));
    assert.equal(run.bench, undefined);
    assert.match(await readFile(path.join(outDir, 'report.html'), 'utf8'), /realised speed-up \(measured\)<\/dt><dd>not measured/);
  });
});
