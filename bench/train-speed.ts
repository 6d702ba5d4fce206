/**
 * Pieces of the training-speed benchmarks (bench/train.ts: wasm vs PyTorch CPU; bench/gpu.ts:
 * tensorflow on the GPU vs wasm vs PyTorch CUDA): command-line options, slim's timed run of the
 * real training loop, PyTorch's run of bench/torch/train_bench.py, and the result table.
 */
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Dataset, SCALE_ONLY } from '../src/data/dataset.js';
import { train, type TrainOptions } from '../src/train/loop.js';
import { ARCHS, type Arch } from '../test/fixtures/zoo/index.js';

export const PYTHON = '/usr/bin/python3';
/** dist/bench/*.js → repository root (two levels up from dist/bench). */
const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const TORCH_SCRIPT = path.join(REPO_ROOT, 'bench', 'torch', 'train_bench.py');

/** Same hyper-parameters as train_bench.py (lr 0.1, momentum 0.9, wd 1e-4, λ on BN γ). */
export const TRAIN_OPTIONS: Omit<TrainOptions, 'epochs' | 'batchSize'> = {
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
};

export interface Speed {
  imagesPerSecond: number;
  medianStepImagesPerSecond: number;
}

export function option(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 && process.argv[at + 1] !== undefined ? process.argv[at + 1] : fallback;
}

export function positiveIntOption(name: string, fallback: number): number {
  const value = Number(option(name, String(fallback)));
  if (!Number.isInteger(value) || value <= 0) {
    console.error(`--${name} must be a positive integer, got ${option(name, '')}`);
    process.exit(2);
  }
  return value;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** `count` random uint8 images with random labels, seeded (contents don't matter for speed). */
export function randomDataset(count: number, shape: [number, number, number], seed: number): Dataset {
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

export interface RunShape {
  batchSize: number;
  steps: number;
  warmup: number;
}

/**
 * One slim run on the active backend: a fresh model, one train() call of `warmup` + `steps` steps
 * of loop.ts, timed from the end of the last warm-up step to the end of the last step. One call,
 * so the replica workers that are timed are the ones the warm-up steps warmed: each train() call
 * starts its own workers, whose first step (first-use kernel set-up, JIT) is several times slower
 * than the rest; a separate warm-up call warmed only the main thread and charged the workers'
 * cold start to the timed steps. `options` adds to TRAIN_OPTIONS (replicas, fusedBatchNorm).
 */
export async function slimRun(arch: Arch, shape: RunShape, options: Partial<TrainOptions> = {}): Promise<Speed> {
  const { build, inputShape } = ARCHS[arch];
  const { batchSize, steps, warmup } = shape;
  const model = build(1);
  const trainOptions = { ...TRAIN_OPTIONS, ...options, epochs: 1, batchSize };
  try {
    // Kernels run synchronously on wasm, so the time between onBatch calls is the step's real
    // time. On a GPU a step may finish later: the loop reads the loss back (a sync) at the last
    // step, so the whole timed span is right there, while single steps are only approximate.
    const stepMs: number[] = [];
    let last = performance.now();
    let timedFrom = Number.NaN;
    await train(model, { train: randomDataset((warmup + steps) * batchSize, inputShape, 11) }, trainOptions, {
      onBatch: ({ step }) => {
        const now = performance.now();
        if (step === warmup - 1) timedFrom = now;
        if (step >= warmup) stepMs.push(now - last);
        last = now;
      },
    });
    return {
      imagesPerSecond: (steps * batchSize * 1000) / (last - timedFrom),
      medianStepImagesPerSecond: (batchSize * 1000) / median(stepMs),
    };
  } finally {
    model.dispose();
  }
}

/** True when PYTHON imports torch (and, for 'cuda', torch.cuda.is_available()). */
export function torchAvailable(device: 'cpu' | 'cuda' = 'cpu'): boolean {
  const check = device === 'cuda' ? 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' : 'import torch';
  return spawnSync(PYTHON, ['-c', check], { stdio: 'ignore' }).status === 0;
}

export function torchRun(arch: Arch, shape: RunShape, threads: number, device: 'cpu' | 'cuda' = 'cpu'): Speed {
  const args = [
    TORCH_SCRIPT,
    '--arch',
    arch,
    '--threads',
    String(threads),
    '--json',
    '--steps',
    String(shape.steps),
    '--warmup',
    String(shape.warmup),
    '--batch-size',
    String(shape.batchSize),
    '--device',
    device,
  ];
  const run = spawnSync(PYTHON, args, { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`torch run failed (${PYTHON} ${args.join(' ')}): ${run.stderr.trim().split('\n').pop() ?? ''}`);
  const lastLine = run.stdout.trim().split('\n').pop() ?? '';
  const parsed = JSON.parse(lastLine) as { images_per_second: number; median_step_images_per_second: number };
  return { imagesPerSecond: parsed.images_per_second, medianStepImagesPerSecond: parsed.median_step_images_per_second };
}

/** The machine's load average (1, 5, 15 minutes), printed next to every figure. */
export function loadText(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(', ');
}

/** A markdown table: first column left-aligned, the others right-aligned. */
export function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
  console.log(line(header));
  console.log(`|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`);
  for (const r of rows) console.log(line(r));
}
