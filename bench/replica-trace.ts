/**
 * Where a data-parallel step's time goes on the main thread (replica 0), for 1 and more
 * replicas, and a paper estimate for more cores from the measured parts.
 *
 *   node dist/bench/replica-trace.js [--arch quickstart|vgg-small] [--replicas 1,2] [--batch 64] [--steps 20] [--warmup 3]
 *
 * The steps run as the training loop runs them on an in-memory dataset: every replica decodes its
 * own rows (row batches), and the next step's requests are queued one step ahead.
 * Per step (median over the timed steps, milliseconds): compute = own rows' decode, forward and
 * backward (the gradient taps write each weight's gradient into the shared slot as it comes;
 * plus queuing the workers' steps); exchange = after its own backward pass, summing units that
 * are ready and waiting for the slowest replica; optimizer = the SGD step every replica applies
 * to the summed gradient. With 1 replica: compute = decode + lossAndGrads, optimizer = the SGD step.
 * serial = everything but compute (no replica computes gradients meanwhile); units = the share of
 * the exchange's summing units replica 0 did (the workers did the rest).
 * Estimate for N cores: compute₁ / N / e + serial₂, e = compute₁ / (2 · compute₂) (the measured
 * per-core slow-down when both cores work); the exchange volume per replica does not grow with N
 * (replica-exchange.ts), only the wake-ups do, which this estimate leaves out.
 */
import { availableParallelism, loadavg } from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/select.js';
import type { Dataset } from '../src/data/dataset.js';
import { withTrainingPatches } from '../src/train/patches.js';
import { decodeRowTensors, rowBatches, shareRows, type RowBatch } from '../src/train/replica-data.js';
import { ReplicatedRunner } from '../src/train/replicas.js';
import { lossAndGrads, Optimizer, trainingModel, type TrainingModel } from '../src/train/step.js';
import { ARCHS, type Arch } from '../test/fixtures/zoo/index.js';
import { median, option, positiveIntOption, printTable, randomDataset, TRAIN_OPTIONS } from './train-speed.js';

interface Phases {
  compute: number;
  exchange: number;
  optimizer: number;
  /** Share of the summing units done by the main thread (0 with one replica). */
  unitsShare: number;
}

/** Median phase times of `steps` steps with one replica (this thread only). */
function traceSingle(net: TrainingModel, optimizer: Optimizer, data: Dataset, batches: RowBatch[]): Phases[] {
  const rows = shareRows(data, TRAIN_OPTIONS.preprocess);
  const phases: Phases[] = [];
  for (const batch of batches) {
    const t0 = performance.now();
    tf.tidy(() => {
      const { x, y } = decodeRowTensors(rows, batch.indices, batch.epoch);
      const { grads } = lossAndGrads(net.model, net.variables, net.patches.outputKind, x, y);
      // wasm kernels run synchronously; a readback makes the cpu backend finish too.
      Object.values(grads)[0]?.dataSync();
      const t1 = performance.now();
      optimizer.apply(grads, 0.1);
      net.variables[0]?.dataSync();
      phases.push({ compute: t1 - t0, exchange: 0, optimizer: performance.now() - t1, unitsShare: 0 });
    });
  }
  return phases;
}

/** Median phase times of the steps with `replicas` replicas (ReplicatedRunner's trace, step by step). */
async function traceReplicated(
  net: TrainingModel,
  optimizer: Optimizer,
  replicas: number,
  backend: 'wasm' | 'cpu',
  data: Dataset,
  batches: RowBatch[],
): Promise<Phases[]> {
  const rows = shareRows(data, TRAIN_OPTIONS.preprocess);
  const runner = await ReplicatedRunner.start(net, optimizer, 1, replicas, { backend, fusedBatchNorm: true, rows });
  const phases: Phases[] = [];
  try {
    for (let step = 0; step < batches.length; step++) {
      const before = { ...runner.trace };
      const at = { epoch: 0, step, lr: 0.1 };
      const next = step + 1 < batches.length ? { batch: batches[step + 1], at: { ...at, step: step + 1 } } : undefined;
      const { loss, correct } = await runner.step(batches[step], at, next);
      tf.dispose([loss, correct]);
      const after = runner.trace;
      const units = after.unitsSummed - before.unitsSummed;
      phases.push({
        compute: after.computeMs - before.computeMs,
        exchange: after.exchangeMs - before.exchangeMs,
        optimizer: after.optimizerMs - before.optimizerMs,
        unitsShare: units / runner.exchangeUnits,
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
    unitsShare: median(phases.map((p) => p.unitsShare)),
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
        const batches = [...rowBatches(data, { batchSize, shuffleSeed: 1, epoch: 0, dropRemainder: true })];
        return replicas === 1
          ? traceSingle(net, optimizer, data, batches)
          : await traceReplicated(net, optimizer, replicas, backend.name as 'wasm' | 'cpu', data, batches);
      } finally {
        optimizer.dispose();
      }
    });
    model.dispose();
    const m = medianPhases(phases.slice(warmup));
    measured.set(replicas, m);
    const total = m.compute + m.exchange + m.optimizer;
    const serial = total - m.compute;
    rows.push([
      String(replicas),
      ...[m.compute, m.exchange, m.optimizer, total].map((v) => v.toFixed(1)),
      `${((100 * serial) / total).toFixed(1)} %`,
      replicas === 1 ? '' : `${(100 * m.unitsShare).toFixed(0)} %`,
      ((batchSize * 1000) / total).toFixed(1),
    ]);
  }
  printTable(['replicas', 'compute ms', 'exchange ms', 'optimizer ms', 'step ms', 'serial', 'units', 'img/s'], rows);
  const one = measured.get(1);
  const two = measured.get(2);
  if (one !== undefined && two !== undefined) {
    const efficiency = one.compute / (2 * two.compute);
    const serial = two.exchange + two.optimizer;
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
