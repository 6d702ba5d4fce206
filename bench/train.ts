/**
 * Training speed, slim (wasm backend, the real src/train/loop.ts `train`) against the PyTorch
 * CPU reference (bench/torch/train_bench.py), same nets, batch size and thread count.
 *
 *   node dist/bench/train.js [--arch quickstart|vgg-small|mobilenetv2|all] [--steps 30] [--warmup 3]
 *        [--rounds 2] [--batch 64] [--replicas 1|1,2] [--replica-split equal|speed] [--no-fused-bn]
 *
 * 'all' (the default) = quickstart and vgg-small; mobilenetv2 is built here with tf.layers
 * (no built-in slim builder), mirroring models.py.
 * Runs alternate slim / torch per round so a load change on the machine hits both sides.
 * Slim's figure includes its per-batch data pipeline (uint8 → float32 tensors), as a user sees
 * it; torch cycles a preallocated pool of random batches. Both sides use the same number of
 * cores: slim's wasm build is single-threaded under Node, so `--replicas N` runs slim with N
 * data-parallel replicas (worker threads) and torch with --threads N (default 1). A list
 * (`--replicas 1,2`) runs every count side by side in one run (rounds interleave the counts, in
 * alternating order) and adds each count's speed-up over the first: of the best rounds, and
 * paired (median over rounds of the ratio within the round, which a shared host's swings between
 * rounds do not bias); the machine's load average is printed before and after (figures taken
 * under load are not comparable).
 * --no-fused-bn trains with tfjs-layers' own BatchNormalization (TrainOptions.fusedBatchNorm false);
 * --replica-split speed splits each batch by the replicas' measured speed (TrainOptions.replicaSplit).
 * Exit 2 when /usr/bin/python3 cannot import torch.
 */
import { availableParallelism } from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/select.js';
import { REPLICA_SPLITS, type ReplicaSplitKind } from '../src/train/replica-split.js';
import { effectiveReplicas } from '../src/train/replicas.js';
import { ARCHS, type Arch } from '../test/fixtures/zoo/index.js';
import {
  loadText,
  median,
  option,
  positiveIntOption,
  printTable,
  PYTHON,
  slimRun,
  torchAvailable,
  torchRun,
  type Speed,
} from './train-speed.js';

/** --no-fused-bn: tfjs-layers' own BatchNormalization (TrainOptions.fusedBatchNorm false). */
const fusedBatchNorm = !process.argv.includes('--no-fused-bn');
/** --replica-split speed: rows split by each replica's measured speed (TrainOptions.replicaSplit). */
const replicaSplit = option('replica-split', 'equal') as ReplicaSplitKind;

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
  const counts = replicaCounts(option('replicas', '1'));
  if (!torchAvailable()) {
    console.error(`PyTorch not found for ${PYTHON}: run \`apt-get install -y python3-torch\` (see bench/README.md)`);
    process.exit(2);
  }

  const backend = await selectBackend('wasm');
  for (const replicas of counts) {
    const used = effectiveReplicas(replicas, backend.name, availableParallelism());
    if (used !== replicas) {
      console.error(`--replicas ${replicas}: this machine has ${availableParallelism()} core(s), so slim would use ${used}`);
      process.exit(2);
    }
  }
  if (!(REPLICA_SPLITS as readonly string[]).includes(replicaSplit)) {
    console.error(`--replica-split must be one of ${REPLICA_SPLITS.join(', ')}`);
    process.exit(2);
  }
  console.log(
    `slim: ${backend.detail}, ${counts.join(' and ')} replica(s) (${replicaSplit} split), ${fusedBatchNorm ? 'fused' : 'stock'} BatchNorm; torch: ${PYTHON} --threads = replicas; ` +
      `batch ${batchSize}, ${steps} steps (+${warmup} warmup), ${rounds} rounds; load average before: ${loadText()}`,
  );

  const rows: string[][] = [];
  for (const arch of archs) {
    const slim = new Map<number, Speed[]>(counts.map((n) => [n, []]));
    const torch = new Map<number, Speed[]>(counts.map((n) => [n, []]));
    for (let round = 0; round < rounds; round++) {
      // Alternating order (1, 2 | 2, 1 | …): a host getting faster or slower favours no count.
      for (const replicas of round % 2 === 0 ? counts : [...counts].reverse()) {
        const s = await slimRun(arch, { batchSize, steps, warmup }, { replicas, fusedBatchNorm, replicaSplit });
        const t = torchRun(arch, { batchSize, steps, warmup }, replicas);
        slim.get(replicas)!.push(s);
        torch.get(replicas)!.push(t);
        console.log(
          `  ${arch} ×${replicas} round ${round + 1}: slim ${s.imagesPerSecond.toFixed(1)} img/s (median step ${s.medianStepImagesPerSecond.toFixed(1)}), torch ${t.imagesPerSecond.toFixed(1)} img/s (median step ${t.medianStepImagesPerSecond.toFixed(1)})`,
        );
      }
    }
    // Best round per side: the least disturbed by other processes.
    const best = (speeds: Speed[]): number => Math.max(...speeds.map((s) => s.imagesPerSecond));
    const slimBase = best(slim.get(counts[0])!);
    const torchBase = best(torch.get(counts[0])!);
    for (const replicas of counts) {
      const slimBest = best(slim.get(replicas)!);
      const torchBest = best(torch.get(replicas)!);
      const slimMedianStep = median(slim.get(replicas)!.map((s) => s.medianStepImagesPerSecond));
      const paired = (runs: Map<number, Speed[]>): string =>
        median(runs.get(replicas)!.map((s, r) => s.imagesPerSecond / runs.get(counts[0])![r].imagesPerSecond)).toFixed(2);
      const torchMedianStep = median(torch.get(replicas)!.map((t) => t.medianStepImagesPerSecond));
      rows.push([
        arch,
        String(replicas),
        slimBest.toFixed(1),
        (slimBest / slimBase).toFixed(2),
        paired(slim),
        torchBest.toFixed(1),
        (torchBest / torchBase).toFixed(2),
        paired(torch),
        (slimBest / torchBest).toFixed(2),
        slimMedianStep.toFixed(1),
        torchMedianStep.toFixed(1),
        (slimMedianStep / torchMedianStep).toFixed(2),
      ]);
    }
  }
  const header = [
    'arch',
    'replicas / threads',
    'slim img/s',
    'slim ×',
    'slim × paired',
    'torch img/s',
    'torch ×',
    'torch × paired',
    'slim/torch',
    'slim step-med',
    'torch step-med',
    'slim/torch (med)',
  ];
  console.log('');
  printTable(header, rows);
  console.log(
    `img/s: best round over the whole timed span; ×: speed-up of the best rounds over ${counts[0]} replica(s)/thread(s); ` +
      `× paired: median over rounds of the speed-up within the round; step-med: median over rounds of the median-step figure.`,
  );
  console.log(`load average after: ${loadText()} (${availableParallelism()} cores)`);
}

/** `--replicas 2` or `--replicas 1,2`: positive integers. */
function replicaCounts(text: string): number[] {
  const counts = text.split(',').map((part) => Number(part.trim()));
  if (counts.length === 0 || !counts.every((n) => Number.isInteger(n) && n > 0)) {
    console.error(`--replicas must be a positive integer or a comma-separated list of them, got ${text}`);
    process.exit(2);
  }
  return counts;
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
});
