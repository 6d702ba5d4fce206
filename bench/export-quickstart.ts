/**
 * The issue's goal figures on the real quickstart slim model (what `slim run --config
 * configs/quickstart.json` writes: sparse/ is the sparsity-trained original, 55,002 params;
 * finetuned/ the slim model, 16,982 params):
 *   1. download: model.json + weights, each gzip-compressed as a server would, for the original's
 *      float32 export and the slim model's exports (float32, uint8; layers and graph), written the
 *      way `slim export` writes them;
 *   2. the fixed per-predict cost at batch 1: the intercept of median ms vs batch (a least-squares
 *      line through --batches), for "today's" export (float32 layers, no activation fusion: the
 *      export before this work), the fused layers export and the graph export of the slim model
 *      (both with the Dense head kept), and both again with the head run as a conv (the default),
 *      timed interleaved in one session per runtime, plus the kernels one predict launches.
 * Test accuracy float vs uint8 is `slim export --quantize uint8 --config configs/quickstart.json`.
 *
 *   node dist/bench/export-quickstart.js --run runs/quickstart [--batches 1,2,4,8,16] [--runs 20] [--runtime node:wasm,chromium:wasm] [--page-cpu-time]
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/select.js';
import { initWasmBackend } from '../src/backend/wasm.js';
import { readModelFiles, type ServedModel } from '../src/bench/server.js';
import { pairedSpeedup, timingStats } from '../src/bench/stats.js';
import { toLayersModel } from '../src/model/convert.js';
import { readModel, writeModel, writeModelFolder } from '../src/model/io.js';
import type { ModelArtifacts } from '../src/model/topology.js';
import { bytes, exportModel } from '../src/pipeline/export.js';
import {
  EXPORT_RUNTIMES,
  graphFiles,
  loadGraphFiles,
  lineFit,
  loadAverage,
  openSession,
  timeBatch,
  type ExportRuntime,
} from './export-timing.js';

function option(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 && process.argv[at + 1] !== undefined ? process.argv[at + 1] : fallback;
}

/** Bytes a browser downloads for a model folder: each file raw and gzip-compressed. */
async function downloadBytes(dir: string): Promise<{ raw: number; gzip: number; jsonGzip: number }> {
  const files = await readModelFiles(dir);
  const json = await readFile(path.join(dir, 'model.json'));
  let raw = json.byteLength;
  let gzip = gzipSync(json).byteLength;
  for (const data of Object.values(files.weightFiles)) {
    raw += data.byteLength;
    gzip += gzipSync(data).byteLength;
  }
  return { raw, gzip, jsonGzip: gzipSync(json).byteLength };
}

async function kernelsPerPredict(model: ServedModel, input: number[]): Promise<number> {
  const live = 'modelJson' in model ? await loadGraphFiles(model) : await toLayersModel(model);
  const x = tf.zeros([1, ...input]);
  const info = await tf.profile(() => live.predict(x));
  tf.dispose([info.result, x]);
  live.dispose();
  return info.kernels.length;
}

async function main(): Promise<void> {
  const run = option('run', 'runs/quickstart');
  const batches = option('batches', '1,2,4,8,16').split(',').map(Number);
  const runs = Number(option('runs', '20'));
  const runtimes = option('runtime', EXPORT_RUNTIMES.join(',')).split(',') as ExportRuntime[];
  // As `slim bench` times predicts: stock wasm kernels, none of slim's training replacements.
  const backend = await selectBackend('wasm', { initWasm: () => initWasmBackend({ trainingKernels: false }) });
  console.log(`backend ${backend.detail}; run ${run}; runs ${runs}; load avg ${loadAverage()}\n`);

  const original = await readModel(path.join(run, 'sparse'));
  const slim = await readModel(path.join(run, 'finetuned'));
  const work = await mkdtemp(path.join(tmpdir(), 'slim-export-quickstart-'));
  try {
    // 1. Download bytes, written as `slim export` writes them.
    const written: [string, ModelArtifacts, Parameters<typeof exportModel>[1], 'layers' | 'graph'][] = [
      ['original (55,002 params), float32 layers', original, {}, 'layers'],
      ['slim (16,982 params), float32 layers', slim, {}, 'layers'],
      ['slim, uint8 layers', slim, { quantize: [{ dtype: 'uint8', pattern: '*' }] }, 'layers'],
      ['slim, float32 graph', slim, {}, 'graph'],
      ['slim, uint8 graph', slim, { quantize: [{ dtype: 'uint8', pattern: '*' }] }, 'graph'],
    ];
    console.log('| export | model.json + weights raw | gzip | of which model.json gzip | ÷ original gzip | load avg |');
    console.log('|---|---|---|---|---|---|');
    let originalGzip = 0;
    for (const [i, [label, artifacts, options, format]] of written.entries()) {
      const outcome = await exportModel(artifacts, options);
      const dir = path.join(work, String(i));
      if (format === 'layers') await writeModel(dir, outcome.artifacts, { quantization: outcome.quantized?.quantization });
      else {
        const g = graphFiles(outcome.artifacts, outcome.quantized?.quantization);
        await writeModelFolder(dir, g.modelJson, g.weightFiles['weights.bin']);
      }
      const b = await downloadBytes(dir);
      if (i === 0) originalGzip = b.gzip;
      console.log(
        `| ${label} | ${bytes(b.raw)} | ${bytes(b.gzip)} | ${bytes(b.jsonGzip)} | 1/${(originalGzip / b.gzip).toFixed(1)} | ${loadAverage()} |`,
      );
    }

    // 2. Fixed per-predict cost.
    const today = (await exportModel(slim, { fuse: false, denseAsConv: false })).artifacts;
    const fused = (await exportModel(slim, { denseAsConv: false })).artifacts;
    // The default export: the Flatten → Dense head also run as a conv (src/export/dense-as-conv.ts).
    const asConv = (await exportModel(slim)).artifacts;
    const models: { name: string; model: ServedModel }[] = [
      { name: 'slim model as trained (BN unfolded)', model: slim },
      { name: "today's export (float32 layers, no fusion)", model: today },
      { name: 'fused layers export', model: fused },
      { name: 'graph export', model: graphFiles(fused) },
      { name: 'dense-as-conv layers export', model: asConv },
      { name: 'dense-as-conv graph export', model: graphFiles(asConv) },
    ];
    const input = (
      slim.modelTopology as unknown as { config: { layers: { config: { batch_input_shape?: number[] } }[] } }
    ).config.layers[0].config.batch_input_shape!.slice(1);
    console.log('\n| model | kernels per predict (batch 1, node:wasm) |');
    console.log('|---|---|');
    for (const m of models) console.log(`| ${m.name} | ${await kernelsPerPredict(m.model, input)} |`);
    for (const runtime of runtimes) {
      const session = await openSession(
        runtime,
        models.map((m) => m.model),
      );
      try {
        console.log(`\n${runtime}: ${session.device}\n`);
        const medians = models.map(() => [] as { batch: number; ms: number }[]);
        // p10: the runs least disturbed by other work on a shared host; its line is the steadier one.
        const lows = models.map(() => [] as { batch: number; ms: number }[]);
        // The same runs' CPU time (node:wasm: this process; chromium:wasm: the page's main thread), the clock a busy shared host disturbs least.
        const cpus = models.map(() => [] as { batch: number; ms: number }[]);
        const loads: string[] = [];
        let batchOne: number[][] = [];
        for (const batch of batches) {
          const { timesMs, cpuMs } = await timeBatch(session, input, batch, runs);
          cpuMs?.forEach((t, k) => cpus[k].push({ batch, ms: timingStats(t).medianMs }));
          timesMs.forEach((t, k) => {
            medians[k].push({ batch, ms: timingStats(t).medianMs });
            lows[k].push({ batch, ms: timingStats(t).p10Ms });
          });
          if (batch === 1) batchOne = timesMs;
          loads.push(loadAverage());
        }
        const cpuOn = cpus[0].length > 0;
        console.log(
          `| model | ${batches.map((b) => `batch ${b} median (p10) ms`).join(' | ')} | fixed cost: intercept of medians (of p10) ms | per image ms |${cpuOn ? ' fixed cost, CPU time: intercept of medians ms |' : ''} load avg |`,
        );
        console.log(`|---|${batches.map(() => '---|').join('')}---|---|${cpuOn ? '---|' : ''}---|`);
        models.forEach((m, k) => {
          const fit = lineFit(medians[k]);
          const low = lineFit(lows[k]);
          const cells = medians[k].map((p, j) => `${p.ms.toFixed(3)} (${lows[k][j].ms.toFixed(3)})`);
          console.log(
            `| ${m.name} | ${cells.join(' | ')} | ${fit.interceptMs.toFixed(3)} (${low.interceptMs.toFixed(3)}) | ${fit.slopeMs.toFixed(3)} (${low.slopeMs.toFixed(3)}) |${cpuOn ? ` ${lineFit(cpus[k]).interceptMs.toFixed(3)} |` : ''} ${loads.join(', ')} |`,
          );
        });
        if (batchOne.length > 0) {
          console.log(
            `\nbatch 1, paired speed-up over today's export: fused layers ${pairedSpeedup(batchOne[1], batchOne[2]).toFixed(2)}×, ` +
              `graph ${pairedSpeedup(batchOne[1], batchOne[3]).toFixed(2)}×, dense-as-conv layers ${pairedSpeedup(batchOne[1], batchOne[4]).toFixed(2)}×, ` +
              `dense-as-conv graph ${pairedSpeedup(batchOne[1], batchOne[5]).toFixed(2)}×; over the model as trained: today's ${pairedSpeedup(batchOne[0], batchOne[1]).toFixed(2)}× (load avg ${loadAverage()})`,
          );
        }
      } finally {
        await session.close();
      }
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

await main();
