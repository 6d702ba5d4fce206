/**
 * The gradient exchange of data-parallel training (replicas.ts) in shared memory: every replica
 * (the main thread is replica 0, worker k is replica k) writes its part-weighted gradient into its
 * own slot of one SharedArrayBuffer, waits at a barrier, sums its 1/N slice of the parameter
 * vector over all slots (reduce-scatter), waits again, and then reads the whole summed gradient
 * (all-gather by reading shared memory). Each replica writes P floats and reads 2·P per step,
 * whatever N is, and nothing is structured-cloned.
 *
 * Floating point: slot k holds g_k·(n_k/n) in float32; each element of the sum is accumulated
 * over k = 0..N−1 in that order in float64 and rounded once to float32. The order depends only on
 * N, not on timing, so for a fixed replica count a run is bit-reproducible, and every replica
 * reads the same bits (hence, with the same optimizer code, keeps the same weights).
 */

import * as tf from '@tensorflow/tfjs';
import type { Optimizer, TrainingModel } from './step.js';

/** Indices into the control words. */
const ARRIVED = 0;
const GENERATION = 1;
const ABORTED = 2;
const CONTROL_WORDS = 4;
/** How long the main thread blocks at a barrier before it waits asynchronously (see barrierAsync). */
const MAIN_THREAD_BLOCK_MS = 20;

/** Atomics.waitAsync (Node ≥ 16; not yet in this TypeScript lib's Atomics type). */
type WaitAsync = (
  array: Int32Array,
  index: number,
  value: number,
) => { async: false; value: string } | { async: true; value: Promise<string> };
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;

/** What every replica is given at start: the same SharedArrayBuffers. */
export interface ExchangeBuffers {
  replicas: number;
  /** Number of trainable parameters (all weights, concatenated in trainableWeights order). */
  parameters: number;
  /** Number of trainable weights (variables). */
  variables: number;
  /** Int32 control words: barrier counter, barrier generation, aborted flag. */
  control: SharedArrayBuffer;
  /** Float32 [replicas × parameters]: slot k = replica k's weighted gradient. */
  slots: SharedArrayBuffer;
  /** Float32 [parameters]: the summed (full-batch mean) gradient. */
  reduced: SharedArrayBuffer;
  /** Int32 [variables]: 1 where the variable got a gradient this step (written by replica 0). */
  hasGradient: SharedArrayBuffer;
}

export function allocateExchange(replicas: number, variableSizes: readonly number[]): ExchangeBuffers {
  const parameters = variableSizes.reduce((a, b) => a + b, 0);
  return {
    replicas,
    parameters,
    variables: variableSizes.length,
    control: new SharedArrayBuffer(CONTROL_WORDS * 4),
    slots: new SharedArrayBuffer(replicas * parameters * 4),
    reduced: new SharedArrayBuffer(parameters * 4),
    hasGradient: new SharedArrayBuffer(Math.max(1, variableSizes.length) * 4),
  };
}

/** Thrown at a barrier when another replica failed: the step is abandoned. */
export class ExchangeAborted extends Error {
  constructor() {
    super('gradient exchange aborted (another replica failed)');
    this.name = 'ExchangeAborted';
  }
}

/** One replica's view of the shared buffers. */
export class GradientExchange {
  readonly control: Int32Array;
  /** This replica's slot: write the weighted gradient here before `reduce`. */
  readonly slot: Float32Array;
  /** The summed gradient, valid after `reduce` until the next step's reduce. */
  readonly reduced: Float32Array;
  readonly hasGradient: Int32Array;
  private readonly slots: Float32Array;
  /** This replica's slice of the parameter vector [start, end). */
  private readonly start: number;
  private readonly end: number;

  constructor(
    readonly buffers: ExchangeBuffers,
    readonly replica: number,
  ) {
    const { replicas, parameters } = buffers;
    this.control = new Int32Array(buffers.control);
    this.slots = new Float32Array(buffers.slots);
    this.slot = this.slots.subarray(replica * parameters, (replica + 1) * parameters);
    this.reduced = new Float32Array(buffers.reduced);
    this.hasGradient = new Int32Array(buffers.hasGradient);
    this.start = Math.floor((replica * parameters) / replicas);
    this.end = Math.floor(((replica + 1) * parameters) / replicas);
  }

  get aborted(): boolean {
    return Atomics.load(this.control, ABORTED) !== 0;
  }

  /** Wakes every replica waiting at a barrier; they (and all later barriers) throw ExchangeAborted. */
  abort(): void {
    Atomics.store(this.control, ABORTED, 1);
    Atomics.add(this.control, GENERATION, 1);
    Atomics.notify(this.control, GENERATION);
  }

  /** Sums this replica's slice over all slots, in slot order (see the file comment). */
  reduceOwnSlice(): void {
    const { replicas, parameters } = this.buffers;
    const { slots, reduced } = this;
    for (let i = this.start; i < this.end; i++) {
      let sum = 0;
      for (let k = 0; k < replicas; k++) sum += slots[k * parameters + i];
      reduced[i] = sum;
    }
  }

  /** Blocking reduce (worker threads): barrier, own slice, barrier. */
  reduceBlocking(): void {
    this.barrierBlocking();
    this.reduceOwnSlice();
    this.barrierBlocking();
  }

  /** The same without blocking the event loop (main thread: it must still hear a worker die). */
  async reduceAsync(): Promise<void> {
    await this.barrierAsync();
    this.reduceOwnSlice();
    await this.barrierAsync();
  }

  /** Returns the generation to wait past, or undefined if this replica was the last to arrive. */
  private arrive(): number | undefined {
    if (this.aborted) throw new ExchangeAborted();
    const generation = Atomics.load(this.control, GENERATION);
    if (Atomics.add(this.control, ARRIVED, 1) === this.buffers.replicas - 1) {
      Atomics.store(this.control, ARRIVED, 0);
      Atomics.add(this.control, GENERATION, 1);
      Atomics.notify(this.control, GENERATION);
      return undefined;
    }
    return generation;
  }

  private barrierBlocking(): void {
    const generation = this.arrive();
    if (generation === undefined) return;
    while (Atomics.load(this.control, GENERATION) === generation) Atomics.wait(this.control, GENERATION, generation);
    if (this.aborted) throw new ExchangeAborted();
  }

  private async barrierAsync(): Promise<void> {
    const generation = this.arrive();
    if (generation === undefined) return;
    // Block briefly first: a blocked thread wakes as soon as the last replica arrives, while a
    // waitAsync promise resolves only on the event loop's next turn. Bounded, so that a replica
    // that died (which this thread hears of through the event loop) still fails the step.
    Atomics.wait(this.control, GENERATION, generation, MAIN_THREAD_BLOCK_MS);
    while (Atomics.load(this.control, GENERATION) === generation) {
      const waited = waitAsync(this.control, GENERATION, generation);
      if (waited.async) await waited.value;
    }
    if (this.aborted) throw new ExchangeAborted();
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
 * Writes one replica's part-mean gradients, times `weight` (= part size / batch size), into its
 * slot in trainableWeights order; variables without a gradient get zeros. Replica 0 (whose part is
 * never empty) also records which variables had one: every replica steps exactly those.
 */
export function writeWeightedGradients(exchange: GradientExchange, net: TrainingModel, grads: tf.NamedTensorMap, weight: number): void {
  const slot = exchange.slot;
  let offset = 0;
  net.variables.forEach((v, i) => {
    const g = grads[v.name];
    if (exchange.replica === 0) exchange.hasGradient[i] = g === undefined ? 0 : 1;
    if (g === undefined) {
      slot.fill(0, offset, offset + v.size);
    } else {
      const values = g.dataSync() as Float32Array;
      for (let j = 0; j < values.length; j++) slot[offset + j] = values[j] * weight;
    }
    offset += v.size;
  });
}

/** A replica with no rows in this batch still takes part in the exchange, with zeros. */
export function writeEmptyPart(exchange: GradientExchange): void {
  exchange.slot.fill(0);
}

/**
 * One optimizer step from the summed gradient (after the exchange), on this replica's own weights
 * and optimizer state. Every replica runs it on the same bits, so their weights stay identical.
 */
export function applyReducedGradients(exchange: GradientExchange, net: TrainingModel, optimizer: Optimizer, lr: number): void {
  tf.tidy(() => {
    const grads: tf.NamedTensorMap = {};
    let offset = 0;
    net.variables.forEach((v, i) => {
      // slice(): a tensor must not alias shared memory the next step overwrites (the cpu backend keeps arrays it is given).
      if (exchange.hasGradient[i] === 1) grads[v.name] = tf.tensor(exchange.reduced.slice(offset, offset + v.size), v.shape);
      offset += v.size;
    });
    optimizer.apply(grads, lr);
  });
}

/** All trainable weights, concatenated (for checksums). */
export function packedWeights(net: TrainingModel): Float32Array {
  if (net.variables.length === 0) return new Float32Array(0);
  return tf.tidy(() => tf.concat(net.variables.map((v) => v.flatten())).dataSync() as Float32Array).slice();
}
