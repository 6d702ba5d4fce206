/**
 * 'SlimBatchMoments', behind slim's fused training-mode BatchNormalization (src/train/fused-bn.ts):
 * per-channel mean and biased variance over every axis but the last, one read pass over x
 * (shifted sums, see batchMoments) and no full-size temporaries (tf.moments makes a
 * squared-difference tensor and reduces twice). Reads x straight from the heap, blocked by
 * rows like the BatchNorm gradient kernels.
 */
import * as tf from '#tfjs';
import { BN_ROW_BLOCK } from './batch-norm-grad-common.js';
import { type BackendWasm, float32Inputs, heapF32 } from './common.js';

export const BATCH_MOMENTS_KERNEL = 'SlimBatchMoments';

/** The kernel's only input, x (rank ≥ 2, float32); it has no attrs. */
export type BatchMomentsInputs = Pick<tf.NamedTensorInfoMap, 'x'>;

/** Inputs x (rank ≥ 2, float32); outputs [mean, variance], both [channels]. */
function batchMoments(args: { inputs: BatchMomentsInputs; backend: BackendWasm }): tf.TensorInfo[] {
  const { backend } = args;
  const { x } = float32Inputs(BATCH_MOMENTS_KERNEL, args.inputs, 'x');
  const channels = x.shape[x.shape.length - 1];
  const rows = tf.util.sizeFromShape(x.shape) / channels;
  const meanInfo = backend.makeOutput([channels], 'float32');
  const varianceInfo = backend.makeOutput([channels], 'float32');
  const values = heapF32(backend, x);
  // One pass over values shifted by the channel's first value (d = x − x₀): mean = x₀ + Σd/M and
  // variance = (Σd² − (Σd)²/M)/M. The shift is within a few std of the mean, so unlike plain
  // E[x²] − mean² nothing cancels when |mean| ≫ std; sums are doubles (JS numbers).
  const shift = values.slice(0, channels);
  const sums = new Float64Array(channels);
  const squares = new Float64Array(channels);
  for (let firstRow = 0; firstRow < rows; firstRow += BN_ROW_BLOCK) {
    const end = Math.min(rows, firstRow + BN_ROW_BLOCK) * channels;
    for (let c = 0; c < channels; c++) {
      const k = shift[c];
      let s = 0;
      let q = 0;
      for (let i = firstRow * channels + c; i < end; i += channels) {
        const d = values[i] - k;
        s += d;
        q += d * d;
      }
      sums[c] += s;
      squares[c] += q;
    }
  }
  const meanOut = heapF32(backend, meanInfo);
  const varianceOut = heapF32(backend, varianceInfo);
  for (let c = 0; c < channels; c++) {
    const meanShifted = sums[c] / rows;
    meanOut[c] = shift[c] + meanShifted;
    varianceOut[c] = Math.max(0, squares[c] / rows - meanShifted * meanShifted);
  }
  return [meanInfo, varianceInfo];
}

export const batchMomentsKernelConfig: tf.KernelConfig = {
  kernelName: BATCH_MOMENTS_KERNEL,
  backendName: 'wasm',
  kernelFunc: batchMoments as unknown as tf.KernelFunc,
};
