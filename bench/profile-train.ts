/**
 * Where does a training step's time go? Runs the training step of src/train/loop.ts (forward
 * in training mode, cross-entropy, λ·sign(γ), SGD momentum + weight decay) on one built-in
 * net and prints images/s and a per-kernel table from tf.profile.
 *
 *   node dist/bench/profile-train.js [--arch quickstart|vgg-small] [--backend wasm|cpu]
 *        [--batch 64] [--steps 10] [--warmup 3] [--top 15]
 *
 * quickstart = cfg [32,'M',64,'M',128] on 28×28×1; vgg-small = [32,32,'M',64,64,'M',128,128,'M']
 * on 32×32×3 (the same nets as bench/torch/models.py, so images/s compare with train_bench.py).
 */
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/index.js';
import { buildVgg } from '../src/model/architectures.js';
import { Sgd } from '../src/train/sgd.js';
import { addSparsityGrad, findBnGammas } from '../src/train/sparsity.js';
import { crossEntropy, outputKind } from '../src/train/loss.js';

type Arch = 'quickstart' | 'vgg-small';
const ARCHS: Record<Arch, { cfg: (number | 'M')[]; inputShape: [number, number, number] }> = {
  quickstart: { cfg: [32, 'M', 64, 'M', 128], inputShape: [28, 28, 1] },
  'vgg-small': { cfg: [32, 32, 'M', 64, 64, 'M', 128, 128, 'M'], inputShape: [32, 32, 3] },
};

function option(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 && process.argv[at + 1] !== undefined ? process.argv[at + 1]! : fallback;
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

  const backend = await selectBackend(backendName);
  const model = buildVgg({ ...ARCHS[arch], numClasses: 10, head: 'gap', seed: 1 });
  const kind = outputKind(model);
  const layerVariables = model.trainableWeights;
  const variables = layerVariables.map((v) => v.read() as tf.Variable);
  const byName = new Map(layerVariables.map((v, i) => [variables[i]!.name, v] as const));
  const gammas = findBnGammas(model);
  const sgd = new Sgd({ momentum: 0.9, weightDecay: 1e-4 });

  const x = tf.randomNormal([batchSize, ...ARCHS[arch].inputShape], 0, 1, 'float32', 0);
  const labels = tf.randomUniform([batchSize], 0, 10, 'int32', 1) as tf.Tensor1D;
  const y = tf.oneHot(labels, 10).toFloat() as tf.Tensor2D;
  labels.dispose();

  const step = (): void => {
    const loss = tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => crossEntropy(kind, y, model.apply(x, { training: true }) as tf.Tensor), variables);
      const gradMap = new Map<tf.LayerVariable, tf.Tensor>();
      for (const [name, g] of Object.entries(grads)) gradMap.set(byName.get(name)!, g);
      addSparsityGrad(gradMap, gammas, 1e-4);
      sgd.step(gradMap, 0.01);
      return value;
    });
    loss.dataSync(); // wait for the step to finish (and check it ran)
    loss.dispose();
  };

  for (let i = 0; i < warmup; i++) step();
  const start = performance.now();
  for (let i = 0; i < steps; i++) step();
  const seconds = (performance.now() - start) / 1000;
  console.log(`${arch} on ${backend.detail}, batch ${batchSize}: ${((steps * batchSize) / seconds).toFixed(1)} images/s (${((seconds / steps) * 1000).toFixed(1)} ms/step)`);

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
  const total = rows.reduce((sum, [, r]) => sum + r.ms, 0);
  console.log(`profiled step: ${total.toFixed(1)} ms in kernels`);
  console.log(`${'kernel'.padEnd(38)}${'ms'.padStart(9)}${'%'.padStart(7)}${'calls'.padStart(7)}`);
  for (const [name, r] of rows.slice(0, top)) {
    console.log(`${name.padEnd(38)}${r.ms.toFixed(2).padStart(9)}${((100 * r.ms) / total).toFixed(1).padStart(7)}${String(r.calls).padStart(7)}`);
  }
  tf.dispose([x, y]);
  model.dispose();
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
});
