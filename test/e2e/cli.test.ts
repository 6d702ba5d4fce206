/**
 * The built `slim` binary, end to end: exit codes, stdout = data only (a path or one JSON document),
 * stderr = human text, no stack traces without --verbose, and the files each command writes.
 * Training runs use a 4-M-8 VGG on a few hundred real MNIST images with the wasm backend.
 * Where a test has several refusals of one kind, one goes through the binary and the others are
 * parsed in-process by the same buildCli, their error mapped by main()'s describeFailure
 * (test/helpers/cli-in-process.ts): same line, exit 2, nothing printed before it.
 */
import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { fromLayersModel } from '../../src/model/convert.js';
import { writeModel } from '../../src/model/io.js';
import { describeRun, exists, REPO_ROOT, runSlim, STACK_FRAME, stderrLines, type SlimResult } from '../helpers/cli.js';
import { refusalInProcess } from '../helpers/cli-in-process.js';
import { loadWithStockTfjs } from '../helpers/stock-load.js';

const FIXTURES = path.join(REPO_ROOT, 'test', 'fixtures', 'cli');
const TINY_CONFIG = path.join(FIXTURES, 'tiny.json');
const ESC = '\u001b';

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'slim-cli-'));
  // PROD keeps tfjs's "install the node backend" banner out of the test log.
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Exit code as expected; the failure message shows the whole run. */
function assertExit(result: SlimResult, code: number): void {
  assert.equal(result.code, code, describeRun(result));
}

/** A failed command: nothing on stdout, exactly one `error:` line on stderr, no stack. */
function assertOneErrorLine(result: SlimResult): string {
  assert.equal(result.stdout, '', 'stdout must stay empty on errors');
  const lines = stderrLines(result);
  assert.equal(lines.length, 1, `expected one stderr line:\n${result.stderr}`);
  assert.match(lines[0], /^error: /);
  assert.doesNotMatch(result.stderr, STACK_FRAME);
  return lines[0];
}

/** In-process refusal: exit 2, nothing printed before it; returns the line as the binary prints it. */
async function refusedInProcess(args: string[]): Promise<string> {
  const refusal = await refusalInProcess(args);
  const why = `slim ${args.join(' ')}: ${JSON.stringify(refusal)}`;
  assert.equal(refusal.exitCode, 2, why);
  assert.equal(refusal.stdout, '', why);
  assert.equal(refusal.stderr, '', why);
  return `error: ${refusal.line}`;
}

/** stdout is exactly one JSON document (nothing before or after it). */
function parseJsonStdout<T>(result: SlimResult): T {
  try {
    return JSON.parse(result.stdout) as T;
  } catch (err) {
    assert.fail(`stdout is not one JSON document (${(err as Error).message}):\n${result.stdout.slice(0, 500)}`);
  }
}

/** stdout is exactly one line holding a path. */
function pathFromStdout(result: SlimResult): string {
  assert.match(result.stdout, /^[^\n]+\n$/, `stdout must be one line: ${JSON.stringify(result.stdout.slice(0, 300))}`);
  return result.stdout.trimEnd();
}

async function outputShapeOf(modelJson: string): Promise<number[]> {
  const model = await loadWithStockTfjs(modelJson);
  try {
    return tf.tidy(() => (model.predict(tf.zeros([2, 28, 28, 1])) as tf.Tensor).shape);
  } finally {
    model.dispose();
  }
}

// ---------------------------------------------------------------- usage and global behaviour

test('--help: exit 0, usage on stdout listing every command', async () => {
  const result = await runSlim(['--help']);
  assertExit(result, 0);
  for (const command of ['train', 'prune', 'finetune', 'report', 'run', 'schema']) {
    assert.match(result.stdout, new RegExp(`slim ${command}\\b`));
  }
  assert.equal(result.stderr, '');
});

// yargs with .fail(false) throws a plain Error, not a YError, so cli.ts's `e.name === 'YError'`
// branch never runs and usage mistakes are reported as internal errors.
const NOT_INTERNAL = /internal error|--verbose for the stack/;

test('no command: exit 2 with one error line', async () => {
  const result = await runSlim([]);
  assertExit(result, 2);
  assert.match(assertOneErrorLine(result), /command/);
  assert.doesNotMatch(assertOneErrorLine(result), NOT_INTERNAL, 'slim');
});

test('unknown flag: exit 2 with one error line naming it', async () => {
  const result = await runSlim(['schema', '--bogus-flag']);
  assertExit(result, 2);
  assert.match(assertOneErrorLine(result), /bogus-flag/);
  assert.doesNotMatch(assertOneErrorLine(result), NOT_INTERNAL, 'slim schema --bogus-flag');
});

// The two runs above ([] and schema --bogus-flag) check the same for the first two usage mistakes.
test('usage errors are not labelled "internal error"', async () => {
  for (const args of [['prune', '--model', 'x', '--ratio', '0.5', '--threshold', '0.1', '--dry-run']]) {
    const result = await runSlim(args);
    assertExit(result, 2);
    assert.doesNotMatch(assertOneErrorLine(result), NOT_INTERNAL, `slim ${args.join(' ')}`);
  }
});

test('schema: exit 0, stdout is a JSON Schema with properties.train', async () => {
  const result = await runSlim(['schema']);
  assertExit(result, 0);
  const schema = parseJsonStdout<{ $schema?: string; type: string; properties: Record<string, { properties?: Record<string, unknown> }> }>(
    result,
  );
  assert.equal(schema.type, 'object');
  assert.match(schema.$schema ?? '', /json-schema/);
  assert.ok(schema.properties.train?.properties?.sparsity, 'properties.train.properties.sparsity');
  assert.ok(schema.properties.prune && schema.properties.data && schema.properties.model);
  assert.equal(result.stderr, '');
});

test('bad config files: exit 2, one error line naming the file and what is wrong; --verbose adds a stack', async () => {
  const invalid = path.join(FIXTURES, 'invalid-json.json');
  const badJson = await runSlim(['train', '--config', invalid, '--out', path.join(dir, 'never')]);
  assertExit(badJson, 2);
  const jsonLine = assertOneErrorLine(badJson);
  assert.ok(jsonLine.includes(invalid), jsonLine);
  assert.match(jsonLine, /not valid JSON/);

  const unknownKey = path.join(FIXTURES, 'unknown-key.json');
  // Through the binary with --verbose below.
  const typoLine = await refusedInProcess(['train', '--config', unknownKey, '--out', path.join(dir, 'never')]);
  assert.ok(typoLine.includes(unknownKey), typoLine);
  assert.match(typoLine, /\btrian\b/);

  const verbose = await runSlim(['train', '--config', unknownKey, '--out', path.join(dir, 'never'), '--verbose']);
  assertExit(verbose, 2);
  assert.equal(verbose.stdout, '');
  assert.match(verbose.stderr, /^error: .*trian/m);
  assert.match(verbose.stderr, STACK_FRAME);
  assert.equal(await exists(path.join(dir, 'never')), false);
});

test('a model file that does not exist: exit 2, one line naming it', async () => {
  const missing = path.join(dir, 'no-such-model', 'model.json');
  const result = await runSlim(['report', '--model', missing]);
  assertExit(result, 2);
  assert.ok(assertOneErrorLine(result).includes(missing), result.stderr);
  assert.ok((await refusedInProcess(['prune', '--model', missing, '--ratio', '0.5', '--dry-run'])).includes(missing));
});

test('NO_COLOR is respected even when FORCE_COLOR asks for colour', async () => {
  const missing = path.join(dir, 'absent');
  // Control: FORCE_COLOR alone does colour the error prefix, so the check below can fail.
  const forced = await runSlim(['report', '--model', missing], { env: { NO_COLOR: '', FORCE_COLOR: '1' } });
  assertExit(forced, 2);
  assert.ok(forced.stderr.includes(ESC), `expected colour with FORCE_COLOR=1: ${JSON.stringify(forced.stderr)}`);
  const plain = await runSlim(['report', '--model', missing], { env: { NO_COLOR: '1', FORCE_COLOR: '1' } });
  assertExit(plain, 2);
  assert.ok(!plain.stderr.includes(ESC), `ESC in stderr: ${JSON.stringify(plain.stderr)}`);
});

// ---------------------------------------------------------------- train → prune → report → finetune

let trainedDir: string | undefined;
let prunedDir: string | undefined;
/** The dry-run plan of the trained model (one run serves two tests). */
let dryRunPlan: { candidateChannels: number } | undefined;
/** report --json of the pruned model with --baseline (its own figures are those of report --json alone). */
let prunedReport: ReportJson | undefined;

function needTrained(): string {
  assert.ok(trainedDir, 'the train test did not produce a model');
  return trainedDir;
}
function needPruned(): string {
  assert.ok(prunedDir, 'the prune test did not produce a model');
  return prunedDir;
}

test('train --json on a real MNIST subset writes model, weights and a JSON-lines log', async () => {
  const outDir = path.join(dir, 'trained');
  const result = await runSlim(['train', '--config', TINY_CONFIG, '--backend', 'wasm', '--out', outDir, '--json']);
  assertExit(result, 0);
  const summary = parseJsonStdout<{ model: string; testAccuracy: number; backend: string; epochs: unknown[] }>(result);
  assert.equal(summary.model, path.join(outDir, 'model.json'));
  assert.ok(summary.testAccuracy >= 0 && summary.testAccuracy <= 1, `testAccuracy ${summary.testAccuracy}`);
  assert.match(summary.backend, /wasm/);
  assert.equal(summary.epochs.length, 1);
  // Human text went to stderr.
  assert.match(result.stderr, /backend: wasm/);
  assert.match(result.stderr, /epoch 1\/1/);
  assert.doesNotMatch(result.stderr, STACK_FRAME);

  assert.deepEqual((await readdir(outDir)).sort(), ['model.json', 'train-log.jsonl', 'weights.bin']);
  const logLines = (await readFile(path.join(outDir, 'train-log.jsonl'), 'utf8')).split('\n').filter((l) => l !== '');
  assert.equal(logLines.length, 1);
  for (const line of logLines) {
    const record = JSON.parse(line) as { loss: number; valAccuracy: number; gamma: { meanAbs: number; count: number } };
    assert.ok(Number.isFinite(record.loss), 'loss');
    assert.ok(record.valAccuracy >= 0 && record.valAccuracy <= 1, 'valAccuracy');
    assert.ok(Number.isFinite(record.gamma.meanAbs) && record.gamma.count === 12, 'gamma');
  }
  assert.deepEqual(await outputShapeOf(summary.model), [2, 10]);
  trainedDir = outDir;
});

test('train without --json: stdout is only the model path, no progress output when not a TTY', async () => {
  const outDir = path.join(dir, 'trained-plain');
  const result = await runSlim(['train', '--config', TINY_CONFIG, '--epochs', '1', '--out', outDir]);
  assertExit(result, 0);
  assert.equal(pathFromStdout(result), path.join(outDir, 'model.json'));
  // Progress bars redraw with \r and cursor escapes; neither belongs in a piped stderr.
  assert.ok(!result.stderr.includes('\r'), 'carriage return in stderr');
  assert.ok(!result.stderr.includes(ESC), 'ESC in stderr');
  assert.ok(!result.stdout.includes(ESC));
});

test('prune --dry-run --json prints a plan with groups and writes nothing', async () => {
  const trained = needTrained();
  const before = (await readdir(trained)).sort();
  const outDir = path.join(dir, 'dry-run-out');
  const result = await runSlim(['prune', '--model', trained, '--ratio', '0.5', '--dry-run', '--json', '--out', outDir]);
  assertExit(result, 0);
  const plan = parseJsonStdout<{
    groups: { keep: number[]; channels: number }[];
    candidateChannels: number;
    prunedChannels: number;
    ratio: number;
  }>(result);
  assert.ok(Array.isArray(plan.groups) && plan.groups.length > 0, 'plan.groups');
  assert.equal(plan.ratio, 0.5);
  for (const g of plan.groups) assert.ok(g.keep.length >= 1 && g.keep.length <= g.channels);
  assert.ok(plan.prunedChannels > 0 && plan.prunedChannels < plan.candidateChannels);
  assert.equal(await exists(outDir), false);
  assert.deepEqual((await readdir(trained)).sort(), before);
  dryRunPlan = plan;
});

// In a `conv-BN-ReLU → GAP → Dense(softmax)` head the last BN's channels feed only the Dense's
// kernel rows (its free input side), so they are prunable; the paper prunes every BN layer.
// (Once a bug: the softmax made the whole Dense a wall, blocking its input channels too.)
test('prune plan covers the last conv before a softmax Dense head', () => {
  // The plan printed by the dry run above (prune --dry-run --json of the trained model).
  assert.ok(dryRunPlan, 'the dry-run test did not print a plan');
  assert.equal(dryRunPlan.candidateChannels, 12);
});

test('prune --ratio 0.5 --out writes a smaller model that stock tfjs loads, with the right output shape', async () => {
  const outDir = path.join(dir, 'pruned');
  const result = await runSlim(['prune', '--model', needTrained(), '--ratio', '0.5', '--out', outDir]);
  assertExit(result, 0);
  const modelJson = pathFromStdout(result);
  assert.equal(modelJson, path.join(outDir, 'model.json'));
  assert.match(result.stderr, /prune plan:/);
  assert.doesNotMatch(result.stderr, STACK_FRAME);
  assert.ok(await exists(path.join(outDir, 'weights.bin')));
  const plan = JSON.parse(await readFile(path.join(outDir, 'prune-plan.json'), 'utf8')) as { prunedChannels: number };
  assert.ok(plan.prunedChannels > 0);
  assert.deepEqual(await outputShapeOf(modelJson), [2, 10]);
  const original = await loadWithStockTfjs(path.join(needTrained(), 'model.json'));
  const pruned = await loadWithStockTfjs(modelJson);
  try {
    assert.ok(pruned.countParams() < original.countParams(), `${pruned.countParams()} vs ${original.countParams()}`);
  } finally {
    original.dispose();
    pruned.dispose();
  }
  prunedDir = outDir;
});

test('prune with both --ratio and --threshold: exit 2, one line, nothing written', async () => {
  const outDir = path.join(dir, 'both');
  const result = await runSlim(['prune', '--model', needTrained(), '--ratio', '0.5', '--threshold', '0.1', '--out', outDir]);
  assertExit(result, 2);
  const line = assertOneErrorLine(result);
  assert.match(line, /ratio/);
  assert.match(line, /threshold/);
  assert.equal(await exists(outDir), false);
});

interface ReportJson {
  model: string;
  params: { total: number; trainable: number; nonTrainable: number };
  macs: number;
  flops: number;
  layers: { name: string; params: number; macs: number; flops: number }[];
  baseline?: { params: { total: number }; macs: number };
  reduction?: { params: number; macs: number; flops: number };
}

test('report --json with --baseline: totals, FLOPs = 2 x MACs, per-layer rows, reductions', async () => {
  const result = await runSlim(['report', '--model', needPruned(), '--baseline', needTrained(), '--json']);
  assertExit(result, 0);
  const report = parseJsonStdout<ReportJson>(result);
  prunedReport = report;
  assert.ok(report.params.total > 0 && report.params.trainable > 0 && report.params.trainable <= report.params.total);
  assert.ok(report.macs > 0);
  assert.equal(report.flops, 2 * report.macs);
  assert.ok(Array.isArray(report.layers) && report.layers.length > 0);
  assert.equal(
    report.layers.reduce((a, l) => a + l.params, 0),
    report.params.total,
  );
  assert.equal(
    report.layers.reduce((a, l) => a + l.macs, 0),
    report.macs,
  );
  for (const l of report.layers) assert.equal(l.flops, 2 * l.macs, l.name);
  assert.ok(report.baseline && report.baseline.params.total > report.params.total);
  assert.ok(report.reduction);
  for (const key of ['params', 'macs'] as const) {
    assert.ok(report.reduction[key] >= 0 && report.reduction[key] <= 1, `reduction.${key} = ${report.reduction[key]}`);
  }
  assert.ok(report.reduction.params > 0);
  // The counts agree with stock tfjs's own parameter count.
  const stock = await loadWithStockTfjs(path.join(needPruned(), 'model.json'));
  try {
    assert.equal(report.params.total, stock.countParams());
  } finally {
    stock.dispose();
  }
});

test('report needs only model.json (weights.bin deleted) and its text states FLOPs = 2 x MACs', async () => {
  const topologyOnly = path.join(dir, 'topology-only');
  await mkdir(topologyOnly);
  await cp(path.join(needPruned(), 'model.json'), path.join(topologyOnly, 'model.json'));
  const json = await runSlim(['report', '--model', topologyOnly, '--json']);
  assertExit(json, 0);
  const withoutWeights = parseJsonStdout<ReportJson>(json);
  // The same model with its weights: the report --json of the test above.
  assert.ok(prunedReport, 'the report --baseline test did not print a report');
  const withWeights = prunedReport;
  assert.deepEqual(withoutWeights.params, withWeights.params);
  assert.equal(withoutWeights.macs, withWeights.macs);

  const text = await runSlim(['report', '--model', topologyOnly, '--baseline', needTrained()]);
  assertExit(text, 0);
  assert.match(text.stdout, /FLOPs = 2 x MACs/);
  assert.doesNotMatch(text.stdout, /^\s*[{[]/, 'text report is not JSON');
});

test('finetune runs on the pruned model and writes a loadable model with its log', async () => {
  const outDir = path.join(dir, 'finetuned');
  const result = await runSlim(['finetune', '--config', TINY_CONFIG, '--model', needPruned(), '--out', outDir, '--json']);
  assertExit(result, 0);
  const summary = parseJsonStdout<{ model: string; testAccuracy: number }>(result);
  assert.equal(summary.model, path.join(outDir, 'model.json'));
  assert.ok(summary.testAccuracy >= 0 && summary.testAccuracy <= 1);
  assert.match(result.stderr, /fine-tune/);
  assert.deepEqual((await readdir(outDir)).sort(), ['finetune-log.jsonl', 'model.json', 'weights.bin']);
  // Fine-tuning keeps the pruned widths.
  const pruned = await loadWithStockTfjs(path.join(needPruned(), 'model.json'));
  const tuned = await loadWithStockTfjs(summary.model);
  try {
    assert.equal(tuned.countParams(), pruned.countParams());
  } finally {
    pruned.dispose();
    tuned.dispose();
  }
});

test('invalid flag values: exit 2, one line naming the flag and the config path', async () => {
  const lr = await runSlim(['train', '--config', TINY_CONFIG, '--lr', 'abc', '--out', path.join(dir, 'never')]);
  assertExit(lr, 2);
  assert.match(assertOneErrorLine(lr), /train\.lr \(from --lr\)/);
  assert.match(await refusedInProcess(['prune', '--model', needTrained(), '--ratio', '1.5', '--dry-run']), /prune\.ratio \(from --ratio\)/);
  assert.match(await refusedInProcess(['prune', '--model', needTrained(), '--dry-run']), /--ratio.*--threshold/);
});

test('train into a folder holding other files: exit 2 before any training, naming --overwrite', async () => {
  const occupied = path.join(dir, 'occupied');
  await mkdir(occupied);
  await writeFile(path.join(occupied, 'notes.txt'), 'mine\n');
  const result = await runSlim(['train', '--config', TINY_CONFIG, '--out', occupied]);
  assertExit(result, 2);
  assert.deepEqual(await readdir(occupied), ['notes.txt']);
  assert.doesNotMatch(result.stderr, /epoch 1\/1/, 'trained before refusing the output folder');
  assert.match(result.stderr, /--overwrite/);
});

test('prune --out onto its own input model is refused without --overwrite', async () => {
  const copy = path.join(dir, 'prune-in-place');
  await cp(needTrained(), copy, { recursive: true });
  await refusedInProcess(['prune', '--model', copy, '--ratio', '0.5', '--out', copy]);
  assert.deepEqual((await readdir(copy)).sort(), ['model.json', 'train-log.jsonl', 'weights.bin']);
});

test('a model whose input does not fit the data: exit 2 naming both shapes', async () => {
  // An 8x8x3-input net, built and saved with tfjs in this process. Images are sized to the model's
  // input unless the config says otherwise (one rule for every command): here it says 28x28x1.
  const fixedShape = path.join(dir, 'tiny-28x28x1.json');
  const tiny = JSON.parse(await readFile(TINY_CONFIG, 'utf8')) as { data: Record<string, unknown> };
  await writeFile(fixedShape, JSON.stringify({ ...tiny, data: { ...tiny.data, resize: [28, 28], channels: 1 } }));
  const model = tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [8, 8, 3], filters: 2, kernelSize: 3, padding: 'same' }),
      tf.layers.batchNormalization(),
      tf.layers.globalAveragePooling2d({}),
      tf.layers.dense({ units: 10, activation: 'softmax' }),
    ],
  });
  const wrongInput = path.join(dir, 'wrong-input');
  await writeModel(wrongInput, await fromLayersModel(model));
  model.dispose();
  const outDir = path.join(dir, 'wrong-input-trained');
  const result = await runSlim(['train', '--config', fixedShape, '--model', wrongInput, '--out', outDir]);
  assertExit(result, 2);
  assert.equal(result.stdout, '');
  const errors = stderrLines(result).filter((l) => l.startsWith('error:'));
  assert.equal(errors.length, 1, result.stderr);
  assert.match(errors[0], /8, 8, 3/);
  assert.match(errors[0], /28x28x1/);
  assert.match(errors[0], /data\.resize/);
  assert.doesNotMatch(result.stderr, STACK_FRAME);
  assert.equal(await exists(outDir), false);
});
