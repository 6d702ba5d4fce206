/**
 * Training speed on a CUDA machine: slim on the tensorflow backend (@tensorflow/tfjs-node-gpu)
 * against slim on wasm and PyTorch on the GPU (when torch.cuda.is_available()), same nets,
 * batch size and steps as bench:train.
 *
 *   node dist/bench/gpu.js [--arch quickstart|vgg-small|mobilenetv2|all] [--steps 30] [--warmup 3]
 *        [--rounds 2] [--batch 64]
 *
 * First asks `slim doctor`'s checks whether tfjs-node-gpu can use a GPU here: without an NVIDIA
 * GPU it says so in one line and exits 0 (nothing to measure); with a GPU it cannot use, it
 * prints the doctor's verdict and fixes and exits 1. Each side trains a fresh model per round;
 * the best round per side counts (the least disturbed by other processes).
 */
import * as tf from '@tensorflow/tfjs';
import { machineProbes } from '../src/backend/doctor-probes.js';
import { runDoctor } from '../src/backend/doctor.js';
import { selectBackend } from '../src/backend/select.js';
import { ARCHS, type Arch } from './models.js';
import { option, positiveIntOption, printTable, PYTHON, slimRun, torchAvailable, torchRun, type RunShape } from './train-speed.js';

type Side = 'tensorflow' | 'wasm' | 'torch';

/** Fails the bench unless doctor finds a GPU tfjs-node-gpu can use; returns its description. */
async function usableGpu(): Promise<string> {
  const report = await runDoctor(machineProbes);
  if (!report.nvidia.present) {
    console.log(`bench:gpu: no NVIDIA GPU on this machine (${report.nvidia.error}); nothing to measure`);
    process.exit(0);
  }
  if (!report.verdict.gpuUsable) {
    console.error(`bench:gpu: ${report.verdict.summary}`);
    for (const fix of report.verdict.fixes) console.error(`  fix: ${fix}`);
    process.exit(1);
  }
  return `${report.nvidia.gpus.join(', ')} (driver ${report.nvidia.driver ?? '?'})`;
}

async function sideRun(side: Side, arch: Arch, shape: RunShape): Promise<number> {
  if (side === 'torch') return torchRun(arch, shape, 1, 'cuda').imagesPerSecond;
  const backend = await selectBackend(side);
  if (side === 'tensorflow' && !backend.gpu) throw new Error(`the tensorflow backend runs without a GPU: ${backend.detail}`);
  return (await slimRun(arch, shape)).imagesPerSecond;
}

async function main(): Promise<void> {
  tf.env().set('PROD', true);
  const archOption = option('arch', 'all');
  const archs: Arch[] = archOption === 'all' ? ['quickstart', 'vgg-small'] : [archOption as Arch];
  if (!archs.every((a) => a in ARCHS)) {
    console.error(`--arch must be one of ${Object.keys(ARCHS).join(', ')}, all`);
    process.exit(2);
  }
  const shape: RunShape = {
    steps: positiveIntOption('steps', 30),
    warmup: positiveIntOption('warmup', 3),
    batchSize: positiveIntOption('batch', 64),
  };
  const rounds = positiveIntOption('rounds', 2);
  const gpu = await usableGpu();
  const sides: Side[] = torchAvailable('cuda') ? ['tensorflow', 'wasm', 'torch'] : ['tensorflow', 'wasm'];
  console.log(
    `GPU: ${gpu}; slim on tensorflow (tfjs-node-gpu) and wasm; ` +
      (sides.includes('torch') ? `torch: ${PYTHON} on CUDA; ` : `torch: no CUDA torch for ${PYTHON}, left out; `) +
      `batch ${shape.batchSize}, ${shape.steps} steps (+${shape.warmup} warmup), ${rounds} rounds`,
  );
  const rows: string[][] = [];
  for (const arch of archs) {
    const best = new Map<Side, number>();
    for (let round = 0; round < rounds; round++) {
      const figures: string[] = [];
      for (const side of sides) {
        const imagesPerSecond = await sideRun(side, arch, shape);
        best.set(side, Math.max(best.get(side) ?? 0, imagesPerSecond));
        figures.push(`${side} ${imagesPerSecond.toFixed(1)}`);
      }
      console.log(`  ${arch} round ${round + 1} (img/s): ${figures.join(', ')}`);
    }
    const gpuSpeed = best.get('tensorflow')!;
    const torch = best.get('torch');
    rows.push([
      arch,
      gpuSpeed.toFixed(1),
      best.get('wasm')!.toFixed(1),
      torch === undefined ? '-' : torch.toFixed(1),
      (gpuSpeed / best.get('wasm')!).toFixed(2),
      torch === undefined ? '-' : (gpuSpeed / torch).toFixed(2),
    ]);
  }
  console.log('');
  printTable(['arch', 'tensorflow GPU img/s', 'wasm img/s', 'torch CUDA img/s', 'GPU/wasm', 'GPU/torch'], rows);
  console.log('img/s: best round over the whole timed span of one epoch (the loop reads losses back every 10 steps).');
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
});
