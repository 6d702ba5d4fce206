/**
 * The chromium:* runtimes' CPU clock in headless Chromium: it counts the CPU the page's main thread
 * spends (a calibrated busy loop reads about what the same loop costs Node), not the time it waits
 * (a timer reads ~0), and a bench session reports it per timed run beside the wall time.
 */
import { strict as assert } from 'node:assert';
import { mkdtemp, rm } from 'node:fs/promises';
import * as os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { browserArgs, exposeCpuClock, openChromiumRuntime } from '../../src/bench/chromium.js';
import { CPU_CLOCK_BINDING } from '../../src/bench/page.js';
import type { InterleavedTimes } from '../../src/bench/pairing.js';
import { BenchServer } from '../../src/bench/server.js';
import { writeModel } from '../../src/model/io.js';
import type { ModelArtifacts } from '../../src/model/topology.js';
import { narrowAndWideConvs } from '../helpers/bench-models.js';
import { CHROMIUM, chromiumMissing } from '../helpers/chromium.js';
import { outputInProcess } from '../helpers/cli-in-process.js';

tf.env().set('PROD', true);

/** Pure CPU work, the same code in Node and in the page (V8 both). */
function burnLoop(iterations: number): number {
  let sum = 0;
  for (let i = 0; i < iterations; i++) sum = (sum + i * 7) % 1000003;
  return sum;
}

/** This process's CPU ms for burnLoop(iterations): the median of three. */
function nodeCpuMs(iterations: number): number {
  const times = [0, 1, 2].map(() => {
    const start = process.cpuUsage();
    burnLoop(iterations);
    const used = process.cpuUsage(start);
    return (used.user + used.system) / 1000;
  });
  return times.sort((a, b) => a - b)[1];
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

describe('the page thread CPU clock in headless Chromium', { skip: chromiumMissing() ?? false }, () => {
  let browser: Browser;
  let server: BenchServer;
  let page: Page;

  before(async () => {
    server = new BenchServer({ models: [], plan: { mode: 'driven' } });
    await server.start();
    browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, pipe: true, args: browserArgs('wasm') });
    page = await browser.newPage();
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  it('reads a busy loop’s CPU as Node measures the same loop, and ~0 for a page that only waits', async (t) => {
    assert.equal(await exposeCpuClock(page), true, 'Chromium reports ThreadTime');
    await page.goto(server.url(), { waitUntil: 'load' });
    await page.waitForFunction('window.slimBenchReady === true');
    // Sized to about 60 ms of Node's CPU on this machine; the page runs the same function.
    let iterations = 1e6;
    while (nodeCpuMs(iterations) < 60) iterations *= 2;
    const expectedMs = nodeCpuMs(iterations);
    await page.evaluate(`window.slimTestBurn = ${burnLoop.toString()}`);
    // The page's own interleaving (pairing.js as the bench page serves it) with the clock slim exposes.
    const result: InterleavedTimes = await page.evaluate(
      async (binding: string, n: number) => {
        const { interleavedRuns } = (await import(
          new URL('./pairing.js', location.href).href
        )) as typeof import('../../src/bench/pairing.js');
        const w = window as unknown as Record<string, unknown> & { slimTestBurn: (n: number) => number };
        const burn = () => {
          w.slimTestSink = w.slimTestBurn(n);
          return Promise.resolve();
        };
        const wait = () => new Promise<void>((resolve) => setTimeout(resolve, 100));
        return interleavedRuns([burn, wait], 1, 3, undefined, undefined, () => (w[binding] as () => Promise<number>)());
      },
      CPU_CLOCK_BINDING,
      iterations,
    );
    const [burnCpu, waitCpu] = result.cpuMs!;
    const [burnWall, waitWall] = result.timesMs;
    const why = `Node ${expectedMs.toFixed(1)} ms; page CPU ${JSON.stringify(result.cpuMs)} wall ${JSON.stringify(result.timesMs)}`;
    t.diagnostic(why);
    assert.deepEqual(
      result.cpuMs!.map((runs) => runs.length),
      [3, 3],
    );
    // The same work: within a generous factor of Node's CPU (about 1.0 measured at low load), and
    // one thread's CPU never exceeds its wall time (a millisecond of slack for the clocks' steps).
    assert.ok(median(burnCpu) > expectedMs / 2.5 && median(burnCpu) < expectedMs * 2.5, why);
    assert.ok(median(burnCpu) <= median(burnWall) * 1.1 + 0.5, why);
    // Waiting 100 ms on a timer uses almost no CPU.
    for (const wall of waitWall) assert.ok(wall >= 99, why);
    for (const cpu of waitCpu) assert.ok(cpu < 10, why);
  });
});

describe('a chromium:wasm bench session', { skip: chromiumMissing() ?? false }, () => {
  let models: ModelArtifacts[];
  before(async () => {
    await tf.setBackend('cpu');
    models = await narrowAndWideConvs();
  });

  it('reports each timed run’s page-thread CPU time beside its wall time, paired run by run', async () => {
    const session = await openChromiumRuntime('wasm', models, { browser: CHROMIUM, timeoutMs: 60_000, pageCpuTime: true });
    try {
      const timing = await session.time({ batch: 8, runs: 5, warmup: 1, seed: 1, inputShapes: [[16, 16, 3]] });
      const cpuMs = timing.cpuMs;
      assert.ok(cpuMs !== undefined, 'chromium runtimes report CPU time');
      assert.deepEqual(
        cpuMs.map((runs) => runs.length),
        [5, 5],
      );
      const why = `CPU ${JSON.stringify(cpuMs)} wall ${JSON.stringify(timing.timesMs)}`;
      // One thread's CPU stays within its wall time; per run, the clock's round trips jitter by up
      // to a millisecond, so the medians are compared.
      for (const runs of cpuMs) for (const ms of runs) assert.ok(ms >= 0, why);
      cpuMs.forEach((runs, k) => assert.ok(median(runs) <= median(timing.timesMs[k]) * 1.1 + 0.5, why));
      // The wider conv does 32× the MACs: its CPU time over the runs is the larger.
      const total = cpuMs.map((runs) => runs.reduce((a, b) => a + b, 0));
      assert.ok(total[1] > total[0], why);
    } finally {
      await session.close();
    }
  });

  it('reads no page CPU time unless asked (each reading slows a short predict), and `slim bench --page-cpu-time` asks', async () => {
    const session = await openChromiumRuntime('wasm', models, { browser: CHROMIUM, timeoutMs: 60_000 });
    try {
      const timing = await session.time({ batch: 2, runs: 2, warmup: 0, seed: 1, inputShapes: [[16, 16, 3]] });
      assert.equal(timing.cpuMs, undefined);
      assert.equal(timing.timesMs.length, 2);
    } finally {
      await session.close();
    }
    const dir = await mkdtemp(path.join(os.tmpdir(), 'slim-page-cpu-'));
    try {
      const [model, baseline] = [path.join(dir, 'narrow'), path.join(dir, 'wide')];
      await writeModel(model, models[0]);
      await writeModel(baseline, models[1]);
      const argv = [
        'bench',
        '--model',
        model,
        '--baseline',
        baseline,
        '--runtime',
        'chromium:wasm',
        '--batch',
        '2',
        '--runs',
        '2',
        '--warmup',
        '0',
      ];
      const report = JSON.parse((await outputInProcess([...argv, '--page-cpu-time', '--browser', CHROMIUM, '--json'])).stdout);
      type Timing = { cpuMedianMs?: number };
      const timings = (report.rows as { model: Timing; baseline: Timing }[]).flatMap((row) => [row.model, row.baseline]);
      assert.ok(timings.length > 0 && timings.every((t) => typeof t.cpuMedianMs === 'number'), JSON.stringify(report.rows));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
