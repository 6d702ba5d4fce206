/**
 * Mean / Sum over all axes but the last (BatchNormalization's moments and the gradients of its
 * broadcasts, NHWC), shared by mean.ts and sum.ts: the stock wasm kernels transpose the whole
 * tensor first; one JS pass with a per-channel accumulator reads it once.
 */
import * as tf from '#tfjs';
import { type BackendWasm, heapF32 } from './common.js';

/** Axes as a sorted list of non-negative indices. */
function normalisedAxes(axis: number | number[], rank: number): number[] {
  const list = Array.isArray(axis) ? axis : [axis];
  return [...new Set(list.map((a) => (a < 0 ? a + rank : a)))].sort((a, b) => a - b);
}

/** Reduces over every axis but the last, as one pass; undefined when this fast path does not apply. */
export function leadingAxesReduction(
  backend: BackendWasm,
  x: tf.TensorInfo,
  { axis, keepDims }: tf.MeanAttrs | tf.SumAttrs,
  kernelName: 'Mean' | 'Sum',
): tf.TensorInfo | undefined {
  const rank = x.shape.length;
  if (x.dtype !== 'float32' || rank < 2) return undefined;
  const axes = normalisedAxes(axis, rank);
  if (axes.length !== rank - 1 || axes.some((a, i) => a !== i)) return undefined;
  const channels = x.shape[rank - 1];
  const rows = tf.util.sizeFromShape(x.shape) / channels;
  if (channels === 0 || rows === 0) return undefined;
  const outShape = keepDims ? [...x.shape.slice(0, -1).map(() => 1), channels] : [channels];
  const out = backend.makeOutput(outShape, 'float32');
  const values = heapF32(backend, x);
  // Blocks of rows, one channel at a time with a register sum (cf. fused-batch-norm-grad-kernel.ts); Float64
  // totals across blocks, since the sums run over batch·height·width terms.
  const totals = new Float64Array(channels);
  const block = 128;
  for (let firstRow = 0; firstRow < rows; firstRow += block) {
    const end = Math.min(rows, firstRow + block) * channels;
    for (let c = 0; c < channels; c++) {
      let s = 0;
      for (let i = firstRow * channels + c; i < end; i += channels) s += values[i];
      totals[c] += s;
    }
  }
  const result = heapF32(backend, out);
  const scale = kernelName === 'Mean' ? 1 / rows : 1;
  for (let c = 0; c < channels; c++) result[c] = totals[c] * scale;
  return out;
}
