/**
 * Does a MACs reduction turn into a real inference speedup? Builds quickstart, prunes it with
 * src/pipeline/prune.ts (random BN γ, global ratio), and times model.predict on wasm before and
 * after; when /usr/bin/python3 has torch, times the same two widths with bench/torch/infer_bench.py.
 *
 *   node dist/bench/infer.js [--runs 30] [--warmup 5] [--batch 64] [--ratio 0.5] [--seed 1] [--no-torch]
 *
 * realised speedup = latency_before / latency_after; MACs reduction = macs_before / macs_after;
 * realised / MACs = how much of the theoretical saving the backend delivers (1 = all of it).
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/select.js';
import { buildVgg, type VggItem } from '../src/model/architectures.js';
import { fromLayersModel, toLayersModel } from '../src/model/convert.js';
import { pruneModel } from '../src/pipeline/prune.js';
import { countModel } from '../src/report/count.js';
import { findBnGammas } from '../src/train/sparsity.js';

/** QUICKSTART_CFG / INPUT_SHAPES['quickstart'] of bench/torch/models.py. */
const QUICKSTART_CFG: VggItem[] = [32, 'M', 64, 'M', 128];
const INPUT_SHAPE: [number, number, number] = [28, 28, 1];
const PYTHON = '/usr/bin/python3';
const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const TORCH_SCRIPT = path.join(REPO_ROOT, 'bench', 'torch', 'infer_bench.py');

function option(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 && process.argv[at + 1] !== undefined ? process.argv[at + 1]! : fallback;
}

function numberOption(name: string, fallback: number, valid: (v: number) => boolean, rule: string): number {
  const value = Number(option(name, String(fallback)));
  if (!valid(value)) {
    console.error(`--${name} must be ${rule}, got ${option(name, '')}`);
    process.exit(2);
  }
  return value;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Median ms of model.predict on one batch (dataSync so the work is really done). */
function predictLatencyMs(model: tf.LayersModel, x: tf.Tensor, warmup: number, runs: number): number {
  const once = (): number => {
    const start = performance.now();
    const out = model.predict(x) as tf.Tensor;
    out.dataSync();
    out.dispose();
    return performance.now() - start;
  };
  for (let i = 0; i < warmup; i++) once();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) times.push(once());
  return median(times);
}

/** Output channel counts of the Conv2D layers in build order: infer_bench.py's --widths. */
function convWidths(model: tf.LayersModel): number[] {
  return model.layers.filter((l) => l.getClassName() === 'Conv2D').map((l) => Number(l.getConfig()['filters']));
}

/** Median ms per batch from infer_bench.py, or undefined when torch is absent or fails. */
function torchLatencyMs(widths: number[], batchSize: number, warmup: number, runs: number): number | undefined {
  const args = [TORCH_SCRIPT, '--arch', 'quickstart', '--threads', '1', '--json', '--batch-size', String(batchSize),
    '--warmup', String(warmup), '--runs', String(runs), '--widths', JSON.stringify(widths)];
  const run = spawnSync(PYTHON, args, { encoding: 'utf8' });
  if (run.status !== 0) return undefined;
  const parsed = JSON.parse(run.stdout.trim().split('\n').pop() ?? '{}') as { median_ms?: unknown };
  return typeof parsed.median_ms === 'number' ? parsed.median_ms : undefined;
}

async function main(): Promise<void> {
  tf.env().set('PROD', true);
  const positiveInt = (v: number): boolean => Number.isInteger(v) && v > 0;
  const runs = numberOption('runs', 30, positiveInt, 'a positive integer');
  const warmup = numberOption('warmup', 5, (v) => Number.isInteger(v) && v >= 0, 'an integer >= 0');
  const batchSize = numberOption('batch', 64, positiveInt, 'a positive integer');
  const ratio = numberOption('ratio', 0.5, (v) => v > 0 && v < 1, 'in (0, 1)');
  const seed = numberOption('seed', 1, (v) => Number.isInteger(v) && v >= 0, 'an integer >= 0');
  const withTorch = !process.argv.includes('--no-torch');

  const backend = await selectBackend('wasm');
  const original = buildVgg({ cfg: QUICKSTART_CFG, inputShape: INPUT_SHAPE, numClasses: 10, head: 'gap', seed });
  // Random |γ| so the global threshold cuts layers unevenly, as after sparsity training.
  findBnGammas(original).forEach(({ variable }, i) => {
    const size = variable.shape.reduce((a, b) => (a ?? 1) * (b ?? 1), 1) ?? 1;
    variable.write(tf.tidy(() => tf.randomUniform([size], 0, 1, 'float32', seed * 100 + i)));
  });
  const artifacts = await fromLayersModel(original);
  const outcome = pruneModel(artifacts, { ratio, minChannels: 1, roundTo: 1, importance: 'sum' });
  const pruned = await toLayersModel(outcome.artifacts);
  const macsBefore = countModel(artifacts.modelTopology).macs;
  const macsAfter = countModel(outcome.artifacts.modelTopology).macs;
  const widthsBefore = convWidths(original);
  const widthsAfter = convWidths(pruned);

  const x = tf.randomNormal([batchSize, ...INPUT_SHAPE], 0, 1, 'float32', seed);
  const msBefore = predictLatencyMs(original, x, warmup, runs);
  const msAfter = predictLatencyMs(pruned, x, warmup, runs);
  x.dispose();

  const macsReduction = macsBefore / macsAfter;
  const speedup = msBefore / msAfter;
  console.log(`quickstart on ${backend.detail}; batch ${batchSize}, median of ${runs} runs after ${warmup} warmup; prune ratio ${ratio}`);
  console.log(`conv widths: [${widthsBefore.join(', ')}] -> [${widthsAfter.join(', ')}]`);
  const rows: string[][] = [
    ['original', String(macsBefore), msBefore.toFixed(2), ''],
    ['pruned', String(macsAfter), msAfter.toFixed(2), ''],
  ];
  let torchSpeedup: number | undefined;
  if (withTorch) {
    const tBefore = torchLatencyMs(widthsBefore, batchSize, warmup, runs);
    const tAfter = torchLatencyMs(widthsAfter, batchSize, warmup, runs);
    if (tBefore !== undefined && tAfter !== undefined) {
      rows[0]![3] = tBefore.toFixed(2);
      rows[1]![3] = tAfter.toFixed(2);
      torchSpeedup = tBefore / tAfter;
    } else {
      console.log(`(torch timings skipped: ${PYTHON} bench/torch/infer_bench.py unavailable or failed)`);
    }
  }
  console.log('');
  console.log('| model    |       MACs | slim wasm ms/batch | torch ms/batch |');
  console.log('|----------|-----------:|-------------------:|---------------:|');
  for (const [name, macs, ms, torchMs] of rows) {
    console.log(`| ${name!.padEnd(8)} | ${macs!.padStart(10)} | ${ms!.padStart(18)} | ${(torchMs || '-').padStart(14)} |`);
  }
  console.log('');
  console.log(`MACs reduction (before/after):      ${macsReduction.toFixed(2)}x`);
  console.log(`realised speedup, slim wasm:        ${speedup.toFixed(2)}x  (realised/MACs ${(speedup / macsReduction).toFixed(2)})`);
  if (torchSpeedup !== undefined) {
    console.log(`realised speedup, torch (1 thread): ${torchSpeedup.toFixed(2)}x  (realised/MACs ${(torchSpeedup / macsReduction).toFixed(2)})`);
  }
  original.dispose();
  pruned.dispose();
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
});
