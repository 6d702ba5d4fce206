/**
 * Accuracy benchmark: Network Slimming in slim against a PyTorch reference that follows the
 * paper's procedure (bench/torch/slimming_ref.py), on full Fashion-MNIST, same architecture,
 * same initial weights, same per-epoch example order, same preprocessing and hyper-parameters.
 *
 *   node dist/bench/accuracy.js [--epochs 6] [--finetune-epochs 6] [--ratios 0.3,0.5,0.7]
 *        [--train-limit N] [--lambda 5e-3] [--lr 0.1] [--finetune-lr 0.1] [--batch 64]
 *        [--baseline-epochs N (default --epochs; 0 = none)]
 *        [--cfg 16,M,32,M,64] [--seed 1] [--threads 1] [--out DIR] [--json FILE] [--dump-weights]
 *   node dist/bench/accuracy.js --aggregate seed1.json seed2.json ...   (mean ± sd over runs)
 *
 * Slim side: buildVgg (gap head) → export its initial weights and the epoch orders
 * (Dataset.order) → the plainly trained baseline (λ = 0, same init/orders/schedule) → sparsity training (runTrainingStage) → per ratio: pruneModel (global ratio,
 * minChannels 1, roundTo 1, importance 'sum') → test accuracy → fine-tune → test accuracy.
 * The torch reference runs at the same time in a child process (it only needs the exported
 * files), so the wall time is about max(slim, torch). Then a count-only torch call rebuilds the
 * widths slim kept, to check that equal channels give equal params/MACs.
 * Prints one markdown table on stdout; progress on stderr. Exit 2 when torch or the dataset is
 * missing or a flag is wrong. The defaults (λ 5e-3: 50× the paper's 1e-4, because 6 epochs
 * replace its 160; plain baseline 6 epochs; fine-tuning 6 epochs from lr 0.1, the training
 * schedule, as in the paper) take ~28 min on an idle 2-core machine; see bench/RESULTS.md.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type * as tf from '@tensorflow/tfjs';
import { dataSchema, pruneSchema } from '../src/config/schema.js';
import { Dataset } from '../src/data/dataset.js';
import { fashionMnistFiles, FASHION_MNIST_DIR } from '../src/data/formats/fashion-mnist.js';
import { buildVgg, type VggItem } from '../src/model/architectures.js';
import { fromLayersModel, toLayersModel } from '../src/model/convert.js';
import { Output } from '../src/io/output.js';
import { startBackend } from '../src/pipeline/backend.js';
import { prepareData } from '../src/pipeline/data.js';
import { pruneModel } from '../src/pipeline/prune.js';
import { runTrainingStage, testAccuracy, type StageHyperparameters } from '../src/pipeline/train.js';
import { countModel } from '../src/report/count.js';

const PYTHON = '/usr/bin/python3';
/** dist/bench/accuracy.js → repository root. */
const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const TORCH_SCRIPT = path.join(REPO_ROOT, 'bench', 'torch', 'slimming_ref.py');
/** Fashion-MNIST train-set mean and std of pixel/255, applied identically on both sides. */
const PREPROCESS = { scale: 1 / 255, mean: [0.286], std: [0.353] };
/** buildVgg's BN (src/model/architectures.ts): Keras momentum 0.9 = PyTorch momentum 0.1, eps 1e-5. */
const BN = { bnEpsilon: 1e-5, bnMomentum: 0.1 };

interface Settings {
  epochs: number;
  /** Epochs of the plainly trained (λ = 0) baseline; 0 = don't train one. */
  baselineEpochs: number;
  finetuneEpochs: number;
  ratios: number[];
  trainLimit?: number;
  lambda: number;
  lr: number;
  finetuneLr: number;
  batch: number;
  cfg: VggItem[];
  seed: number;
  threads: number;
  out: string;
  json?: string;
  /** Also write both sides' sparsity-trained weights (out/sparse-slim/, out/sparse-torch.npz) for comparison. */
  dumpWeights: boolean;
}

function parseFlags() {
  return parseArgs({
    options: {
      epochs: { type: 'string', default: '6' },
      'baseline-epochs': { type: 'string' },
      aggregate: { type: 'boolean', default: false },
      'finetune-epochs': { type: 'string', default: '6' },
      ratios: { type: 'string', default: '0.3,0.5,0.7' },
      'train-limit': { type: 'string' },
      lambda: { type: 'string', default: '5e-3' },
      lr: { type: 'string', default: '0.1' },
      'finetune-lr': { type: 'string', default: '0.1' },
      batch: { type: 'string', default: '64' },
      cfg: { type: 'string', default: '16,M,32,M,64' },
      seed: { type: 'string', default: '1' },
      threads: { type: 'string', default: '1' },
      out: { type: 'string' },
      json: { type: 'string' },
      'dump-weights': { type: 'boolean', default: false },
    },
    allowPositionals: true,
  });
}

function parseSettings(): Settings {
  let values: ReturnType<typeof parseFlags>['values'];
  let positionals: string[];
  try {
    ({ values, positionals } = parseFlags());
  } catch (err) {
    usage((err as Error).message);
  }
  if (positionals.length > 0) usage(`unexpected argument ${positionals[0]} (files are only read with --aggregate)`);
  const num = (name: string, v: string | undefined, integer = false): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || (integer && !Number.isInteger(n))) usage(`--${name}: expected a number, got ${v}`);
    return n;
  };
  const positive = (name: string, v: string | undefined): number => {
    const n = num(name, v, true);
    if (n < 1) usage(`--${name}: must be at least 1, got ${n}`);
    return n;
  };
  const ratio = (v: string): number => {
    const r = num('ratios', v);
    if (!(r > 0 && r < 1)) usage(`--ratios: each ratio must be in (0, 1), got ${r}`);
    return r;
  };
  const cfg = values.cfg.split(',').map((s): VggItem => (s.trim() === 'M' ? 'M' : num('cfg', s, true)));
  const epochs = positive('epochs', values.epochs);
  const baselineEpochs = values['baseline-epochs'] === undefined ? epochs : num('baseline-epochs', values['baseline-epochs'], true);
  if (baselineEpochs < 0) usage(`--baseline-epochs: must be 0 or more, got ${baselineEpochs}`);
  return {
    epochs,
    baselineEpochs,
    finetuneEpochs: positive('finetune-epochs', values['finetune-epochs']),
    ratios: values.ratios.split(',').map(ratio),
    trainLimit: values['train-limit'] === undefined ? undefined : positive('train-limit', values['train-limit']),
    lambda: num('lambda', values.lambda),
    lr: num('lr', values.lr),
    finetuneLr: num('finetune-lr', values['finetune-lr']),
    batch: positive('batch', values.batch),
    cfg,
    seed: num('seed', values.seed, true),
    threads: positive('threads', values.threads),
    out: values.out ?? mkdtempSync(path.join(os.tmpdir(), 'slim-accuracy-')),
    json: values.json,
    dumpWeights: values['dump-weights'],
  };
}

function usage(message: string): never {
  console.error(`bench/accuracy: ${message}`);
  process.exit(2);
}

function hyper(epochs: number, lr: number, batch: number): StageHyperparameters {
  return { epochs, batchSize: batch, lr, momentum: 0.9, nesterov: false, weightDecay: 1e-4, milestones: [0.5, 0.75], gamma: 0.1 };
}

/** Writes every weight as raw little-endian float32 (tfjs layout) plus index.json; returns the index path. */
async function exportWeights(model: tf.LayersModel, dir: string): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const artifacts = await fromLayersModel(model);
  const weights: { name: string; shape: number[]; file: string }[] = [];
  for (const [name, w] of artifacts.weights) {
    if (!(w.data instanceof Float32Array)) throw new Error(`weight ${name} is ${w.dtype}, expected float32`);
    const file = `${name.replace(/[^A-Za-z0-9_.-]/g, '_')}.f32`;
    writeFileSync(path.join(dir, file), Buffer.from(w.data.buffer, w.data.byteOffset, w.data.byteLength));
    weights.push({ name, shape: w.shape, file });
  }
  const index = path.join(dir, 'index.json');
  writeFileSync(index, `${JSON.stringify({ weights }, null, 2)}\n`);
  return index;
}

interface TorchCount {
  params: number;
  trainable: number;
  macs: number;
}
interface TorchRow extends TorchCount {
  ratio: number;
  threshold: number;
  kept: number[];
  pruned: number;
  finetuned: number;
  finetuneSeconds: number;
}
interface TorchResult {
  torch: string;
  threads: number;
  trainSeconds: number;
  seconds: number;
  baseline: TorchCount & { accuracy: number; kept: number[] };
  /** The plainly trained baseline, when the job asked for one. */
  plain?: TorchCount & { accuracy: number; seconds: number };
  ratios: TorchRow[];
}

/** Runs the reference in the background; its stderr (epoch lines) is passed through with a prefix. */
function startTorch(jobPath: string): Promise<TorchResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, [TORCH_SCRIPT, '--job', jobPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderrTail = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => {
      const text = chunk.toString();
      stderrTail = (stderrTail + text).slice(-4000);
      for (const line of text.split('\n')) if (line.trim() !== '') console.error(`[torch] ${line}`);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`slimming_ref.py exited with ${code}: ${stderrTail.trim().split('\n').pop()}`));
      else resolve(JSON.parse(stdout) as TorchResult);
    });
  });
}

interface SlimRow {
  ratio: number;
  threshold: number;
  kept: number[];
  params: number;
  trainable: number;
  macs: number;
  pruned: number;
  finetuned: number;
  finetuneSeconds: number;
  foldedChannels: number;
}

async function main(): Promise<void> {
  if (process.argv.includes('--aggregate')) {
    let positionals: string[] = [];
    try {
      ({ positionals } = parseFlags());
    } catch (err) {
      usage((err as Error).message);
    }
    aggregate(positionals);
    return;
  }
  const s = parseSettings();
  try {
    fashionMnistFiles();
  } catch (err) {
    usage(`${(err as Error).message} (or the files are elsewhere: this benchmark reads ${FASHION_MNIST_DIR})`);
  }
  if (spawnSync(PYTHON, ['-c', 'import torch, numpy'], { stdio: 'ignore' }).status !== 0) {
    usage(`PyTorch not found for ${PYTHON}: run \`apt-get install -y python3-torch\` (see bench/README.md)`);
  }
  const started = Date.now();
  mkdirSync(s.out, { recursive: true });
  const out = new Output({ progress: false });
  const backend = await startBackend('auto', out);
  const dataConfig = dataSchema.parse({ dataset: 'fashion-mnist', validationSplit: 0, trainLimit: s.trainLimit, preprocess: PREPROCESS });
  const data = await prepareData(dataConfig, s.seed);
  out.info(`data: ${data.summary}; work dir ${s.out}`);

  const model = buildVgg({ cfg: s.cfg, inputShape: data.imageShape, numClasses: data.numClasses, head: 'gap', seed: s.seed });
  const initIndex = await exportWeights(model, path.join(s.out, 'init'));
  // runTrainingStage shuffles with Dataset.order(seed, epoch); fine-tuning restarts at epoch 0.
  const orders: string[] = [];
  const trainSet = data.train;
  if (!(trainSet instanceof Dataset)) throw new Error('fashion-mnist training data should load in memory (a Dataset)');
  mkdirSync(path.join(s.out, 'orders'), { recursive: true });
  for (let e = 0; e < Math.max(s.epochs, s.baselineEpochs, s.finetuneEpochs); e++) {
    const order = trainSet.order(s.seed, e);
    const file = path.join(s.out, 'orders', `epoch-${String(e).padStart(3, '0')}.u32`);
    writeFileSync(file, Buffer.from(order.buffer, order.byteOffset, order.byteLength));
    orders.push(file);
  }
  const trainHp = hyper(s.epochs, s.lr, s.batch);
  const baselineHp = s.baselineEpochs > 0 ? hyper(s.baselineEpochs, s.lr, s.batch) : undefined;
  const finetuneHp = hyper(s.finetuneEpochs, s.finetuneLr, s.batch);
  const job = {
    seed: s.seed,
    threads: s.threads,
    dataDir: FASHION_MNIST_DIR,
    trainLimit: s.trainLimit ?? null,
    preprocess: PREPROCESS,
    model: { cfg: s.cfg, head: 'gap', numClasses: data.numClasses, ...BN },
    init: initIndex,
    orders,
    train: trainHp,
    ...(baselineHp ? { baseline: baselineHp } : {}),
    finetune: finetuneHp,
    lambda: s.lambda,
    ratios: s.ratios,
    ...(s.dumpWeights ? { dumpWeights: path.join(s.out, 'sparse-torch.npz') } : {}),
  };
  const jobPath = path.join(s.out, 'job.json');
  writeFileSync(jobPath, `${JSON.stringify(job, null, 2)}\n`);
  const torchPromise = startTorch(jobPath);
  // Keep an early torch failure from being an unhandled rejection while slim trains.
  torchPromise.catch(() => undefined);

  // ---- slim
  const slimStarted = Date.now();
  let slimPlain: { accuracy: number; seconds: number } | undefined;
  if (baselineHp) {
    // buildVgg is seeded: the same seed gives the same initial weights the sparsity run starts from.
    const plain = buildVgg({ cfg: s.cfg, inputShape: data.imageShape, numClasses: data.numClasses, head: 'gap', seed: s.seed });
    try {
      const r = await runTrainingStage(plain, data, baselineHp, 0, s.seed, out, 'plain train (baseline)');
      slimPlain = { accuracy: r.testAccuracy, seconds: r.seconds };
      out.info(`slim plainly trained baseline: test accuracy ${(r.testAccuracy * 100).toFixed(2)}%`);
    } finally {
      plain.dispose();
    }
  }
  const sparse = await runTrainingStage(model, data, trainHp, s.lambda, s.seed, out, 'sparsity train');
  const sparseArtifacts = await fromLayersModel(model);
  if (s.dumpWeights) await exportWeights(model, path.join(s.out, 'sparse-slim'));
  model.dispose();
  const baseCount = countModel(sparseArtifacts.modelTopology);
  const bnNames = baseCount.layers.filter((l) => l.className === 'BatchNormalization').map((l) => l.name);
  const slimBaseline = {
    params: baseCount.params.total,
    trainable: baseCount.params.trainable,
    macs: baseCount.macs,
    accuracy: sparse.testAccuracy,
    kept: s.cfg.filter((c): c is number => c !== 'M'),
    trainSeconds: sparse.seconds,
  };
  const slimRows: SlimRow[] = [];
  for (const ratio of s.ratios) {
    const outcome = pruneModel(sparseArtifacts, pruneSchema.parse({ ratio, minChannels: 1, roundTo: 1, importance: 'sum' }));
    const keptByBn = new Map<string, number>();
    for (const g of outcome.plan.groups) for (const bn of g.bn) keptByBn.set(bn, g.keep.length);
    const kept = bnNames.map((n) => keptByBn.get(n) ?? Number.NaN);
    const pruned: tf.LayersModel = await toLayersModel(outcome.artifacts);
    try {
      const prunedAccuracy = await testAccuracy(pruned, data, s.batch);
      out.info(`slim ratio ${ratio}: kept [${kept.join(', ')}], test accuracy after pruning ${(prunedAccuracy * 100).toFixed(2)}%`);
      const ft = await runTrainingStage(pruned, data, finetuneHp, 0, s.seed, out, `fine-tune r=${ratio}`);
      slimRows.push({
        ratio,
        threshold: outcome.plan.threshold,
        kept,
        params: outcome.after.params.total,
        trainable: outcome.after.params.trainable,
        macs: outcome.after.macs,
        pruned: prunedAccuracy,
        finetuned: ft.testAccuracy,
        finetuneSeconds: ft.seconds,
        foldedChannels: outcome.foldSummary.foldedChannels,
      });
    } finally {
      pruned.dispose();
    }
  }
  const slimSeconds = (Date.now() - slimStarted) / 1000;
  out.info(`slim side done in ${(slimSeconds / 60).toFixed(1)} min; waiting for torch`);

  const torch = await torchPromise;
  // Torch's params/MACs for exactly the widths slim kept (and the unpruned widths).
  const countJobPath = path.join(s.out, 'count-job.json');
  writeFileSync(countJobPath, JSON.stringify({ ...job, countOnly: [slimBaseline.kept, ...slimRows.map((r) => r.kept)] }));
  const countRun = spawnSync(PYTHON, [TORCH_SCRIPT, '--job', countJobPath], { encoding: 'utf8' });
  if (countRun.status !== 0) throw new Error(`slimming_ref.py count-only failed: ${countRun.stderr.trim().split('\n').pop()}`);
  const torchCounts = JSON.parse(countRun.stdout) as TorchCount[];

  const totalSeconds = (Date.now() - started) / 1000;
  const result = {
    date: new Date().toISOString(),
    machine: `${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'cpu'}), Node ${process.version}, ${backend.detail}; torch ${torch.torch} (${torch.threads} thread)`,
    settings: { ...s, preprocess: PREPROCESS, weightDecay: 1e-4, momentum: 0.9, milestones: [0.5, 0.75], gamma: 0.1, head: 'gap' },
    slim: { plain: slimPlain, baseline: slimBaseline, ratios: slimRows, seconds: slimSeconds },
    torch,
    countsForSlimKept: torchCounts,
    seconds: totalSeconds,
  };
  writeFileSync(path.join(s.out, 'result.json'), `${JSON.stringify(result, null, 2)}\n`);
  if (s.json !== undefined) writeFileSync(s.json, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(renderTable(result.slim, torch, torchCounts));
  process.stdout.write(renderGoal([result]));
  out.info(
    `total ${(totalSeconds / 60).toFixed(1)} min (slim ${(slimSeconds / 60).toFixed(1)}, torch ${(torch.seconds / 60).toFixed(1)}); results in ${path.join(s.out, 'result.json')}`,
  );
}

interface SlimResult {
  plain?: { accuracy: number; seconds: number };
  baseline: { params: number; macs: number; accuracy: number; kept: number[] };
  ratios: SlimRow[];
}
/** What one run writes to result.json (and --json); --aggregate reads several of these. */
interface RunResult {
  settings: Settings;
  slim: SlimResult;
  torch: TorchResult;
  countsForSlimKept: TorchCount[];
}

function renderTable(slim: SlimResult, torch: TorchResult, counts: TorchCount[]): string {
  const pct = (x: number): string => (x * 100).toFixed(2);
  const same = (a: number[], b: number[]): string => (a.length === b.length && a.every((v, i) => v === b[i]) ? 'yes' : 'no');
  const countMatch = (i: number, params: number, macs: number): string =>
    counts[i].params === params && counts[i].macs === macs ? 'yes' : 'NO';
  const lines = [
    "| ratio | kept per layer (slim / torch) | same kept | params (slim / torch) | MACs (slim / torch) | count = torch for slim's widths | acc pruned % (slim / torch) | acc fine-tuned % (slim / torch) |",
    '|---|---|---|---|---|---|---|---|',
  ];
  const b = slim.baseline;
  if (slim.plain !== undefined || torch.plain !== undefined) {
    const acc = (p?: { accuracy: number }): string => (p ? pct(p.accuracy) : '-');
    lines.push(
      `| 0 (unpruned, plainly trained: λ = 0) | [${b.kept.join(',')}] / [${torch.baseline.kept.join(',')}] | ${same(b.kept, torch.baseline.kept)} | ` +
        `${b.params} / ${torch.plain?.params ?? '-'} | ${b.macs} / ${torch.plain?.macs ?? '-'} | ${countMatch(0, b.params, b.macs)} | ` +
        `${acc(slim.plain)} / ${acc(torch.plain)} | - |`,
    );
  }
  lines.push(
    `| 0 (unpruned, sparsity-trained) | [${b.kept.join(',')}] / [${torch.baseline.kept.join(',')}] | ${same(b.kept, torch.baseline.kept)} | ` +
      `${b.params} / ${torch.baseline.params} | ${b.macs} / ${torch.baseline.macs} | ${countMatch(0, b.params, b.macs)} | ` +
      `${pct(b.accuracy)} / ${pct(torch.baseline.accuracy)} | - |`,
  );
  slim.ratios.forEach((r, i) => {
    const t = torch.ratios.find((x) => x.ratio === r.ratio);
    const tk = t ? `[${t.kept.join(',')}]` : '-';
    lines.push(
      `| ${r.ratio} | [${r.kept.join(',')}] / ${tk} | ${t ? same(r.kept, t.kept) : '-'} | ${r.params} / ${t?.params ?? '-'} | ${r.macs} / ${t?.macs ?? '-'} | ` +
        `${countMatch(i + 1, r.params, r.macs)} | ${pct(r.pruned)} / ${t ? pct(t.pruned) : '-'} | ${pct(r.finetuned)} / ${t ? pct(t.finetuned) : '-'} |`,
    );
  });
  return `${lines.join('\n')}\n`;
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
/** Sample standard deviation (n − 1); 0 for a single run. */
const sd = (xs: number[]): number => {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
};
const pp = (xs: number[]): string =>
  xs.length > 1 ? `${(mean(xs) * 100).toFixed(2)} ± ${(sd(xs) * 100).toFixed(2)}` : (mean(xs) * 100).toFixed(2);

/**
 * The issue's goal at ratio 0.5, over one or more runs (means): slim's fine-tuned accuracy within
 * 0.3 points of the unpruned baseline (the plainly trained one when measured, else the
 * sparsity-trained one) and not below the reference's; params/MACs equal torch's for slim's widths.
 */
function renderGoal(runs: RunResult[]): string {
  const lines: string[] = [];
  const at = (r: RunResult, ratio: number): { slim?: SlimRow; torch?: TorchRow } => ({
    slim: r.slim.ratios.find((x) => x.ratio === ratio),
    torch: r.torch.ratios.find((x) => x.ratio === ratio),
  });
  const half = runs.map((r) => at(r, 0.5));
  if (half.every((h) => h.slim && h.torch)) {
    const slimFt = half.map((h) => h.slim!.finetuned);
    const torchFt = half.map((h) => h.torch!.finetuned);
    const plain = runs.every((r) => r.slim.plain !== undefined);
    const base = runs.map((r) => (plain ? r.slim.plain!.accuracy : r.slim.baseline.accuracy));
    const gap = (mean(base) - mean(slimFt)) * 100;
    const vsTorch = (mean(slimFt) - mean(torchFt)) * 100;
    const n = runs.length > 1 ? ` (means over ${runs.length} runs)` : '';
    lines.push(
      `goal, ratio 0.5${n}: slim fine-tuned ${pp(slimFt)} % vs unpruned ${plain ? 'plainly trained' : 'sparsity-trained'} baseline ${pp(base)} %: ` +
        `${gap <= 0 ? `${(-gap).toFixed(2)} points above` : `${gap.toFixed(2)} points below`} → ${gap <= 0.3 ? 'met' : 'NOT met'} (within 0.3)`,
      `goal, ratio 0.5${n}: slim fine-tuned ${pp(slimFt)} % vs torch fine-tuned ${pp(torchFt)} %: ${vsTorch >= 0 ? '+' : ''}${vsTorch.toFixed(2)} points → ${vsTorch >= 0 ? 'met' : 'NOT met'} (not below)`,
    );
  }
  const counts = runs.every((r) =>
    [r.slim.baseline, ...r.slim.ratios].every(
      (row, i) => r.countsForSlimKept[i]?.params === row.params && r.countsForSlimKept[i]?.macs === row.macs,
    ),
  );
  lines.push(`goal, every ratio: slim's params/MACs equal torch's for the channels slim kept → ${counts ? 'met' : 'NOT met'}`);
  return `${lines.join('\n')}\n`;
}

/** Mean ± sd over several runs' result.json (e.g. one per seed, run in parallel). */
function aggregate(files: string[]): void {
  if (files.length === 0) usage('--aggregate: give the result.json files of the runs to combine');
  const runs = files.map((f) => {
    try {
      return JSON.parse(readFileSync(f, 'utf8')) as RunResult;
    } catch (err) {
      return usage(`--aggregate: cannot read ${f}: ${(err as Error).message}`);
    }
  });
  // Runs may differ only in their seed (and work dirs); anything else would make the mean meaningless.
  const key = (r: RunResult): string => {
    const { seed: _seed, out: _out, json: _json, ...rest } = r.settings;
    return JSON.stringify(rest);
  };
  runs.forEach((r, i) => {
    if (key(r) !== key(runs[0])) usage(`--aggregate: ${files[i]} was run with other settings than ${files[0]}`);
  });
  const seeds = runs.map((r) => r.settings.seed);
  const s0 = runs[0].settings;
  const lines = [
    `Seeds ${seeds.join(', ')}; ${s0.epochs} sparsity epochs (λ ${s0.lambda}, lr ${s0.lr}), baseline ${s0.baselineEpochs} epochs, ` +
      `${s0.finetuneEpochs} fine-tune epochs (lr ${s0.finetuneLr}); accuracies: mean ± sd over runs, in %.`,
    '',
    '| ratio | params slim / torch (mean) | MACs slim / torch (mean) | acc pruned slim / torch | acc fine-tuned slim / torch | fine-tuned slim − torch |',
    '|---|---|---|---|---|---|',
  ];
  const fmt = (x: number): string => Math.round(x).toString();
  if (runs.every((r) => r.slim.plain && r.torch.plain)) {
    lines.push(
      `| 0 (plainly trained) | ${fmt(mean(runs.map((r) => r.slim.baseline.params)))} / ${fmt(mean(runs.map((r) => r.torch.plain!.params)))} | ` +
        `${fmt(mean(runs.map((r) => r.slim.baseline.macs)))} / ${fmt(mean(runs.map((r) => r.torch.plain!.macs)))} | ` +
        `${pp(runs.map((r) => r.slim.plain!.accuracy))} / ${pp(runs.map((r) => r.torch.plain!.accuracy))} | - | - |`,
    );
  }
  lines.push(
    `| 0 (sparsity-trained) | ${fmt(mean(runs.map((r) => r.slim.baseline.params)))} / ${fmt(mean(runs.map((r) => r.torch.baseline.params)))} | ` +
      `${fmt(mean(runs.map((r) => r.slim.baseline.macs)))} / ${fmt(mean(runs.map((r) => r.torch.baseline.macs)))} | ` +
      `${pp(runs.map((r) => r.slim.baseline.accuracy))} / ${pp(runs.map((r) => r.torch.baseline.accuracy))} | - | - |`,
  );
  for (const ratio of s0.ratios) {
    const rows = runs.map((r) => ({ s: r.slim.ratios.find((x) => x.ratio === ratio)!, t: r.torch.ratios.find((x) => x.ratio === ratio)! }));
    const diff = rows.map((x) => x.s.finetuned - x.t.finetuned);
    lines.push(
      `| ${ratio} | ${fmt(mean(rows.map((x) => x.s.params)))} / ${fmt(mean(rows.map((x) => x.t.params)))} | ` +
        `${fmt(mean(rows.map((x) => x.s.macs)))} / ${fmt(mean(rows.map((x) => x.t.macs)))} | ` +
        `${pp(rows.map((x) => x.s.pruned))} / ${pp(rows.map((x) => x.t.pruned))} | ${pp(rows.map((x) => x.s.finetuned))} / ${pp(rows.map((x) => x.t.finetuned))} | ` +
        `${(mean(diff) * 100 >= 0 ? '+' : '') + (mean(diff) * 100).toFixed(2)} (runs: ${diff.map((d) => (d * 100).toFixed(2)).join(', ')}) |`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n\n${renderGoal(runs)}`);
}

main().catch((err: unknown) => {
  console.error(`bench/accuracy: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
