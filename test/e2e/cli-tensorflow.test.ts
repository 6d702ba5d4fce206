/**
 * The slim binary on the tensorflow path: `node --import tfjs-node-preload.js bin/slim.js ...`
 * makes its own import of @tensorflow/tfjs-node find the stand-in backend (cpu kernels under the
 * name 'tensorflow', helpers/tensorflow-standin.ts). train (with sparsity) → prune → finetune →
 * eval → export run there and, with the same seed, on --backend cpu; then a short `run`.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { describeRun, REPO_ROOT, runSlim, type SlimResult } from '../helpers/cli.js';
import type { StandInReport } from '../helpers/tfjs-node-standin.js';

const TINY_CONFIG = path.join(REPO_ROOT, 'test', 'fixtures', 'cli', 'tiny.json');
const PRELOAD = path.join(REPO_ROOT, 'dist', 'test', 'helpers', 'tfjs-node-preload.js');
const BACKEND_LINE = 'backend: tensorflow (@tensorflow/tfjs-node), CPU, no GPU';

let dir: string;
/**
 * tiny.json with one batch of each: the cpu kernels (both sides here) are slow at conv gradients,
 * and the equalities need every stage to run (a training step with sparsity, a fine-tuning step,
 * an eval), not many steps.
 */
let config: string;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'slim-cli-tensorflow-'));
  const tiny = JSON.parse(await readFile(TINY_CONFIG, 'utf8')) as { data: Record<string, unknown> };
  config = path.join(dir, 'config.json');
  await writeFile(config, JSON.stringify({ ...tiny, data: { ...tiny.data, trainLimit: 32, testLimit: 32 } }));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** slim on the stand-in; the report says what ran on it. */
async function onStandIn(step: string, args: string[], picksBackend = true): Promise<{ result: SlimResult; report?: StandInReport }> {
  const reportFile = path.join(dir, `${step}.report.json`);
  const result = await runSlim([...args, ...(picksBackend ? ['--backend', 'auto'] : []), '--verbose'], {
    env: { NODE_OPTIONS: `--import=${PRELOAD}`, SLIM_STANDIN_REPORT: reportFile },
  });
  assert.equal(result.code, 0, describeRun(result));
  if (picksBackend) assert.ok(result.stderr.includes(BACKEND_LINE), `${step}: the backend line\n${result.stderr}`);
  // A command that picks no backend never imports the native package: no stand-in, no report.
  if (!picksBackend) return { result };
  return { result, report: JSON.parse(await readFile(reportFile, 'utf8')) as StandInReport };
}

async function onCpu(args: string[], picksBackend = true): Promise<SlimResult> {
  const result = await runSlim([...args, ...(picksBackend ? ['--backend', 'cpu'] : [])]);
  assert.equal(result.code, 0, describeRun(result));
  return result;
}

/** Nothing of slim's wasm side ran, and the work did run on the stand-in. */
function assertNoWasmPatches(step: string, report: StandInReport | undefined): void {
  assert.ok(report, `${step}: the stand-in wrote no report`);
  assert.equal(report.backend, 'tensorflow', step);
  assert.deepEqual(report.slimWasmKernels, [], `${step}: slim's wasm kernels were registered`);
  assert.equal(report.stockGradients, true, `${step}: a gradient was replaced`);
  assert.ok(!report.scopes.includes('batchNormTraining__op'), `${step}: the fused BatchNorm ran`);
  assert.ok(Object.keys(report.kernelCalls).length > 0, `${step}: no kernel ran on the stand-in`);
}

async function weightsOf(modelDir: string): Promise<Float32Array> {
  const bytes = await readFile(path.join(modelDir, 'weights.bin'));
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
}

async function assertSameWeights(step: string, a: string, b: string): Promise<void> {
  const [x, y] = [await weightsOf(a), await weightsOf(b)];
  assert.equal(x.length, y.length, `${step}: weight counts`);
  let maxDiff = 0;
  x.forEach((v, i) => (maxDiff = Math.max(maxDiff, Math.abs(v - y[i]))));
  assert.ok(maxDiff <= 1e-5, `${step}: max |weight difference| tensorflow vs cpu ${maxDiff}`);
}

test('train, prune, finetune, eval, export on the tensorflow path equal the cpu backend', async () => {
  const tf = (name: string): string => path.join(dir, 'tf', name);
  const cpu = (name: string): string => path.join(dir, 'cpu', name);
  const trainArgs = (at: (n: string) => string): string[] => ['train', '--config', config, '--lambda', '1e-3', '--out', at('sparse')];
  const [trained] = await Promise.all([
    onStandIn('train', [...trainArgs(tf), '--replicas', 'auto']),
    onCpu([...trainArgs(cpu), '--replicas', '1']),
  ]);
  assert.match(trained.result.stderr, /replicas: auto requested, 1 used \(backend tensorflow, \d+ core\(s\)\)/);
  assert.ok(!/\d replicas \(worker threads/.test(trained.result.stderr), 'no replica workers');
  assertNoWasmPatches('train', trained.report);
  await assertSameWeights('train', tf('sparse'), cpu('sparse'));

  const pruneArgs = (at: (n: string) => string): string[] => ['prune', '--model', at('sparse'), '--ratio', '0.5', '--out', at('pruned')];
  // prune picks no backend (plain arrays); it runs here for the chain and the weights.
  await Promise.all([onStandIn('prune', pruneArgs(tf), false), onCpu(pruneArgs(cpu), false)]);
  await assertSameWeights('prune', tf('pruned'), cpu('pruned'));

  const finetuneArgs = (at: (n: string) => string): string[] => [
    'finetune',
    '--config',
    config,
    '--model',
    at('pruned'),
    '--out',
    at('tuned'),
  ];
  const [tuned] = await Promise.all([
    onStandIn('finetune', [...finetuneArgs(tf), '--replicas', 'auto']),
    onCpu([...finetuneArgs(cpu), '--replicas', '1']),
  ]);
  assertNoWasmPatches('finetune', tuned.report);
  await assertSameWeights('finetune', tf('tuned'), cpu('tuned'));

  const evalArgs = (at: (n: string) => string): string[] => ['eval', '--config', config, '--model', at('tuned'), '--json'];
  const [evaluated, cpuEvaluated] = await Promise.all([onStandIn('eval', evalArgs(tf)), onCpu(evalArgs(cpu))]);
  assertNoWasmPatches('eval', evaluated.report);
  const top1 = (r: SlimResult): number => (JSON.parse(r.stdout) as { top1: number }).top1;
  assert.equal(top1(evaluated.result), top1(cpuEvaluated));

  const exportArgs = (at: (n: string) => string): string[] => ['export', '--model', at('tuned'), '--out', at('exported')];
  const [exported] = await Promise.all([onStandIn('export', exportArgs(tf)), onCpu(exportArgs(cpu))]);
  assertNoWasmPatches('export', exported.report);
  assert.match(exported.result.stderr, /backend tensorflow/, 'the export check ran on tensorflow');
  await assertSameWeights('export', tf('exported'), cpu('exported'));
});

test('a short run on the tensorflow path: every stage, backend named in the summary', async () => {
  const out = path.join(dir, 'run');
  const { result, report } = await onStandIn('run', ['run', '--config', config, '--out', out, '--json', '--replicas', 'auto']);
  assertNoWasmPatches('run', report);
  const summary = JSON.parse(result.stdout) as {
    backend: { name: string; gpu: boolean; detail: string };
    accuracy: Record<string, number>;
  };
  assert.deepEqual(summary.backend, { name: 'tensorflow', gpu: false, detail: 'tensorflow (@tensorflow/tfjs-node), CPU, no GPU' });
  for (const stage of ['sparse', 'pruned', 'finetuned']) assert.ok(summary.accuracy[stage] >= 0 && summary.accuracy[stage] <= 1, stage);
  assert.doesNotMatch(result.stderr, /\d replicas \(worker threads/);
});
