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

export interface InterleavedTimes {
  /** The first predict of each model (load-time compile, shader and kernel warm-up included), ms. */
  firstMs: number[];
  /** Timed runs of each model after the warm-up, ms, in run order. */
  timesMs: number[][];
}

export async function interleavedRuns(
  predicts: readonly TimedPredict[],
  warmup: number,
  runs: number,
  now: () => number = () => performance.now(),
  onRun: (done: number) => void = () => undefined,
): Promise<InterleavedTimes> {
  const timeOne = async (predict: TimedPredict): Promise<number> => {
    const start = now();
    await predict();
    return now() - start;
  };
  const firstMs: number[] = [];
  for (const predict of predicts) firstMs.push(await timeOne(predict));
  const timesMs: number[][] = predicts.map(() => []);
  for (let run = -warmup; run < runs; run++) {
    const round = run + warmup;
    for (let k = 0; k < predicts.length; k++) {
      const which = (k + round) % predicts.length;
      const ms = await timeOne(predicts[which]);
      if (run >= 0) timesMs[which].push(ms);
    }
    if (run >= 0) onRun(run + 1);
  }
  return { firstMs, timesMs };
}
