/**
 * The bench stage: the model (and its baseline) timed on each runtime and batch size, the two
 * interleaved run by run, into one BenchReport (src/config/schema.ts). A runtime that cannot run
 * here is skipped with one line, or is bad input when the user named it.
 */
import { loadavg, networkInterfaces } from 'node:os';
import qrcode from 'qrcode-terminal';
import type { BackendDeps } from '../../backend/select.js';
import { openChromiumRuntime } from '../../bench/chromium.js';
import { openNodeRuntime } from '../../bench/node.js';
import { RuntimeUnavailable, SOFTWARE_RENDERING_NOTE, type RuntimeName, type RuntimeSession } from '../../bench/runtime.js';
import { serveBench } from '../../bench/serve.js';
import { pairedSpeedup, quantile, timingStats } from '../../bench/stats.js';
import type { BenchReport, BenchRow } from '../../config/schema.js';
import { InputError } from '../../errors.js';
import type { Output } from '../../io/output.js';
import { buildGraph } from '../../model/graph.js';
import type { ModelArtifacts } from '../../model/topology.js';
import { countModel } from '../../report/count.js';

export interface BenchModel {
  path: string;
  artifacts: ModelArtifacts;
}

export interface BenchStageOptions {
  runtimes: readonly RuntimeName[];
  /** The user named the runtimes: one that cannot run is an error, not a skip. */
  explicit: boolean;
  batches: readonly number[];
  runs: number;
  warmup: number;
  seed: number;
  /** Input shape without the batch dimension, for a model whose input has free dimensions. */
  inputShape?: readonly number[];
  browser?: string;
  /** chromium:*: also read the page thread's CPU time around each predict (ChromiumOptions.pageCpuTime). */
  pageCpuTime?: boolean;
  /** Per browser step (start, load, one timing). */
  timeoutMs: number;
  /** `--serve`: the page for any browser that opens the printed URL, instead of the runtimes. */
  serve?: { host: string; port: number };
  /** Injected importers of the node:tensorflow runtime (tests). */
  nodeDeps?: Partial<BackendDeps>;
}

/** Each model input's shape without the batch dimension; free dimensions need `given`. */
export function benchInputShapes(model: BenchModel, given?: readonly number[]): number[][] {
  const graph = buildGraph(model.artifacts.modelTopology);
  return graph.inputs.map((id) => {
    const shape = graph.tensors.get(id)!.shape.slice(1);
    if (given !== undefined) {
      const fits = graph.inputs.length === 1 && given.length === shape.length && shape.every((d, i) => d === null || d === given[i]);
      if (!fits) {
        throw new InputError(
          `--input-shape ${given.join(',')}: does not fit input '${id}' of ${model.path}, shaped [${shape.map(String).join(',')}]`,
        );
      }
      return [...given];
    }
    if (shape.some((d) => d === null)) {
      throw new InputError(
        `${model.path}: input '${id}' has no fixed shape ([batch,${shape.map(String).join(',')}]); give --input-shape, e.g. --input-shape ${shape.map((d) => d ?? 224).join(',')}`,
      );
    }
    return shape as number[];
  });
}

function weightBytes(artifacts: ModelArtifacts): number {
  let bytes = 0;
  for (const w of artifacts.weights.values()) bytes += w.data.byteLength;
  return bytes;
}

function modelFacts(model: BenchModel): BenchReport['model'] {
  const count = countModel(model.artifacts.modelTopology);
  return { path: model.path, params: count.params.total, macs: count.macs, weightBytes: weightBytes(model.artifacts) };
}

export async function openRuntime(runtime: RuntimeName, models: ModelArtifacts[], options: BenchStageOptions): Promise<RuntimeSession> {
  const [engine, backend] = runtime.split(':') as ['node' | 'chromium', string];
  if (engine === 'node') return openNodeRuntime(backend as 'wasm' | 'cpu' | 'tensorflow', models, options.nodeDeps);
  return openChromiumRuntime(backend as 'wasm' | 'webgl' | 'webgpu', models, {
    browser: options.browser,
    timeoutMs: options.timeoutMs,
    pageCpuTime: options.pageCpuTime,
  });
}

export async function benchStage(
  model: BenchModel,
  baseline: BenchModel | undefined,
  options: BenchStageOptions,
  out: Output,
): Promise<BenchReport> {
  const inputShapes = benchInputShapes(model, options.inputShape);
  if (baseline !== undefined) {
    const baselineShapes = benchInputShapes(baseline, options.inputShape);
    if (JSON.stringify(baselineShapes) !== JSON.stringify(inputShapes)) {
      throw new InputError(
        `--baseline ${baseline.path}: its input shapes ${JSON.stringify(baselineShapes)} differ from the model's ${JSON.stringify(inputShapes)}`,
      );
    }
  }
  const facts = modelFacts(model);
  const baselineFacts = baseline !== undefined ? modelFacts(baseline) : null;
  const macsSpeedup = baselineFacts !== null && facts.macs > 0 ? baselineFacts.macs / facts.macs : null;
  // Baseline first: timings[0] is the baseline's, timings[1] the model's (interleaved either way).
  const models = baseline !== undefined ? [baseline.artifacts, model.artifacts] : [model.artifacts];
  const report: BenchReport = {
    model: facts,
    baseline: baselineFacts,
    macsSpeedup,
    runs: options.runs,
    warmup: options.warmup,
    seed: options.seed,
    inputShapes,
    skipped: [],
    rows: [],
  };
  if (options.serve !== undefined) {
    await serveRows(models, report, options.serve, options, out);
    return report;
  }
  const bar = out.progressBar('bench', options.runtimes.length * options.batches.length);
  let done = 0;
  try {
    for (const runtime of options.runtimes) {
      let session: RuntimeSession;
      try {
        session = await openRuntime(runtime, models, options);
      } catch (error) {
        if (!(error instanceof RuntimeUnavailable)) throw error;
        if (options.explicit)
          throw new InputError(`--runtime ${runtime}: not available here: ${error.reason}; fix: ${error.fix}`, { cause: error });
        report.skipped.push({ runtime, reason: error.reason, fix: error.fix });
        out.info(`skipped ${runtime}: ${error.reason} (${error.fix})`);
        done += options.batches.length;
        bar.update(done);
        continue;
      }
      try {
        out.info(`${runtime}: ${session.device}${session.software ? ` (${SOFTWARE_RENDERING_NOTE})` : ''}`);
        for (const batch of options.batches) {
          bar.update(done, { info: `${runtime} batch ${batch}` });
          const timing = await session.time({ batch, runs: options.runs, warmup: options.warmup, seed: options.seed, inputShapes });
          report.rows.push(benchRow(runtime, batch, session, timing, baseline !== undefined, macsSpeedup));
          bar.update(++done);
        }
      } finally {
        await session.close();
      }
    }
  } finally {
    bar.stop();
  }
  return report;
}

/** `--serve`: rows from whatever browser opens the URL, runtime `served:<backend>`. */
async function serveRows(
  models: ModelArtifacts[],
  report: BenchReport,
  serve: { host: string; port: number },
  options: BenchStageOptions,
  out: Output,
): Promise<void> {
  const requests = options.batches.map((batch) => ({
    batch,
    runs: options.runs,
    warmup: options.warmup,
    seed: options.seed,
    inputShapes: report.inputShapes,
  }));
  await serveBench(models, {
    host: serve.host,
    port: serve.port,
    timeoutMs: options.timeoutMs,
    requests,
    onListening: (url) => {
      const shown = isWildcard(serve.host) ? url.replace(`//${serve.host}:`, `//${lanAddress() ?? serve.host}:`) : url;
      out.info(
        `open in a browser on a device that can reach this machine (stops after the page reports, or after ${Math.round(options.timeoutMs / 1000)} s):`,
      );
      out.info(`  ${shown}`);
      qrcode.generate(shown, { small: true }, (qr) => out.info(qr));
    },
    onBrowser: (userAgent) => out.info(`browser connected: ${userAgent}`),
    onUnavailable: (backend, reason) => {
      report.skipped.push({ runtime: `served:${backend}`, reason, fix: 'open the URL in a browser that has it' });
      out.info(`skipped served:${backend}: ${reason}`);
    },
    onRow: (row) => {
      const built = benchRow(`served:${row.backend}`, row.batch, row, row.timing, report.baseline !== null, report.macsSpeedup);
      report.rows.push(built);
      out.info(
        `served:${row.backend} batch ${row.batch}: ${row.device}${row.software ? ` (${SOFTWARE_RENDERING_NOTE})` : ''}; model ${built.modelMs.toFixed(2)} ms`,
      );
    },
  });
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::';
}

/** This machine's first non-loopback IPv4 address: what a phone on the same network can reach. */
function lanAddress(): string | undefined {
  for (const entries of Object.values(networkInterfaces())) {
    for (const entry of entries ?? []) if (entry.family === 'IPv4' && !entry.internal) return entry.address;
  }
  return undefined;
}

/** One row of the report from one paired timing (timesMs[0] the baseline's when `paired`). */
export function benchRow(
  runtime: string,
  batch: number,
  session: { device: string; software: boolean },
  timing: { firstMs: number[]; timesMs: number[][]; peakBytes: (number | null)[]; cpuMs?: number[][] },
  paired: boolean,
  macsSpeedup: number | null,
): BenchRow {
  const modelIndex = paired ? 1 : 0;
  const cpu = timing.cpuMs;
  const stats = (i: number) => ({
    ...timingStats(timing.timesMs[i]),
    firstMs: timing.firstMs[i],
    peakBytes: timing.peakBytes[i],
    ...(cpu !== undefined ? { cpuMedianMs: quantile(cpu[i], 0.5) } : {}),
  });
  const modelStats = stats(modelIndex);
  const baselineStats = paired ? stats(0) : null;
  const ratios = paired ? timing.timesMs[0].map((b, i) => b / timing.timesMs[1][i]) : null;
  const speedup = paired ? pairedSpeedup(timing.timesMs[0], timing.timesMs[1]) : null;
  // Not finite when the model's CPU time read 0 in most runs (a predict shorter than the clock's precision).
  const cpuSpeedup = paired && cpu !== undefined ? pairedSpeedup(cpu[0], cpu[1]) : undefined;
  return {
    runtime,
    batch,
    device: session.device,
    software: session.software,
    modelMs: modelStats.medianMs,
    baselineMs: baselineStats?.medianMs ?? null,
    speedup,
    speedupP10: ratios !== null ? quantile(ratios, 0.1) : null,
    speedupP90: ratios !== null ? quantile(ratios, 0.9) : null,
    macsSpeedup,
    realisedOverMacs: speedup !== null && macsSpeedup !== null ? speedup / macsSpeedup : null,
    ...(cpuSpeedup !== undefined && Number.isFinite(cpuSpeedup) ? { cpuSpeedup } : {}),
    model: modelStats,
    baseline: baselineStats,
    loadAverage: loadavg()[0],
  };
}
