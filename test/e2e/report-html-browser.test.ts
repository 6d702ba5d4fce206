/**
 * report.html as a person gets it: `slim run` writes it beside run.json, `slim report --html`
 * writes one for a run folder, and headless Chromium opens it from disk (no console errors, no
 * request leaving the file, every chart drawn with a size). Real MNIST subset, 4-M-8 VGG.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { checkPage, chromiumMissing } from '../helpers/chromium.js';
import { describeRun, exists, REPO_ROOT, runSlim } from '../helpers/cli.js';

let dir: string;
let runDir: string;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'slim-report-browser-'));
  runDir = path.join(dir, 'run');
  const config = JSON.parse(await readFile(path.join(REPO_ROOT, 'test', 'fixtures', 'cli', 'tiny.json'), 'utf8')) as Record<
    string,
    unknown
  >;
  const configFile = path.join(dir, 'tiny.json');
  await writeFile(configFile, JSON.stringify({ ...config, out: runDir }));
  const result = await runSlim(['run', '--config', configFile]);
  assert.equal(result.code, 0, describeRun(result));
  assert.match(result.stderr, new RegExp(`report: ${path.join(runDir, 'report.html').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const EXPECTED_CHARTS = [
  'gamma-after',
  'gamma-before',
  'layer-channels',
  'layer-params',
  'layer-macs',
  'curve-loss',
  'curve-accuracy',
  'curve-gammaSum',
  'curve-gammaBelow',
  // slim run measures the realised speed-up on node:wasm (config bench).
  'bench-speedup',
];

test('slim run writes report.html beside run.json with every chart of a run', async () => {
  const html = await readFile(path.join(runDir, 'report.html'), 'utf8');
  for (const id of EXPECTED_CHARTS) assert.match(html, new RegExp(`<figure class="chart" id="${id}"><svg`), id);
  assert.match(html, /<th scope="row">fine-tuned<\/th>/);
  assert.match(html, /theoretical speed-up/);
});

test('slim report --model <run folder> --html: the same report, the text table still on stdout', async () => {
  const file = path.join(dir, 'again.html');
  const result = await runSlim(['report', '--model', runDir, '--html', file]);
  assert.equal(result.code, 0, describeRun(result));
  assert.match(result.stdout, /reduction: params/);
  assert.match(result.stderr, /wrote .*again\.html/);
  assert.ok(await exists(file));
  const html = await readFile(file, 'utf8');
  for (const id of EXPECTED_CHARTS) assert.match(html, new RegExp(`id="${id}"`), id);
});

test('slim report --html --log: a model with its epoch log, without a run folder', async () => {
  const file = path.join(dir, 'model.html');
  const log = path.join(runDir, 'sparse', 'train-log.jsonl');
  const result = await runSlim(['report', '--model', path.join(runDir, 'sparse'), '--html', file, '--log', log]);
  assert.equal(result.code, 0, describeRun(result));
  const html = await readFile(file, 'utf8');
  assert.match(html, /id="gamma-after"/);
  assert.match(html, /id="curve-loss"/);
  assert.doesNotMatch(html, /id="gamma-before"/, 'no baseline, no second histogram');
});

test(
  'report.html opens in headless Chromium: no errors, nothing fetched, every chart has a size',
  { skip: chromiumMissing() ?? false },
  async () => {
    const page = await checkPage(path.join(runDir, 'report.html'));
    assert.deepEqual(page.errors, []);
    assert.deepEqual(page.externalRequests, []);
    assert.deepEqual(
      page.charts.map((c) => c.id),
      EXPECTED_CHARTS,
    );
    for (const c of page.charts) assert.ok(c.width > 100 && c.height > 100, `${c.id} drawn at ${c.width}x${c.height}`);
    // A PNG of the whole page (the viewport is 1280 wide, less a scrollbar; the page is taller than it).
    assert.equal(page.png.subarray(1, 4).toString('latin1'), 'PNG');
    const [width, height] = [page.png.readUInt32BE(16), page.png.readUInt32BE(20)];
    assert.ok(width >= 1200 && height > 1000, `screenshot of the whole page: ${width}x${height}`);
  },
);
