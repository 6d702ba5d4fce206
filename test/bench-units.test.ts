/**
 * slim bench's in-process parts: statistics, the interleaving shared with the browser page, the
 * node runtimes (node:tensorflow through the tfjs-node stand-in) and the stage's input checks.
 */
import { strict as assert } from 'node:assert';
import { rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { NODE_CPU_PACKAGE, NODE_GPU_PACKAGE } from '../src/backend/select.js';
import { openNodeRuntime } from '../src/bench/node.js';
import { interleavedRuns } from '../src/bench/pairing.js';
import { RuntimeUnavailable } from '../src/bench/runtime.js';
import { pairedSpeedup, quantile, timingStats } from '../src/bench/stats.js';
import { renderBenchTable } from '../src/bench/table.js';
import { benchReportSchema } from '../src/config/schema.js';
import { InputError } from '../src/errors.js';
import { Output } from '../src/io/output.js';
import { readModel } from '../src/model/io.js';
import { benchInputShapes, benchStage } from '../src/pipeline/stages/bench.js';
import { writeBenchModels, type BenchModels } from './helpers/bench-models.js';
import { kernelRecord, registerStandInTensorflowBackend, STANDIN_BACKEND } from './helpers/tensorflow-standin.js';

tf.env().set('PROD', true);
const quiet = new Output({ quiet: true, progress: false });

describe('bench statistics', () => {
  it('quantiles interpolate between ranks; median and p10–p90 of the runs', () => {
    assert.equal(quantile([3, 1, 2], 0.5), 2);
    assert.equal(quantile([1, 2, 3, 4], 0.5), 2.5);
    const stats = timingStats([10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11]);
    assert.deepEqual(stats, { runs: 11, medianMs: 6, p10Ms: 2, p90Ms: 10 });
  });

  it('the paired speed-up is the median of per-run ratios, so a load spike hitting both runs cancels', () => {
    // Run 3 ran under load: both models 10x slower. The ratio of each pair is still 2.
    assert.equal(pairedSpeedup([2, 2, 20, 2, 2], [1, 1, 10, 1, 1]), 2);
    assert.throws(() => pairedSpeedup([1, 2], [1]), /different lengths/);
  });
});

describe('interleavedRuns', () => {
  it('times the first predict of each model apart, skips the warm-up, and rotates which model goes first', async () => {
    const order: string[] = [];
    let clock = 0;
    const predict = (name: string, ms: number) => async () => {
      order.push(name);
      clock += ms;
    };
    const result = await interleavedRuns([predict('a', 5), predict('b', 2)], 1, 3, () => clock);
    assert.deepEqual(result.firstMs, [5, 2]);
    assert.deepEqual(result.timesMs, [
      [5, 5, 5],
      [2, 2, 2],
    ]);
    // first: a b; warm-up round 0: a b; timed rounds 1..3 rotate: b a, a b, b a.
    assert.deepEqual(order, ['a', 'b', 'a', 'b', 'b', 'a', 'a', 'b', 'b', 'a']);
  });
});

describe('node runtimes', () => {
  let models: BenchModels;
  before(async () => {
    await tf.setBackend('cpu');
    models = await writeBenchModels([8, 8, 1]);
  });
  after(async () => {
    await rm(models.dir, { recursive: true, force: true });
  });

  it('node:tensorflow runs on the backend tfjs-node registers (here the stand-in), and restores the previous backend', async () => {
    const importModule = async (name: string) => {
      if (name !== NODE_CPU_PACKAGE) throw new Error(`Cannot find package '${name}' imported from /fake/select.js`);
      registerStandInTensorflowBackend();
      return {};
    };
    const slim = await readModel(models.slim);
    kernelRecord.calls.clear();
    const session = await openNodeRuntime('tensorflow', [slim], { importModule });
    try {
      assert.equal(tf.getBackend(), STANDIN_BACKEND);
      assert.match(session.device, new RegExp(`tensorflow \\(${NODE_CPU_PACKAGE}\\)`));
      const timing = await session.time({ batch: 2, runs: 3, warmup: 1, seed: 1, inputShapes: [[8, 8, 1]] });
      assert.equal(timing.timesMs[0].length, 3);
      assert.ok(timing.timesMs[0].every((ms) => ms > 0));
      assert.ok(
        (kernelRecord.calls.get('Conv2D') ?? 0) + (kernelRecord.calls.get('FusedConv2D') ?? 0) > 0,
        'the convs ran on the tensorflow backend',
      );
    } finally {
      await session.close();
      tf.removeBackend(STANDIN_BACKEND);
    }
    assert.equal(tf.getBackend(), 'cpu');
  });

  it('node:tensorflow without tfjs-node is unavailable, with the install as the fix', async () => {
    const importModule = async (name: string) => {
      throw new Error(`Cannot find package '${name}' imported from /fake/select.js`);
    };
    const slim = await readModel(models.slim);
    await assert.rejects(openNodeRuntime('tensorflow', [slim], { importModule }), (error: unknown) => {
      assert.ok(error instanceof RuntimeUnavailable);
      assert.match(error.reason, new RegExp(`not installed.*${NODE_GPU_PACKAGE}.*${NODE_CPU_PACKAGE}`));
      assert.match(error.fix, /npm i @tensorflow\/tfjs-node/);
      return true;
    });
  });

  it('the stage pairs the two models on node:wasm, skips node:tensorflow with its reason, and fills the schema', async () => {
    const slim = await readModel(models.slim);
    const baseline = await readModel(models.baseline);
    const report = await benchStage(
      { path: slim.path, artifacts: slim },
      { path: baseline.path, artifacts: baseline },
      {
        runtimes: ['node:wasm', 'node:tensorflow'],
        explicit: false,
        batches: [1, 4],
        runs: 3,
        warmup: 1,
        seed: 1,
        timeoutMs: 10_000,
        nodeDeps: { importModule: async (name) => Promise.reject(new Error(`Cannot find package '${name}'`)) },
      },
      quiet,
    );
    benchReportSchema.parse(report);
    assert.deepEqual(
      report.rows.map((r) => [r.runtime, r.batch]),
      [
        ['node:wasm', 1],
        ['node:wasm', 4],
      ],
    );
    assert.deepEqual(
      report.skipped.map((s) => s.runtime),
      ['node:tensorflow'],
    );
    assert.ok(report.macsSpeedup! > 3, `the slim model has under a third of the MACs (${report.macsSpeedup})`);
    for (const row of report.rows) {
      assert.equal(row.model.runs, 3);
      assert.ok(row.speedup! > 0 && row.realisedOverMacs! > 0);
      assert.equal(row.realisedOverMacs, row.speedup! / report.macsSpeedup!);
      assert.ok(row.model.peakBytes! > 0 && row.baseline!.peakBytes! > row.model.peakBytes!, 'the wider model holds more tensor bytes');
    }
    assert.ok(report.baseline!.weightBytes > report.model.weightBytes);
    const table = renderBenchTable(report);
    assert.match(table, /^runtime\s+batch\s+model ms/);
    assert.match(table, /first predict/);
    assert.match(table, /skipped node:tensorflow/);
  });

  it('the stage refuses a named runtime that cannot run here, naming the fix', async () => {
    const slim = await readModel(models.slim);
    const options = {
      runtimes: ['node:tensorflow'] as const,
      explicit: true,
      batches: [1],
      runs: 1,
      warmup: 0,
      seed: 1,
      timeoutMs: 10_000,
      nodeDeps: { importModule: async (name: string) => Promise.reject(new Error(`Cannot find package '${name}'`)) },
    };
    await assert.rejects(benchStage({ path: slim.path, artifacts: slim }, undefined, options, quiet), (error: unknown) => {
      assert.ok(error instanceof InputError);
      assert.match(error.message, /--runtime node:tensorflow: not available here: .*fix: `npm i @tensorflow\/tfjs-node`/);
      return true;
    });
  });

  it('a model input with free dimensions needs --input-shape; one that does not fit is refused', async () => {
    const slim = await readModel(models.slim);
    const free = structuredClone(slim.modelTopology);
    free.config.layers[0].config.batch_input_shape = [null, null, null, 1];
    const model = { path: 'free/model.json', artifacts: { ...slim, modelTopology: free } };
    assert.throws(() => benchInputShapes(model), /input '.*' has no fixed shape .*give --input-shape/);
    assert.deepEqual(benchInputShapes(model, [8, 8, 1]), [[8, 8, 1]]);
    assert.throws(() => benchInputShapes(model, [8, 8, 3]), /--input-shape 8,8,3: does not fit/);
  });
});
