/**
 * Two wasm kernels behind slim's fused training-mode BatchNormalization (src/train/fused-bn.ts):
 *  - 'SlimBatchMoments': per-channel mean and biased variance over every axis but the last,
 *    one read pass over x (shifted sums, see batchMoments) and no full-size temporaries
 *    (tf.moments makes a squared-difference tensor and reduces twice);
 *  - 'SlimBatchNormTrainingGrad': the closed-form gradient of y = (x − mean)·r·γ + β with
 *    batch statistics (r = 1/√(var + ε)), where mean and var depend on x. Per channel, with
 *    M rows, S1 = Σ dy and S2 = Σ dy·(x − mean):
 *      dx = γ·r·(dy − S1/M − (x − mean)·r²·S2/M),  dγ = r·S2,  dβ = S1.
 *    One pass for the sums, one to write dx.
 * Both read x (and dy) straight from the heap, blocked by rows like batch-norm-grad.ts.
 */
import * as tf from '@tensorflow/tfjs';
import { batchNormGradInputs, batchNormGradViews } from './batch-norm-grad.js';
import { asWasmBackend, heapF32, requireFloat32 } from './common.js';

export const BATCH_MOMENTS_KERNEL = 'SlimBatchMoments';
export const BN_TRAINING_GRAD_KERNEL = 'SlimBatchNormTrainingGrad';

/** Rows per block: a block of x stays in cache while every channel's sum runs over it. */
const ROW_BLOCK = 128;

type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap };

/** Inputs x (rank ≥ 2, float32); outputs [mean, variance], both [channels]. */
function batchMoments(args: KernelArgs): tf.TensorInfo[] {
  const backend = asWasmBackend(args.backend, BATCH_MOMENTS_KERNEL);
  const { x } = args.inputs as { x: tf.TensorInfo };
  requireFloat32(BATCH_MOMENTS_KERNEL, x);
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
  for (let firstRow = 0; firstRow < rows; firstRow += ROW_BLOCK) {
    const end = Math.min(rows, firstRow + ROW_BLOCK) * channels;
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

/** Inputs x, dy, mean, variance[, scale]; outputs [dx, dscale, doffset]. */
function batchNormTrainingGrad(args: KernelArgs): tf.TensorInfo[] {
  const backend = asWasmBackend(args.backend, BN_TRAINING_GRAD_KERNEL);
  const inputs = batchNormGradInputs(args, BN_TRAINING_GRAD_KERNEL);
  const { x, varianceEpsilon } = inputs;
  const channels = x.shape[x.shape.length - 1];
  const size = tf.util.sizeFromShape(x.shape);
  const rows = size / channels;

  const dxInfo = backend.makeOutput(x.shape, 'float32');
  const dScaleInfo = backend.makeOutput([channels], 'float32');
  const dOffsetInfo = backend.makeOutput([channels], 'float32');
  const dx = heapF32(backend, dxInfo);
  const { xv, dyv, meanv, varv, scalev } = batchNormGradViews(backend, inputs);

  // Pass 1: S1 = Σ dy, S2 = Σ dy·(x − mean).
  const sumDy = new Float64Array(channels);
  const sumDyCentered = new Float64Array(channels);
  for (let firstRow = 0; firstRow < rows; firstRow += ROW_BLOCK) {
    const end = Math.min(rows, firstRow + ROW_BLOCK) * channels;
    for (let c = 0; c < channels; c++) {
      const m = meanv[c];
      let s1 = 0;
      let s2 = 0;
      for (let i = firstRow * channels + c; i < end; i += channels) {
        const g = dyv[i];
        s1 += g;
        s2 += g * (xv[i] - m);
      }
      sumDy[c] += s1;
      sumDyCentered[c] += s2;
    }
  }
  // Pass 2: dx = a·dy + b·(x − mean) + offset, per-channel a, b and offset.
  const a = new Float64Array(channels);
  const b = new Float64Array(channels);
  const offset = new Float64Array(channels);
  const rsqrt = new Float64Array(channels);
  for (let c = 0; c < channels; c++) {
    const r = 1 / Math.sqrt(varv[c] + varianceEpsilon);
    rsqrt[c] = r;
    const gain = r * (scalev ? scalev[c] : 1);
    a[c] = gain;
    b[c] = (-gain * r * r * sumDyCentered[c]) / rows;
    offset[c] = (-gain * sumDy[c]) / rows + (gain * r * r * sumDyCentered[c] * meanv[c]) / rows;
  }
  // Written as a·dy + b·x + offset (−b·mean folded into offset). In memory order: this pass only
  // reads the per-channel arrays, so the contiguous walk beats the blocked per-channel one.
  for (let row = 0, i = 0; row < rows; row++) {
    for (let c = 0; c < channels; c++, i++) dx[i] = a[c] * dyv[i] + b[c] * xv[i] + offset[c];
  }
  const dScale = heapF32(backend, dScaleInfo);
  const dOffset = heapF32(backend, dOffsetInfo);
  for (let c = 0; c < channels; c++) {
    dScale[c] = rsqrt[c] * sumDyCentered[c];
    dOffset[c] = sumDy[c]!;
  }
  return [dxInfo, dScaleInfo, dOffsetInfo];
}

export const batchMomentsKernelConfig: tf.KernelConfig = {
  kernelName: BATCH_MOMENTS_KERNEL,
  backendName: 'wasm',
  kernelFunc: batchMoments,
};

export const batchNormTrainingGradKernelConfig: tf.KernelConfig = {
  kernelName: BN_TRAINING_GRAD_KERNEL,
  backendName: 'wasm',
  kernelFunc: batchNormTrainingGrad,
};
