/**
 * Why a pruned export's speed-up falls short of its MACs reduction: per-kernel time (tf.profile on
 * node:wasm, stock kernels) ÷ per-kernel MACs (from each kernel's own input shapes), unpruned vs
 * pruned, grouped by kind (full conv, 1×1 conv, depthwise, matmul, and the kernels with no MACs:
 * elementwise, pooling, padding, reshapes). Also the end-to-end paired speed-up of the pruned exports
 * at `prune.roundTo` 1 and each --round-to (kept widths rounded up to multiples that fill XNNPACK's
 * SIMD tiles; `8n`: to the nearest multiple, `prune.roundMode: "nearest"`), each ÷ its own MACs reduction. Models of a table are timed interleaved; CPU time of
 * this process beside wall time (the host is shared); load average beside every table.
 *
 *   node dist/bench/export-layers.js [--arch mobilenetv2,vgg-small] [--format graph,layers] [--batch 1]
 *        [--runs 5] [--round-to 8,16,8n] [--ratio 0.5]
 */
import * as os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/select.js';
import { initWasmBackend } from '../src/backend/wasm.js';
import { pruneSchema } from '../src/config/schema.js';
import { pairedSpeedup } from '../src/bench/stats.js';
import type { ModelArtifacts } from '../src/model/topology.js';
import { exportModel } from '../src/pipeline/export.js';
import { pruneModel } from '../src/pipeline/prune.js';
import { countModel } from '../src/report/count.js';
import { EXPORT_ARCHS, loadExport, option, roundingOption, withRandomGammas } from './export-timing.js';

const load = (): string => os.loadavg()[0].toFixed(1);

/** A kernel's kind and MACs from its input shapes (tfjs's kernel names, NHWC, HWIO filters). */
function kindOf(name: string, inputs: number[][], output: number[]): { kind: string; macs: number } {
  const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
  if (/conv2d/i.test(name) && /depthwise/i.test(name)) {
    const [kh, kw] = inputs[1]; // each output channel reads one input channel
    return { kind: 'depthwise', macs: size(output) * kh * kw };
  }
  if (/conv2d/i.test(name)) {
    const [kh, kw, ci] = inputs[1];
    return { kind: kh * kw === 1 ? 'conv 1×1' : `conv ${kh}×${kw}`, macs: size(output) * kh * kw * ci };
  }
  if (/matmul/i.test(name)) {
    const a = inputs[0];
    return { kind: 'matmul', macs: size(output) * a[a.length - 1] };
  }
  if (/pool|mean/i.test(name)) return { kind: 'pooling', macs: 0 };
  if (/pad/i.test(name)) return { kind: 'padding', macs: 0 };
  if (/reshape|identity|slice|concat|cast/i.test(name)) return { kind: 'reshape/copy', macs: 0 };
  return { kind: 'elementwise', macs: 0 };
}

interface KernelRow {
  kind: string;
  macs: number;
  ms: number;
}

type Live = Awaited<ReturnType<typeof loadExport>>;

async function profileOnce(model: Live, x: tf.Tensor): Promise<KernelRow[]> {
  const info = await tf.profile(() => model.predict(x));
  tf.dispose(info.result);
  return info.kernels
    .filter((k) => !k.name.endsWith('__op'))
    .map((k) => {
      const { kind, macs } = kindOf(k.name, k.inputShapes, k.outputShapes[0]);
      return { kind, macs, ms: k.kernelTimeMs as number };
    });
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function main(): Promise<void> {
  const archs = option('arch', 'mobilenetv2,vgg-small').split(',');
  const formats = option('format', 'graph,layers').split(',');
  const batch = Number(option('batch', '1'));
  const runs = Number(option('runs', '5'));
  const ratio = Number(option('ratio', '0.5'));
  const roundings = [{ roundTo: 1, roundMode: 'up' as const, label: 'roundTo 1' }, ...roundingOption('8,16')];
  const backend = await selectBackend('wasm', { initWasm: () => initWasmBackend({ trainingKernels: false }) });
  console.log(`backend ${backend.detail}; batch ${batch}; runs ${runs}; ratio ${ratio}; load ${load()}\n`);

  for (const arch of archs) {
    const spec = EXPORT_ARCHS[arch];
    const original = await withRandomGammas(spec.build(), 1);
    const variants: { name: string; artifacts: ModelArtifacts; macs: number }[] = [
      { name: 'unpruned', artifacts: (await exportModel(original)).artifacts, macs: countModel(original.modelTopology).macs },
    ];
    for (const { roundTo, roundMode, label } of roundings) {
      const pruned = pruneModel(original, pruneSchema.parse({ ratio, minChannels: 1, roundTo, roundMode })).artifacts;
      variants.push({
        name: `pruned ${label}`,
        artifacts: (await exportModel(pruned)).artifacts,
        macs: countModel(pruned.modelTopology).macs,
      });
    }
    const x = tf.randomUniform([batch, ...spec.input], 0, 1, 'float32', 1);
    for (const format of formats) {
      const live = await Promise.all(variants.map((v) => loadExport(v.artifacts, format)));
      for (const m of live) tf.dispose(m.predict(x)); // warm-up: XNNPACK operators built, weights uploaded
      const wall: number[][] = live.map(() => []);
      const cpu: number[][] = live.map(() => []);
      const profiles: KernelRow[][][] = live.map(() => []);
      for (let run = 0; run < runs; run++) {
        for (let k = 0; k < live.length; k++) {
          const which = (k + run) % live.length;
          const start = performance.now();
          const startCpu = process.cpuUsage();
          const y = live[which].predict(x);
          y.dataSync();
          const used = process.cpuUsage(startCpu);
          wall[which].push(performance.now() - start);
          cpu[which].push((used.user + used.system) / 1000);
          y.dispose();
          profiles[which].push(await profileOnce(live[which], x));
        }
      }
      console.log(`### ${arch} ${spec.input.join('×')}, ${format} export, batch ${batch}, node:wasm (load ${load()})\n`);
      console.log('| model | MACs | median ms wall (CPU) | speed-up paired, wall (CPU) | MACs reduction | realised ÷ MACs, wall (CPU) |');
      console.log('|---|---|---|---|---|---|');
      variants.forEach((v, k) => {
        const s = pairedSpeedup(wall[0], wall[k]);
        const sc = pairedSpeedup(cpu[0], cpu[k]);
        const r = variants[0].macs / v.macs;
        console.log(
          `| ${v.name} | ${(v.macs / 1e6).toFixed(1)}M | ${median(wall[k]).toFixed(2)} (${median(cpu[k]).toFixed(2)}) | ` +
            `${s.toFixed(2)}× (${sc.toFixed(2)}×) | ${r.toFixed(2)}× | ${(s / r).toFixed(2)} (${(sc / r).toFixed(2)}) |`,
        );
      });
      // Per kind: kernel time summed over the predict (median over runs, per kernel position).
      const byKind = (k: number) => {
        const n = profiles[k][0].length;
        const rows = new Map<string, { ms: number; macs: number; count: number }>();
        for (let i = 0; i < n; i++) {
          const r = profiles[k][0][i];
          const ms = median(profiles[k].map((p) => p[i].ms));
          const e = rows.get(r.kind) ?? { ms: 0, macs: 0, count: 0 };
          rows.set(r.kind, { ms: e.ms + ms, macs: e.macs + r.macs, count: e.count + 1 });
        }
        return rows;
      };
      const kinds = variants.map((_, k) => byKind(k));
      const total = (k: number) => [...kinds[k].values()].reduce((s, r) => s + r.ms, 0);
      console.log(
        `\nPer kernel kind (tf.profile kernel ms, summed; median of ${runs} profiles; kernels' own MACs). ` +
          `Kernel total ${variants.map((v, k) => `${v.name} ${total(k).toFixed(2)} ms`).join(', ')}\n`,
      );
      console.log(
        `| kind | kernels | unpruned ms (share) | ${variants
          .slice(1)
          .map((v) => `${v.name}: ms (share) · time ÷ · MACs ÷ · efficiency`)
          .join(' | ')} |`,
      );
      console.log(
        `|---|---|---|${variants
          .slice(1)
          .map(() => '---|')
          .join('')}`,
      );
      for (const [kind, u] of [...kinds[0]].sort((a, b) => b[1].ms - a[1].ms)) {
        const cells = variants.slice(1).map((_, j) => {
          const p = kinds[j + 1].get(kind);
          if (p === undefined) return '—';
          const t = u.ms / p.ms;
          const m = u.macs > 0 ? u.macs / p.macs : NaN;
          return `${p.ms.toFixed(2)} (${((100 * p.ms) / total(j + 1)).toFixed(0)} %) · ${t.toFixed(2)}× · ${Number.isNaN(m) ? '—' : `${m.toFixed(2)}×`} · ${Number.isNaN(m) ? '—' : (t / m).toFixed(2)}`;
        });
        console.log(`| ${kind} | ${u.count} | ${u.ms.toFixed(2)} (${((100 * u.ms) / total(0)).toFixed(0)} %) | ${cells.join(' | ')} |`);
      }
      console.log('');
      for (const m of live) m.dispose();
    }
    tf.dispose(x);
  }
}

await main();
