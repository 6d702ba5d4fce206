/**
 * How a batch's rows are split over the replicas. A step ends when the slowest replica's part
 * does, so on cores of unequal speed (a laptop's performance and efficiency cores, or a virtual
 * machine whose cores share their hardware with other tenants) an equal split leaves the faster
 * cores waiting.
 * - 'equal': the same rows each (the first parts get the remainder). The split, and so the
 *   float sums and each part's BatchNorm statistics, depend on the batch only: a run is
 *   bit-reproducible for a fixed seed and replica count.
 * - 'speed': each replica gets rows in proportion to the rows per millisecond it managed lately
 *   (its forward and backward passes, measured on its own thread), so the parts end together.
 *   The gradient is still the exact full-batch mean, but the split follows timing, so a run is
 *   not bit-reproducible, and BatchNorm statistics come from parts of unequal size.
 */

/** The kinds of split (TrainOptions.replicaSplit). */
export const REPLICA_SPLITS = ['equal', 'speed'] as const;
export type ReplicaSplitKind = (typeof REPLICA_SPLITS)[number];

/** Chooses each step's rows per replica and learns from the parts' measured times. */
export interface ReplicaSplit {
  /** Rows per replica for a batch of `total` rows (replica 0 = the main thread: never 0 rows). */
  sizes(total: number): number[];
  /** A finished step: the rows each replica had and its forward + backward time (ms). */
  observe(sizes: readonly number[], computeMs: readonly number[]): void;
}

/**
 * `total` rows as `parts` near-equal consecutive parts (sizes differ by at most 1). The first
 * parts (the main thread's is part 0) get the remainder, so a batch of 1 never leaves the main
 * thread without work. Parts may be 0 when total < parts.
 */
export function splitSizes(total: number, parts: number): number[] {
  const base = Math.floor(total / parts);
  const extra = total - base * parts;
  return Array.from({ length: parts }, (_, i) => base + (i < extra ? 1 : 0));
}

export function replicaSplit(kind: ReplicaSplitKind, replicas: number): ReplicaSplit {
  return kind === 'speed' ? new SpeedSplit(replicas) : { sizes: (total) => splitSizes(total, replicas), observe: () => {} };
}

/** Weight of the newest step in the rates' running average: a few steps follow a core that changed speed. */
const RATE_SMOOTHING = 0.3;
/** No replica gets less than this share of its equal share: its rate stays measured, its BatchNorm part not tiny. */
const MIN_SHARE = 0.5;

/**
 * Rows in proportion to each replica's smoothed rate (rows per ms), none below MIN_SHARE of its
 * equal share. Giving the next step's rows as n_k ∝ n_k / t_k has a fixed point only where every
 * part takes the same time, also when a part has a fixed cost besides its per-row one.
 */
export class SpeedSplit implements ReplicaSplit {
  /** Rows per millisecond per replica (undefined until the first measured step). */
  private rates: number[] | undefined;

  constructor(private readonly replicas: number) {}

  sizes(total: number): number[] {
    const rates = this.rates;
    if (rates === undefined || total < 2 * this.replicas) return splitSizes(total, this.replicas);
    const least = (MIN_SHARE * total) / this.replicas;
    // Shares ∝ rates; a replica under its least share is held there and the rest shared again.
    const held = new Array<boolean>(this.replicas).fill(false);
    let ideal: number[];
    for (;;) {
      const free = total - least * held.filter(Boolean).length;
      const sum = rates.reduce((a, r, k) => (held[k] ? a : a + r), 0);
      ideal = rates.map((r, k) => (held[k] ? least : (free * r) / sum));
      const under = ideal.findIndex((x, k) => !held[k] && x < least);
      if (under < 0) break;
      held[under] = true;
    }
    const sizes = ideal.map(Math.floor);
    // The rows rounding left over go to the largest remainders; ties to the lower index (replica 0 first).
    const left = total - sizes.reduce((a, b) => a + b, 0);
    const order = ideal.map((x, k) => ({ k, rest: x - Math.floor(x) })).sort((a, b) => b.rest - a.rest || a.k - b.k);
    for (let i = 0; i < left; i++) sizes[order[i].k]++;
    return sizes;
  }

  observe(sizes: readonly number[], computeMs: readonly number[]): void {
    if (sizes.some((n, k) => n === 0 || !(computeMs[k] > 0))) return; // nothing to learn from an empty or untimed part
    const measured = sizes.map((n, k) => n / computeMs[k]);
    this.rates = this.rates?.map((r, k) => r + RATE_SMOOTHING * (measured[k] - r)) ?? measured;
  }
}
