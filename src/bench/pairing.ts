/**
 * Runs each model's predict in alternation, run by run, so that the models under comparison see
 * the same load, in the same process or page. The starting model rotates every run so neither
 * always runs first (caches, clocks).
 *
 * This module imports nothing and touches no Node API: the same compiled file is served to the
 * browser page (src/bench/page.ts), so Node and browser rows are paired by one piece of code.
 */

/** One model's predict on the prepared input; resolves when its output is read back. */
export type TimedPredict = () => Promise<void>;

/**
 * A CPU clock, ms: read just before and just after each predict, outside its wall-clock interval
 * (reading it may take a round trip to another process, which the wall time must not count).
 */
export type CpuClock = () => number | Promise<number>;

export interface InterleavedTimes {
  /** The first predict of each model (load-time compile, shader and kernel warm-up included), ms. */
  firstMs: number[];
  /** Timed runs of each model after the warm-up, ms, in run order. */
  timesMs: number[][];
  /** With a CPU clock: the CPU time of each timed run, ms, paired with timesMs. */
  cpuMs?: number[][];
}

/**
 * With `cpuNow`, each run's CPU time is its clock difference minus the clock's own cost: the
 * median difference across an empty interval, measured once per round (a reading that takes a
 * round trip to another process costs the measured thread a fraction of a millisecond, which
 * would otherwise count in every run and pull paired ratios towards 1).
 */
export async function interleavedRuns(
  predicts: readonly TimedPredict[],
  warmup: number,
  runs: number,
  now: () => number = () => performance.now(),
  onRun: (done: number) => void = () => undefined,
  cpuNow?: CpuClock,
): Promise<InterleavedTimes> {
  const timeOne = async (predict: TimedPredict): Promise<{ ms: number; cpu: number }> => {
    const cpuStart = cpuNow === undefined ? 0 : await cpuNow();
    const start = now();
    await predict();
    const ms = now() - start;
    const cpu = cpuNow === undefined ? 0 : (await cpuNow()) - cpuStart;
    return { ms, cpu };
  };
  const firstMs: number[] = [];
  for (const predict of predicts) firstMs.push((await timeOne(predict)).ms);
  const timesMs: number[][] = predicts.map(() => []);
  const cpuMs: number[][] = predicts.map(() => []);
  const emptyCpuMs: number[] = [];
  for (let run = -warmup; run < runs; run++) {
    const round = run + warmup;
    if (cpuNow !== undefined) emptyCpuMs.push((await timeOne(() => Promise.resolve())).cpu);
    for (let k = 0; k < predicts.length; k++) {
      const which = (k + round) % predicts.length;
      const { ms, cpu } = await timeOne(predicts[which]);
      if (run >= 0) {
        timesMs[which].push(ms);
        cpuMs[which].push(cpu);
      }
    }
    if (run >= 0) onRun(run + 1);
  }
  if (cpuNow === undefined) return { firstMs, timesMs };
  const clockCost = median(emptyCpuMs);
  return { firstMs, timesMs, cpuMs: cpuMs.map((model) => model.map((ms) => Math.max(0, ms - clockCost))) };
}

/** The middle value (mean of the middle two); 0 for none. Here, not from stats.ts: this module imports nothing. */
function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
