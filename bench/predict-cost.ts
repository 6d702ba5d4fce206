/**
 * What one batch-1 predict of the quickstart slim model costs on node:wasm, call path by call path:
 * the layers export through `predict` (what `slim bench` times), `predictOnBatch`, `apply`
 * (tfjs-layers' symbolic execute without predictLoop's slice + concat), and the graph export
 * through `predict`, `execute`; then both again with the Dense head run as a conv (the default
 * export; the rows above keep it as Dense); each read back with `dataSync` (sync) or `await data()` (what the
 * bench harness does). Interleaved in rounds, so the ratios are paired; the load average beside.
 *
 * With --batches 1,2,4,8 it also fits CPU µs = fixed + per-image · batch per call path (the fixed
 * per-predict cost, as bench/export-quickstart.ts fits it from wall-clock runs).
 *
 *   node dist/bench/predict-cost.js [--model runs/quickstart/finetuned] [--calls 200] [--rounds 31] [--batches 1]
 */
import * as os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/select.js';
import { initWasmBackend } from '../src/backend/wasm.js';
import { toLayersModel } from '../src/model/convert.js';
import { readModel } from '../src/model/io.js';
import { exportModel } from '../src/pipeline/export.js';
import { graphFiles, loadGraphFiles, lineFit } from './export-timing.js';

const load = (): string => os.loadavg()[0].toFixed(1);

function option(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 && process.argv[at + 1] !== undefined ? process.argv[at + 1] : fallback;
}

async function main(): Promise<void> {
  const dir = option('model', 'runs/quickstart/finetuned');
  const calls = Number(option('calls', '2000'));
  const rounds = Number(option('rounds', '5'));
  const batches = option('batches', '1').split(',').map(Number);
  const only = option('only', '');
  const backend = await selectBackend('wasm', { initWasm: () => initWasmBackend({ trainingKernels: false }) });
  tf.env().set('PROD', true);
  const slim = await readModel(dir);
  const today = await toLayersModel((await exportModel(slim, { fuse: false, denseAsConv: false })).artifacts);
  const fusedArtifacts = (await exportModel(slim, { denseAsConv: false })).artifacts;
  const fused = await toLayersModel(fusedArtifacts);
  const graph = await loadGraphFiles(graphFiles(fusedArtifacts));
  // The export as it is now: also a Flatten → Dense head run as a conv (src/export/dense-as-conv.ts).
  const asConvArtifacts = (await exportModel(slim)).artifacts;
  const asConv = await toLayersModel(asConvArtifacts);
  const asConvGraph = await loadGraphFiles(graphFiles(asConvArtifacts));
  const shape = (today.inputs[0].shape as number[]).slice(1);
  const sync = (f: () => tf.Tensor) => () => {
    const y = f();
    y.dataSync();
    y.dispose();
  };
  const async_ = (f: () => tf.Tensor) => async () => {
    const y = f();
    await y.data();
    y.dispose();
  };
  type Path = [string, (x: tf.Tensor) => void | Promise<void>];
  const paths = (
    [
      [
        "today's layers: predict(x, {batchSize}) + await data() (the bench)",
        (x) => async_(() => today.predict(x, { batchSize: x.shape[0] }) as tf.Tensor)(),
      ],
      [
        'fused layers: predict(x, {batchSize}) + await data() (the bench)',
        (x) => async_(() => fused.predict(x, { batchSize: x.shape[0] }) as tf.Tensor)(),
      ],
      ['fused layers: predict + dataSync', (x) => sync(() => fused.predict(x) as tf.Tensor)()],
      ['fused layers: predictOnBatch + dataSync', (x) => sync(() => fused.predictOnBatch(x) as tf.Tensor)()],
      ['fused layers: apply (tidy) + dataSync', (x) => sync(() => tf.tidy(() => fused.apply(x, { training: false }) as tf.Tensor))()],
      ['graph: predict + await data() (the bench)', (x) => async_(() => graph.predict(x) as tf.Tensor)()],
      ['graph: execute + dataSync', (x) => sync(() => graph.execute(x) as tf.Tensor)()],
      [
        'dense-as-conv layers: predict(x, {batchSize}) + await data() (the bench)',
        (x) => async_(() => asConv.predict(x, { batchSize: x.shape[0] }) as tf.Tensor)(),
      ],
      [
        'dense-as-conv layers: apply (tidy) + dataSync',
        (x) => sync(() => tf.tidy(() => asConv.apply(x, { training: false }) as tf.Tensor))(),
      ],
      ['dense-as-conv graph: predict + await data() (the bench)', (x) => async_(() => asConvGraph.predict(x) as tf.Tensor)()],
      ['dense-as-conv graph: execute + dataSync', (x) => sync(() => asConvGraph.execute(x) as tf.Tensor)()],
    ] as Path[]
  ).filter(([name]) => only === '' || name.includes(only));
  console.log(`${backend.detail}; ${calls} calls × ${rounds} rounds per batch, load ${load()}\n`);
  const med = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
  const fits = paths.map(() => [] as { batch: number; ms: number }[]);
  for (const batch of batches) {
    const x = tf.randomUniform([batch, ...shape], 0, 1, 'float32', 1);
    for (const [, f] of paths) for (let i = 0; i < 50; i++) await f(x);
    const us: number[][] = paths.map(() => []);
    // CPU time of this process (user + system): on a shared host the wall clock also counts the
    // time other jobs held the core; this process's CPU time mostly does not.
    const cpu: number[][] = paths.map(() => []);
    for (let r = 0; r < rounds; r++) {
      for (let k = 0; k < paths.length; k++) {
        const which = (k + r) % paths.length;
        const f = paths[which][1];
        const start = performance.now();
        const startCpu = process.cpuUsage();
        for (let i = 0; i < calls; i++) await f(x);
        const usedCpu = process.cpuUsage(startCpu);
        us[which].push(((performance.now() - start) * 1000) / calls);
        cpu[which].push((usedCpu.user + usedCpu.system) / calls);
      }
    }
    tf.dispose(x);
    console.log(
      `| batch ${batch}: call path | wall µs per call, median of rounds (min) | CPU µs per call, median (min) | ÷ the first row (wall, CPU; paired) | load avg |`,
    );
    console.log('|---|---|---|---|---|');
    paths.forEach(([name], k) => {
      fits[k].push({ batch, ms: med(cpu[k]) / 1000 });
      const ratio = med(us[k].map((v, i) => v / us[0][i]));
      const ratioCpu = med(cpu[k].map((v, i) => v / cpu[0][i]));
      console.log(
        `| ${name} | ${med(us[k]).toFixed(1)} (${Math.min(...us[k]).toFixed(1)}) | ${med(cpu[k]).toFixed(1)} (${Math.min(...cpu[k]).toFixed(1)}) | ` +
          `${ratio.toFixed(2)}, ${ratioCpu.toFixed(2)} | ${load()} |`,
      );
    });
    console.log('');
  }
  if (batches.length < 2) return;
  console.log(
    `| call path | fixed CPU µs per predict (intercept through batches ${batches.join(', ')}) | CPU µs per image | ÷ today's fixed | load avg |`,
  );
  console.log('|---|---|---|---|---|');
  const base = lineFit(fits[0]).interceptMs;
  paths.forEach(([name], k) => {
    const fit = lineFit(fits[k]);
    console.log(
      `| ${name} | ${(fit.interceptMs * 1000).toFixed(1)} | ${(fit.slopeMs * 1000).toFixed(1)} | ${(fit.interceptMs / base).toFixed(2)} | ${load()} |`,
    );
  });
}

await main();
