import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openNodeRuntime } from '../src/bench/node.js';
import { narrowAndWideConvs } from './helpers/bench-models.js';

test('a node timing session reports each timed run’s CPU time beside its wall time, paired run by run', async () => {
  const artifacts = await narrowAndWideConvs();
  const session = await openNodeRuntime('cpu', artifacts);
  try {
    const timing = await session.time({ batch: 8, runs: 5, warmup: 2, seed: 1, inputShapes: [[16, 16, 3]] });
    assert.ok(timing.cpuMs !== undefined, 'node runtimes report CPU time');
    // The timed runs only: as many as the wall-clock runs, not the first predict or the warm-up.
    assert.deepEqual(
      timing.cpuMs.map((runs) => runs.length),
      [5, 5],
    );
    for (const runs of timing.cpuMs) for (const ms of runs) assert.ok(Number.isFinite(ms) && ms >= 0, `CPU ms ${ms}`);
    // The wider conv does 32× the MACs: its CPU time over the runs is the larger (not a timing
    // threshold: which of two models did more work, summed over five runs).
    const total = timing.cpuMs.map((runs) => runs.reduce((a, b) => a + b, 0));
    assert.ok(total[1] > total[0], `CPU ms ${total.join(' vs ')}`);
  } finally {
    await session.close();
  }
});
