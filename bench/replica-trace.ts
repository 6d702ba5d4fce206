/**
 * Where a data-parallel step's time goes on the main thread (replica 0), for 1 and more
 * replicas, and a paper estimate for more cores from the measured parts.
 *
 *   node dist/bench/replica-trace.js [--arch quickstart|vgg-small] [--replicas 1,2] [--batch 64] [--steps 20] [--warmup 3]
 *
 * Per step (median over the timed steps, milliseconds): compute = own rows' forward + backward
 * + gradient readback into the shared slot (plus posting the workers' rows); exchange = the two
 * barriers and the own slice of the reduce (mostly waiting for the slowest replica); optimizer =
 * the SGD step every replica applies to the summed gradient; reply = waiting for the workers'
 * step replies afterwards. With 1 replica: compute = lossAndGrads, optimizer = the SGD step.
 * serial = everything but compute (no replica computes gradients meanwhile).
 * Estimate for N cores: compute₁ / N / e + serial₂, e = compute₁ / (2 · compute₂) (the measured
 * per-core slow-down when both cores work); the exchange volume per replica does not grow with N
 * (replica-exchange.ts), only the barrier wake-ups do, which this estimate leaves out.
 */
import { availableParallelism, loadavg } from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/select.js';
import { withTrainingPatches } from '../src/train/patches.js';
import { ReplicatedRunner } from '../src/train/replicas.js';
import { lossAndGrads, Optimizer, trainingModel, type TrainingModel } from '../src/train/step.js';
import { ARCHS, type Arch } from '../test/fixtures/zoo/index.js';
import { median, option, positiveIntOption, printTable, randomDataset, TRAIN_OPTIONS } from './train-speed.js';

interface Phases {
  compute: number;
  exchange: number;
  optimizer: number;
  reply: number;
}

/** Median phase times of `steps` steps with one replica (this thread only). */
function traceSingle(net: TrainingModel, optimizer: Optimizer, batches: Iterable<{ x: tf.Tensor; y: tf.Tensor2D }>): Phases[] {
  const phases: Phases[] = [];
  for (const batch of batches) {
    const t0 = performance.now();
    tf.tidy(() => {
      const { grads } = lossAndGrads(net.model, net.variables, net.patches.outputKind, batch.x, batch.y);
      // wasm kernels run synchronously; a readback makes the cpu backend finish too.
      Object.values(grads)[0]?.dataSync();
      const t1 = performance.now();
      optimizer.apply(grads, 0.1);
      net.variables[0]?.dataSync();
      phases.push({ compute: t1 - t0, exchange: 0, optimizer: performance.now() - t1, reply: 0 });
    });
    tf.dispose([batch.x, batch.y]);
  }
  return phases;
}

/** Median phase times of the steps with `replicas` replicas (ReplicatedRunner's trace, step by step). */
async function traceReplicated(
  net: TrainingModel,
  optimizer: Optimizer,
  replicas: number,
  backend: 'wasm' | 'cpu',
  batches: Iterable<import('../src/data/dataset.js').Batch>,
): Promise<Phases[]> {
  const runner = await ReplicatedRunner.start(net, optimizer, 1, replicas, { backend, fusedBatchNorm: true });
  const phases: Phases[] = [];
  try {
    let step = 0;
    for (const batch of batches) {
      const before = { ...runner.trace };
      const { loss, correct } = await runner.step(batch, { epoch: 0, step: step++, lr: 0.1 });
      tf.dispose([loss, correct, batch.x, batch.y]);
      const after = runner.trace;
      phases.push({
        compute: after.computeMs - before.computeMs,
        exchange: after.exchangeMs - before.exchangeMs,
        optimizer: after.optimizerMs - before.optimizerMs,
        reply: after.replyWaitMs - before.replyWaitMs,
      });
    }
  } finally {
    await runner.close();
  }
  return phases;
}

function medianPhases(phases: Phases[]): Phases {
  return {
    compute: median(phases.map((p) => p.compute)),
    exchange: median(phases.map((p) => p.exchange)),
    optimizer: median(phases.map((p) => p.optimizer)),
    reply: median(phases.map((p) => p.reply)),
  };
}

async function main(): Promise<void> {
  tf.env().set('PROD', true);
  const arch = option('arch', 'quickstart') as Arch;
  if (!(arch in ARCHS)) throw new Error(`--arch must be one of ${Object.keys(ARCHS).join(', ')}`);
  const counts = option('replicas', '1,2').split(',').map(Number);
  const batchSize = positiveIntOption('batch', 64);
  const steps = positiveIntOption('steps', 20);
  const warmup = positiveIntOption('warmup', 3);
  const backend = await selectBackend('wasm');
  console.log(
    `${arch}, batch ${batchSize}, ${steps} steps (+${warmup} warmup), ${backend.detail}; load average before: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(', ')} (${availableParallelism()} cores)`,
  );
  const rows: string[][] = [];
  const measured = new Map<number, Phases>();
  for (const replicas of counts) {
    const { build, inputShape } = ARCHS[arch];
    const model = build(1);
    const data = randomDataset((steps + warmup) * batchSize, inputShape, 11);
    const phases = await withTrainingPatches(model, { fusedBatchNorm: true }, async (patches) => {
      const net = trainingModel(model, patches);
      const optimizer = new Optimizer(net, TRAIN_OPTIONS);
      try {
        const batches = data.batches({
          batchSize,
          preprocess: TRAIN_OPTIONS.preprocess,
          shuffleSeed: 1,
          epoch: 0,
          train: true,
          dropRemainder: true,
        });
        return replicas === 1
          ? traceSingle(net, optimizer, batches)
          : await traceReplicated(net, optimizer, replicas, backend.name as 'wasm' | 'cpu', batches);
      } finally {
        optimizer.dispose();
      }
    });
    model.dispose();
    const m = medianPhases(phases.slice(warmup));
    measured.set(replicas, m);
    const total = m.compute + m.exchange + m.optimizer + m.reply;
    const serial = total - m.compute;
    rows.push([
      String(replicas),
      ...[m.compute, m.exchange, m.optimizer, m.reply, total].map((v) => v.toFixed(1)),
      `${((100 * serial) / total).toFixed(1)} %`,
      ((batchSize * 1000) / total).toFixed(1),
    ]);
  }
  printTable(['replicas', 'compute ms', 'exchange ms', 'optimizer ms', 'reply ms', 'step ms', 'serial', 'img/s'], rows);
  const one = measured.get(1);
  const two = measured.get(2);
  if (one !== undefined && two !== undefined) {
    const efficiency = one.compute / (2 * two.compute);
    const serial = two.exchange + two.optimizer + two.reply;
    const oneTotal = one.compute + one.optimizer;
    console.log(`\nestimate (compute₁ / N / ${efficiency.toFixed(2)} + serial ${serial.toFixed(1)} ms):`);
    printTable(
      ['N', 'step ms', 'speed-up'],
      [4, 8, 16].map((n) => {
        const step = one.compute / n / efficiency + serial;
        return [String(n), step.toFixed(1), (oneTotal / step).toFixed(2)];
      }),
    );
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
});
