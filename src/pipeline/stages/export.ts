/**
 * The export stage: BatchNorm folded into the layer before it, checked against the original on a
 * random batch (ProblemError when the outputs moved), the fold lines on stderr, and the inference
 * model written when a destination is given.
 * Ownership: works on ModelArtifacts; the input is only read (the check's temporary models are
 * created and disposed inside exportModel).
 */
import { writeModel } from '../../model/io.js';
import { writeKerasFile, type KerasFormat } from '../../model/keras/write.js';
import type { ModelArtifacts } from '../../model/topology.js';
import type { Output } from '../../io/output.js';
import { human } from '../../report/render.js';
import { describeExport, exportModel, type ExportOutcome } from '../export.js';
import { checkStockLoadable } from '../verify.js';
import type { Destination } from './common.js';

export interface ExportStageResult extends ExportOutcome {
  written?: string;
}

/** Where the export goes: a layers folder (default), or one Keras file at `dir`. */
export interface ExportDestination extends Destination {
  format?: 'layers' | KerasFormat;
}

export async function exportStage(artifacts: ModelArtifacts, dest: ExportDestination | undefined, out: Output): Promise<ExportStageResult> {
  const outcome = await exportModel(artifacts);
  for (const line of describeExport(outcome)) out.info(line);
  if (dest === undefined) return outcome;
  const written = await writeModelAs(outcome.artifacts, dest);
  return { ...outcome, written };
}

/**
 * Writes a model as it is (BatchNorm kept: still trainable) in the destination's format, after
 * checking stock tfjs loads it; `sidecars` go beside a layers model only. Returns the path written.
 */
export async function writeModelAs(artifacts: ModelArtifacts, dest: ExportDestination, sidecars?: Record<string, string>): Promise<string> {
  await checkStockLoadable(artifacts, dest.dir);
  return dest.format === undefined || dest.format === 'layers'
    ? await writeModel(dest.dir, artifacts, { ...dest.write, ...(sidecars !== undefined ? { sidecars } : {}) })
    : await writeKerasFile(dest.dir, artifacts, dest.format, dest.write);
}

/** The params line `slim export` adds on stderr. */
export function describeExportParams(outcome: ExportOutcome): string {
  return `params ${human(outcome.before.params.total)} -> ${human(outcome.after.params.total)}`;
}
