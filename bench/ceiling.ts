/**
 * How fast can a conv run on slim's default backend, per MAC, next to PyTorch on the same CPU?
 * Times the forward convolutions of the benchmark nets (bench/models.ts) at batch 64 on the
 * backend slim selects (wasm: XNNPACK, 128-bit SIMD, one thread) and in PyTorch with the same
 * thread count, and prints GMAC/s for both and their ratio. Training is ~3 convolutions' worth
 * of MACs per conv layer (forward, input gradient, filter gradient), so this ratio bounds the
 * training-speed ratio any wasm kernel built on this conv can reach.
 *
 *   node dist/bench/ceiling.js [--runs 20] [--warmup 3] [--rounds 3] [--threads 1]
 *
 * Rounds alternate slim and torch; each figure is the best round's median.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/select.js';

const PYTHON = '/usr/bin/python3';
const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const TORCH_SCRIPT = path.join(REPO_ROOT, 'bench', 'torch', 'conv_ceiling.py');

/** [batch, H, W, Cin, Cout, k, stride], 'same' padding: the convs of quickstart and vgg-small at batch 64. */
const SHAPES: { name: string; shape: [number, number, number, number, number, number, number] }[] = [
  { name: 'quickstart conv2 14x14 32→64', shape: [64, 14, 14, 32, 64, 3, 1] },
  { name: 'quickstart conv3 7x7 64→128', shape: [64, 7, 7, 64, 128, 3, 1] },
  { name: 'vgg-small conv2 32x32 32→32', shape: [64, 32, 32, 32, 32, 3, 1] },
  { name: 'vgg-small conv4 16x16 64→64', shape: [64, 16, 16, 64, 64, 3, 1] },
  { name: 'vgg-small conv6 8x8 128→128', shape: [64, 8, 8, 128, 128, 3, 1] },
];

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  const v = at >= 0 ? Number(process.argv[at + 1]) : fallback;
  if (!Number.isInteger(v) || v < 1) {
    console.error(`--${name} must be a positive integer`);
    process.exit(2);
  }
  return v;
}

const macsOf = ([b, h, w, ci, co, k, s]: number[]): number => b * Math.ceil(h / s) * Math.ceil(w / s) * ci * co * k * k;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function timeSlim(runs: number, warmup: number): number[] {
  return SHAPES.map(({ shape: [b, h, w, ci, co, k, s] }) => {
    const x = tf.randomNormal([b, h, w, ci]) as tf.Tensor4D;
    const f = tf.randomNormal([k, k, ci, co]) as tf.Tensor4D;
    const once = (): number => {
      const t = performance.now();
      const y = tf.conv2d(x, f, s, 'same');
      y.dataSync();
      const ms = performance.now() - t;
      y.dispose();
      return ms;
    };
    for (let i = 0; i < warmup; i++) once();
    const times = Array.from({ length: runs }, once);
    tf.dispose([x, f]);
    return median(times);
  });
}

async function main(): Promise<void> {
  const runs = option('runs', 20);
  const warmup = option('warmup', 3);
  const rounds = option('rounds', 3);
  const threads = option('threads', 1);
  const backend = await selectBackend('auto');
  console.error(`backend: ${backend.detail}; torch: ${threads} thread(s)`);
  const best = { slim: SHAPES.map(() => Infinity), torch: SHAPES.map(() => Infinity) };
  for (let r = 0; r < rounds; r++) {
    timeSlim(runs, warmup).forEach((ms, i) => (best.slim[i] = Math.min(best.slim[i], ms)));
    const py = spawnSync(
      PYTHON,
      [
        TORCH_SCRIPT,
        '--threads',
        String(threads),
        '--runs',
        String(runs),
        '--warmup',
        String(warmup),
        '--shapes',
        JSON.stringify(SHAPES.map((s) => s.shape)),
      ],
      { encoding: 'utf8' },
    );
    if (py.status !== 0) {
      console.error(`torch run failed (is python3-torch installed for ${PYTHON}?): ${py.stderr.trim().split('\n').pop()}`);
      process.exit(2);
    }
    (JSON.parse(py.stdout) as number[]).forEach((ms, i) => (best.torch[i] = Math.min(best.torch[i], ms)));
    console.error(`round ${r + 1}/${rounds} done`);
  }
  const lines = [
    '| conv (batch 64, 3×3 same) | MACs | slim ms | slim GMAC/s | torch ms | torch GMAC/s | slim/torch |',
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  let slimTotal = 0;
  let torchTotal = 0;
  SHAPES.forEach(({ name, shape }, i) => {
    const macs = macsOf(shape);
    const s = best.slim[i];
    const t = best.torch[i];
    slimTotal += s;
    torchTotal += t;
    lines.push(
      `| ${name} | ${(macs / 1e6).toFixed(0)}M | ${s.toFixed(2)} | ${(macs / s / 1e6).toFixed(1)} | ${t.toFixed(2)} | ${(macs / t / 1e6).toFixed(1)} | ${(t / s).toFixed(2)} |`,
    );
  });
  lines.push(`| all | | ${slimTotal.toFixed(2)} | | ${torchTotal.toFixed(2)} | | **${(torchTotal / slimTotal).toFixed(2)}** |`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((err: unknown) => {
  console.error(`bench/ceiling: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
