/**
 * Where does a training step's time go? Runs the training step of src/train/loop.ts (forward
 * in training mode, cross-entropy, λ·sign(γ), SGD momentum + weight decay) on one built-in
 * net and prints images/s and a per-kernel table from tf.profile.
 *
 *   node dist/bench/profile-train.js [--arch quickstart|vgg-small|mobilenetv2] [--backend wasm|cpu]
 *        [--batch 64] [--steps 10] [--warmup 3] [--top 15] [--no-fused-bn]
 *
 * The nets of bench/models.ts (the same as bench/torch/models.py, so images/s compare with
 * train_bench.py). tf.profile times nested kernels twice: an op such as fusedConv2d__op
 * includes the FusedConv2D kernel it runs; the "in kernels" total counts leaf kernels only.
 * BatchNormalization runs the fused training op of src/train/fused-bn.ts, as train() does by
 * default; --no-fused-bn profiles tfjs-layers' own layer.
 */
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/index.js';
import { withTrainingPatches } from '../src/train/patches.js';
import { lossAndGrads, Optimizer, trainingModel, type TrainingModel } from '../src/train/step.js';
import { ARCHS, type Arch } from './models.js';

function option(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 && process.argv[at + 1] !== undefined ? process.argv[at + 1] : fallback;
}

async function main(): Promise<void> {
  tf.env().set('PROD', true);
  const arch = option('arch', 'quickstart') as Arch;
  if (!(arch in ARCHS)) throw new Error(`--arch must be one of ${Object.keys(ARCHS).join(', ')}`);
  const backendName = option('backend', 'wasm') as 'wasm' | 'cpu';
  const batchSize = Number(option('batch', '64'));
  const steps = Number(option('steps', '10'));
  const warmup = Number(option('warmup', '3'));
  const top = Number(option('top', '15'));
  // --detail Identity: per input shape, calls and time of that kernel (to find who calls it).
  const detail = option('detail', '');

  const backend = await selectBackend(backendName);
  const model = ARCHS[arch].build(1);
  const fusedBatchNorm = !process.argv.includes('--no-fused-bn');
  const x = tf.randomNormal([batchSize, ...ARCHS[arch].inputShape], 0, 1, 'float32', 0);
  const labels = tf.randomUniform([batchSize], 0, 10, 'int32', 1) as tf.Tensor1D;
  const y = tf.oneHot(labels, 10).toFloat() as tf.Tensor2D;
  labels.dispose();
  // The model patched as train() patches it (logits loss, fused BatchNorm, seeded dropout).
  await withTrainingPatches(model, { fusedBatchNorm }, (patches) =>
    profile(trainingModel(model, patches), x, y, { arch, backend: backend.detail, fusedBatchNorm, batchSize, steps, warmup, top, detail }),
  );
  tf.dispose([x, y]);
  model.dispose();
}

interface ProfileOptions {
  arch: string;
  backend: string;
  fusedBatchNorm: boolean;
  batchSize: number;
  steps: number;
  warmup: number;
  top: number;
  detail: string;
}

async function profile(net: TrainingModel, x: tf.Tensor, y: tf.Tensor2D, options: ProfileOptions): Promise<void> {
  const { arch, batchSize, steps, warmup, top, detail, fusedBatchNorm } = options;
  const optimizer = new Optimizer(net, { momentum: 0.9, weightDecay: 1e-4, sparsityLambda: 1e-4 });
  // The local runner's step on a fixed batch (same lossAndGrads and optimizer update as train()).
  const step = (): void => {
    const loss = tf.tidy(() => {
      const { loss, correct, grads } = lossAndGrads(net.model, net.variables, net.patches.outputKind, x, y);
      optimizer.apply(grads, 0.01);
      correct.dispose();
      return loss;
    });
    loss.dataSync(); // wait for the step to finish (and check it ran)
    loss.dispose();
  };

  for (let i = 0; i < warmup; i++) step();
  const start = performance.now();
  for (let i = 0; i < steps; i++) step();
  const seconds = (performance.now() - start) / 1000;
  console.log(
    `${arch} on ${options.backend}, ${fusedBatchNorm ? 'fused' : 'stock'} BatchNorm, batch ${batchSize}: ${((steps * batchSize) / seconds).toFixed(1)} images/s (${((seconds / steps) * 1000).toFixed(1)} ms/step)`,
  );

  // One profiled step: per kernel name, total time and call count.
  const info = await tf.profile(step);
  const byKernel = new Map<string, { ms: number; calls: number }>();
  for (const k of info.kernels) {
    const ms = await k.kernelTimeMs; // may be a Promise (tfjs types it as number | {error} | Promise)
    const value = typeof ms === 'number' ? ms : 0;
    const entry = byKernel.get(k.name) ?? { ms: 0, calls: 0 };
    entry.ms += value;
    entry.calls++;
    byKernel.set(k.name, entry);
  }
  const rows = [...byKernel.entries()].sort((a, b) => b[1].ms - a[1].ms);
  // Ops named like 'fusedConv2d__op' wrap a kernel that is also listed: leave them out of the total.
  const total = rows.filter(([name]) => !name.endsWith('__op')).reduce((sum, [, r]) => sum + r.ms, 0);
  console.log(`profiled step: ${total.toFixed(1)} ms in kernels`);
  console.log(`${'kernel'.padEnd(38)}${'ms'.padStart(9)}${'%'.padStart(7)}${'calls'.padStart(7)}`);
  for (const [name, r] of rows.slice(0, top)) {
    console.log(
      `${name.padEnd(38)}${r.ms.toFixed(2).padStart(9)}${((100 * r.ms) / total).toFixed(1).padStart(7)}${String(r.calls).padStart(7)}`,
    );
  }
  if (detail !== '') {
    const byShape = new Map<string, { ms: number; calls: number }>();
    for (const k of info.kernels) {
      if (k.name !== detail) continue;
      const ms = await k.kernelTimeMs;
      const key = k.inputShapes.map((s) => `[${(s ?? []).join(',')}]`).join(' ');
      const entry = byShape.get(key) ?? { ms: 0, calls: 0 };
      entry.ms += typeof ms === 'number' ? ms : 0;
      entry.calls++;
      byShape.set(key, entry);
    }
    console.log(`${detail} by input shape:`);
    for (const [shape, r] of [...byShape.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, top)) {
      console.log(`  ${shape.padEnd(40)}${r.ms.toFixed(2).padStart(9)}${String(r.calls).padStart(7)}`);
    }
  }
  optimizer.dispose();
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
});
