/**
 * The export stage's core: the inference rewrites (inference no-ops dropped, BatchNorm folded into
 * the layer before it, activations fused into it), each in src/export/, then optional weight
 * quantization; the float result is checked against the original on a seeded random batch, and the
 * quantized one measured against it, before anything can be written.
 * No printing here; `describeExport` returns lines the command decides where to put.
 */
// fflate, not node:zlib: the export core also runs in a page (src/api/browser.ts).
import { gzipSync } from 'fflate';
import * as tf from '#tfjs';
import { ProblemError } from '../errors.js';
import { foldBatchNorm, type FoldedBatchNorm, type SkippedBatchNorm } from '../export/fold-bn.js';
import { denseHeadAsConv } from '../export/dense-as-conv.js';
import { describeQuantization, quantizeWeights, type QuantizeRule } from '../export/quantize.js';
import { describeRewrites, dropNoOps, fuseActivations, type InferenceRewrite, type SkippedRewrite } from '../export/simplify.js';
import { toLayersModel } from '../model/convert.js';
import { encodeWeights, type WeightQuantization } from '../model/io-manifest.js';
import type { ModelArtifacts, WeightMap } from '../model/topology.js';
import { countModel, type ModelCount } from '../report/count.js';

export interface ExportOptions {
  /** Seed of the random check batch (default 1). */
  seed?: number;
  /** Rows in the check batch (default 4). */
  batchSize?: number;
  /** Size used for input dims the model leaves unknown, e.g. a free image size (default 32). */
  unknownDim?: number;
  /** Fuse activation layers into the Conv/Dense before them (default true). */
  fuse?: boolean;
  /**
   * Run a Flatten → Dense head as Conv2D layers (fewer tfjs kernels per predict; default true).
   * See src/export/dense-as-conv.ts.
   */
  denseAsConv?: boolean;
  /** Drop layers that are the identity at inference (default true). */
  dropNoOps?: boolean;
  /** Weights to store quantized (none by default). */
  quantize?: QuantizeRule[];
  /** How the input's weights were stored, when its file had quantized weights (read back dequantized). */
  inputQuantization?: ReadonlyMap<string, WeightQuantization>;
  /** Largest output drift the quantized model may show, relative to max(1, max |y|) (default QUANTIZED_RELATIVE_TOLERANCE). */
  quantizedTolerance?: number;
}

/** Original vs exported outputs on one seeded random batch, inference mode. */
export interface ExportCheck {
  backend: string;
  batchSize: number;
  seed: number;
  /** max |y_original − y_exported| over every output. */
  maxAbsDiff: number;
  /** max |y_original|: the scale the tolerance is relative to. */
  maxAbsOutput: number;
  /** relative tolerance · max(1, maxAbsOutput). */
  tolerance: number;
}

/** Bytes of the weights file: as stored, and gzip-compressed (what a browser downloads from a server that compresses). */
export interface WeightBytes {
  raw: number;
  gzip: number;
}

export interface QuantizedExport {
  quantization: Map<string, WeightQuantization>;
  /** The quantized model against the original, on the same batch as the float check. */
  check: ExportCheck;
  /** Largest |quantized − float| weight error relative to that weight's largest |value|. */
  maxWeightError: number;
}

export interface ExportOutcome {
  artifacts: ModelArtifacts;
  folded: FoldedBatchNorm[];
  skipped: SkippedBatchNorm[];
  /** Layers dropped (inference no-ops), activations fused, and Dense layers run as conv, in that order. */
  rewrites: InferenceRewrite[];
  rewritesSkipped: SkippedRewrite[];
  /** The float export (before quantization) against the original. */
  check: ExportCheck;
  quantized?: QuantizedExport;
  /** Set when the input file stored quantized weights: they were dequantized on read. */
  inputQuantized?: string;
  weightBytes: { before: WeightBytes; after: WeightBytes };
  before: ModelCount;
  after: ModelCount;
}

/** The relative tolerance of the float check: float32 rounding of folded kernels stays far below it. */
export const EXPORT_RELATIVE_TOLERANCE = 1e-4;
/**
 * Default bound on a quantized model's output drift, relative to max(1, max |y|) on the random
 * check batch. uint8 weights typically move outputs by about 1% of their scale; 5% means the
 * quantization has broken something (a weight with one huge outlier, say).
 */
export const QUANTIZED_RELATIVE_TOLERANCE = 0.05;

export function weightBytesOf(weights: WeightMap, quantization?: ReadonlyMap<string, WeightQuantization>): WeightBytes {
  const { data } = encodeWeights(weights, quantization);
  return { raw: data.byteLength, gzip: gzipSync(data).byteLength };
}

/** Rewrites for inference, quantizes on request, and verifies; ProblemError when the outputs moved. */
export async function exportModel(artifacts: ModelArtifacts, options: ExportOptions = {}): Promise<ExportOutcome> {
  const dropped = options.dropNoOps === false ? { artifacts, changes: [], skipped: [] } : dropNoOps(artifacts);
  const folded = foldBatchNorm(dropped.artifacts);
  const fused = options.fuse === false ? { artifacts: folded.artifacts, changes: [], skipped: [] } : fuseActivations(folded.artifacts);
  const asConv =
    options.denseAsConv === false
      ? { artifacts: fused.artifacts, changes: [], skipped: [], renamed: new Map<string, string>() }
      : denseHeadAsConv(fused.artifacts);
  const exported = asConv.artifacts;
  const check = await compareOutputs(artifacts, exported, options);
  const changed = 'rewriting the model for inference (BatchNorm folding, activation fusion, no-op removal, Dense as conv)';
  if (Number.isNaN(check.maxAbsDiff)) {
    throw new ProblemError(
      `export: the model outputs NaN or Inf on a random batch (before or after ${changed}); the model was not written`,
    );
  }
  if (!(check.maxAbsDiff <= check.tolerance)) {
    throw new ProblemError(
      `export: ${changed} changed the outputs by up to ${check.maxAbsDiff.toPrecision(3)} ` +
        `(tolerance ${check.tolerance.toPrecision(3)}) on a random batch; the model was not written`,
    );
  }

  let final = exported;
  let quantized: QuantizedExport | undefined;
  if (options.quantize !== undefined && options.quantize.length > 0) {
    const q = quantizeWeights(exported.weights, options.quantize, asConv.renamed);
    final = { ...exported, weights: q.weights };
    const qCheck = await compareOutputs(artifacts, final, {
      ...options,
      relativeTolerance: options.quantizedTolerance ?? QUANTIZED_RELATIVE_TOLERANCE,
    });
    if (!(qCheck.maxAbsDiff <= qCheck.tolerance)) {
      const diff = Number.isNaN(qCheck.maxAbsDiff) ? 'NaN or Inf' : `up to ${qCheck.maxAbsDiff.toPrecision(3)}`;
      throw new ProblemError(
        `export: quantizing the weights (${describeQuantization(q.quantization)}) moved the outputs by ${diff} ` +
          `(tolerance ${qCheck.tolerance.toPrecision(3)}, --max-output-drift) on a random batch; the model was not written ` +
          '(quantize fewer weights, or use uint16 or float16)',
      );
    }
    quantized = { quantization: q.quantization, check: qCheck, maxWeightError: q.maxRelativeError };
  }

  const inputQuantization = options.inputQuantization ?? new Map<string, WeightQuantization>();
  return {
    artifacts: final,
    folded: folded.folded,
    skipped: folded.skipped,
    rewrites: [...dropped.changes, ...fused.changes, ...asConv.changes],
    rewritesSkipped: [...dropped.skipped, ...fused.skipped, ...asConv.skipped],
    check,
    ...(quantized !== undefined ? { quantized } : {}),
    ...(inputQuantization.size > 0 ? { inputQuantized: describeQuantization(inputQuantization) } : {}),
    weightBytes: {
      before: weightBytesOf(artifacts.weights, inputQuantization),
      after: weightBytesOf(final.weights, quantized?.quantization),
    },
    before: countModel(artifacts.modelTopology),
    after: countModel(final.modelTopology),
  };
}

type Predict = (inputs: tf.Tensor[]) => tf.Tensor | tf.Tensor[];

/** Runs both models on the same seeded random inputs (predict = inference mode) and compares. */
export async function compareOutputs(
  original: ModelArtifacts,
  exported: ModelArtifacts,
  options: ExportOptions & { relativeTolerance?: number } = {},
): Promise<ExportCheck> {
  const a = await toLayersModel(original);
  const b = await toLayersModel(exported);
  try {
    return comparePredictions(
      a,
      (x) => a.predict(x.length === 1 ? x[0] : x),
      (x) => b.predict(x.length === 1 ? x[0] : x),
      options,
    );
  } finally {
    a.dispose();
    b.dispose();
  }
}

/**
 * The graph-model form against the layers model it was made from: same seeded batch, and the float
 * tolerance (both hold the same weight values, so only op order can differ).
 */
export async function compareGraphModel(
  layers: ModelArtifacts,
  graph: { modelJson: Record<string, unknown>; specs: unknown[]; data: Uint8Array },
  options: ExportOptions = {},
): Promise<ExportCheck> {
  const a = await toLayersModel(layers);
  let b: tf.GraphModel;
  try {
    b = await tf.loadGraphModel(
      tf.io.fromMemory({
        modelTopology: graph.modelJson.modelTopology as tf.io.ModelJSON['modelTopology'],
        weightSpecs: graph.specs as tf.io.WeightsManifestEntry[],
        weightData: graph.data.slice().buffer,
        format: 'graph-model',
      }),
    );
  } catch (error) {
    a.dispose();
    throw new ProblemError(
      `export: stock tf.loadGraphModel could not load the graph model slim made (${(error as Error).message.split('\n')[0]}); nothing was written`,
      {
        cause: error,
      },
    );
  }
  try {
    return comparePredictions(
      a,
      (x) => a.predict(x.length === 1 ? x[0] : x),
      (x) => b.predict(x.length === 1 ? x[0] : x) as tf.Tensor | tf.Tensor[],
      options,
    );
  } finally {
    a.dispose();
    b.dispose();
  }
}

function comparePredictions(
  shapeSource: tf.LayersModel,
  predictA: Predict,
  predictB: Predict,
  options: ExportOptions & { relativeTolerance?: number },
): ExportCheck {
  const seed = options.seed ?? 1;
  const batchSize = options.batchSize ?? 4;
  const unknownDim = options.unknownDim ?? 32;
  return tf.tidy(() => {
    const inputs = shapeSource.inputs.map((input, i) => {
      const shape = input.shape.map((d, axis) => (axis === 0 ? batchSize : (d ?? unknownDim)));
      // Integer inputs (Embedding indices) get 0, always a valid index; floats get N(0, 1).
      return input.dtype === 'int32' ? tf.zeros(shape, 'int32') : tf.randomNormal(shape, 0, 1, 'float32', seed + i);
    });
    const asList = (y: tf.Tensor | tf.Tensor[]): tf.Tensor[] => (Array.isArray(y) ? y : [y]);
    const ya = asList(predictA(inputs));
    const yb = asList(predictB(inputs));
    let maxAbsDiff = 0;
    let maxAbsOutput = 0;
    ya.forEach((y, i) => {
      // NaN or Inf in either output must fail the check: tf.max skips NaN, so finiteness is asked first.
      const finite = tf.all(tf.logicalAnd(tf.isFinite(y), tf.isFinite(yb[i]))).dataSync()[0] === 1;
      const diff = finite ? tf.max(tf.abs(tf.sub(y, yb[i]))).dataSync()[0] : NaN;
      maxAbsDiff = Number.isNaN(diff) || Number.isNaN(maxAbsDiff) ? NaN : Math.max(maxAbsDiff, diff);
      maxAbsOutput = Math.max(maxAbsOutput, tf.max(tf.abs(y)).dataSync()[0]);
    });
    const tolerance = (options.relativeTolerance ?? EXPORT_RELATIVE_TOLERANCE) * Math.max(1, maxAbsOutput);
    return { backend: tf.getBackend(), batchSize, seed, maxAbsDiff, maxAbsOutput, tolerance };
  });
}

/** Human summary for stderr: rewrites, what was folded and why not, quantization, the checks and the bytes. */
export function describeExport(outcome: ExportOutcome): string[] {
  const { folded, skipped, check } = outcome;
  const lines: string[] = [];
  if (outcome.inputQuantized !== undefined) {
    lines.push(
      `input weights were stored quantized (${outcome.inputQuantized}): dequantized on read, ` +
        (outcome.quantized !== undefined ? 'quantized again as asked' : 'written as float32 (--quantize keeps them small)'),
    );
  }
  lines.push(
    ...describeRewrites(
      outcome.rewrites.filter((r) => r.kind === 'dropped'),
      [],
    ),
  );
  const into = folded.length > 0 ? ` into ${folded.map((f) => f.into).join(', ')}` : '';
  lines.push(`folded ${folded.length} BatchNormalization layer${folded.length === 1 ? '' : 's'}${into}; ${skipped.length} skipped`);
  for (const s of skipped) lines.push(`  not folded: ${s.bn}: ${s.reason}`);
  lines.push(
    ...describeRewrites(
      outcome.rewrites.filter((r) => r.kind !== 'dropped'),
      outcome.rewritesSkipped,
    ),
  );
  lines.push(
    `check: max |diff| ${check.maxAbsDiff.toPrecision(3)} vs original (tolerance ${check.tolerance.toPrecision(3)}) ` +
      `on ${check.batchSize} random inputs, backend ${check.backend}`,
  );
  const q = outcome.quantized;
  if (q !== undefined) {
    lines.push(
      `quantized ${describeQuantization(q.quantization)}: largest weight error ${(q.maxWeightError * 100).toPrecision(2)}% of that weight's largest |value|; ` +
        `outputs max |diff| ${q.check.maxAbsDiff.toPrecision(3)} vs original (max |y| ${q.check.maxAbsOutput.toPrecision(3)}, tolerance ${q.check.tolerance.toPrecision(3)})`,
    );
  }
  const { before, after } = outcome.weightBytes;
  lines.push(`weights ${bytes(before.raw)} -> ${bytes(after.raw)} raw, ${bytes(before.gzip)} -> ${bytes(after.gzip)} gzip`);
  return lines;
}

/** Bytes for people: 812 B, 41.3 KB, 2.40 MB (powers of 1000, as browsers' network panels show). */
export function bytes(n: number): string {
  if (n < 1000) return `${n} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} KB`;
  return `${(n / 1e6).toFixed(2)} MB`;
}
