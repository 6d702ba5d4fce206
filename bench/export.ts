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
 *   node dist/bench/export.js [--arch quickstart,vgg-small,mobilenetv2] [--batch 1,32] [--runs 10] [--ratio 0.5]
 *                             [--runtime node:wasm,chromium:wasm] [--warmup 1] [--exported-only]
 */
import * as os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/select.js';
import { initWasmBackend } from '../src/backend/wasm.js';
import { pruneSchema } from '../src/config/schema.js';
import type { ServedModel } from '../src/bench/server.js';
import { pairedSpeedup, timingStats } from '../src/bench/stats.js';
import { buildVgg } from '../src/model/architectures.js';
import { fromLayersModel } from '../src/model/convert.js';
import type { ModelArtifacts } from '../src/model/topology.js';
import { bytes, exportModel } from '../src/pipeline/export.js';
import { pruneModel } from '../src/pipeline/prune.js';
import { countModel } from '../src/report/count.js';
import { findBnGammas } from '../src/train/sparsity.js';
import { benchMobileNetV2, benchVgg } from '../test/fixtures/zoo/index.js';
import { EXPORT_RUNTIMES, graphFiles, loadAverage, openSession, timeBatch, type ExportRuntime } from './export-timing.js';

function option(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 && process.argv[at + 1] !== undefined ? process.argv[at + 1] : fallback;
}

const ARCHS: Record<string, { build: () => tf.LayersModel; input: number[] }> = {
  quickstart: {
    build: () => buildVgg({ cfg: [16, 'M', 32, 'M', 64], inputShape: [28, 28, 1], numClasses: 10, head: 'flatten', seed: 42 }),
    input: [28, 28, 1],
  },
  'vgg-small': { build: () => benchVgg([32, 32, 'M', 64, 64, 'M', 128, 128, 'M'], [32, 32, 3], 1), input: [32, 32, 3] },
  mobilenetv2: { build: () => benchMobileNetV2([224, 224, 3], 1), input: [224, 224, 3] },
};

const load = loadAverage;

async function withRandomGammas(model: tf.LayersModel, seed: number): Promise<ModelArtifacts> {
  findBnGammas(model).forEach(({ variable }, i) => {
    const size = variable.shape.reduce((a, b) => (a ?? 1) * (b ?? 1), 1) ?? 1;
    variable.write(tf.tidy(() => tf.randomUniform([size], 0, 1, 'float32', seed * 100 + i)));
  });
  const artifacts = await fromLayersModel(model);
  model.dispose();
  return artifacts;
}

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

  for (const arch of archs) {
    const spec = ARCHS[arch];
    const original = await withRandomGammas(spec.build(), 1);
    const pruned = pruneModel(original, pruneSchema.parse({ ratio, minChannels: 1 })).artifacts;
    const macs = { unpruned: countModel(original.modelTopology).macs, pruned: countModel(pruned.modelTopology).macs };
    console.log(
      `## ${arch} (${spec.input.join('×')}): MACs ${(macs.unpruned / 1e6).toFixed(1)}M unpruned, ${(macs.pruned / 1e6).toFixed(1)}M pruned (${(macs.unpruned / macs.pruned).toFixed(2)}×)\n`,
    );
    console.log('| model | option | weights raw | weights gzip | load avg |');
    console.log('|---|---|---|---|---|');
    const exports: Record<string, ModelArtifacts> = {};
    for (const [label, artifacts] of [
      ['unpruned', original],
      ['pruned', pruned],
    ] as const) {
      const float = await exportModel(artifacts);
      exports[label] = float.artifacts;
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
    // export and its graph export, unpruned and pruned.
    // --exported-only leaves the inputs out (MobileNetV2 at batch 32: minutes a round).
    const timed: { name: string; model: ServedModel }[] = [
      { name: 'input/unpruned', model: original },
      { name: 'layers/unpruned', model: exports.unpruned },
      { name: 'graph/unpruned', model: graphFiles(exports.unpruned) },
      { name: 'input/pruned', model: pruned },
      { name: 'layers/pruned', model: exports.pruned },
      { name: 'graph/pruned', model: graphFiles(exports.pruned) },
    ].filter((t) => !(exportedOnly && t.name.startsWith('input/')));
    const formats = exportedOnly ? ['layers', 'graph'] : ['input', 'layers', 'graph'];
    const at = (name: string) => timed.findIndex((t) => t.name === name);
    const macsReduction = macs.unpruned / macs.pruned;
    for (const runtime of runtimes) {
      const session = await openSession(
        runtime,
        timed.map((t) => t.model),
      );
      try {
        console.log(`\n${runtime}: ${session.device}\n`);
        console.log('| batch | format | unpruned ms | pruned ms | speed-up (paired) | ÷ MACs reduction | load avg |');
        console.log('|---|---|---|---|---|---|---|');
        const versus: string[] = [];
        for (const batch of batches) {
          const { timesMs } = await timeBatch(session, spec.input, batch, runs, warmup);
          const times = (name: string) => timesMs[at(name)];
          for (const format of formats) {
            const u = timingStats(times(`${format}/unpruned`)).medianMs;
            const p = timingStats(times(`${format}/pruned`)).medianMs;
            const speedup = pairedSpeedup(times(`${format}/unpruned`), times(`${format}/pruned`));
            console.log(
              `| ${batch} | ${format} | ${u.toFixed(2)} | ${p.toFixed(2)} | ${speedup.toFixed(2)}× | ${(speedup / macsReduction).toFixed(2)} | ${loadAverage()} |`,
            );
          }
          for (const which of exportedOnly ? [] : ['unpruned', 'pruned']) {
            const ratio = (a: string, b: string) => pairedSpeedup(times(`${a}/${which}`), times(`${b}/${which}`)).toFixed(2);
            versus.push(
              `| ${batch} | ${which} | ${ratio('input', 'layers')}× | ${ratio('input', 'graph')}× | ${ratio('layers', 'graph')}× | ${loadAverage()} |`,
            );
          }
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
