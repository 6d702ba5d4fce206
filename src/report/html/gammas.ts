/**
 * |γ| for the report: every prunable channel's importance (the value the prune threshold is
 * compared with), and the log-spaced histogram it is drawn as.
 */
import type { ModelArtifacts } from '../../model/topology.js';
import { analyzeChannels } from '../../prune/groups.js';
import { groupImportance, type ImportanceAggregate } from '../../prune/plan.js';
import type { GammaSet } from './data.js';

/**
 * Importance of every candidate channel, in group order, as the prune plan scores it. A model
 * without BatchNormalization γ over its channels has none (an empty list).
 */
export function channelImportance(artifacts: ModelArtifacts, aggregate: ImportanceAggregate, title: string, source: string): GammaSet {
  const analysis = analyzeChannels(artifacts.modelTopology);
  const values: number[] = [];
  let aggregated = 0;
  for (const group of analysis.groups) {
    if (group.blocked !== null) continue;
    for (const v of groupImportance(artifacts, group, aggregate, analysis)) values.push(v);
    if (group.importance.length > 1) aggregated += group.channels;
  }
  return { title, source, values, aggregated };
}

export interface HistogramBin {
  /** Bin edges on the |γ| axis (lo < hi). */
  lo: number;
  hi: number;
  count: number;
  /** Below the threshold: the channels pruning removes. */
  removed: boolean;
}

export interface LogHistogram {
  /** The x-axis domain, whole decades, holding every value, the threshold and every bin. */
  domain: [number, number];
  bins: HistogramBin[];
  /** Values of 0 (or below the domain) counted in the first bin, which a log axis cannot place. */
  belowDomain: number;
}

/** A log axis needs a positive floor; eight decades under the largest value are plenty to see sparsity. */
const MAX_DECADES = 8;

/** 10^exp, exact for whole decades (10 ** -4 is not 1e-4 in floating point). */
function decade(exp: number): number {
  return Number.isInteger(exp) ? Number(`1e${exp}`) : 10 ** exp;
}

/** The common decade-aligned domain of several value sets (so before/after charts line up). */
export function logDomain(valueSets: readonly (readonly number[])[], threshold?: number): [number, number] {
  let min = Infinity;
  let max = 0;
  for (const values of valueSets) {
    for (const v of values) {
      if (v > 0 && v < min) min = v;
      if (v > max) max = v;
    }
  }
  if (threshold !== undefined && threshold > 0) {
    min = Math.min(min, threshold);
    max = Math.max(max, threshold);
  }
  if (!(max > 0)) return [1e-3, 1];
  let hiExp = Math.ceil(Math.log10(max));
  let loExp = Math.floor(Math.log10(Number.isFinite(min) ? min : max));
  if (hiExp === loExp) hiExp += 1;
  loExp = Math.max(loExp, hiExp - MAX_DECADES);
  return [decade(loExp), decade(hiExp)];
}

/**
 * Counts values into log-spaced bins over `domain`, with the threshold as an extra edge so that
 * every bin lies wholly on one side of it (removed or kept).
 */
export function logHistogram(values: readonly number[], domain: [number, number], threshold?: number, binsPerDecade = 8): LogHistogram {
  const [lo, hi] = domain;
  const loExp = Math.log10(lo);
  const steps = Math.round((Math.log10(hi) - loExp) * binsPerDecade);
  const edges: number[] = [];
  for (let i = 0; i <= steps; i++) edges.push(decade(loExp + i / binsPerDecade));
  edges[0] = lo;
  edges[edges.length - 1] = hi;
  if (threshold !== undefined && threshold > lo && threshold < hi && !edges.includes(threshold)) {
    edges.push(threshold);
    edges.sort((a, b) => a - b);
  }
  const counts = new Array<number>(edges.length - 1).fill(0);
  let belowDomain = 0;
  for (const v of values) {
    if (v < lo) {
      belowDomain++;
      counts[0]++;
      continue;
    }
    // First edge above v, minus one: the bin [edges[i], edges[i+1]) holding v (the top edge is inclusive).
    let a = 0;
    let b = edges.length - 1;
    while (b - a > 1) {
      const mid = (a + b) >> 1;
      if (edges[mid] <= v) a = mid;
      else b = mid;
    }
    counts[a]++;
  }
  const bins = counts.map((count, i) => ({
    lo: edges[i],
    hi: edges[i + 1],
    count,
    removed: threshold !== undefined && edges[i + 1] <= threshold,
  }));
  return { domain, bins, belowDomain };
}

/** Fraction of values strictly below the threshold (the channels a plain threshold removes). */
export function shareBelow(values: readonly number[], threshold: number): number {
  if (values.length === 0) return 0;
  let n = 0;
  for (const v of values) if (v < threshold) n++;
  return n / values.length;
}
