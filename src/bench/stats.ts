/**
 * The statistics of every timing slim reports, in one place: median and the p10–p90 spread of
 * the timed runs, and the paired ratio of two models' medians.
 */

export interface TimingStats {
  runs: number;
  medianMs: number;
  p10Ms: number;
  p90Ms: number;
}

/** The q-quantile (0..1) of `values`, linearly interpolated between the two nearest ranks. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) throw new Error('quantile of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const at = q * (sorted.length - 1);
  const low = Math.floor(at);
  const high = Math.ceil(at);
  return sorted[low] + (sorted[high] - sorted[low]) * (at - low);
}

export function timingStats(timesMs: readonly number[]): TimingStats {
  return {
    runs: timesMs.length,
    medianMs: quantile(timesMs, 0.5),
    p10Ms: quantile(timesMs, 0.1),
    p90Ms: quantile(timesMs, 0.9),
  };
}

/**
 * Realised speed-up of `model` over `baseline`: the median of the per-run ratios
 * baseline_i / model_i. The two were timed in alternation, so run i of each saw the same load;
 * the ratio of each pair cancels drift that the ratio of the two medians would keep.
 */
export function pairedSpeedup(baselineMs: readonly number[], modelMs: readonly number[]): number {
  if (baselineMs.length !== modelMs.length) throw new Error('paired speed-up of runs of different lengths');
  return quantile(
    baselineMs.map((b, i) => b / modelMs[i]),
    0.5,
  );
}
