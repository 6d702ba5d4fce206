import type { BenchReport } from '../../config/schema.js';
/**
 * Filling ReportData: from a `slim run` folder (run.json, the stage models, the prune plan and the
 * epoch logs beside them), or from a model, an optional baseline and optional epoch logs.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { InputError } from '../../errors.js';
import { readModel, type LoadedModel } from '../../model/io.js';
import type { ModelJson } from '../../model/topology.js';
import { analyzeChannels } from '../../prune/groups.js';
import { DEFAULT_IMPORTANCE, type ImportanceAggregate } from '../../prune/plan.js';
import type { EpochRecord } from '../../train/loop.js';
import type { Report, ReportLayer } from '../render.js';
import type { CurveStage, GammaData, LayerFigures, ReportData, StageSummary, SummaryData, SweepPoint } from './data.js';
import { channelImportance } from './gammas.js';
import { countModel } from '../count.js';

/** The part of run.json (RunSummary) the report reads. */
export interface RunFacts {
  backend?: { detail?: string };
  data?: string;
  models: { input: string; pretrained?: string; sparse: string; pruned: string; finetuned: string; exported?: string };
  accuracy: { baseline?: number; sparse?: number; pruned?: number; finetuned?: number };
  /** Stages whose accuracy is at chance level. */
  chanceLevel?: string[];
  prune: { threshold: number; ratio: number | null; candidateChannels: number; prunedChannels: number };
  report: Report;
  seconds?: Record<string, number>;
  sweep?: SweepPoint[];
  sweepSplit?: 'val' | 'test';
  /** Multi-pass runs (config passes): one entry per pass. */
  passes?: PassFacts[];
  /** The exported slim model timed against the exported input (config bench). */
  bench?: BenchReport;
}

/** The part of a run.json pass (PassSummary) the report reads. */
export interface PassFacts {
  pass: number;
  params: number;
  macs: number;
  accuracy: { sparse: number; pruned: number; finetuned: number };
  models: { sparse: string; pruned: string; finetuned: string };
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}

/** A run folder is one holding run.json; returns it resolved, or null for anything else. */
export async function runFolderOf(p: string): Promise<string | null> {
  const dir = path.resolve(p);
  try {
    if (!(await stat(dir)).isDirectory()) return null;
  } catch {
    return null;
  }
  return (await exists(path.join(dir, 'run.json'))) ? dir : null;
}

export async function readRunFacts(runDir: string): Promise<RunFacts> {
  const file = path.join(runDir, 'run.json');
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new InputError(`${file}: cannot read as JSON (${(error as Error).message})`, { cause: error });
  }
  const run = json as Partial<RunFacts>;
  if (typeof run !== 'object' || run === null || !run.models || !run.accuracy || !run.prune || !run.report?.layers) {
    throw new InputError(`${file}: not a slim run summary (expected models, accuracy, prune and report)`);
  }
  return run as RunFacts;
}

/** One JSON-lines epoch log; the stage is the records' own `stage` field, else `fallbackStage`. */
export async function readEpochLog(file: string, fallbackStage: string): Promise<CurveStage> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new InputError(`${file}: cannot read (${(error as Error).message})`, { cause: error });
  }
  const epochs: EpochRecord[] = [];
  let stage: string | undefined;
  for (const [i, line] of text.split('\n').entries()) {
    if (line.trim() === '') continue;
    let record: (EpochRecord & { stage?: unknown }) | undefined;
    try {
      record = JSON.parse(line) as EpochRecord & { stage?: unknown };
    } catch {
      record = undefined;
    }
    if (!record || typeof record.epoch !== 'number' || typeof record.loss !== 'number' || typeof record.gamma?.count !== 'number') {
      throw new InputError(`${file}:${i + 1}: not an epoch record (expected epoch, loss and gamma as slim writes them)`);
    }
    if (typeof record.stage === 'string') stage ??= record.stage;
    epochs.push(record);
  }
  // Logs number epochs from 1 (like stderr); logs written by slim before that start at 0. EpochRecord counts from 0.
  const base = epochs[0]?.epoch === 0 ? 0 : 1;
  for (const record of epochs) record.epoch -= base;
  return { stage: stage ?? fallbackStage, epochs };
}

/** Logs named on the command line; a file named finetune-log* is fine-tuning unless its records say otherwise. */
export async function readEpochLogs(files: readonly string[]): Promise<CurveStage[]> {
  const curves: CurveStage[] = [];
  for (const file of files)
    curves.push(await readEpochLog(file, path.basename(file).startsWith('finetune') ? 'fine-tune' : 'sparsity train'));
  return curves;
}

/** Layers that produce channels pruning may remove (a candidate group's producers). */
function prunableLayers(topology: ModelJson): Set<string> {
  const names = new Set<string>();
  for (const group of analyzeChannels(topology).groups) {
    if (group.blocked === null) for (const p of group.producers) names.add(p.path);
  }
  return names;
}

/** Last dimension of a single-output shape: the channel count (slim is channels-last). */
function channelsOf(shape: ReportLayer['outputShape']): number | null {
  if (shape.length === 0 || Array.isArray(shape[0])) return null;
  const dims = shape as (number | null)[];
  return dims[dims.length - 1] ?? null;
}

export function layerFigures(report: Report, prunable: Set<string>): LayerFigures[] {
  return report.layers.map((l) => {
    const b = l.baseline ?? undefined;
    return {
      name: l.name,
      className: l.className,
      prunable: prunable.has(l.name),
      channels: { ...(b ? { before: channelsOf(b.outputShape) } : {}), after: channelsOf(l.outputShape) },
      params: { ...(b ? { before: b.params } : {}), after: l.params },
      macs: { ...(b ? { before: b.macs } : {}), after: l.macs },
    };
  });
}

/** Three rows per pass; a pass's sparsity-trained model has the size the previous pass left. */
function passStages(passes: readonly PassFacts[], input: Pick<StageSummary, 'params' | 'macs' | 'flops'>): StageSummary[] {
  let before = input;
  return passes.flatMap((p) => {
    const after = { params: p.params, macs: p.macs, flops: 2 * p.macs };
    const rows = [
      { stage: `pass ${p.pass} sparsity trained`, model: p.models.sparse, ...before, accuracy: p.accuracy.sparse },
      { stage: `pass ${p.pass} pruned`, model: p.models.pruned, ...after, accuracy: p.accuracy.pruned },
      { stage: `pass ${p.pass} fine-tuned`, model: p.models.finetuned, ...after, accuracy: p.accuracy.finetuned },
    ];
    before = after;
    return rows;
  });
}

function countsOf(report: Report, which: 'model' | 'baseline'): Pick<StageSummary, 'params' | 'macs' | 'flops'> {
  const totals = which === 'baseline' ? report.baseline! : report;
  return { params: totals.params.total, macs: totals.macs, flops: totals.flops };
}

function summaryOf(report: Report, stages: StageSummary[], facts: [string, string][]): SummaryData {
  const summary: SummaryData = { stages, facts, convention: report.convention };
  if (report.reduction) summary.reduction = { ...report.reduction };
  if (report.theoreticalSpeedup !== undefined) summary.theoreticalSpeedup = report.theoreticalSpeedup;
  return summary;
}

/** The measured speed-up: the rows, and as the headline figure the first runtime's largest batch. */
export function withBench(summary: SummaryData, bench: BenchReport): void {
  summary.bench = bench;
  const first = bench.rows.filter((r) => r.runtime === bench.rows[0].runtime && r.speedup !== null);
  const headline = first.at(-1);
  if (headline?.speedup != null) summary.realisedSpeedup = headline.speedup;
}

/** Reads a model with its weights; a model whose weight files are missing gives its topology only. */
async function readForReport(modelPath: string): Promise<{ model: LoadedModel; weights: boolean }> {
  try {
    return { model: await readModel(modelPath), weights: true };
  } catch (error) {
    if (!(error instanceof InputError)) throw error;
    return { model: await readModel(modelPath, { weights: false }), weights: false };
  }
}

async function readPlanSettings(planFile: string): Promise<{ threshold: number; importance: ImportanceAggregate } | undefined> {
  if (!(await exists(planFile))) return undefined;
  const plan = JSON.parse(await readFile(planFile, 'utf8')) as { threshold?: unknown; importance?: unknown };
  if (typeof plan.threshold !== 'number') throw new InputError(`${planFile}: not a prune plan (no threshold)`);
  return { threshold: plan.threshold, importance: (plan.importance as ImportanceAggregate | undefined) ?? 'sum' };
}

function secondsFact(seconds: Record<string, number> | undefined): [string, string][] {
  if (!seconds) return [];
  const parts = Object.entries(seconds).map(([stage, s]) => `${stage} ${s.toFixed(1)} s`);
  return parts.length > 0 ? [['time', parts.join(', ')]] : [];
}

/** Everything a `slim run` folder holds, as ReportData. */
export async function runReportData(runDir: string, run: RunFacts): Promise<ReportData> {
  const stageDir = (name: string) => path.join(runDir, name);
  const plan = await readPlanSettings(path.join(stageDir('pruned'), 'prune-plan.json'));
  const importance = plan?.importance ?? DEFAULT_IMPORTANCE;
  const sparse = await readModel(stageDir('sparse'));
  const beforeName = run.models.pretrained !== undefined ? 'pretrained' : 'input';
  const before = await readModel(stageDir(beforeName));
  const sparsityTrained = await exists(path.join(stageDir('sparse'), 'train-log.jsonl'));

  const gammas: GammaData = { importance, cutSet: 'after' };
  if (plan) gammas.threshold = plan.threshold;
  gammas.after = channelImportance(sparse, importance, '|γ| after sparsity training', `${path.basename(runDir)}/sparse`);
  if (sparsityTrained)
    gammas.before = channelImportance(before, importance, '|γ| before sparsity training', `${path.basename(runDir)}/${beforeName}`);

  const curves: CurveStage[] = [];
  const logs: [string, string][] = [
    [path.join(stageDir('pretrained'), 'train-log.jsonl'), 'pretrain'],
    [path.join(stageDir('sparse'), 'train-log.jsonl'), 'sparsity train'],
    [path.join(stageDir('finetuned'), 'finetune-log.jsonl'), 'fine-tune'],
  ];
  for (const [file, stage] of logs) if (await exists(file)) curves.push(await readEpochLog(file, stage));

  const report = run.report;
  const a = run.accuracy;
  const exported = run.models.exported !== undefined ? await readModel(run.models.exported, { weights: false }) : undefined;
  const exportedCounts = exported !== undefined ? countModel(exported.modelTopology) : undefined;
  const stages: StageSummary[] = [
    {
      stage: 'input',
      model: run.models.input,
      ...countsOf(report, 'baseline'),
      ...(run.models.pretrained === undefined && a.baseline !== undefined ? { accuracy: a.baseline } : {}),
    },
    ...(run.models.pretrained !== undefined
      ? [{ stage: 'pretrained', model: run.models.pretrained, ...countsOf(report, 'baseline'), accuracy: a.baseline }]
      : []),
    ...(run.passes !== undefined && run.passes.length > 1
      ? passStages(run.passes, countsOf(report, 'baseline'))
      : [
          { stage: 'sparsity trained', model: run.models.sparse, ...countsOf(report, 'baseline'), accuracy: a.sparse },
          { stage: 'pruned', model: run.models.pruned, ...countsOf(report, 'model'), accuracy: a.pruned },
          { stage: 'fine-tuned', model: run.models.finetuned, ...countsOf(report, 'model'), accuracy: a.finetuned },
        ]),
    // The deployable model: BatchNorm folded, the fine-tuned model's outputs (checked when written).
    ...(exportedCounts !== undefined
      ? [
          {
            stage: 'exported (BatchNorm folded)',
            model: run.models.exported,
            params: exportedCounts.params.total,
            macs: exportedCounts.macs,
            flops: exportedCounts.flops,
            accuracy: a.finetuned,
          },
        ]
      : []),
  ];
  const chanceStage: Record<string, string> = {
    input: 'baseline',
    pretrained: 'baseline',
    'sparsity trained': 'sparse',
    pruned: 'pruned',
    'fine-tuned': 'finetuned',
    'exported (BatchNorm folded)': 'finetuned',
  };
  for (const s of stages) if (run.chanceLevel?.includes(chanceStage[s.stage] ?? '') && s.accuracy !== undefined) s.atChance = true;
  const facts: [string, string][] = [
    ...(run.data ? [['data', run.data] as [string, string]] : []),
    ...(run.backend?.detail ? [['backend', run.backend.detail] as [string, string]] : []),
    ...secondsFact(run.seconds),
  ];
  const summary = summaryOf(report, stages, facts);
  summary.prune = { ...run.prune };
  if (run.bench !== undefined && run.bench.rows.length > 0) withBench(summary, run.bench);
  const data: ReportData = {
    title: `run ${runDir}`,
    summary,
    layers: layerFigures(report, prunableLayers(before.modelTopology)),
    gammas,
    curves,
  };
  if (run.sweep) data.sweep = run.sweep;
  if (run.sweepSplit) data.sweepSplit = run.sweepSplit;
  return data;
}

/**
 * `slim report --html` for a model (and a baseline): the counts, the |γ| of whichever model has
 * weights at hand, the threshold of a prune-plan.json beside the model, and curves from `logs`.
 */
export async function modelReportData(
  report: Report,
  modelPath: string,
  baselinePath: string | undefined,
  logs: readonly string[],
): Promise<ReportData> {
  const model = await readForReport(modelPath);
  const baseline = baselinePath !== undefined ? await readForReport(baselinePath) : undefined;
  const plan = await readPlanSettings(path.join(path.dirname(model.model.path), 'prune-plan.json'));
  const importance = plan?.importance ?? DEFAULT_IMPORTANCE;
  const gammas: GammaData = { importance };
  if (plan) {
    gammas.threshold = plan.threshold;
    // The plan beside a pruned model was computed on the model it was pruned from: the baseline, when given.
    if (baseline) gammas.cutSet = 'before';
  }
  if (model.weights) gammas.after = channelImportance(model.model, importance, '|γ| of the model', model.model.path);
  if (baseline?.weights) gammas.before = channelImportance(baseline.model, importance, '|γ| of the baseline', baseline.model.path);

  const curves = await readEpochLogs(logs);
  const stages: StageSummary[] = [
    ...(report.baseline ? [{ stage: 'baseline', model: report.baseline.model, ...countsOf(report, 'baseline') }] : []),
    { stage: 'model', model: report.model, ...countsOf(report, 'model') },
  ];
  return {
    title: baselinePath !== undefined ? `${report.model} against ${report.baseline?.model}` : report.model,
    summary: summaryOf(report, stages, []),
    layers: layerFigures(report, prunableLayers((baseline ?? model).model.modelTopology)),
    gammas,
    curves,
  };
}
