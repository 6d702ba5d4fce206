/**
 * The HTML report's content: a small real model (tfjs, known |γ|) is pruned at a known threshold,
 * written to disk, collected into ReportData and rendered; the checks read the SVG the page holds.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { fromLayersModel } from '../src/model/convert.js';
import { writeModel } from '../src/model/io.js';
import { Output } from '../src/io/output.js';
import { pruneModel } from '../src/pipeline/prune.js';
import { wallsOf } from '../src/pipeline/report.js';
import { buildReport } from '../src/report/render.js';
import { GAMMA_CHART_WIDTH, logTicks } from '../src/report/html/charts.js';
import { modelReportData, readEpochLog } from '../src/report/html/collect.js';
import { logDomain, logHistogram } from '../src/report/html/gammas.js';
import { renderHtmlReport } from '../src/report/html/page.js';
import type { ReportData } from '../src/report/html/data.js';
import { gammaSparkline } from '../src/report/sparkline.js';

const B1 = [1e-3, 0.5, 2e-3, 0.8];
const B2 = [0.3, 4e-3, 0.6, 5e-3, 0.9, 0.7];
const THRESHOLD = 0.05;

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'slim-report-html-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** conv(4)+BN → conv(6)+BN → GAP → dense(3), with the BN γ set to B1 and B2. */
async function sparseModel() {
  const input = tf.input({ shape: [8, 8, 3] });
  let x = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', useBias: false, name: 'c1' }).apply(input) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ name: 'b1' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU({ name: 'r1' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.conv2d({ filters: 6, kernelSize: 3, padding: 'same', useBias: false, name: 'c2' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ name: 'b2' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU({ name: 'r2' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 3, name: 'fc' }).apply(x) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: out });
  const artifacts = await fromLayersModel(model);
  model.dispose();
  for (const [bn, values] of [
    ['b1', B1],
    ['b2', B2],
  ] as const) {
    const name = [...artifacts.weights.keys()].find((k) => k.endsWith(`${bn}/gamma`))!;
    (artifacts.weights.get(name)!.data as Float32Array).set(values);
  }
  return artifacts;
}

function epochLine(stage: string, epoch: number, loss: number, below1e2: number): string {
  return JSON.stringify({
    stage,
    epoch,
    lr: 0.1,
    loss,
    trainAccuracy: 0.5 + epoch / 10,
    valAccuracy: 0.45 + epoch / 10,
    imagesPerSecond: 100,
    seconds: 1,
    gamma: { count: 10, meanAbs: 0.4 - epoch / 20, below1e2, below1e3: 0 },
  });
}

/** The sparse model, pruned at THRESHOLD, both on disk; ReportData for pruned against sparse, with logs. */
async function collectSmallModel(): Promise<ReportData> {
  await tf.setBackend('cpu');
  const sparse = await sparseModel();
  const outcome = pruneModel(sparse, { threshold: THRESHOLD, minChannels: 1, roundTo: 1, importance: 'sum' });
  const sparsePath = await writeModel(path.join(dir, 'sparse'), sparse);
  const prunedPath = await writeModel(path.join(dir, 'pruned'), outcome.artifacts, {
    sidecars: { 'prune-plan.json': JSON.stringify(outcome.plan) },
  });
  const trainLog = path.join(dir, 'train-log.jsonl');
  await writeFile(trainLog, [0, 1, 2].map((e) => epochLine('sparsity train', e, 2 - e / 2, e / 5)).join('\n') + '\n');
  const finetuneLog = path.join(dir, 'finetune-log.jsonl');
  await writeFile(finetuneLog, [0, 1].map((e) => epochLine('fine-tune', e, 0.8 - e / 10, 0)).join('\n') + '\n');
  const report = buildReport(
    prunedPath,
    outcome.after,
    { path: sparsePath, count: outcome.before },
    wallsOf(outcome.artifacts.modelTopology),
  );
  return modelReportData(report, prunedPath, sparsePath, [trainLog, finetuneLog]);
}

/** The inline SVG of one chart (by its figure id). */
function chart(html: string, id: string): string {
  const m = new RegExp(`<figure class="chart" id="${id}">(<svg[\\s\\S]*?</svg>)`).exec(html);
  assert.ok(m, `figure #${id} with an SVG`);
  return m[1];
}

/** The items of a named mark (`<g class="mark-<type> role-mark <name>_marks">…</g>`). */
function markItems(svg: string, name: string): string[] {
  const m = new RegExp(`<g class="mark-\\w+ role-mark ${name}_marks"[^>]*>([\\s\\S]*?)</g>`).exec(svg);
  assert.ok(m, `mark ${name} in the chart`);
  return m[1].match(/<(path|line|text)\b[^>]*>/g) ?? [];
}

function axisTitles(svg: string): string[] {
  return [...svg.matchAll(/<g class="mark-text role-axis-title"[^>]*><text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
}

test('html report: one bar pair per prunable layer in network order, threshold line where |γ| = threshold, axis titles', async () => {
  const data = await collectSmallModel();
  assert.deepEqual(
    data.layers.filter((l) => l.prunable).map((l) => l.name),
    ['c1', 'c2'],
  );
  data.sweep = [
    { ratio: 0.3, macs: 9000, accuracy: 0.91 },
    { ratio: 0.1, macs: 12000, accuracy: 0.93 },
    { ratio: 0.5, macs: 6000, accuracy: 0.85 },
  ];
  const html = await renderHtmlReport(data);

  // Self-contained: no script, nothing to fetch.
  assert.doesNotMatch(html, /<script/i);
  assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//);

  // Channels per prunable layer: before and after bars for c1 then c2, heights in the labels.
  const bars = markItems(chart(html, 'layer-channels'), 'layer_channels');
  const labels = bars.map((b) => /aria-label="([^"]*)"/.exec(b)![1]);
  assert.deepEqual(labels, [
    'value: 4; layer: c1; when: before',
    'value: 2; layer: c1; when: after',
    'value: 6; layer: c2; when: before',
    'value: 4; layer: c2; when: after',
  ]);
  assert.deepEqual(axisTitles(chart(html, 'layer-channels')), ['output channels', 'layer (network order)']);
  // Params and MACs: every layer that computes (c1, c2, fc), before and after.
  assert.equal(markItems(chart(html, 'layer-macs'), 'layer_macs').length, 6);
  assert.deepEqual(axisTitles(chart(html, 'layer-params')), ['parameters', 'layer (network order)']);

  // The plan beside the pruned model was computed on the baseline: its histogram carries the cut.
  // Values span 1e-3 .. 0.9, so the axis runs over whole decades 1e-3 .. 1.
  const cut = chart(html, 'gamma-before');
  const [rule] = markItems(cut, 'threshold_rule');
  const x = Number(/translate\(([\d.]+),/.exec(rule)![1]);
  const expected = (GAMMA_CHART_WIDTH * (Math.log10(THRESHOLD) - -3)) / 3;
  assert.ok(Math.abs(x - expected) < 0.5, `threshold line at x=${x}, expected ${expected}`);
  const [shade] = markItems(cut, 'removed_share');
  const shadeWidth = Number(/d="M0,0h([\d.]+)/.exec(shade)![1]);
  assert.ok(Math.abs(shadeWidth - expected) < 0.5, `removed share shaded up to x=${shadeWidth}`);
  assert.deepEqual(axisTitles(cut), ['|γ| per prunable channel (log scale)', 'channels']);
  assert.match(markItems(cut, 'threshold_label')[0], /40\.0% of channels below/);
  // Bins: 4 removed channels in red, 6 kept in blue, counted in their labels.
  const bins = markItems(cut, 'gamma_bins');
  const count = (colour: string) =>
    bins.filter((b) => b.includes(`fill="${colour}"`)).reduce((a, b) => a + Number(/count: (\d+)/.exec(b)![1]), 0);
  assert.deepEqual([count('#d62728'), count('#4c78a8')], [4, 6]);
  // The pruned model's own |γ|: the threshold is only a reference there, nothing shaded.
  const kept = chart(html, 'gamma-after');
  assert.doesNotMatch(kept, /removed_share_marks/);
  assert.match(markItems(kept, 'threshold_rule')[0], /stroke-dasharray="6,4"/);

  // Curves: epochs count on across stages (3 sparsity + 2 fine-tune); validation accuracy is drawn too.
  const accuracy = chart(html, 'curve-accuracy');
  assert.deepEqual(axisTitles(accuracy), ['epoch', 'accuracy']);
  assert.equal((accuracy.match(/aria-roledescription="line mark"/g) ?? []).length, 4, 'train and validation lines per stage');
  assert.match(chart(html, 'curve-gammaBelow'), /Share of \|γ\| below 1e-2/);

  // Sweep: one point per run, sorted along x.
  const sweep = chart(html, 'sweep-ratio');
  assert.equal((sweep.match(/aria-roledescription="point"/g) ?? []).length, 3);
  assert.deepEqual(axisTitles(sweep), ['prune ratio (share of channels removed)', 'test accuracy']);
  assert.deepEqual(axisTitles(chart(html, 'sweep-macs')), ['MACs after pruning', 'test accuracy']);

  // Every inline SVG has its own ids (several charts in one document).
  const ids = [...html.matchAll(/ id="([^"]+)"/g)].map((m) => m[1]);
  assert.equal(new Set(ids).size, ids.length, 'ids are unique');
});

test('html report: without logs or sweep the page says where curves come from and has no sweep section', async () => {
  const data = await collectSmallModel();
  data.curves = [];
  const html = await renderHtmlReport(data);
  assert.match(html, /No training log: `slim report --html` draws the curves from a run folder or from --log/);
  assert.doesNotMatch(html, /id="sweep"/);
  assert.doesNotMatch(html, /id="curve-loss"/);
});

test('log histogram: bins split at the threshold, every value counted once, removed = below the threshold', () => {
  const values = [0, 1e-4, 3e-3, 0.05, 0.2, 0.2, 1.5];
  const domain = logDomain([values], 0.01);
  assert.deepEqual(domain, [1e-4, 10]);
  const hist = logHistogram(values, domain, 0.01);
  assert.equal(
    hist.bins.reduce((a, b) => a + b.count, 0),
    values.length,
  );
  assert.equal(hist.belowDomain, 1, 'the 0 cannot sit on a log axis: counted in the first bin');
  assert.ok(hist.bins.some((b) => b.hi === 0.01) && hist.bins.some((b) => b.lo === 0.01), 'the threshold is a bin edge');
  assert.equal(
    hist.bins.filter((b) => b.removed).reduce((a, b) => a + b.count, 0),
    3,
  );
  for (const b of hist.bins) assert.equal(b.removed, b.hi <= 0.01);
  // Axis labels: 1-2-5 over a short axis, decades only over a long one.
  assert.deepEqual(logTicks([0.1, 10]), [0.1, 0.2, 0.5, 1, 2, 5, 10]);
  assert.deepEqual(logTicks([1e-7, 10]), [1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.1, 1, 10]);
});

test('epoch log: a line that is not an epoch record is an input error naming the line', async () => {
  const file = path.join(dir, 'bad-log.jsonl');
  await writeFile(file, `${epochLine('sparsity train', 0, 1, 0)}\n{"epoch": "one"}\n`);
  await assert.rejects(
    readEpochLog(file, 'x'),
    (e: Error) => e.name === 'InputError' && /bad-log\.jsonl:2: not an epoch record/.test(e.message),
  );
});

test('sparkline: one block per quarter decade, height by count; printed only on a TTY', () => {
  const values = [1e-3, 1e-3, 1e-3, 1e-3, 0.5, 0.5];
  const line = gammaSparkline(values);
  // Domain 1e-3 .. 1 (3 decades = 12 characters): 4 values in the first bin, 2 in the 11th, [10^-0.5, 10^-0.25).
  assert.equal(line, '|γ| 1e-3 █         ▄  1e0 (6 channels, 66.7% < 1e-2)');
  assert.equal(gammaSparkline([]), '');

  const written: string[] = [];
  const stream = (isTTY: boolean) =>
    Object.assign({ write: (s: string) => written.push(s) !== 0, isTTY }) as unknown as NodeJS.WritableStream;
  new Output({ stderr: stream(false), stdout: stream(false) }).terminal(line);
  assert.deepEqual(written, []);
  new Output({ stderr: stream(true), stdout: stream(false), quiet: true }).terminal(line);
  assert.deepEqual(written, []);
  new Output({ stderr: stream(true), stdout: stream(false) }).terminal(line);
  assert.deepEqual(written, [`${line}\n`]);
});
