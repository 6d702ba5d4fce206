/**
 * The export stage: the inference rewrites and optional weight quantization (checked against the
 * original on a random batch; ProblemError when the outputs moved), optionally the test accuracy
 * before and after (refused past a budget), the lines on stderr, and the inference model written
 * when a destination is given.
 * Ownership: works on ModelArtifacts; the input is only read (the check's temporary models are
 * created and disposed here and inside exportModel).
 */
import { gzipSync } from 'fflate';
import type { Config } from '../../config/schema.js';
import { InputError, ProblemError } from '../../errors.js';
import { toLayersModel } from '../../model/convert.js';
import { graphModelJson, graphQuantization, toGraphModel } from '../../export/graph-model.js';
import { describeRewrites } from '../../export/simplify.js';
import { WEIGHTS_BIN, writeModel, writeModelFolder } from '../../model/io.js';
import { writeKerasFile, type KerasFormat } from '../../model/keras/write.js';
import type { ModelArtifacts } from '../../model/topology.js';
import type { WeightQuantization } from '../../model/io-manifest.js';
import type { Output } from '../../io/output.js';
import { human } from '../../report/render.js';
import {
  bytes,
  compareGraphModel,
  describeExport,
  exportModel,
  type ExportCheck,
  type ExportOptions,
  type ExportOutcome,
  type WeightBytes,
} from '../export.js';
import { checkStockLoadable } from '../verify.js';
import { EVAL_BATCH, percent, type Destination } from './common.js';
import { evalStage, testDataFor } from './eval.js';

/** Refuses what a destination cannot store, before any work: quantized weights in a Keras file. */
export function checkExportDestination(dest: ExportDestination | undefined, quantize: ExportOptions['quantize']): void {
  const keras = dest?.format === 'keras' || dest?.format === 'h5';
  if (keras && quantize !== undefined && quantize.length > 0) {
    throw new InputError(`--quantize: Keras files store float32 weights only; quantize with --format layers`);
  }
}

/**
 * Whether a Flatten → Dense head is run as convolutions for this destination: for tfjs (layers and
 * graph folders), where it saves kernel launches, not in a Keras file, whose users load it in Keras
 * and expect its Dense layers and weight layout.
 */
export function denseAsConvApplies(format: ExportFormat | undefined): boolean {
  return format !== 'keras' && format !== 'h5';
}

/** Test accuracy of the input and of the exported model (fractions 0..1), and the drop in points. */
export interface ExportAccuracy {
  before: number;
  after: number;
  dropPoints: number;
  examples: number;
}

/** The graph-model form: its op counts, its check against the layers model, and its weight bytes. */
export interface GraphExport {
  nodes: number;
  /** Op name → count, for the fused kernels and the ops that carry the compute. */
  ops: Record<string, number>;
  check: ExportCheck;
  weightBytes: WeightBytes;
}

export interface ExportStageResult extends ExportOutcome {
  written?: string;
  accuracy?: ExportAccuracy;
  graph?: GraphExport;
}

export type ExportFormat = 'layers' | 'graph' | KerasFormat;

/** Where the export goes: a layers folder (default), a graph-model folder, or one Keras file at `dir`. */
export interface ExportDestination extends Destination {
  format?: ExportFormat;
}

export interface ExportStageOptions extends ExportOptions {
  /** Measure test accuracy before and after on this config's test split. */
  accuracy?: { config: Config; maxDropPoints?: number };
  /** The rewrites already made and checked (the CLI's export goes through the library's exportForInference). */
  exported?: ExportOutcome;
}

export async function exportStage(
  artifacts: ModelArtifacts,
  dest: ExportDestination | undefined,
  out: Output,
  options: ExportStageOptions = {},
): Promise<ExportStageResult> {
  checkExportDestination(dest, options.quantize);
  const outcome: ExportStageResult =
    options.exported ??
    (await exportModel(artifacts, { ...options, denseAsConv: options.denseAsConv !== false && denseAsConvApplies(dest?.format) }));
  for (const line of describeExport(outcome)) out.info(line);
  if (options.accuracy !== undefined) {
    outcome.accuracy = await measureAccuracy(artifacts, outcome.artifacts, options.accuracy.config, out);
    const { before, after, dropPoints } = outcome.accuracy;
    out.info(`test accuracy ${percent(before)} -> ${percent(after)} (drop ${dropPoints.toFixed(2)} points)`);
    const maxDrop = options.accuracy.maxDropPoints;
    if (maxDrop !== undefined && dropPoints > maxDrop) {
      throw new ProblemError(
        `export: test accuracy drops ${dropPoints.toFixed(2)} points (${percent(before)} -> ${percent(after)}), ` +
          `more than --max-drop ${maxDrop}; the model was not written`,
      );
    }
  }
  if (dest === undefined) return outcome;
  const quantization = outcome.quantized?.quantization;
  if (dest.format === 'graph') {
    const parts = toGraphModel(outcome.artifacts, undefined, { fuse: options.fuse !== false, denseAsConv: options.denseAsConv !== false });
    for (const line of describeRewrites(parts.rewrites, [])) out.info(`graph model: ${line}`);
    const graph = graphModelJson(parts, graphQuantization(parts, outcome.artifacts.weights, quantization), WEIGHTS_BIN);
    const check = await compareGraphModel(outcome.artifacts, graph);
    if (!(check.maxAbsDiff <= check.tolerance)) {
      throw new ProblemError(
        `export: the graph model's outputs differ from the layers model's by up to ${check.maxAbsDiff.toPrecision(3)} ` +
          `(tolerance ${check.tolerance.toPrecision(3)}) on a random batch; nothing was written (use --format layers)`,
      );
    }
    const ops: Record<string, number> = {};
    for (const node of parts.topology.node) if (node.op !== 'Const') ops[node.op] = (ops[node.op] ?? 0) + 1;
    outcome.graph = {
      nodes: parts.topology.node.length,
      ops,
      check,
      weightBytes: { raw: graph.data.byteLength, gzip: gzipSync(graph.data).byteLength },
    };
    out.info(
      `graph model: ${Object.entries(ops)
        .map(([op, n]) => `${op} ×${n}`)
        .join(
          ', ',
        )}; check: max |diff| ${check.maxAbsDiff.toPrecision(3)} vs the layers model (tolerance ${check.tolerance.toPrecision(3)}); ` +
        `weights ${bytes(outcome.graph.weightBytes.raw)} raw, ${bytes(outcome.graph.weightBytes.gzip)} gzip`,
    );
    return { ...outcome, written: await writeModelFolder(dest.dir, graph.modelJson, graph.data, dest.write) };
  }
  const written = await writeModelAs(outcome.artifacts, dest, { quantization });
  return { ...outcome, written };
}

/** Both models on the config's test split (shaped by the input model's input). */
async function measureAccuracy(original: ModelArtifacts, exported: ModelArtifacts, config: Config, out: Output): Promise<ExportAccuracy> {
  const a = await toLayersModel(original);
  const b = await toLayersModel(exported);
  try {
    const data = await testDataFor(a, 'the input model', config, out);
    const before = await evalStage(a, data, { batchSize: EVAL_BATCH }, out);
    const after = await evalStage(b, data, { batchSize: EVAL_BATCH }, out);
    return { before: before.accuracy, after: after.accuracy, dropPoints: (before.accuracy - after.accuracy) * 100, examples: after.count };
  } finally {
    a.dispose();
    b.dispose();
  }
}

/**
 * Writes a model as it is (BatchNorm kept: still trainable) in the destination's format (layers or
 * Keras; the graph format is the export's own), after checking stock tfjs loads it; `sidecars` go
 * beside a layers model only. Returns the path written.
 */
export async function writeModelAs(
  artifacts: ModelArtifacts,
  dest: ExportDestination,
  extra: { sidecars?: Record<string, string>; quantization?: ReadonlyMap<string, WeightQuantization> } = {},
): Promise<string> {
  if (dest.format === 'graph') throw new Error('writeModelAs: the graph format is written by exportStage');
  await checkStockLoadable(artifacts, dest.dir, extra.quantization);
  if (dest.format === 'keras' || dest.format === 'h5') return writeKerasFile(dest.dir, artifacts, dest.format, dest.write);
  return writeModel(dest.dir, artifacts, {
    ...dest.write,
    ...(extra.sidecars !== undefined ? { sidecars: extra.sidecars } : {}),
    ...(extra.quantization !== undefined ? { quantization: extra.quantization } : {}),
  });
}

/** The params line `slim export` adds on stderr. */
export function describeExportParams(outcome: ExportOutcome): string {
  return `params ${human(outcome.before.params.total)} -> ${human(outcome.after.params.total)}`;
}
