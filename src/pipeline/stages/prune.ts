/**
 * The prune stage: plan (pure data) → apply → counts, the plan and β-fold lines on stderr, and the
 * pruned model (+ prune-plan.json) written when a destination is given.
 * Ownership: works on ModelArtifacts (plain data, no tensors); the input is only read, the result is
 * new, so one loaded model can be pruned at many ratios in a row.
 */
import type { ModelArtifacts } from '../../model/topology.js';
import type { PruneConfig } from '../../config/schema.js';
import type { Output } from '../../io/output.js';
import { buildReport, human, type Report } from '../../report/render.js';
import { describeFolds, describePlan, describeSeparation, describeShortfall, pruneModel, type PruneOutcome } from '../prune.js';
import { wallsOf } from '../report.js';
import { writeModelAs, type ExportDestination } from './export.js';

export interface PruneStageResult extends PruneOutcome {
  /** The model.json written, when the stage had a destination. */
  written?: string;
}

export async function pruneStage(
  artifacts: ModelArtifacts,
  prune: PruneConfig,
  dest: ExportDestination | undefined,
  out: Output,
  /** The plan already applied (the CLI's prune goes through the library's planPrune/applyPrune). */
  applied?: PruneOutcome,
): Promise<PruneStageResult> {
  const outcome = applied ?? pruneModel(artifacts, prune);
  for (const line of describePlan(outcome.plan)) out.info(line);
  const separation = describeSeparation(outcome.plan);
  if (separation !== undefined) out.warn(separation);
  for (const line of describeFolds(outcome.foldSummary, outcome.unfolded, outcome.plan)) out.info(line);
  const shortfall = describeShortfall(outcome.plan);
  if (shortfall !== undefined) out.info(shortfall);
  if (dest === undefined) return outcome;
  return { ...outcome, written: await writePrunedModel(outcome.artifacts, outcome, dest) };
}

/**
 * Writes a pruned model with its plan beside it; returns the path written. A Keras file
 * (dest.format keras|h5) keeps BatchNorm, so training can go on in Keras; the plan sidecar goes
 * beside a layers folder only.
 */
export async function writePrunedModel(artifacts: ModelArtifacts, outcome: PruneOutcome, dest: ExportDestination): Promise<string> {
  return writeModelAs(artifacts, dest, { sidecars: { 'prune-plan.json': `${JSON.stringify(outcome.plan, null, 2)}\n` } });
}

/** Counts of the pruned model against its input (`model` and `baseline` name them). */
export function pruneReport(result: PruneOutcome, model: string, baseline: string): Report {
  return buildReport(model, result.after, { path: baseline, count: result.before }, wallsOf(result.artifacts.modelTopology));
}

/** The one-line reduction `slim prune` adds on stderr (run shows the full report instead). */
export function describeReduction(result: PruneOutcome, report: Report): string {
  return (
    `params ${human(result.before.params.total)} -> ${human(result.after.params.total)} (-${(report.reduction!.params * 100).toFixed(1)}%), ` +
    `MACs ${human(result.before.macs)} -> ${human(result.after.macs)} (-${(report.reduction!.macs * 100).toFixed(1)}%)`
  );
}
