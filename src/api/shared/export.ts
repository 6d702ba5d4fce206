/**
 * exportForInference: the export stage's rewrites (src/pipeline/export.ts: drop inference no-ops,
 * fold BatchNorm, fuse activations, a Flatten → Dense head as convolutions, optional weight quantization), each checked against the input
 * on a seeded random batch before anything is returned.
 */
import * as z from 'zod';
import { QUANTIZE_DTYPES } from '../../export/quantize.js';
import { exportModel, QUANTIZED_RELATIVE_TOLERANCE, type ExportOutcome } from '../../pipeline/export.js';
import type { WeightQuantization } from '../../model/io-manifest.js';
import type { WeightSpecSummary } from '../../model/topology.js';
import { parseArgument } from './args.js';
import { artifactsOf, sameKindAs, type ModelInput } from './model.js';

export type { ExportCheck, WeightBytes, QuantizedExport } from '../../pipeline/export.js';
export type { QuantizeRule } from '../../export/quantize.js';

const dtype = z.enum(QUANTIZE_DTYPES as [string, ...string[]]);

const exportOptionsSchema = z
  .strictObject({
    fuse: z.boolean().default(true),
    denseAsConv: z.boolean().default(true),
    dropNoOps: z.boolean().default(true),
    /** One dtype for every float weight, or rules (first match wins) by weight-name pattern. */
    quantize: z.union([dtype, z.array(z.strictObject({ dtype, pattern: z.string().min(1) }))]).optional(),
    maxOutputDrift: z.number().positive().default(QUANTIZED_RELATIVE_TOLERANCE),
    seed: z.number().int().default(1),
    batchSize: z.number().int().positive().default(4),
    unknownDim: z.number().int().positive().default(32),
  })
  .optional();

export type ExportForInferenceOptions = z.input<typeof exportOptionsSchema>;

/** The inference model (the kind passed in; the input untouched) and what was rewritten. */
export type ExportResult<M extends ModelInput> = Omit<ExportOutcome, 'artifacts'> & { model: M };

/**
 * The model rewritten for inference. ProblemError when a rewrite (or quantization) moves the
 * outputs past its tolerance. A quantized live model holds the dequantized values (what a page
 * computes after loading the quantized file); `quantized.quantization` says how each was stored.
 */
export async function exportForInference<M extends ModelInput>(model: M, options?: ExportForInferenceOptions): Promise<ExportResult<M>> {
  const o = parseArgument(exportOptionsSchema, options, 'exportForInference', 'options') ?? exportOptionsSchema.parse({})!;
  const artifacts = await artifactsOf(model, 'exportForInference');
  // Plain data read from a file with quantized weights says so (the weights were dequantized on read).
  const inputQuantization = new Map<string, WeightQuantization>();
  for (const spec of (artifacts as { weightSpecs?: WeightSpecSummary[] }).weightSpecs ?? []) {
    if (spec.quantization !== undefined) inputQuantization.set(spec.name, spec.quantization);
  }
  const quantize = o.quantize === undefined ? [] : typeof o.quantize === 'string' ? [{ dtype: o.quantize, pattern: '*' }] : o.quantize;
  const outcome = await exportModel(artifacts, {
    fuse: o.fuse,
    denseAsConv: o.denseAsConv,
    dropNoOps: o.dropNoOps,
    quantize: quantize as { dtype: (typeof QUANTIZE_DTYPES)[number]; pattern: string }[],
    quantizedTolerance: o.maxOutputDrift,
    seed: o.seed,
    batchSize: o.batchSize,
    unknownDim: o.unknownDim,
    inputQuantization,
  });
  const { artifacts: exported, ...rest } = outcome;
  return { ...rest, model: await sameKindAs(model, exported) };
}
