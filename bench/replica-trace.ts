/**
 * Where a data-parallel step's time goes on the main thread (replica 0), for 1 and more
 * replicas, and a paper estimate for more cores from the measured parts.
 *
 *   node dist/bench/replica-trace.js [--arch quickstart|vgg-small] [--replicas 1,2] [--batch 64] [--steps 24] [--block 4] [--warmup 3]
 *
 * The steps run as the training loop runs them on an in-memory dataset: every replica decodes its
 * own rows (row batches), and the next step's requests are queued one step ahead. Every replica
 * count has its own model and runner, open side by side; their steps run in interleaved blocks of
 * `--block` steps (order alternating), so a shared host's swings weigh on each count alike, and
 * "× per block" compares blocks run seconds apart (median and range over the blocks).
 * Per step (median over the timed steps, milliseconds): compute = own rows' decode, forward and
 * backward (the gradient taps write each weight's gradient into the shared slot as it comes;
 * plus queuing the workers' steps); exchange = after its own backward pass, summing units that
 * are ready and waiting for the slowest replica; optimizer = the SGD step every replica applies
 * to the summed gradient. With 1 replica: compute = decode + lossAndGrads, optimizer = the SGD step.
 * serial = everything but compute (no replica computes gradients meanwhile); units = the share of
 * the exchange's summing units replica 0 did (the workers did the rest); parts = each replica's
 * forward and backward passes on its own thread (replica 0 first): with the static half/half split,
 * a difference between them is a difference between the cores, and the step waits for the slower.
 * Estimate for N cores: compute₁ / N / e + serial₂, e = min(1, compute₁ / (2 · compute₂)) (the
 * measured per-core slow-down when both cores work); the exchange volume per replica does not grow with N
 * (replica-exchange.ts), only the wake-ups do, which this estimate leaves out.
 */
import { availableParallelism } from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/select.js';
import { withTrainingPatches } from '../src/train/patches.js';
import { decodeRowTensors, rowBatches, shareRows, type RowBatch, type SharedRows } from '../src/train/replica-data.js';
import { REPLICA_SPLITS, type ReplicaSplitKind } from '../src/train/replica-split.js';
import { ReplicatedRunner } from '../src/train/replicas.js';
import { lossAndGrads, Optimizer, trainingModel, type TrainingModel } from '../src/train/step.js';
import { ARCHS, type Arch } from '../test/fixtures/zoo/index.js';
import { loadText, median, option, positiveIntOption, printTable, randomDataset, TRAIN_OPTIONS } from './train-speed.js';

interface Phases {
  compute: number;
  exchange: number;
  optimizer: number;
  /** Share of the summing units done by the main thread (0 with one replica). */
  unitsShare: number;
  /** Each replica's forward and backward passes on its own thread (one replica: = compute). */
  parts: number[];
  /** Each replica's rows. */
  rows: number[];
}

/** A replica count and how the batch is split over the replicas (`--replicas 1,2,2:speed`). */
interface Setup {
  label: string;
  replicas: number;
  split: ReplicaSplitKind;
}

function parseSetup(text: string): Setup {
  const [count, split = 'equal'] = text.trim().split(':');
  const replicas = Number(count);
  if (!Number.isInteger(replicas) || replicas < 1 || !(REPLICA_SPLITS as readonly string[]).includes(split)) {
    throw new Error(`--replicas: expected entries like 2 or 2:speed (split ${REPLICA_SPLITS.join(' or ')}), got ${text}`);
  }
  return { label: text.trim(), replicas, split: split as ReplicaSplitKind };
}

/** Runs one step of a setup and says where its time went. */
interface Tracer {
  step(batch: RowBatch, next: RowBatch | undefined, index: number): Promise<Phases>;
  close(): Promise<void>;
}

/** One replica on this thread: decode own rows, lossAndGrads, the SGD step. */
function singleTracer(net: TrainingModel, optimizer: Optimizer, rows: SharedRows): Tracer {
  return {
    step: (batch) =>
      Promise.resolve(
        tf.tidy(() => {
          const t0 = performance.now();
          const { x, y } = decodeRowTensors(rows, batch.indices, batch.epoch);
          const { grads } = lossAndGrads(net.model, net.variables, net.patches.outputKind, x, y);
          // wasm kernels run synchronously; a readback makes the cpu backend finish too.
          Object.values(grads)[0]?.dataSync();
          const t1 = performance.now();
          optimizer.apply(grads, 0.1);
          net.variables[0]?.dataSync();
          return { compute: t1 - t0, exchange: 0, optimizer: performance.now() - t1, unitsShare: 0, parts: [t1 - t0], rows: [batch.size] };
        }),
      ),
    close: () => Promise.resolve(),
  };
}

/** `replicas` replicas through ReplicatedRunner, steps queued one ahead as the training loop does. */
async function replicatedTracer(
  net: TrainingModel,
  optimizer: Optimizer,
  { replicas, split }: Setup,
  backend: 'wasm' | 'cpu',
  rows: SharedRows,
): Promise<Tracer> {
  const runner = await ReplicatedRunner.start(net, optimizer, 1, replicas, { backend, fusedBatchNorm: true, rows, split });
  return {
    async step(batch, next, index) {
      const before = { ...runner.trace, partComputeMs: [...runner.trace.partComputeMs], partRows: [...runner.trace.partRows] };
      const at = { epoch: 0, step: index, lr: 0.1 };
      const ahead = next !== undefined ? { batch: next, at: { ...at, step: index + 1 } } : undefined;
      const { loss, correct } = await runner.step(batch, at, ahead);
      tf.dispose([loss, correct]);
      const after = runner.trace;
      return {
        compute: after.computeMs - before.computeMs,
        exchange: after.exchangeMs - before.exchangeMs,
        optimizer: after.optimizerMs - before.optimizerMs,
        unitsShare: (after.unitsSummed - before.unitsSummed) / runner.exchangeUnits,
        parts: after.partComputeMs.map((ms, k) => ms - before.partComputeMs[k]),
        rows: after.partRows.map((n, k) => n - before.partRows[k]),
      };
    },
    close: () => runner.close(),
  };
}

/** Opens a model, its training patches and a tracer for every replica count, and runs `fn` with them all. */
async function withTracers<T>(
  setups: Setup[],
  open: { arch: Arch; backend: 'wasm' | 'cpu'; rows: SharedRows },
  fn: (tracers: Tracer[]) => Promise<T>,
  opened: Tracer[] = [],
): Promise<T> {
  if (opened.length === setups.length) return fn(opened);
  const setup = setups[opened.length];
  const model = ARCHS[open.arch].build(1);
  try {
    return await withTrainingPatches(model, { fusedBatchNorm: true }, async (patches) => {
      const net = trainingModel(model, patches);
      const optimizer = new Optimizer(net, TRAIN_OPTIONS);
      try {
        const tracer =
          setup.replicas === 1
            ? singleTracer(net, optimizer, open.rows)
            : await replicatedTracer(net, optimizer, setup, open.backend, open.rows);
        try {
          return await withTracers(setups, open, fn, [...opened, tracer]);
        } finally {
          await tracer.close();
        }
      } finally {
        optimizer.dispose();
      }
    });
  } finally {
    model.dispose();
  }
}

function medianPhases(phases: Phases[]): Phases {
  return {
    compute: median(phases.map((p) => p.compute)),
    exchange: median(phases.map((p) => p.exchange)),
    optimizer: median(phases.map((p) => p.optimizer)),
    unitsShare: median(phases.map((p) => p.unitsShare)),
    parts: phases[0].parts.map((_, k) => median(phases.map((p) => p.parts[k]))),
    rows: phases[0].rows.map((_, k) => median(phases.map((p) => p.rows[k]))),
  };
}

async function main(): Promise<void> {
  tf.env().set('PROD', true);
  const arch = option('arch', 'quickstart') as Arch;
  if (!(arch in ARCHS)) throw new Error(`--arch must be one of ${Object.keys(ARCHS).join(', ')}`);
  const setups = option('replicas', '1,2').split(',').map(parseSetup);
  const batchSize = positiveIntOption('batch', 64);
  const block = positiveIntOption('block', 4);
  const blocks = Math.ceil(positiveIntOption('steps', 24) / block);
  const steps = blocks * block;
  const warmup = positiveIntOption('warmup', 3);
  const backend = await selectBackend('wasm');
  console.log(
    `${arch}, batch ${batchSize}, ${steps} steps (+${warmup} warmup) per setup in ${blocks} interleaved blocks of ${block}, ` +
      `${backend.detail}; load average before: ${loadText()} (${availableParallelism()} cores)`,
  );
  const data = randomDataset((steps + warmup) * batchSize, ARCHS[arch].inputShape, 11);
  const batches = [...rowBatches(data, { batchSize, shuffleSeed: 1, epoch: 0, dropRemainder: true })];
  const rows = shareRows(data, TRAIN_OPTIONS.preprocess);
  const phases = setups.map((): Phases[] => []);
  /** Per setup, per block: the block's mean step time. */
  const blockMs = setups.map((): number[] => []);
  await withTracers(setups, { arch, backend: backend.name as 'wasm' | 'cpu', rows }, async (tracers) => {
    const run = async (c: number, from: number, count: number): Promise<Phases[]> => {
      const done: Phases[] = [];
      // The next step is queued ahead only within the block: a worker must not compute while another setup is timed.
      for (let i = from; i < from + count; i++)
        done.push(await tracers[c].step(batches[i], i + 1 < from + count ? batches[i + 1] : undefined, i));
      return done;
    };
    for (let c = 0; c < setups.length; c++) await run(c, 0, warmup);
    // Blocks alternate the order (1, 2 | 2, 1 | …): a host that speeds up or slows down over the run
    // weighs on every setup alike, and each block pair is measured seconds apart, not minutes.
    for (let b = 0; b < blocks; b++) {
      const order = setups.map((_, c) => (b % 2 === 0 ? c : setups.length - 1 - c));
      for (const c of order) {
        const done = await run(c, warmup + b * block, block);
        phases[c].push(...done);
        blockMs[c].push(done.reduce((sum, p) => sum + p.compute + p.exchange + p.optimizer, 0) / block);
      }
    }
  });
  const table: string[][] = [];
  const measured = new Map<string, Phases>();
  setups.forEach((setup, c) => {
    const m = medianPhases(phases[c]);
    measured.set(setup.label, m);
    const total = m.compute + m.exchange + m.optimizer;
    const serial = total - m.compute;
    const paired = blockMs[c].map((ms, b) => blockMs[0][b] / ms);
    table.push([
      setup.label,
      ...[m.compute, m.exchange, m.optimizer, total].map((v) => v.toFixed(1)),
      `${((100 * serial) / total).toFixed(1)} %`,
      setup.replicas === 1 ? '' : `${(100 * m.unitsShare).toFixed(0)} %`,
      m.rows.map((n) => n.toFixed(0)).join(' / '),
      m.parts.map((ms) => ms.toFixed(0)).join(' / '),
      ((batchSize * 1000) / total).toFixed(1),
      c === 0 ? '' : `${median(paired).toFixed(2)} (${Math.min(...paired).toFixed(2)}–${Math.max(...paired).toFixed(2)})`,
    ]);
  });
  printTable(
    [
      'replicas',
      'compute ms',
      'exchange ms',
      'optimizer ms',
      'step ms',
      'serial',
      'units',
      'rows',
      'parts ms',
      'img/s',
      `× per block vs ${setups[0].label}`,
    ],
    table,
  );
  console.log(`load average after: ${loadText()}`);
  const one = measured.get('1');
  const two = measured.get('2');
  if (one !== undefined && two !== undefined) {
    // Capped at 1: two half-batches can beat one whole batch (a smaller working set fits the caches
    // better), but that is no reason to expect more than N× from N cores.
    const efficiency = Math.min(1, one.compute / (2 * two.compute));
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
