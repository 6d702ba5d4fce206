/**
 * Ratio sweeps: one sparsity-trained model pruned at several ratios, each candidate evaluated on
 * the validation split (the test split stays unseen by the choice of a ratio). The loaded model
 * and data are shared by every ratio: pruning works on plain artifacts, and each candidate's
 * layers model lives only while it is evaluated (and, on request, briefly fine-tuned).
 * The result is plain data (one row per ratio) for the table, --json and the HTML report.
 */
import type * as tf from '#tfjs';
import { InputError } from '../errors.js';
import type { Config, PruneConfig } from '../config/schema.js';
import { fromLayersModel, toLayersModel } from '../model/convert.js';
import type { ModelArtifacts } from '../model/topology.js';
import { countModel } from '../report/count.js';
import { human } from '../report/render.js';
import { modelReportData } from '../report/html/collect.js';
import type { SweepPoint } from '../report/html/data.js';
import { writeHtmlReport, type HtmlTarget } from '../report/html/page.js';
import { evaluateSource } from '../train/evaluate.js';
import { startBackend } from './backend.js';
import { prepareData, type PreparedData } from './data.js';
import { loadLayersModel, shapeHintsOf } from './model.js';
import { resolvePreprocess } from './model-metadata.js';
import { pruneModel } from './prune.js';
import { reportFor } from './report.js';
import { EVAL_BATCH, percent } from './stages/common.js';
import { trainingStage, type StageControl, type TrainingConfig } from './stages/train.js';
import { checkModelFitsData } from './train.js';
import { recalibrateForEvaluation } from './bn-statistics.js';
import { chanceVerdict } from '../train/chance.js';
import type { RuntimeName } from '../bench/runtime.js';
import { Output } from '../io/output.js';
import { exportModel } from './export.js';
import { benchStage } from './stages/bench.js';

/** Accuracy of one model on the split a ratio is chosen by. */
export interface SplitScore {
  /** Fraction 0..1. */
  accuracy: number;
  /** Mean cross-entropy per example. */
  loss: number;
  /** Set when the accuracy is at chance level (src/train/chance.ts): such a model is never chosen. */
  atChance?: true;
}

export interface SweepRow extends SplitScore {
  ratio: number;
  /** BatchNorm channels (prune candidates) kept and removed. */
  channels: { kept: number; removed: number };
  /** Kept width of each channel group, in plan order. */
  widths: number[];
  params: number;
  macs: number;
  /** After the brief fine-tune (--finetune-epochs); accuracy/loss above are before it. */
  finetuned?: SplitScore & { epochs: number };
  /** With --latency: the exported candidate timed against the exported unpruned model. */
  latency?: CandidateLatency;
}

export interface CandidateLatency {
  runtime: string;
  batch: number;
  /** Median ms of one predict of the candidate, and of the unpruned model, interleaved. */
  ms: number;
  baselineMs: number;
  speedup: number;
}

export interface SweepResult {
  model: string;
  /** The split every row was scored on: 'val' unless the data has no validation split. */
  split: 'val' | 'test';
  examples: number;
  /** The unpruned model. */
  baseline: SplitScore & { channels: number; params: number; macs: number };
  rows: SweepRow[];
  seconds: number;
}

/** A sweep without its provenance (what sweepRatios returns). */
export type SweepCurve = Omit<SweepResult, 'model' | 'seconds'>;

/** How candidates are scored: the fine-tune (epochs 0 = none) and the config's training sections for it. */
export interface CandidateOptions {
  finetuneEpochs: number;
  training: TrainingConfig;
  /** Measure each candidate's latency on this runtime (the sweep's --latency). */
  latency?: LatencyOptions;
}

export interface LatencyOptions {
  runtime: RuntimeName;
  batch: number;
  runs: number;
  /** Untimed predicts per model before the timed ones (default 2). */
  warmup?: number;
  seed: number;
  browser?: string;
}

/** Runs of each latency measurement: enough for a median at a sweep's pace. */
export const SWEEP_LATENCY_RUNS = 10;

/** The candidate (exported) against the unpruned model (exported): the latency column of a sweep. */
export async function measureCandidate(
  candidate: ModelArtifacts,
  exportedBaseline: ModelArtifacts,
  latency: LatencyOptions,
): Promise<CandidateLatency> {
  const slim = (await exportModel(candidate)).artifacts;
  const report = await benchStage(
    { path: 'candidate', artifacts: slim },
    { path: 'unpruned', artifacts: exportedBaseline },
    {
      runtimes: [latency.runtime],
      explicit: true,
      batches: [latency.batch],
      runs: latency.runs,
      warmup: latency.warmup ?? 2,
      seed: latency.seed,
      browser: latency.browser,
      timeoutMs: 300_000,
    },
    new Output({ quiet: true, progress: false }),
  );
  const row = report.rows[0];
  return { runtime: row.runtime, batch: row.batch, ms: row.modelMs, baselineMs: row.baselineMs!, speedup: row.speedup! };
}

/** Where a candidate runs outside the local sweep (src/executors): its fine-tune checkpoint, and a hook keeping its model. */
export interface CandidatePlacement {
  control?: StageControl;
  keep?: (model: tf.LayersModel) => Promise<void>;
}

/** The split a ratio is chosen by: validation when there is one (choosing by test would tune on it). */
export function selectionSplit(data: PreparedData): { split: 'val' | 'test'; source: NonNullable<PreparedData['val']> } {
  return data.val !== undefined && data.val.count > 0 ? { split: 'val', source: data.val } : { split: 'test', source: data.test };
}

export async function scoreOnSelectionSplit(model: tf.LayersModel, data: PreparedData): Promise<SplitScore> {
  const { accuracy, loss, confusion } = await evaluateSource(model, selectionSplit(data).source, {
    batchSize: EVAL_BATCH,
    preprocess: data.preprocess,
    confusion: true,
  });
  return { accuracy, loss, ...(chanceVerdict(confusion).atChance ? { atChance: true as const } : {}) };
}

/**
 * One candidate: `sparse` pruned at `ratio`, scored before and (with finetuneEpochs > 0) after a
 * brief fine-tune. The candidate's layers model is created and disposed here.
 */
export async function scoreCandidate(
  sparse: ModelArtifacts,
  ratio: number,
  prune: PruneConfig,
  data: PreparedData,
  options: CandidateOptions,
  out: Output,
  placement: CandidatePlacement = {},
  exportedBaseline?: ModelArtifacts,
): Promise<SweepRow> {
  const outcome = pruneModel(sparse, { ...prune, ratio, threshold: undefined, maxAccuracyDrop: undefined });
  const model = await toLayersModel(outcome.artifacts);
  try {
    // Adaptive BN (EagleEye): statistics that match the pruned weights, so candidates rank as they will after fine-tuning.
    await recalibrateForEvaluation(model, data, options.training, options.training.finetune.batchSize, `ratio ${ratio}`, out, true);
    const before = await scoreOnSelectionSplit(model, data);
    const row: SweepRow = {
      ratio,
      channels: { kept: outcome.plan.candidateChannels - outcome.plan.prunedChannels, removed: outcome.plan.prunedChannels },
      widths: outcome.plan.groups.map((g) => g.keep.length),
      params: outcome.after.params.total,
      macs: outcome.after.macs,
      ...before,
    };
    if (options.finetuneEpochs > 0) {
      const training = { ...options.training, finetune: { ...options.training.finetune, epochs: options.finetuneEpochs } };
      out.info(`ratio ${ratio}: brief fine-tune`);
      await trainingStage('finetune', model, data, training, undefined, out, placement.control);
      row.finetuned = { ...(await scoreOnSelectionSplit(model, data)), epochs: options.finetuneEpochs };
    }
    if (options.latency !== undefined) {
      const baseline = exportedBaseline ?? (await exportModel(sparse)).artifacts;
      row.latency = await measureCandidate(outcome.artifacts, baseline, options.latency);
    }
    await placement.keep?.(model);
    return row;
  } finally {
    model.dispose();
  }
}

/** The sweep over one loaded model and dataset (the caller owns both). */
export async function sweepRatios(
  sparse: tf.LayersModel,
  ratios: number[],
  prune: PruneConfig,
  data: PreparedData,
  options: CandidateOptions,
  out: Output,
): Promise<SweepCurve> {
  const started = Date.now();
  const artifacts = await fromLayersModel(sparse);
  const count = countModel(artifacts.modelTopology);
  const { split, source } = selectionSplit(data);
  const rows: SweepRow[] = [];
  const exportedBaseline = options.latency !== undefined ? (await exportModel(artifacts)).artifacts : undefined;
  for (const ratio of ratios) {
    const row = await scoreCandidate(artifacts, ratio, prune, data, options, out, {}, exportedBaseline);
    const latency = row.latency
      ? `, ${row.latency.runtime} ${row.latency.ms.toFixed(2)} ms (${row.latency.speedup.toFixed(2)}× faster)`
      : '';
    out.info(
      `ratio ${ratio}: ${row.channels.kept} channels kept, MACs ${human(row.macs)}, ${split} accuracy ${percent(row.accuracy)}${row.finetuned ? ` (fine-tuned ${percent(row.finetuned.accuracy)})` : ''}${latency}`,
    );
    rows.push(row);
  }
  const plan0 = pruneModel(artifacts, { ...prune, ratio: 0, threshold: undefined, maxAccuracyDrop: undefined }).plan;
  const baseline = {
    channels: plan0.candidateChannels,
    params: count.params.total,
    macs: count.macs,
    ...(await scoreOnSelectionSplit(sparse, data)),
  };
  out.debug(`sweep: ${ratios.length} ratio(s) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return { split, examples: source.count, baseline, rows };
}

/**
 * The data a sweep scores on, by the rules of every command: images sized to the model's input,
 * the model's own preprocessing. One function for the local sweep and a plan's tasks, whose rows
 * must be the local sweep's.
 */
export async function prepareSweepData(config: Config, model: tf.LayersModel, out: Output): Promise<PreparedData> {
  const data = await prepareData(config.data, config.seed, shapeHintsOf(model));
  out.info(`data: ${data.summary}`);
  data.preprocess = resolvePreprocess(data.preprocess, model, out);
  checkModelFitsData(model, data);
  return data;
}

/** `slim sweep`: load backend, data and the sparse model once, then sweep. */
export async function sweepFromConfig(
  config: Config,
  modelPath: string,
  ratios: number[],
  finetuneEpochs: number,
  out: Output,
  latency?: LatencyOptions,
): Promise<SweepResult> {
  const started = Date.now();
  await startBackend(config.backend, out);
  const { model, path } = await loadLayersModel(modelPath);
  try {
    const data = await prepareSweepData(config, model, out);
    if (selectionSplit(data).split === 'test')
      out.warn('the data has no validation split (data.validationSplit 0): scoring ratios on the test split');
    const result = await sweepRatios(
      model,
      ratios,
      config.prune,
      data,
      { finetuneEpochs, training: config, ...(latency ? { latency } : {}) },
      out,
    );
    return { model: path, ...result, seconds: (Date.now() - started) / 1000 };
  } finally {
    model.dispose();
  }
}

/** The curve the HTML report draws: accuracy after the brief fine-tune when there was one. */
export function sweepPoints(rows: readonly SweepRow[]): SweepPoint[] {
  return rows.map((r) => ({ ratio: r.ratio, macs: r.macs, accuracy: r.finetuned?.accuracy ?? r.accuracy }));
}

/** `slim sweep --html`: the swept model's report (counts, |gamma|) with the sweep's curves. */
export async function writeSweepHtml(file: HtmlTarget, result: SweepResult & { model: string }): Promise<void> {
  const data = await modelReportData(await reportFor(result.model), result.model, undefined, []);
  data.title = `sweep of ${result.model}`;
  data.sweep = sweepPoints(result.rows);
  data.sweepSplit = result.split;
  await writeHtmlReport(file, data);
}

/** Ratios as decimals: rounding away float steps (0.1 + 0.2) keeps the table and JSON readable. */
export function tidy(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}

/**
 * `0.1,0.2,0.5` (a list) or `0.1:0.9:0.1` (start:stop:step, stop included): ratios in (0, 1),
 * sorted and without repeats. Anything else is an InputError naming `flag`.
 */
export function parseRatios(text: string, flag = '--ratios'): number[] {
  const bad = (why: string) => new InputError(`${flag} ${JSON.stringify(text)}: ${why} (e.g. 0.1,0.3,0.5 or 0.1:0.9:0.1)`);
  const number = (part: string): number => {
    const x = part.trim() === '' ? NaN : Number(part);
    if (!Number.isFinite(x)) throw bad(`${JSON.stringify(part)} is not a number`);
    return x;
  };
  if (text.trim() === '') throw bad('no ratios given');
  let ratios: number[];
  if (text.includes(':')) {
    const parts = text.split(':');
    if (parts.length !== 3) throw bad('a range is start:stop:step');
    const [start, stop, step] = parts.map(number) as [number, number, number];
    if (step <= 0) throw bad('the step must be positive');
    if (stop < start) throw bad('stop is below start');
    ratios = [];
    for (let i = 0; start + i * step <= stop + 1e-9; i++) ratios.push(tidy(start + i * step));
  } else {
    ratios = text.split(',').map(number);
  }
  for (const r of ratios) if (!(r > 0 && r < 1)) throw bad(`ratio ${r} is outside (0, 1)`);
  return [...new Set(ratios)].sort((a, b) => a - b);
}

/** The stdout table of `slim sweep` (without --json). */
export function renderSweep(result: SweepCurve): string {
  const finetuned = result.rows.some((r) => r.finetuned !== undefined);
  const latency = result.rows.find((r) => r.latency !== undefined)?.latency;
  const latencyHeader = latency ? [`ms ${latency.runtime} b${latency.batch}`, 'speed-up'] : [];
  const header = [
    'ratio',
    'channels',
    'params',
    'MACs',
    `${result.split} acc (pruned)`,
    ...(finetuned ? [`${result.split} acc (fine-tuned)`] : []),
    ...latencyHeader,
  ];
  const b = result.baseline;
  const lines = [
    [
      '0 (sparse)',
      `${b.channels}`,
      human(b.params),
      human(b.macs),
      percent(b.accuracy),
      ...(finetuned ? ['-'] : []),
      ...(latency ? [latency.baselineMs.toFixed(2), '1.00×'] : []),
    ],
    ...result.rows.map((r) => [
      String(r.ratio),
      `${r.channels.kept}`,
      human(r.params),
      human(r.macs),
      percent(r.accuracy),
      ...(finetuned ? [percent(r.finetuned?.accuracy)] : []),
      ...(latency ? [r.latency ? r.latency.ms.toFixed(2) : '-', r.latency ? `${r.latency.speedup.toFixed(2)}×` : '-'] : []),
    ]),
  ];
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const row = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [row(header), ...lines.map(row)].join('\n');
}
