/**
 * What `slim export` gives a deployed model: download bytes per option and predict speed per format.
 * For the quickstart net (configs/quickstart.json), vgg-small and the zoo's MobileNetV2-style net at
 * 224×224, each unpruned and pruned (seeded random |γ|, global ratio --ratio), both exported:
 *   - weight bytes raw and gzip for float32, uint8, uint16, float16 (and the graph form's float32);
 *   - median predict ms on node:wasm and chromium:wasm (`slim bench`'s runtimes) at each --batch for
 *     the model each export came from (BN unfolded), its layers export and its graph export, the
 *     six models interleaved run by run (load drift hits all alike), the load average beside each
 *     row; realised speed-up (paired: median of unpruned_i / pruned_i) ÷ MACs reduction per format,
 *     and each export against the model it came from.
 *
 * --round-to 1,8,8n prunes once per `prune.roundTo` (kept widths rounded up to a multiple; a trailing
 * n: to the nearest multiple, `prune.roundMode: "nearest"`), all timed in the same session; each
 * pruned model's speed-up is divided by its own MACs reduction.
 * --format layers,graph limits the exports timed (MobileNetV2 at batch 32: the graph form only);
 * layers-dense and graph-dense add the exports made with `denseAsConv: false` (a Flatten → Dense head
 * kept as Dense layers), and a table of each format with its Dense head run as conv vs kept.
 *
 *   node dist/bench/export.js [--arch quickstart,vgg-small,mobilenetv2] [--batch 1,32] [--runs 10] [--ratio 0.5]
 *                             [--runtime node:wasm,chromium:wasm] [--warmup 1] [--exported-only] [--page-cpu-time]
 *                             [--round-to 1] [--format layers,graph] [--no-bytes]
 */
import * as os from 'node:os';
import { selectBackend } from '../src/backend/select.js';
import { initWasmBackend } from '../src/backend/wasm.js';
import { pruneSchema } from '../src/config/schema.js';
import type { ServedModel } from '../src/bench/server.js';
import { pairedSpeedup, timingStats } from '../src/bench/stats.js';
import type { ModelArtifacts } from '../src/model/topology.js';
import { bytes, exportModel } from '../src/pipeline/export.js';
import { pruneModel } from '../src/pipeline/prune.js';
import { countModel } from '../src/report/count.js';
import {
  EXPORT_ARCHS,
  EXPORT_RUNTIMES,
  type ExportRuntime,
  graphFiles,
  loadAverage,
  openSession,
  option,
  roundingOption,
  timeBatch,
  withRandomGammas,
} from './export-timing.js';

const load = loadAverage;

async function main(): Promise<void> {
  const archs = option('arch', 'quickstart,vgg-small,mobilenetv2').split(',');
  const batches = option('batch', '1,32').split(',').map(Number);
  const runs = Number(option('runs', '10'));
  const ratio = Number(option('ratio', '0.5'));
  const warmup = Number(option('warmup', '1'));
  const exportedOnly = process.argv.includes('--exported-only');
  const runtimes = option('runtime', EXPORT_RUNTIMES.join(',')).split(',') as ExportRuntime[];
  // As `slim bench` times predicts: stock wasm kernels, none of slim's training replacements.
  const backend = await selectBackend('wasm', { initWasm: () => initWasmBackend({ trainingKernels: false }) });
  console.log(`backend ${backend.detail}; ${os.cpus().length} cores; ratio ${ratio}; runs ${runs}\n`);

  const roundings = roundingOption('1');
  const exportFormats = option('format', 'layers,graph').split(',');
  const withBytes = !process.argv.includes('--no-bytes');
  for (const arch of archs) {
    const spec = EXPORT_ARCHS[arch];
    const original = await withRandomGammas(spec.build(), 1);
    const variants: { label: string; artifacts: ModelArtifacts; macs: number }[] = [
      { label: 'unpruned', artifacts: original, macs: countModel(original.modelTopology).macs },
      ...roundings.map(({ roundTo, roundMode, label }) => {
        const artifacts = pruneModel(original, pruneSchema.parse({ ratio, minChannels: 1, roundTo, roundMode })).artifacts;
        return { label: roundTo === 1 ? 'pruned' : `pruned ${label}`, artifacts, macs: countModel(artifacts.modelTopology).macs };
      }),
    ];
    const macsOf = variants.map((v) => `${(v.macs / 1e6).toFixed(1)}M ${v.label}`).join(', ');
    console.log(`## ${arch} (${spec.input.join('×')}): MACs ${macsOf}\n`);
    if (withBytes) {
      console.log('| model | option | weights raw | weights gzip | load avg |');
      console.log('|---|---|---|---|---|');
    }
    const exports: Record<string, ModelArtifacts> = {};
    const denseExports: Record<string, ModelArtifacts> = {};
    for (const { label, artifacts } of variants) {
      const float = await exportModel(artifacts);
      exports[label] = float.artifacts;
      if (exportFormats.some((f) => f.endsWith('-dense'))) {
        denseExports[label] = (await exportModel(artifacts, { denseAsConv: false })).artifacts;
      }
      if (!withBytes) continue;
      console.log(
        `| ${label} | input (BN unfolded), float32 | ${bytes(float.weightBytes.before.raw)} | ${bytes(float.weightBytes.before.gzip)} | ${load()} |`,
      );
      console.log(
        `| ${label} | export float32 | ${bytes(float.weightBytes.after.raw)} | ${bytes(float.weightBytes.after.gzip)} | ${load()} |`,
      );
      for (const dtype of ['uint16', 'float16', 'uint8'] as const) {
        const q = await exportModel(artifacts, { quantize: [{ dtype, pattern: '*' }] });
        console.log(
          `| ${label} | export ${dtype} | ${bytes(q.weightBytes.after.raw)} | ${bytes(q.weightBytes.after.gzip)} | ${load()} | ` +
            `(output drift ${(q.quantized!.check.maxAbsDiff / Math.max(1, q.quantized!.check.maxAbsOutput)).toExponential(1)} rel.)`,
        );
      }
    }

    // Timed together in one session per runtime: each model it came from (BN unfolded), its layers
    // export and its graph export, unpruned and pruned (per roundTo).
    // --exported-only leaves the inputs out (MobileNetV2 at batch 32: minutes a round).
    const formats = [...(exportedOnly ? [] : ['input']), ...exportFormats];
    const timed: { name: string; model: ServedModel }[] = variants.flatMap(({ label }) =>
      formats.map((format) => ({
        name: `${format}/${label}`,
        model:
          format === 'input'
            ? variants.find((v) => v.label === label)!.artifacts
            : format === 'layers'
              ? exports[label]
              : format === 'layers-dense'
                ? denseExports[label]
                : format === 'graph-dense'
                  ? graphFiles(denseExports[label])
                  : graphFiles(exports[label]),
      })),
    );
    const at = (name: string) => timed.findIndex((t) => t.name === name);
    for (const runtime of runtimes) {
      const session = await openSession(
        runtime,
        timed.map((t) => t.model),
      );
      try {
        console.log(`\n${runtime}: ${session.device}\n`);
        // Each run's CPU time too (node:wasm: this process; chromium:wasm: the page's main thread):
        // on a host busier than its cores it is the fairer clock.
        console.log(
          '| batch | format | model | unpruned ms | pruned ms | speed-up (paired) | MACs reduction | ÷ MACs reduction |' +
            ' speed-up, CPU time (paired) | ÷ MACs reduction, CPU | load avg |',
        );
        console.log('|---|---|---|---|---|---|---|---|---|---|---|');
        const versus: string[] = [];
        const asConv: string[] = [];
        for (const batch of batches) {
          const { timesMs, cpuMs } = await timeBatch(session, spec.input, batch, runs, warmup);
          const times = (name: string) => timesMs[at(name)];
          const cpuCells = (a: string, b: string, macsReduction: number) => {
            if (cpuMs === undefined) return ' — | — |';
            const s = pairedSpeedup(cpuMs[at(a)], cpuMs[at(b)]);
            return ` ${s.toFixed(2)}× | ${(s / macsReduction).toFixed(2)} |`;
          };
          for (const format of formats) {
            for (const v of variants.slice(1)) {
              const u = timingStats(times(`${format}/unpruned`)).medianMs;
              const p = timingStats(times(`${format}/${v.label}`)).medianMs;
              const speedup = pairedSpeedup(times(`${format}/unpruned`), times(`${format}/${v.label}`));
              const macsReduction = variants[0].macs / v.macs;
              console.log(
                `| ${batch} | ${format} | ${v.label} | ${u.toFixed(2)} | ${p.toFixed(2)} | ${speedup.toFixed(2)}× | ${macsReduction.toFixed(2)}× | ${(speedup / macsReduction).toFixed(2)} |` +
                  `${cpuCells(`${format}/unpruned`, `${format}/${v.label}`, macsReduction)} ${loadAverage()} |`,
              );
            }
          }
          for (const { label } of variants) {
            const ratio = (a: string, b: string) => {
              const [i, j] = [at(`${a}/${label}`), at(`${b}/${label}`)];
              if (i < 0 || j < 0) return '—';
              const wall = `${pairedSpeedup(timesMs[i], timesMs[j]).toFixed(2)}×`;
              return cpuMs === undefined ? wall : `${wall} (CPU ${pairedSpeedup(cpuMs[i], cpuMs[j]).toFixed(2)}×)`;
            };
            if (at(`layers-dense/${label}`) >= 0 || at(`graph-dense/${label}`) >= 0) {
              asConv.push(
                `| ${batch} | ${label} | ${ratio('layers-dense', 'layers')} | ${ratio('graph-dense', 'graph')} | ${loadAverage()} |`,
              );
            }
          }
          for (const { label } of exportedOnly ? [] : variants) {
            const ratio = (a: string, b: string) => {
              const [i, j] = [at(`${a}/${label}`), at(`${b}/${label}`)];
              if (i < 0 || j < 0) return '—';
              const wall = `${pairedSpeedup(timesMs[i], timesMs[j]).toFixed(2)}×`;
              return cpuMs === undefined ? wall : `${wall} (CPU ${pairedSpeedup(cpuMs[i], cpuMs[j]).toFixed(2)}×)`;
            };
            versus.push(
              `| ${batch} | ${label} | ${ratio('input', 'layers')} | ${ratio('input', 'graph')} | ${ratio('layers', 'graph')} | ${loadAverage()} |`,
            );
          }
        }
        if (asConv.length > 0) {
          console.log(`\nDense head run as conv vs kept as Dense, ${runtime} (paired speed-up; above 1: as conv is faster)\n`);
          console.log('| batch | model | layers | graph | load avg |');
          console.log('|---|---|---|---|---|');
          for (const line of asConv) console.log(line);
        }
        if (exportedOnly) continue;
        console.log(`\nExported vs the model it came from, ${runtime} (paired speed-up; above 1: the export is faster)\n`);
        console.log('| batch | model | layers export vs input | graph export vs input | graph vs layers | load avg |');
        console.log('|---|---|---|---|---|---|');
        for (const line of versus) console.log(line);
      } finally {
        await session.close();
      }
    }
    console.log('');
  }
}

await main();
