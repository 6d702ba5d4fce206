/**
 * The report stage: params / MACs of the final model against the input one, rendered on stderr.
 * Works on topologies only (plain data).
 */
import type { ModelJson } from '../../model/topology.js';
import type { Output } from '../../io/output.js';
import { renderReport, type Report } from '../../report/render.js';
import { reportOfTopologies } from '../report.js';

export function reportStage(
  model: { path: string; topology: ModelJson },
  baseline: { path: string; topology: ModelJson },
  out: Output,
): Report {
  const report = reportOfTopologies(model, baseline);
  out.info('');
  out.info(renderReport(report));
  return report;
}
