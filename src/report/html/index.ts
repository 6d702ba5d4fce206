/** The HTML report's entry points for `slim run` and `slim report --html`. */
import path from 'node:path';
import type { Report } from '../render.js';
import type { BenchReport } from '../../config/schema.js';
import { modelReportData, readEpochLogs, readRunFacts, runFolderOf, runReportData, withBench, type RunFacts } from './collect.js';
import { writeHtmlReport, type HtmlTarget } from './page.js';

export const RUN_REPORT_FILE = 'report.html';

/** Writes report.html into a run folder (beside run.json); returns its path. */
export async function writeRunHtmlReport(runDir: string, run: RunFacts): Promise<string> {
  const file = path.join(runDir, RUN_REPORT_FILE);
  await writeHtmlReport(file, await runReportData(runDir, run));
  return file;
}

/** What `slim report` compares: a run folder stands for its fine-tuned model against its input model. */
export interface ReportInputs {
  model: string;
  baseline?: string;
  /** Set when --model named a run folder (one holding run.json). */
  runDir?: string;
}

export async function resolveReportInputs(model: string, baseline?: string): Promise<ReportInputs> {
  const runDir = await runFolderOf(model);
  if (runDir === null) return { model, ...(baseline !== undefined ? { baseline } : {}) };
  return { model: path.join(runDir, 'finetuned'), baseline: baseline ?? path.join(runDir, 'input'), runDir };
}

/**
 * `slim report --html FILE`: a run folder's whole story, or a model's counts (against the
 * baseline), its |γ| and the curves of the given epoch logs.
 */
export async function writeReportHtml(
  file: HtmlTarget,
  report: Report,
  inputs: ReportInputs,
  logs: readonly string[] = [],
  bench?: BenchReport,
): Promise<void> {
  if (inputs.runDir !== undefined) {
    const run = await readRunFacts(inputs.runDir);
    const data = await runReportData(inputs.runDir, { ...run, report, ...(bench !== undefined ? { bench } : {}) });
    if (logs.length > 0) data.curves = await readEpochLogs(logs);
    await writeHtmlReport(file, data);
    return;
  }
  const data = await modelReportData(report, inputs.model, inputs.baseline, logs);
  if (bench !== undefined && bench.rows.length > 0) withBench(data.summary, bench);
  await writeHtmlReport(file, data);
}
