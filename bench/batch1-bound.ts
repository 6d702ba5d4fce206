/**
 * How close a pruned export's batch-1 speed-up can come to its MACs saving in stock tfjs, from
 * measurements: per-predict CPU time of the unpruned and the pruned export at several batch sizes
 * (both models interleaved round by round, `--calls` predicts per round, `predict` + `await data()`
 * as `slim bench` calls them), one line per model, CPU = fixed + per-image · batch, and from it
 *   - realised ÷ MACs at batch 1 (measured: the medians at batch 1);
 *   - per-image ÷ MACs (the slopes: what the kernels deliver once the fixed cost is set aside);
 *   - the ceiling at batch 1 if every per-image cost fell exactly with the MACs while the pruned
 *     model's fixed cost stayed what it is: (F₀ + S₀) / (F₁ + S₀ / M) / M. A goal above the ceiling
 *     cannot be met by any change to the pruned model's arithmetic, only by a smaller fixed cost;
 *   - kernels per predict (tf.profile) and fixed µs per kernel: the fixed cost is tfjs's own
 *     JavaScript for each kernel it launches.
 * Each figure twice, from process CPU time and from the wall clock: CPU time leaves out other jobs'
 * turns on a shared host but counts V8's background threads (garbage collection, compilation),
 * which the wall clock overlaps with the predict; at a low load the wall clock is the user's figure.
 *
 *   node dist/bench/batch1-bound.js [--arch vgg-small,quickstart,mobilenetv2] [--format graph,layers]
 *        [--batches 1,2,4,8] [--calls 20] [--rounds 11] [--ratio 0.5] [--round-to 1|8n]
 */
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/select.js';
import { initWasmBackend } from '../src/backend/wasm.js';
import { pruneSchema } from '../src/config/schema.js';
import { quantile } from '../src/bench/stats.js';
import type { ModelArtifacts } from '../src/model/topology.js';
import { exportModel } from '../src/pipeline/export.js';
import { pruneModel } from '../src/pipeline/prune.js';
import { countModel } from '../src/report/count.js';
import { EXPORT_ARCHS, lineFit, loadAverage, loadExport, option, roundingOption, withRandomGammas } from './export-timing.js';

type Predict = (x: tf.Tensor) => Promise<void>;

/** An export's predict followed by the read-back `slim bench` times with it. */
async function loadTimed(exported: ModelArtifacts, format: string): Promise<{ predict: Predict; dispose: () => void }> {
  const model = await loadExport(exported, format);
  return {
    predict: async (x) => {
      const y = model.predict(x);
      await y.data();
      y.dispose();
    },
    dispose: model.dispose,
  };
}

const median = (v: readonly number[]): number => quantile(v, 0.5);

async function kernelsPerPredict(predict: Predict, x: tf.Tensor): Promise<number> {
  const info = await tf.profile(() => predict(x));
  // tf.profile lists each op and, inside it, the kernels it ran (`…__op` wrappers are not kernels).
  return info.kernels.filter((k) => !k.name.endsWith('__op')).length;
}

async function main(): Promise<void> {
  const archs = option('arch', 'vgg-small,quickstart').split(',');
  const formats = option('format', 'graph,layers').split(',');
  const batches = option('batches', '1,2,4,8').split(',').map(Number);
  const calls = Number(option('calls', '20'));
  const rounds = Number(option('rounds', '11'));
  const ratio = Number(option('ratio', '0.5'));
  const [{ roundTo, roundMode, label: rounding }] = roundingOption('1');
  const backend = await selectBackend('wasm', { initWasm: () => initWasmBackend({ trainingKernels: false }) });
  console.log(
    `${backend.detail}; batches ${batches.join(', ')}; ${calls} predicts × ${rounds} rounds per model and batch; ratio ${ratio}, ${rounding}\n`,
  );
  console.log(
    '| net | format | kernels per predict (unpruned, pruned) | fixed µs F₀, F₁ (F₁ per kernel), CPU / wall | per-image µs S₀, S₁, CPU / wall | ' +
      'MACs reduction M | realised ÷ M at batch 1, CPU / wall | per-image ÷ M, CPU / wall | ceiling at batch 1 with F₁, CPU / wall | load avg |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const arch of archs) {
    const spec = EXPORT_ARCHS[arch];
    const original = await withRandomGammas(spec.build(), 1);
    const pruned = pruneModel(original, pruneSchema.parse({ ratio, minChannels: 1, roundTo, roundMode })).artifacts;
    const macs = countModel(original.modelTopology).macs / countModel(pruned.modelTopology).macs;
    for (const format of formats) {
      const models = [
        await loadTimed((await exportModel(original)).artifacts, format),
        await loadTimed((await exportModel(pruned)).artifacts, format),
      ];
      const points = models.map(() => [] as { batch: number; ms: number }[]);
      const wallPoints = models.map(() => [] as { batch: number; ms: number }[]);
      const atOne: number[] = [];
      const wallAtOne: number[] = [];
      const kernels: number[] = [];
      for (const batch of batches) {
        const x = tf.randomUniform([batch, ...spec.input], 0, 1, 'float32', 1);
        for (const m of models) for (let i = 0; i < 3; i++) await m.predict(x);
        if (batch === batches[0]) for (const m of models) kernels.push(await kernelsPerPredict(m.predict, x));
        const cpu: number[][] = models.map(() => []);
        const wall: number[][] = models.map(() => []);
        for (let r = 0; r < rounds; r++) {
          for (let k = 0; k < models.length; k++) {
            const which = (k + r) % models.length;
            // CPU time of this process: on a shared host the wall clock also counts other jobs' turns.
            const start = process.cpuUsage();
            const startWall = performance.now();
            for (let i = 0; i < calls; i++) await models[which].predict(x);
            wall[which].push((performance.now() - startWall) / calls);
            const used = process.cpuUsage(start);
            cpu[which].push((used.user + used.system) / 1000 / calls);
          }
        }
        tf.dispose(x);
        console.error(
          `  ${arch} ${format} batch ${batch}: CPU ms ${cpu.map((c) => median(c).toFixed(3)).join(', ')}; wall ms ${wall.map((c) => median(c).toFixed(3)).join(', ')}`,
        );
        cpu.forEach((c, k) => points[k].push({ batch, ms: median(c) }));
        wall.forEach((c, k) => wallPoints[k].push({ batch, ms: median(c) }));
        if (batch === 1) cpu.forEach((c) => atOne.push(median(c)));
        if (batch === 1) wall.forEach((c) => wallAtOne.push(median(c)));
      }
      for (const m of models) m.dispose();
      const fit = (pts: { batch: number; ms: number }[][], one: number[]) => {
        const [f0, f1] = pts.map((p) => lineFit(p));
        // The ceiling from the fits alone (T₀(1) = F₀ + S₀), so it compares like with like.
        const t0 = f0.interceptMs + f0.slopeMs;
        return {
          f0,
          f1,
          measured: one.length === 2 ? (one[0] / one[1] / macs).toFixed(2) : '—',
          perImage: (f0.slopeMs / f1.slopeMs / macs).toFixed(2),
          ceiling: (t0 / (f1.interceptMs + f0.slopeMs / macs) / macs).toFixed(2),
        };
      };
      const c = fit(points, atOne);
      const w = fit(wallPoints, wallAtOne);
      const us = (ms: number) => (ms * 1000).toFixed(0);
      const perKernel = (ms: number, k: number) => ((ms * 1000) / k).toFixed(0);
      console.log(
        `| ${arch} | ${format} | ${kernels.join(', ')} | ${us(c.f0.interceptMs)} / ${us(w.f0.interceptMs)}, ${us(c.f1.interceptMs)} / ${us(w.f1.interceptMs)} ` +
          `(${perKernel(c.f1.interceptMs, kernels[1])} / ${perKernel(w.f1.interceptMs, kernels[1])}) | ` +
          `${us(c.f0.slopeMs)} / ${us(w.f0.slopeMs)}, ${us(c.f1.slopeMs)} / ${us(w.f1.slopeMs)} | ${macs.toFixed(2)}× | ` +
          `${c.measured} / ${w.measured} | ${c.perImage} / ${w.perImage} | ${c.ceiling} / ${w.ceiling} | ${loadAverage()} |`,
      );
    }
  }
}

await main();
