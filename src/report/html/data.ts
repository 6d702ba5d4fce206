import type { BenchReport } from '../../config/schema.js';
/**
 * What the HTML report shows, as one plain data object. Collecting it (collect.ts) and drawing it
 * (charts.ts, page.ts) are separate so any source — a run folder, a model pair, a sweep — can fill it.
 */
import type { EpochRecord } from '../../train/loop.js';

/** One row of the summary table: a model at one stage of the pipeline. */
export interface StageSummary {
  stage: string;
  /** The model.json it describes, when there is one. */
  model?: string;
  params: number;
  macs: number;
  flops: number;
  /** Test-set accuracy, 0..1. */
  accuracy?: number;
  /** The accuracy is at chance level (src/train/chance.ts): the row says so. */
  atChance?: boolean;
}

export interface SummaryData {
  stages: StageSummary[];
  /** Fractions removed, 0..1, of the last stage relative to the first. */
  reduction?: { params: number; macs: number; flops: number };
  /** MACs before / MACs after. */
  theoreticalSpeedup?: number;
  /** Measured inference time before / after, when someone measured it. */
  realisedSpeedup?: number;
  /** The measurement behind it (run.json's `bench`): a row per runtime and batch size. */
  bench?: BenchReport;
  prune?: { threshold: number; ratio: number | null; candidateChannels: number; prunedChannels: number };
  /** Further label → value lines (data set, backend, seconds per stage...). */
  facts: [string, string][];
  /** The counting convention (FLOPs = 2 × MACs...). */
  convention: string;
}

/** Before/after figures of one layer, in network order; `before` is absent without a baseline. */
export interface LayerFigures {
  name: string;
  className: string;
  /** Produces channels that pruning may remove. */
  prunable: boolean;
  channels: { before?: number | null; after: number | null };
  params: { before?: number; after: number };
  macs: { before?: number; after: number };
}

/** The values one |γ| histogram is drawn from. */
export interface GammaSet {
  /** The chart's title, e.g. "|γ| after sparsity training". */
  title: string;
  /** Which model the values come from, for the chart's caption. */
  source: string;
  /** Importance of every prunable channel: its |γ| (aggregated when several BNs score one channel). */
  values: number[];
  /** Channels whose importance combines several BN rows (then it is not one |γ|). */
  aggregated: number;
}

export interface GammaData {
  /** Before sparsity training (the input or pretrained model). */
  before?: GammaSet;
  /** After sparsity training: the values the threshold cut. */
  after?: GammaSet;
  threshold?: number;
  /** The set the threshold was computed on (its removed share is shaded); on the other it is a reference line. */
  cutSet?: 'before' | 'after';
  /** How several BNs' |γ| combine into one channel's importance (the prune plan's setting). */
  importance?: string;
}

/** The epoch log of one training stage (train-log.jsonl / finetune-log.jsonl). */
export interface CurveStage {
  stage: string;
  epochs: EpochRecord[];
}

/** One point of a prune-ratio sweep. */
export interface SweepPoint {
  ratio: number;
  macs: number;
  /** Accuracy, 0..1, on the split ReportData.sweepSplit names (default test). */
  accuracy: number;
}

export interface ReportData {
  title: string;
  summary: SummaryData;
  layers: LayerFigures[];
  gammas: GammaData;
  curves: CurveStage[];
  sweep?: SweepPoint[];
  /** The split the sweep's accuracies are on (slim sweep and the accuracy budget score on 'val'); default 'test'. */
  sweepSplit?: 'val' | 'test';
}
