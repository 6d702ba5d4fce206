/**
 * Timing of exported models for the export benches, through `slim bench`'s own runtimes
 * (src/bench: node:wasm in this process, chromium:wasm in an installed Chromium): every model of
 * a comparison is timed in one session, interleaved run by run, so paired ratios cancel load drift.
 */
import * as os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { openChromiumRuntime } from '../src/bench/chromium.js';
import { openNodeRuntime } from '../src/bench/node.js';
import type { RuntimeSession, SessionTiming } from '../src/bench/runtime.js';
import type { ModelFiles, ServedModel } from '../src/bench/server.js';
import { graphModelJson, graphQuantization, toGraphModel } from '../src/export/graph-model.js';
import type { WeightQuantization } from '../src/model/io-manifest.js';
import { fromLayersModel, toLayersModel } from '../src/model/convert.js';
import { buildVgg } from '../src/model/architectures.js';
import type { ModelArtifacts } from '../src/model/topology.js';
import { findBnGammas } from '../src/train/sparsity.js';
import { benchMobileNetV2, benchVgg } from '../test/fixtures/zoo/index.js';

export const EXPORT_RUNTIMES = ['node:wasm', 'chromium:wasm'] as const;
export type ExportRuntime = (typeof EXPORT_RUNTIMES)[number];

export const loadAverage = (): string => os.loadavg()[0].toFixed(1);

/** The graph-model form of an exported model, as the files `slim export --format graph` writes. */
export function graphFiles(exported: ModelArtifacts, quantization?: ReadonlyMap<string, WeightQuantization>): ModelFiles {
  const parts = toGraphModel(exported);
  const g = graphModelJson(parts, graphQuantization(parts, exported.weights, quantization), 'weights.bin');
  return { modelJson: g.modelJson, weightFiles: { 'weights.bin': g.data } };
}

/** The nets the export benches build (random weights, seeded): what `--arch` names. */
export const EXPORT_ARCHS: Record<string, { build: () => tf.LayersModel; input: number[] }> = {
  quickstart: {
    build: () => buildVgg({ cfg: [16, 'M', 32, 'M', 64], inputShape: [28, 28, 1], numClasses: 10, head: 'flatten', seed: 42 }),
    input: [28, 28, 1],
  },
  'vgg-small': { build: () => benchVgg([32, 32, 'M', 64, 64, 'M', 128, 128, 'M'], [32, 32, 3], 1), input: [32, 32, 3] },
  mobilenetv2: { build: () => benchMobileNetV2([224, 224, 3], 1), input: [224, 224, 3] },
};

/** `--name VALUE` from the command line, or `fallback`. */
export function option(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 && process.argv[at + 1] !== undefined ? process.argv[at + 1] : fallback;
}

/** One pruned variant of a bench: `prune.roundTo` and `prune.roundMode`, and its name in the tables. */
export interface Rounding {
  roundTo: number;
  roundMode: 'up' | 'nearest';
  label: string;
}

/**
 * `--round-to 1,8,8n`: one rounding per item; a trailing `n` rounds to the nearest multiple
 * (prune.roundMode 'nearest'), otherwise up.
 */
export function roundingOption(fallback: string): Rounding[] {
  return option('round-to', fallback)
    .split(',')
    .map((item) => {
      const match = /^(\d+)(n?)$/.exec(item.trim());
      if (match === null) throw new Error(`--round-to ${item}: expected a whole number, optionally followed by n (nearest)`);
      const roundTo = Number(match[1]);
      const roundMode = match[2] === 'n' ? 'nearest' : 'up';
      return { roundTo, roundMode, label: `roundTo ${roundTo}${roundMode === 'nearest' ? ' nearest' : ''}` };
    });
}

/** A graph export's files loaded by stock tfjs from memory (as `tf.loadGraphModel` reads them from a URL). */
export function loadGraphFiles(files: ModelFiles): Promise<tf.GraphModel> {
  return tf.loadGraphModel(
    tf.io.fromMemory({
      modelTopology: files.modelJson.modelTopology as tf.io.ModelJSON['modelTopology'],
      weightSpecs: files.modelJson.weightsManifest![0].weights as tf.io.WeightsManifestEntry[],
      weightData: files.weightFiles['weights.bin'].slice().buffer,
      format: 'graph-model',
    }),
  );
}

/**
 * An export loaded by stock tfjs in this process, in `format` ('layers' or 'graph'), called as
 * `slim bench` calls it (`predict`; the layers model with the whole batch as one batch).
 */
export async function loadExport(
  exported: ModelArtifacts,
  format: string,
): Promise<{ predict: (x: tf.Tensor) => tf.Tensor; dispose: () => void }> {
  if (format === 'layers') {
    const m = await toLayersModel(exported);
    return { predict: (x) => m.predict(x, { batchSize: x.shape[0] }) as tf.Tensor, dispose: () => m.dispose() };
  }
  const m = await loadGraphFiles(graphFiles(exported));
  return { predict: (x) => m.predict(x) as tf.Tensor, dispose: () => m.dispose() };
}

/** The model with seeded uniform [0, 1) BatchNorm γ (a stand-in for sparsity training), as artifacts; disposes it. */
export async function withRandomGammas(model: tf.LayersModel, seed: number): Promise<ModelArtifacts> {
  findBnGammas(model).forEach(({ variable }, i) => {
    const size = variable.shape.reduce((a, b) => (a ?? 1) * (b ?? 1), 1) ?? 1;
    variable.write(tf.tidy(() => tf.randomUniform([size], 0, 1, 'float32', seed * 100 + i)));
  });
  const artifacts = await fromLayersModel(model);
  model.dispose();
  return artifacts;
}

export function openSession(runtime: ExportRuntime, models: readonly ServedModel[]): Promise<RuntimeSession> {
  return runtime === 'node:wasm'
    ? openNodeRuntime('wasm', models)
    : openChromiumRuntime('wasm', models, {
        browser: undefined,
        timeoutMs: 600_000,
        pageCpuTime: process.argv.includes('--page-cpu-time'),
      });
}

/** Times every model at `batch` (input: seeded uniform), interleaved; `warmup` untimed rounds after the first predicts. */
export function timeBatch(session: RuntimeSession, inputShape: number[], batch: number, runs: number, warmup = 1): Promise<SessionTiming> {
  return session.time({ batch, runs, warmup, seed: 1, inputShapes: [inputShape] });
}

/** Least-squares line ms = intercept + slope · batch through the (batch, median ms) points. */
export function lineFit(points: readonly { batch: number; ms: number }[]): { interceptMs: number; slopeMs: number } {
  const n = points.length;
  const mx = points.reduce((s, p) => s + p.batch, 0) / n;
  const my = points.reduce((s, p) => s + p.ms, 0) / n;
  const sxy = points.reduce((s, p) => s + (p.batch - mx) * (p.ms - my), 0);
  const sxx = points.reduce((s, p) => s + (p.batch - mx) ** 2, 0);
  const slopeMs = sxy / sxx;
  return { interceptMs: my - slopeMs * mx, slopeMs };
}
