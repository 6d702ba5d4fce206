/**
 * Does a MACs reduction turn into a real inference speedup? Builds quickstart, prunes it with
 * src/pipeline/prune.ts (random BN γ, global ratio), and times model.predict on wasm before and
 * after; when /usr/bin/python3 has torch, times the same two widths with bench/torch/infer_bench.py.
 *
 *   node dist/bench/infer.js [--runs 30] [--warmup 5] [--batch 64[,1,...]] [--round-to 1[,4,8,...]]
 *                            [--ratio 0.5] [--seed 1] [--chunk N] [--fold-bn] [--profile] [--no-torch]
 *
 * --batch and --round-to take comma lists; every (round-to, batch) pair is one row.
 * --chunk: model.predict's batchSize (default: the whole batch in one call; tfjs' own default
 *   of 32 splits a batch of 64 into two calls plus a Concat).
 * --fold-bn: time both nets with each BatchNormalization folded into its conv by slim's export
 *   stage (what `slim export` writes); outputs are checked to match.
 * --profile: per-kernel tf.profile of one predict (mean of --profile-runs, default 10) of the
 *   original and the pruned model, aggregated by kernel and call by call (the two nets run the
 *   same kernel sequence, only channel counts differ), next to each layer's MACs reduction.
 *
 * Original and pruned predicts alternate run by run, so load drift hits both alike.
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
import type { ModelArtifacts } from '../src/model/topology.js';
import { exportModel } from '../src/pipeline/export.js';
import { pruneModel } from '../src/pipeline/prune.js';
import { countModel, type ModelCount } from '../src/report/count.js';
import { findBnGammas } from '../src/train/sparsity.js';

/** QUICKSTART_CFG / INPUT_SHAPES['quickstart'] of bench/torch/models.py. */
const QUICKSTART_CFG: VggItem[] = [32, 'M', 64, 'M', 128];
const INPUT_SHAPE: [number, number, number] = [28, 28, 1];
const PYTHON = '/usr/bin/python3';
const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const TORCH_SCRIPT = path.join(REPO_ROOT, 'bench', 'torch', 'infer_bench.py');

function option(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 && process.argv[at + 1] !== undefined ? process.argv[at + 1] : fallback;
}

function fail(message: string): never {
  console.error(message);
  process.exit(2);
}

function numberOption(name: string, fallback: number, valid: (v: number) => boolean, rule: string): number {
  const value = Number(option(name, String(fallback)));
  if (!valid(value)) fail(`--${name} must be ${rule}, got ${option(name, '')}`);
  return value;
}

/** A comma list of positive integers, e.g. --batch 1,64. */
function intListOption(name: string, fallback: string): number[] {
  const text = option(name, fallback);
  const values = text.split(',').map((s) => Number(s.trim()));
  if (values.length === 0 || !values.every((v) => Number.isInteger(v) && v > 0)) {
    fail(`--${name} must be a positive integer or a comma list of them, got ${text}`);
  }
  return values;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** One timed predict in ms (dataSync so the work is really done). */
function predictOnceMs(model: tf.LayersModel, x: tf.Tensor, chunk: number): number {
  const start = performance.now();
  const out = model.predict(x, { batchSize: chunk }) as tf.Tensor;
  out.dataSync();
  out.dispose();
  return performance.now() - start;
}

/** Median ms of each model's predict, the two models alternating run by run. */
function pairedLatencyMs(
  a: tf.LayersModel,
  b: tf.LayersModel,
  x: tf.Tensor,
  chunk: number,
  warmup: number,
  runs: number,
): [number, number] {
  for (let i = 0; i < warmup; i++) {
    predictOnceMs(a, x, chunk);
    predictOnceMs(b, x, chunk);
  }
  const timesA: number[] = [];
  const timesB: number[] = [];
  for (let i = 0; i < runs; i++) {
    timesA.push(predictOnceMs(a, x, chunk));
    timesB.push(predictOnceMs(b, x, chunk));
  }
  return [median(timesA), median(timesB)];
}

/** Output channel counts of the Conv2D layers in build order: infer_bench.py's --widths. */
function convWidths(model: tf.LayersModel): number[] {
  return model.layers.filter((l) => l.getClassName() === 'Conv2D').map((l) => Number(l.getConfig()['filters']));
}

/** Median ms per batch from infer_bench.py, or undefined when torch is absent or fails. */
function torchLatencyMs(widths: number[], batchSize: number, warmup: number, runs: number): number | undefined {
  const args = [
    TORCH_SCRIPT,
    '--arch',
    'quickstart',
    '--threads',
    '1',
    '--json',
    '--batch-size',
    String(batchSize),
    '--warmup',
    String(warmup),
    '--runs',
    String(runs),
    '--widths',
    JSON.stringify(widths),
  ];
  const run = spawnSync(PYTHON, args, { encoding: 'utf8' });
  if (run.status !== 0) return undefined;
  const parsed = JSON.parse(run.stdout.trim().split('\n').pop() ?? '{}') as { median_ms?: unknown };
  return typeof parsed.median_ms === 'number' ? parsed.median_ms : undefined;
}

interface KernelCall {
  name: string;
  shapes: string;
  ms: number;
}

/**
 * Kernel calls of one predict, times averaged over `repeats` profiled predicts (the call
 * sequence is the same every time). Also returns the mean wall time of the profiled predicts.
 */
async function profilePredict(
  model: tf.LayersModel,
  x: tf.Tensor,
  chunk: number,
  repeats: number,
): Promise<{ calls: KernelCall[]; wallMs: number }> {
  let calls: KernelCall[] = [];
  let wallMs = 0;
  for (let r = 0; r < repeats; r++) {
    const start = performance.now();
    const info = await tf.profile(() => {
      const out = model.predict(x, { batchSize: chunk }) as tf.Tensor;
      out.dataSync();
      out.dispose();
    });
    wallMs += performance.now() - start;
    const these: KernelCall[] = [];
    for (const k of info.kernels) {
      const ms = await k.kernelTimeMs; // typed number | {error} | Promise by tfjs
      these.push({
        name: k.name,
        shapes: k.inputShapes.map((s) => `[${(s ?? []).join(',')}]`).join(' '),
        ms: typeof ms === 'number' ? ms : 0,
      });
    }
    if (r === 0) calls = these;
    else
      these.forEach((c, i) => {
        if (calls[i]) calls[i].ms += c.ms;
      });
  }
  for (const c of calls) c.ms /= repeats;
  return { calls, wallMs: wallMs / repeats };
}

/** Ops named like 'fusedConv2d__op' wrap a kernel that is listed too: keep them out of sums. */
const isWrapper = (name: string): boolean => name.endsWith('__op');

async function printProfile(
  original: tf.LayersModel,
  pruned: tf.LayersModel,
  countBefore: ModelCount,
  countAfter: ModelCount,
  batchSize: number,
  chunk: number,
  repeats: number,
  seed: number,
): Promise<void> {
  const x = tf.randomNormal([batchSize, ...INPUT_SHAPE], 0, 1, 'float32', seed);
  for (let i = 0; i < 3; i++) {
    predictOnceMs(original, x, chunk);
    predictOnceMs(pruned, x, chunk);
  }
  const before = await profilePredict(original, x, chunk, repeats);
  const after = await profilePredict(pruned, x, chunk, repeats);
  x.dispose();

  const sum = (calls: KernelCall[]): number => calls.filter((c) => !isWrapper(c.name)).reduce((s, c) => s + c.ms, 0);
  const kernelsBefore = sum(before.calls);
  const kernelsAfter = sum(after.calls);
  console.log('');
  console.log(`profile, batch ${batchSize} (mean of ${repeats} profiled predicts; profiling adds its own overhead to wall time):`);
  console.log(
    `  wall ms ${before.wallMs.toFixed(2)} -> ${after.wallMs.toFixed(2)}; in kernels ${kernelsBefore.toFixed(2)} -> ${kernelsAfter.toFixed(2)} ` +
      `(kernel speedup ${(kernelsBefore / kernelsAfter).toFixed(2)}x, MACs ${(countBefore.macs / countAfter.macs).toFixed(2)}x)`,
  );

  const byName = (calls: KernelCall[]): Map<string, { ms: number; calls: number }> => {
    const map = new Map<string, { ms: number; calls: number }>();
    for (const c of calls) {
      const e = map.get(c.name) ?? { ms: 0, calls: 0 };
      e.ms += c.ms;
      e.calls++;
      map.set(c.name, e);
    }
    return map;
  };
  const aggBefore = byName(before.calls);
  const aggAfter = byName(after.calls);
  console.log('');
  console.log(`| kernel               | calls | orig ms | % orig | pruned ms | % pruned | speedup |`);
  console.log(`|----------------------|------:|--------:|-------:|----------:|---------:|--------:|`);
  for (const [name, b] of [...aggBefore.entries()].sort((p, q) => q[1].ms - p[1].ms)) {
    const a = aggAfter.get(name) ?? { ms: 0, calls: 0 };
    const pct = (ms: number, total: number): string => (isWrapper(name) ? '-' : ((100 * ms) / total).toFixed(1));
    console.log(
      `| ${name.padEnd(20)} | ${String(b.calls).padStart(5)} | ${b.ms.toFixed(3).padStart(7)} | ${pct(b.ms, kernelsBefore).padStart(6)} | ` +
        `${a.ms.toFixed(3).padStart(9)} | ${pct(a.ms, kernelsAfter).padStart(8)} | ${(b.ms / a.ms).toFixed(2).padStart(7)} |`,
    );
  }

  // Call by call: same kernel sequence in both nets, so index i is the same op of the same layer.
  const sameSequence = before.calls.length === after.calls.length && before.calls.every((c, i) => c.name === after.calls[i].name);
  if (!sameSequence) {
    console.log('(kernel sequences differ between original and pruned: no call-by-call table)');
    return;
  }
  const convMacs = (count: ModelCount): number[] => count.layers.filter((l) => l.className === 'Conv2D').map((l) => l.macs);
  const macsBefore = convMacs(countBefore);
  const macsAfter = convMacs(countAfter);
  let convIndex = 0;
  console.log('');
  console.log('| # | kernel | input shapes (orig -> pruned) | orig ms | pruned ms | speedup | layer MACs reduction |');
  console.log('|--:|--------|-------------------------------|--------:|----------:|--------:|---------------------:|');
  before.calls.forEach((b, i) => {
    if (isWrapper(b.name)) return;
    const a = after.calls[i];
    // Conv kernels come in layer order (one per conv layer and chunk); cycle when predict is chunked.
    let macs = '';
    if (b.name === 'FusedConv2D' || b.name === 'Conv2D') {
      const layer = convIndex++ % macsBefore.length;
      macs = `${(macsBefore[layer] / macsAfter[layer]).toFixed(2)}x`;
    }
    console.log(
      `| ${i} | ${b.name} | ${b.shapes} -> ${a.shapes} | ${b.ms.toFixed(3)} | ${a.ms.toFixed(3)} | ${(b.ms / a.ms).toFixed(2)} | ${macs} |`,
    );
  });
}

/** Quickstart with seeded random |γ| so the global threshold cuts layers unevenly, as after sparsity training. */
async function buildOriginal(seed: number): Promise<{ model: tf.LayersModel; artifacts: ModelArtifacts }> {
  const model = buildVgg({ cfg: QUICKSTART_CFG, inputShape: INPUT_SHAPE, numClasses: 10, head: 'gap', seed });
  findBnGammas(model).forEach(({ variable }, i) => {
    const size = variable.shape.reduce((a, b) => (a ?? 1) * (b ?? 1), 1) ?? 1;
    variable.write(tf.tidy(() => tf.randomUniform([size], 0, 1, 'float32', seed * 100 + i)));
  });
  return { model, artifacts: await fromLayersModel(model) };
}

/**
 * The same net with every BN folded into the conv before it, through slim's export stage
 * (src/pipeline/export.ts: foldBatchNorm plus its own output check against the unfolded net).
 */
async function foldedModel(artifacts: ModelArtifacts, seed: number): Promise<tf.LayersModel> {
  const outcome = await exportModel(artifacts, { seed: seed + 7 });
  for (const s of outcome.skipped) console.log(`(BN not folded: ${s.bn}: ${s.reason})`);
  return toLayersModel(outcome.artifacts);
}

interface Row {
  roundTo: number;
  batch: number;
  widths: number[];
  macsReduction: number;
  msBefore: number;
  msAfter: number;
  torchBefore?: number;
  torchAfter?: number;
}

async function main(): Promise<void> {
  tf.env().set('PROD', true);
  const positiveInt = (v: number): boolean => Number.isInteger(v) && v > 0;
  const runs = numberOption('runs', 30, positiveInt, 'a positive integer');
  const warmup = numberOption('warmup', 5, (v) => Number.isInteger(v) && v >= 0, 'an integer >= 0');
  const batches = intListOption('batch', '64');
  const roundTos = intListOption('round-to', '1');
  const ratio = numberOption('ratio', 0.5, (v) => v > 0 && v < 1, 'in (0, 1)');
  const seed = numberOption('seed', 1, (v) => Number.isInteger(v) && v >= 0, 'an integer >= 0');
  const chunkOption = process.argv.includes('--chunk') ? numberOption('chunk', 32, positiveInt, 'a positive integer') : undefined;
  const profile = process.argv.includes('--profile');
  const profileRuns = numberOption('profile-runs', 10, positiveInt, 'a positive integer');
  const withTorch = !process.argv.includes('--no-torch');
  const foldBn = process.argv.includes('--fold-bn');

  const backend = await selectBackend('wasm');
  const built = await buildOriginal(seed);
  const artifacts = built.artifacts;
  const original = foldBn ? await foldedModel(artifacts, seed) : built.model;
  const countBefore = countModel(artifacts.modelTopology);
  const widthsBefore = convWidths(original);
  console.log(
    `quickstart on ${backend.detail}; median of ${runs} runs after ${warmup} warmup (original/pruned alternating); ` +
      `prune ratio ${ratio}, random γ seed ${seed}; predict chunk ${chunkOption ?? 'whole batch'}${foldBn ? '; BN folded into conv (wasm only)' : ''}`,
  );

  const rows: Row[] = [];
  const torchOriginal = new Map<number, number | undefined>();
  let torchSkipped = false;
  for (const roundTo of roundTos) {
    const outcome = pruneModel(artifacts, { ratio, minChannels: 1, roundTo, importance: 'sum' });
    const prunedWithBn = await toLayersModel(outcome.artifacts);
    const pruned = foldBn ? await foldedModel(outcome.artifacts, seed) : prunedWithBn;
    const countAfter = countModel(outcome.artifacts.modelTopology);
    const widths = convWidths(pruned);
    for (const batch of batches) {
      const chunk = chunkOption ?? batch;
      const x = tf.randomNormal([batch, ...INPUT_SHAPE], 0, 1, 'float32', seed);
      const [msBefore, msAfter] = pairedLatencyMs(original, pruned, x, chunk, warmup, runs);
      x.dispose();
      const row: Row = { roundTo, batch, widths, macsReduction: countBefore.macs / countAfter.macs, msBefore, msAfter };
      if (withTorch && !torchSkipped) {
        if (!torchOriginal.has(batch)) torchOriginal.set(batch, torchLatencyMs(widthsBefore, batch, warmup, runs));
        const tBefore = torchOriginal.get(batch);
        const tAfter = torchLatencyMs(widths, batch, warmup, runs);
        if (tBefore !== undefined && tAfter !== undefined) {
          row.torchBefore = tBefore;
          row.torchAfter = tAfter;
        } else {
          torchSkipped = true;
          console.log(`(torch timings skipped: ${PYTHON} bench/torch/infer_bench.py unavailable or failed)`);
        }
      }
      rows.push(row);
      if (profile) {
        console.log(`\n== round-to ${roundTo}: conv widths [${widthsBefore.join(', ')}] -> [${widths.join(', ')}]`);
        await printProfile(original, pruned, countBefore, countAfter, batch, chunk, profileRuns, seed);
      }
    }
    pruned.dispose();
    if (pruned !== prunedWithBn) prunedWithBn.dispose();
  }

  console.log('');
  console.log(`original conv widths [${widthsBefore.join(', ')}], ${countBefore.macs} MACs/image`);
  console.log('');
  console.log(
    '| round-to | batch | pruned widths  | MACs red. | wasm ms orig | wasm ms pruned | wasm speedup | wasm realised/MACs | torch ms orig | torch ms pruned | torch speedup | torch realised/MACs |',
  );
  console.log(
    '|---------:|------:|----------------|----------:|-------------:|---------------:|-------------:|-------------------:|--------------:|----------------:|--------------:|--------------------:|',
  );
  for (const r of rows) {
    const speedup = r.msBefore / r.msAfter;
    const torchSpeedup = r.torchBefore !== undefined && r.torchAfter !== undefined ? r.torchBefore / r.torchAfter : undefined;
    const cells = [
      String(r.roundTo),
      String(r.batch),
      `[${r.widths.join(', ')}]`,
      `${r.macsReduction.toFixed(2)}x`,
      r.msBefore.toFixed(2),
      r.msAfter.toFixed(2),
      `${speedup.toFixed(2)}x`,
      (speedup / r.macsReduction).toFixed(2),
      r.torchBefore?.toFixed(2) ?? '-',
      r.torchAfter?.toFixed(2) ?? '-',
      torchSpeedup !== undefined ? `${torchSpeedup.toFixed(2)}x` : '-',
      torchSpeedup !== undefined ? (torchSpeedup / r.macsReduction).toFixed(2) : '-',
    ];
    console.log(`| ${cells.join(' | ')} |`);
  }
  original.dispose();
  if (original !== built.model) built.model.dispose();
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
});
