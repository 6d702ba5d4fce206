/**
 * The CPU clock of slim bench's timed runs, in-process: the shared interleaving reads it outside
 * each run's wall-clock interval and takes the clock's own cost off; the DevTools metric it reads
 * in Chromium; and how a row, its JSON and its table carry the CPU figures.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { threadTimeMs } from '../src/bench/chromium.js';
import { interleavedRuns } from '../src/bench/pairing.js';
import { renderBenchTable } from '../src/bench/table.js';
import { benchReportSchema, type BenchReport } from '../src/config/schema.js';
import { benchRow } from '../src/pipeline/stages/bench.js';

/**
 * A thread with a wall clock and a CPU clock. Each model's predict uses `work` ms of both; reading
 * the CPU clock costs `readCost` ms of each after the value is taken (a round trip to another
 * process that the measured thread pays for), and is logged, as are the wall-clock reads.
 */
function fakeThread(readCost: number) {
  const log: string[] = [];
  let wall = 0;
  let cpu = 0;
  return {
    log,
    now: () => {
      log.push('wall');
      return wall;
    },
    cpuNow: () => {
      log.push('cpu');
      const value = cpu;
      cpu += readCost;
      wall += readCost;
      return Promise.resolve(value);
    },
    predict: (name: string, work: number) => () => {
      log.push(name);
      cpu += work;
      wall += work;
      return Promise.resolve();
    },
  };
}

describe('interleavedRuns with a CPU clock', () => {
  it('gives each timed run its CPU time, paired with its wall time, the clock read outside the wall interval and its cost taken off', async () => {
    const thread = fakeThread(0.25);
    const result = await interleavedRuns([thread.predict('a', 5), thread.predict('b', 2)], 1, 3, thread.now, undefined, thread.cpuNow);
    // The wall clock does not count the CPU clock's reads: exactly each predict's work.
    assert.deepEqual(result.timesMs, [
      [5, 5, 5],
      [2, 2, 2],
    ]);
    // Each interval between two reads also holds one read's cost (0.25), measured on an empty
    // interval every round and taken off: the timed runs only, paired with timesMs.
    assert.deepEqual(result.cpuMs, [
      [5, 5, 5],
      [2, 2, 2],
    ]);
    // Around every predict: CPU read, wall read, predict, wall read, CPU read.
    const predicts = thread.log.map((e, i) => [e, i] as const).filter(([e]) => e === 'a' || e === 'b');
    for (const [, i] of predicts) assert.deepEqual(thread.log.slice(i - 2, i + 3), ['cpu', 'wall', thread.log[i], 'wall', 'cpu']);
  });

  it('reports no CPU times without a clock (a page a person opened), and never a negative one', async () => {
    const thread = fakeThread(0);
    const without = await interleavedRuns([thread.predict('a', 1)], 0, 2, thread.now);
    assert.equal('cpuMs' in without, false);
    // A predict whose interval read less than the clock's median cost (here: a clock read costs 1,
    // and the predict's interval reads 0.5 of it) reads 0, not below.
    const jitter = fakeThread(1);
    const predict = () => jitter.predict('a', -0.5)();
    const clamped = await interleavedRuns([predict], 0, 3, jitter.now, undefined, jitter.cpuNow);
    assert.deepEqual(clamped.cpuMs, [[0, 0, 0]]);
  });
});

describe('the page thread CPU clock of chromium:*', () => {
  it('is DevTools Performance.getMetrics ThreadTime, seconds, as ms; none when the browser lacks it', () => {
    const metrics = [
      { name: 'Timestamp', value: 1234.5 },
      { name: 'ThreadTime', value: 1.25 },
      { name: 'ProcessTime', value: 2.5 },
    ];
    assert.equal(threadTimeMs(metrics), 1250);
    assert.equal(threadTimeMs(metrics.filter((m) => m.name !== 'ThreadTime')), undefined);
    assert.equal(threadTimeMs([{ name: 'ThreadTime', value: Number.NaN }]), undefined);
  });
});

describe('a bench row with CPU times', () => {
  const session = { device: 'test device', software: false };
  const timing = {
    firstMs: [30, 12],
    // The wall clock of run 2 is disturbed (another job held the core during the baseline's predict).
    timesMs: [
      [10, 40, 10],
      [4, 4, 5],
    ],
    peakBytes: [1000, 400],
    cpuMs: [
      [9, 9, 10],
      [3, 3, 4],
    ],
  };

  function report(rows: BenchReport['rows'], paired: boolean): BenchReport {
    const facts = { path: 'm', params: 1, macs: 1, weightBytes: 4 };
    return {
      model: facts,
      baseline: paired ? facts : null,
      macsSpeedup: paired ? 4 : null,
      runs: 3,
      warmup: 1,
      seed: 1,
      inputShapes: [[2]],
      skipped: [],
      rows,
    };
  }

  it('gives each timing its median CPU ms and the row the paired CPU speed-up, in the JSON schema', () => {
    const row = benchRow('chromium:wasm', 1, session, timing, true, 4);
    assert.equal(row.baseline!.cpuMedianMs, 9);
    assert.equal(row.model.cpuMedianMs, 3);
    // Median of 9/3, 9/3, 10/4.
    assert.equal(row.cpuSpeedup, 3);
    assert.equal(row.speedup, 2.5);
    benchReportSchema.parse(report([row], true));
    const table = renderBenchTable(report([row], true));
    assert.match(table.split('\n')[0], /model CPU ms .*speed-up \(p10–p90\) +CPU speed-up/);
    assert.match(
      table.split('\n')[1],
      /^chromium:wasm +1 +4\.00 \(4\.00–4\.80\) +3\.00 +10\.0 \(10\.0–34\.0\) +2\.50× \(2\.10×–8\.50×\) +3\.00× +4\.00×/,
    );
    assert.match(table, /CPU = CPU time of a predict \(median\): node:\* this process's, chromium:\* the page's main thread's/);
  });

  it('leaves the CPU fields and columns out where no CPU clock was read (a served page), and a CPU speed-up over a 0 ms model', () => {
    const wallOnly = benchRow('served:wasm', 1, session, { ...timing, cpuMs: undefined }, true, 4);
    assert.equal('cpuSpeedup' in wallOnly, false);
    assert.equal('cpuMedianMs' in wallOnly.model, false);
    benchReportSchema.parse(report([wallOnly], true));
    assert.doesNotMatch(renderBenchTable(report([wallOnly], true)), /CPU/);
    // A model whose CPU read 0 in every run: no ratio (JSON has no Infinity), its median still given.
    const zero = benchRow(
      'chromium:webgl',
      1,
      session,
      {
        ...timing,
        cpuMs: [
          [1, 1, 1],
          [0, 0, 0],
        ],
      },
      true,
      4,
    );
    assert.equal('cpuSpeedup' in zero, false);
    assert.equal(zero.model.cpuMedianMs, 0);
    // Unpaired: the model's CPU column, no speed-up columns.
    const single = benchRow(
      'node:wasm',
      1,
      session,
      { firstMs: [1], timesMs: [[2, 2]], peakBytes: [null], cpuMs: [[1.5, 1.5]] },
      false,
      null,
    );
    const table = renderBenchTable(report([single], false));
    assert.match(table.split('\n')[0], /^runtime +batch +model ms \(p10–p90\) +model CPU ms +load$/);
    assert.match(table.split('\n')[1], /^node:wasm +1 +2\.00 \(2\.00–2\.00\) +1\.50 +\d/);
  });
});
