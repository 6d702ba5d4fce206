/**
 * 'SlimBatchNormTrainingGrad', behind slim's fused training-mode BatchNormalization
 * (src/train/fused-bn.ts): the closed-form gradient of y = (x − mean)·r·γ + β with batch
 * statistics (r = 1/√(var + ε)), where mean and var depend on x. Per channel, with M rows,
 * S1 = Σ dy and S2 = Σ dy·(x − mean):
 *   dx = γ·r·(dy − S1/M − (x − mean)·r²·S2/M),  dγ = r·S2,  dβ = S1.
 * One pass for the sums, one to write dx; reads x and dy straight from the heap, blocked by rows.
 */
import * as tf from '#tfjs';
import { type BatchNormGradInputs, BN_ROW_BLOCK, batchNormGradOperands, batchNormGradViews } from './batch-norm-grad-common.js';
import { type BackendWasm, heapF32 } from './common.js';

export const BN_TRAINING_GRAD_KERNEL = 'SlimBatchNormTrainingGrad';

/** Inputs x, dy, mean, variance[, scale]; outputs [dx, dscale, doffset]. */
function batchNormTrainingGrad(args: {
  inputs: BatchNormGradInputs;
  backend: BackendWasm;
  attrs: tf.FusedBatchNormAttrs;
}): tf.TensorInfo[] {
  const { backend } = args;
  const inputs = batchNormGradOperands(args, BN_TRAINING_GRAD_KERNEL);
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
  for (let firstRow = 0; firstRow < rows; firstRow += BN_ROW_BLOCK) {
    const end = Math.min(rows, firstRow + BN_ROW_BLOCK) * channels;
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

export const batchNormTrainingGradKernelConfig: tf.KernelConfig = {
  kernelName: BN_TRAINING_GRAD_KERNEL,
  backendName: 'wasm',
  kernelFunc: batchNormTrainingGrad as unknown as tf.KernelFunc,
};
