/**
 * Training speed, slim (wasm backend, the real src/train/loop.ts `train`) against the PyTorch
 * CPU reference (bench/torch/train_bench.py), same nets, batch size and thread count.
 *
 *   node dist/bench/train.js [--arch quickstart|vgg-small|mobilenetv2|all] [--steps 30] [--warmup 3]
 *        [--rounds 2] [--batch 64] [--replicas 1] [--no-fused-bn]
 *
 * 'all' (the default) = quickstart and vgg-small; mobilenetv2 is built here with tf.layers
 * (no built-in slim builder), mirroring models.py.
 * Runs alternate slim / torch per round so a load change on the machine hits both sides.
 * Slim's figure includes its per-batch data pipeline (uint8 → float32 tensors), as a user sees
 * it; torch cycles a preallocated pool of random batches. Both sides use the same number of
 * cores: slim's wasm build is single-threaded under Node, so `--replicas N` runs slim with N
 * data-parallel replicas (worker threads) and torch with --threads N (default 1).
 * --no-fused-bn trains with tfjs-layers' own BatchNormalization (TrainOptions.fusedBatchNorm false).
 * Exit 2 when /usr/bin/python3 cannot import torch.
 */
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/select.js';
import { Dataset, SCALE_ONLY } from '../src/data/dataset.js';
import { train, type TrainOptions } from '../src/train/loop.js';
import { effectiveReplicas } from '../src/train/replicas.js';
import { ARCHS, type Arch } from './models.js';

const PYTHON = '/usr/bin/python3';
/** dist/bench/train.js → repository root (two levels up from dist/bench). */
const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const TORCH_SCRIPT = path.join(REPO_ROOT, 'bench', 'torch', 'train_bench.py');

/** Same hyper-parameters as train_bench.py (lr 0.1, momentum 0.9, wd 1e-4, λ on BN γ). */
const TRAIN_OPTIONS: Omit<TrainOptions, 'epochs' | 'batchSize'> = {
  lr: 0.1,
  momentum: 0.9,
  nesterov: false,
  weightDecay: 1e-4,
  milestones: [],
  gamma: 0.1,
  sparsityLambda: 1e-4,
  seed: 1,
  preprocess: SCALE_ONLY,
  dropRemainder: true,
  fusedBatchNorm: !process.argv.includes('--no-fused-bn'),
};

interface Speed {
  imagesPerSecond: number;
  medianStepImagesPerSecond: number;
}

function option(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 && process.argv[at + 1] !== undefined ? process.argv[at + 1]! : fallback;
}

function positiveIntOption(name: string, fallback: number): number {
  const value = Number(option(name, String(fallback)));
  if (!Number.isInteger(value) || value <= 0) {
    console.error(`--${name} must be a positive integer, got ${option(name, '')}`);
    process.exit(2);
  }
  return value;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** `count` random uint8 images with random labels, seeded (contents don't matter for speed). */
function randomDataset(count: number, shape: [number, number, number], seed: number): Dataset {
  const [height, width, channels] = shape;
  const data = new Uint8Array(count * height * width * channels);
  const labels = new Int32Array(count);
  let state = seed >>> 0;
  const next = (): number => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0; // LCG: enough for filler pixels
    return state >>> 24;
  };
  for (let i = 0; i < data.length; i++) data[i] = next();
  for (let i = 0; i < count; i++) labels[i] = next() % 10;
  return new Dataset({ images: { count, height, width, channels, data }, labels, numClasses: 10, name: 'random' });
}

/** One slim run: a fresh model, `warmup` steps untimed, then `steps` timed steps of loop.ts. */
async function slimRun(arch: Arch, batchSize: number, steps: number, warmup: number, replicas: number): Promise<Speed> {
  const { build, inputShape } = ARCHS[arch];
  const model = build(1);
  try {
    await train(model, { train: randomDataset(warmup * batchSize, inputShape, 7) }, { ...TRAIN_OPTIONS, epochs: 1, batchSize, replicas });
    // wasm kernels run synchronously, so the time between onBatch calls is the step's real time.
    const stepMs: number[] = [];
    let last = performance.now();
    // Each train() starts its replica workers before the first step: the first interval includes
    // that start-up, which the median ignores (the epoch's img/s starts after it).
    const result = await train(
      model,
      { train: randomDataset(steps * batchSize, inputShape, 11) },
      { ...TRAIN_OPTIONS, epochs: 1, batchSize, replicas },
      {
        onBatch: () => {
          const now = performance.now();
          stepMs.push(now - last);
          last = now;
        },
      },
    );
    return {
      imagesPerSecond: result.epochs[0]!.imagesPerSecond,
      medianStepImagesPerSecond: (batchSize * 1000) / median(stepMs),
    };
  } finally {
    model.dispose();
  }
}

function torchAvailable(): boolean {
  return spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
}

function torchRun(arch: Arch, batchSize: number, steps: number, warmup: number, threads: number): Speed {
  const args = [TORCH_SCRIPT, '--arch', arch, '--threads', String(threads), '--json', '--steps', String(steps), '--warmup', String(warmup), '--batch-size', String(batchSize)];
  const run = spawnSync(PYTHON, args, { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`torch run failed (${PYTHON} ${args.join(' ')}): ${run.stderr.trim().split('\n').pop() ?? ''}`);
  const lastLine = run.stdout.trim().split('\n').pop() ?? '';
  const parsed = JSON.parse(lastLine) as { images_per_second: number; median_step_images_per_second: number };
  return { imagesPerSecond: parsed.images_per_second, medianStepImagesPerSecond: parsed.median_step_images_per_second };
}

async function main(): Promise<void> {
  tf.env().set('PROD', true);
  const archOption = option('arch', 'all');
  // 'all' = the two VGG nets; mobilenetv2 only when asked for (slow on wasm).
  const archs: Arch[] = archOption === 'all' ? ['quickstart', 'vgg-small'] : [archOption as Arch];
  if (!archs.every((a) => a in ARCHS)) {
    console.error(`--arch must be one of ${Object.keys(ARCHS).join(', ')}, all`);
    process.exit(2);
  }
  const steps = positiveIntOption('steps', 30);
  const warmup = positiveIntOption('warmup', 3);
  const rounds = positiveIntOption('rounds', 2);
  const batchSize = positiveIntOption('batch', 64);
  const replicas = positiveIntOption('replicas', 1);
  if (!torchAvailable()) {
    console.error(`PyTorch not found for ${PYTHON}: run \`apt-get install -y python3-torch\` (see bench/README.md)`);
    process.exit(2);
  }

  const backend = await selectBackend('wasm');
  const used = effectiveReplicas(replicas, backend.name, availableParallelism());
  if (used !== replicas) {
    console.error(`--replicas ${replicas}: this machine has ${availableParallelism()} core(s), so slim would use ${used}`);
    process.exit(2);
  }
  console.log(
    `slim: ${backend.detail}, ${replicas} replica(s), ${TRAIN_OPTIONS.fusedBatchNorm ? 'fused' : 'stock'} BatchNorm; torch: ${PYTHON} --threads ${replicas}; ` +
      `batch ${batchSize}, ${steps} steps (+${warmup} warmup), ${rounds} rounds`,
  );

  const rows: string[][] = [];
  for (const arch of archs) {
    const slim: Speed[] = [];
    const torch: Speed[] = [];
    for (let round = 0; round < rounds; round++) {
      slim.push(await slimRun(arch, batchSize, steps, warmup, replicas));
      torch.push(torchRun(arch, batchSize, steps, warmup, replicas));
      const s = slim[slim.length - 1]!;
      const t = torch[torch.length - 1]!;
      console.log(`  ${arch} round ${round + 1}: slim ${s.imagesPerSecond.toFixed(1)} img/s (median step ${s.medianStepImagesPerSecond.toFixed(1)}), torch ${t.imagesPerSecond.toFixed(1)} img/s (median step ${t.medianStepImagesPerSecond.toFixed(1)})`);
    }
    // Best round per side: the least disturbed by other processes.
    const slimBest = Math.max(...slim.map((s) => s.imagesPerSecond));
    const torchBest = Math.max(...torch.map((t) => t.imagesPerSecond));
    const slimMedianStep = median(slim.map((s) => s.medianStepImagesPerSecond));
    const torchMedianStep = median(torch.map((t) => t.medianStepImagesPerSecond));
    rows.push([
      arch,
      slimBest.toFixed(1),
      torchBest.toFixed(1),
      (slimBest / torchBest).toFixed(2),
      slimMedianStep.toFixed(1),
      torchMedianStep.toFixed(1),
      (slimMedianStep / torchMedianStep).toFixed(2),
    ]);
  }
  const header = ['arch', 'slim img/s', 'torch img/s', 'slim/torch', 'slim step-med', 'torch step-med', 'slim/torch (med)'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  console.log('');
  console.log(line(header));
  console.log(`|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`);
  for (const r of rows) console.log(line(r));
  console.log('img/s: best round over the whole timed span; step-med: median over rounds of the median-step figure.');
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
});
