/**
 * The gradient exchange of data-parallel training (replicas.ts) in shared memory, in buckets that
 * start during the backward pass (as PyTorch DDP's do). The trainable weights, concatenated in
 * trainableWeights order, are cut into buckets of consecutive weights, formed from the last
 * weight backwards (the backward pass produces the last layers' gradients first). Every replica
 * (the main thread is replica 0, worker k is replica k) writes its part-weighted gradient of a
 * weight into its own slot as soon as the backward pass has it (gradient-taps.ts), and publishes a
 * bucket once all its weights are written. Each bucket is cut into N units; a unit is summed over
 * all slots as soon as every replica has published its bucket, by whichever replica claims it
 * first (usually one that finished its backward pass early and would otherwise wait), and the
 * sum is read by all (all-gather by reading shared memory). So the summing overlaps with the
 * slowest replica's remaining backward pass, and what is left after it ends is the last
 * bucket's units. Each replica writes P floats and the replicas together read N·P + P per step,
 * whatever the bucketing; nothing is structured-cloned.
 *
 * Synchronisation: per step ("generation" g = 1, 2, …) each bucket's ready counter reaches N·g,
 * each unit's claim word is moved from g − 1 to g by one compareExchange, the done counter reaches
 * U·g and the finished counter (replicas past their backward pass, losses written) N·g. A waiting
 * replica sleeps on one progress word that every change bumps. Counters are compared by their
 * signed difference, so their wrapping at 2³¹ is harmless. A replica writes the next step's
 * gradients only after the done counter reached U·g (it waits for that before its optimizer
 * step), so no slot is overwritten while a unit still reads it; and every replica copies the sum
 * before its next backward pass, so no unit of the next step overwrites a sum still being read.
 *
 * Floating point: slot k holds g_k·(n_k/n) in float32 (summed over a weight's uses when a layer
 * is applied more than once); each element of the sum is accumulated over k = 0..N−1 in that
 * order in float64 and rounded once to float32. Which replica sums a unit does not change the
 * bits, so for a fixed replica count a run is bit-reproducible, and every replica reads the same
 * bits (hence, with the same optimizer code, keeps the same weights).
 */

import * as tf from '#tfjs';
import type { Optimizer, TrainingModel } from './step.js';

/** Indices into the control words; per-bucket ready counters and per-unit claims follow. */
const ABORTED = 0;
const PROGRESS = 1;
const DONE = 2;
const FINISHED = 3;
const CONTROL_WORDS = 4;
/** Buckets close once they hold this many floats (64 KB): a few per small net, tens for larger ones. */
export const BUCKET_FLOATS = 16_384;
/** How long the main thread blocks while waiting before it waits asynchronously (see reduceAsync). */
const MAIN_THREAD_BLOCK_MS = 20;
/** Per replica and step parity in `stats`: loss, correct count, compute ms. */
const STAT_FIELDS = 3;

/** Atomics.waitAsync (Node ≥ 16; not yet in this TypeScript lib's Atomics type). */
type WaitAsync = (
  array: Int32Array,
  index: number,
  value: number,
) => { async: false; value: string } | { async: true; value: Promise<string> };
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;

/** One replica's part of a step, shared through the exchange (the workers send no reply). */
export interface PartStats {
  /** Mean loss over the part's rows. */
  loss: number;
  correct: number;
  /** Forward and backward pass of the part, beginStep to finishBackward (this replica's clock). */
  computeMs: number;
}

/** A range [start, end) of the concatenated parameter vector. */
export interface ParameterRange {
  start: number;
  end: number;
}

/** What every replica is given at start: the same layout and the same SharedArrayBuffers. */
export interface ExchangeBuffers {
  replicas: number;
  /** Number of trainable parameters (all weights, concatenated in trainableWeights order). */
  parameters: number;
  /** Each trainable weight's range in the parameter vector, in trainableWeights order. */
  variables: ParameterRange[];
  /** Bucket of each trainable weight. */
  bucketOf: number[];
  /** Buckets in the order the backward pass completes them (last weights first). */
  buckets: ParameterRange[];
  /** Units of summing work: each bucket cut into `replicas` parts, in bucket order. */
  units: (ParameterRange & { bucket: number })[];
  /** Int32 control words, then one ready counter per bucket, then one claim word per unit. */
  control: SharedArrayBuffer;
  /** Float32 [replicas × parameters]: slot k = replica k's weighted gradient. */
  slots: SharedArrayBuffer;
  /** Float32 [parameters]: the summed (full-batch mean) gradient. */
  reduced: SharedArrayBuffer;
  /**
   * Int32 [2 × variables]: 1 where the variable got a gradient this step (written by replica 0).
   * This and `stats` alternate halves by step parity: a fast replica writes the next step's while
   * a slow one may still read this step's.
   */
  hasGradient: SharedArrayBuffer;
  /** Float64 [2 × replicas × STAT_FIELDS]: each replica's part loss (mean over its rows), correct count and compute time. */
  stats: SharedArrayBuffer;
}

/** Buckets of consecutive weights formed from the last one backwards, each ≥ `bucketFloats` but the last formed. */
export function bucketLayout(
  variableSizes: readonly number[],
  bucketFloats = BUCKET_FLOATS,
): { buckets: ParameterRange[]; bucketOf: number[] } {
  const ranges = parameterRanges(variableSizes);
  const buckets: ParameterRange[] = [];
  const bucketOf = new Array<number>(variableSizes.length).fill(0);
  let end = ranges.length > 0 ? ranges[ranges.length - 1].end : 0;
  let floats = 0;
  for (let i = variableSizes.length - 1; i >= 0; i--) {
    bucketOf[i] = buckets.length;
    floats += variableSizes[i];
    if (floats >= bucketFloats || i === 0) {
      buckets.push({ start: ranges[i].start, end });
      end = ranges[i].start;
      floats = 0;
    }
  }
  return { buckets, bucketOf };
}

/** Each weight's range in the concatenated parameter vector, in order. */
function parameterRanges(variableSizes: readonly number[]): ParameterRange[] {
  let offset = 0;
  return variableSizes.map((size) => ({ start: offset, end: (offset += size) }));
}

export function allocateExchange(replicas: number, variableSizes: readonly number[], bucketFloats = BUCKET_FLOATS): ExchangeBuffers {
  const parameters = variableSizes.reduce((a, b) => a + b, 0);
  const variables = parameterRanges(variableSizes);
  const { buckets, bucketOf } = bucketLayout(variableSizes, bucketFloats);
  const units = buckets.flatMap((b, bucket) => {
    const length = b.end - b.start;
    return Array.from({ length: replicas }, (_, k) => ({
      bucket,
      start: b.start + Math.floor((k * length) / replicas),
      end: b.start + Math.floor(((k + 1) * length) / replicas),
    })).filter((u) => u.end > u.start);
  });
  return {
    replicas,
    parameters,
    variables,
    bucketOf,
    buckets,
    units,
    control: new SharedArrayBuffer((CONTROL_WORDS + buckets.length + units.length) * 4),
    slots: new SharedArrayBuffer(Math.max(1, replicas * parameters) * 4),
    reduced: new SharedArrayBuffer(Math.max(1, parameters) * 4),
    hasGradient: new SharedArrayBuffer(Math.max(1, 2 * variableSizes.length) * 4),
    stats: new SharedArrayBuffer(2 * replicas * STAT_FIELDS * 8),
  };
}

/** Counter `value` has reached `target` (both wrap at 2³¹; they are never 2³⁰ apart). */
function reached(value: number, target: number): boolean {
  return ((value - target) | 0) >= 0;
}

/** Thrown while waiting when another replica failed: the step is abandoned. */
export class ExchangeAborted extends Error {
  constructor() {
    super('gradient exchange aborted (another replica failed)');
    this.name = 'ExchangeAborted';
  }
}

/** Where a replica's step is: which weights it has written and which buckets it has published. */
interface StepState {
  weight: number;
  /** performance.now() at beginStep: the part's compute time is measured to finishBackward. */
  startedAt: number;
  /** Per weight: uses by the forward pass not yet matched by a gradient (gradient-taps.ts). */
  pendingUses: Int32Array;
  /** Per weight: some gradient was written this step (the rest of the slot is a sum from there). */
  written: Uint8Array;
  /** Per bucket: weights not yet complete. */
  incomplete: Int32Array;
  published: Uint8Array;
}

/** One replica's view of the shared buffers. */
export class GradientExchange {
  readonly control: Int32Array;
  /** This replica's slot: its weighted gradient for the current step. */
  readonly slot: Float32Array;
  /** The summed gradient, valid after `reduce…` until the next step's units are summed. */
  readonly reduced: Float32Array;
  private readonly hasGradientWords: Int32Array;
  private readonly slots: Float32Array;
  private readonly stats: Float64Array;
  private generation = 0;
  private readonly state: StepState;
  /** Per bucket, its weights (for the incomplete counts). */
  private readonly bucketSizes: Int32Array;
  /** Units this replica summed, over all steps (the trace reads it). */
  unitsSummed = 0;

  constructor(
    readonly buffers: ExchangeBuffers,
    readonly replica: number,
  ) {
    const { replicas, parameters, variables, buckets, bucketOf } = buffers;
    this.control = new Int32Array(buffers.control);
    this.slots = new Float32Array(buffers.slots);
    this.slot = this.slots.subarray(replica * parameters, (replica + 1) * parameters);
    this.reduced = new Float32Array(buffers.reduced);
    this.hasGradientWords = new Int32Array(buffers.hasGradient);
    this.stats = new Float64Array(buffers.stats);
    this.bucketSizes = new Int32Array(buckets.length);
    for (const b of bucketOf) this.bucketSizes[b]++;
    this.state = {
      weight: 0,
      startedAt: 0,
      pendingUses: new Int32Array(variables.length),
      written: new Uint8Array(variables.length),
      incomplete: new Int32Array(buckets.length),
      published: new Uint8Array(buckets.length),
    };
    if (replicas < 1) throw new Error('an exchange needs at least one replica');
  }

  get aborted(): boolean {
    return Atomics.load(this.control, ABORTED) !== 0;
  }

  /** Wakes every waiting replica; they (and every later wait) throw ExchangeAborted. */
  abort(): void {
    Atomics.store(this.control, ABORTED, 1);
    this.bumpProgress();
  }

  /** Starts this replica's next step; its gradients are scaled by `weight` (= its rows / batch rows). */
  beginStep(weight: number): void {
    if (this.aborted) throw new ExchangeAborted();
    this.generation = (this.generation + 1) | 0;
    const s = this.state;
    s.weight = weight;
    s.startedAt = performance.now();
    s.pendingUses.fill(0);
    s.written.fill(0);
    s.incomplete.set(this.bucketSizes);
    s.published.fill(0);
  }

  /** The forward pass used weight `index` once more (its gradient will arrive as that many parts). */
  noteUse(index: number): void {
    this.state.pendingUses[index]++;
  }

  /**
   * One use's gradient of weight `index` (unweighted, the part's mean-loss gradient): added into
   * the slot; once every use's part is in, the weight is complete, and a bucket whose weights are
   * all complete is published.
   */
  addGradient(index: number, values: Float32Array): void {
    const s = this.state;
    const { start, end } = this.buffers.variables[index];
    if (values.length !== end - start) throw new Error(`gradient of weight ${index} has ${values.length} values, expected ${end - start}`);
    const slot = this.slot;
    const w = s.weight;
    if (s.written[index] === 0) {
      for (let j = 0; j < values.length; j++) slot[start + j] = values[j] * w;
      s.written[index] = 1;
    } else {
      for (let j = 0; j < values.length; j++) slot[start + j] += values[j] * w;
    }
    if (--s.pendingUses[index] === 0) {
      const bucket = this.buffers.bucketOf[index];
      if (--s.incomplete[bucket] === 0) this.publish(bucket);
    }
  }

  /**
   * Ends this replica's backward pass: weights without any gradient get zeros, every bucket not yet
   * published is, and the part's loss and correct count are shared. `hasGradient` (replica 0
   * only) records which weights the batch has a gradient for: every replica steps exactly those.
   */
  finishBackward(loss: number, correct: number, hasGradient?: (index: number) => boolean): void {
    const s = this.state;
    const half = this.generation & 1;
    const count = this.buffers.variables.length;
    this.buffers.variables.forEach(({ start, end }, i) => {
      if (s.written[i] === 0) this.slot.fill(0, start, end);
      if (hasGradient !== undefined) this.hasGradientWords[half * count + i] = hasGradient(i) ? 1 : 0;
    });
    const at = STAT_FIELDS * (half * this.buffers.replicas + this.replica);
    this.stats[at] = loss;
    this.stats[at + 1] = correct;
    this.stats[at + 2] = performance.now() - s.startedAt;
    for (let b = 0; b < this.buffers.buckets.length; b++) if (s.published[b] === 0) this.publish(b);
    Atomics.add(this.control, FINISHED, 1);
    this.bumpProgress();
  }

  /** Replica k's part of the step just reduced: loss, correct count, and its forward + backward time (ms). */
  partStats(k: number): PartStats {
    const at = STAT_FIELDS * ((this.generation & 1) * this.buffers.replicas + k);
    return { loss: this.stats[at], correct: this.stats[at + 1], computeMs: this.stats[at + 2] };
  }

  /** Whether weight `index` has a gradient in the step just reduced (as replica 0 recorded it). */
  hasGradient(index: number): boolean {
    return this.hasGradientWords[(this.generation & 1) * this.buffers.variables.length + index] === 1;
  }

  /** Sums units until every unit of the step is summed and every replica has finished (worker threads: blocks). */
  reduceBlocking(): void {
    for (;;) {
      const seen = Atomics.load(this.control, PROGRESS);
      const work = this.work();
      if (work === 'complete') return;
      if (work === 'idle') Atomics.wait(this.control, PROGRESS, seen);
    }
  }

  /** The same without blocking the event loop for long (main thread: it must still hear a worker die). */
  async reduceAsync(): Promise<void> {
    for (;;) {
      const seen = Atomics.load(this.control, PROGRESS);
      const work = this.work();
      if (work === 'complete') return;
      if (work === 'worked') continue;
      // Block briefly first: a blocked thread wakes as soon as another replica makes progress,
      // while a waitAsync promise resolves only on the event loop's next turn. Bounded, so that a
      // replica that died (which this thread hears of through the event loop) still fails the step.
      if (Atomics.wait(this.control, PROGRESS, seen, MAIN_THREAD_BLOCK_MS) === 'timed-out') {
        const waited = waitAsync(this.control, PROGRESS, seen);
        if (waited.async) await waited.value;
      }
    }
  }

  /** Claims and sums every unit that is ready now; 'complete' once the whole step is summed and every replica finished. */
  private work(): 'complete' | 'worked' | 'idle' {
    if (this.aborted) throw new ExchangeAborted();
    const { units, replicas } = this.buffers;
    const g = this.generation;
    const allReady = Math.imul(replicas, g);
    let worked = false;
    for (let u = 0; u < units.length; u++) {
      const claim = CONTROL_WORDS + this.buffers.buckets.length + u;
      if (Atomics.load(this.control, claim) === g) continue;
      if (Atomics.load(this.control, CONTROL_WORDS + units[u].bucket) !== allReady) continue;
      if (Atomics.compareExchange(this.control, claim, (g - 1) | 0, g) !== ((g - 1) | 0)) continue;
      this.sumUnit(units[u]);
      this.unitsSummed++;
      Atomics.add(this.control, DONE, 1);
      this.bumpProgress();
      worked = true;
    }
    // At least, not equal: a faster replica may already have finished its next step's backward pass.
    const complete =
      reached(Atomics.load(this.control, DONE), Math.imul(units.length, g)) && reached(Atomics.load(this.control, FINISHED), allReady);
    return complete ? 'complete' : worked ? 'worked' : 'idle';
  }

  /** Sums one unit over all slots, in slot order (see the file comment). */
  private sumUnit(unit: ParameterRange): void {
    const { replicas, parameters } = this.buffers;
    const { slots, reduced } = this;
    for (let i = unit.start; i < unit.end; i++) {
      let sum = 0;
      for (let k = 0; k < replicas; k++) sum += slots[k * parameters + i];
      reduced[i] = sum;
    }
  }

  private publish(bucket: number): void {
    this.state.published[bucket] = 1;
    Atomics.add(this.control, CONTROL_WORDS + bucket, 1);
    this.bumpProgress();
  }

  private bumpProgress(): void {
    Atomics.add(this.control, PROGRESS, 1);
    Atomics.notify(this.control, PROGRESS);
  }
}

/**
 * FNV-1a over the bits of `values`: equal checksums mean (with overwhelming likelihood) bitwise
 * equal weights; used to check that replicas' copies never drift.
 */
export function checksum(values: Float32Array): string {
  const words = new Uint32Array(values.buffer, values.byteOffset, values.length);
  let hash = 0x811c9dc5;
  for (let i = 0; i < words.length; i++) {
    hash ^= words[i];
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return `${hash.toString(16).padStart(8, '0')}:${values.length}`;
}

/**
 * One optimizer step from the summed gradient (after the exchange), on this replica's own weights
 * and optimizer state. Every replica runs it on the same bits, so their weights stay identical.
 */
export function applyReducedGradients(exchange: GradientExchange, net: TrainingModel, optimizer: Optimizer, lr: number): void {
  tf.tidy(() => {
    const grads: tf.NamedTensorMap = {};
    net.variables.forEach((v, i) => {
      const { start, end } = exchange.buffers.variables[i];
      // slice(): a tensor must not alias shared memory the next step overwrites (the cpu backend keeps arrays it is given).
      if (exchange.hasGradient(i)) grads[v.name] = tf.tensor(exchange.reduced.slice(start, end), v.shape);
    });
    optimizer.apply(grads, lr);
  });
}

/** All trainable weights, concatenated (for checksums). */
export function packedWeights(net: TrainingModel): Float32Array {
  if (net.variables.length === 0) return new Float32Array(0);
  return tf.tidy(() => tf.concat(net.variables.map((v) => v.flatten())).dataSync() as Float32Array).slice();
}
