/**
 * 'SlimFusedBatchNormGrad': the one-pass wasm kernel behind slim's FusedBatchNorm gradient
 * (see fused-batch-norm-gradient.ts for the maths).
 */
import * as tf from '#tfjs';
import { type BatchNormGradInputs, BN_ROW_BLOCK, batchNormGradOperands, batchNormGradViews } from './batch-norm-grad-common.js';
import { type BackendWasm, heapF32 } from './common.js';

export const FUSED_BN_GRAD_KERNEL = 'SlimFusedBatchNormGrad';

/** Inputs x, dy, mean, variance[, scale]; outputs [dx, dmean, dvariance, dscale, doffset]. */
function fusedBatchNormGrad(args: { inputs: BatchNormGradInputs; backend: BackendWasm; attrs: tf.FusedBatchNormAttrs }): tf.TensorInfo[] {
  const { backend } = args;
  const inputs = batchNormGradOperands(args, FUSED_BN_GRAD_KERNEL);
  const { x, mean, varianceEpsilon } = inputs;
  const channels = mean.shape[0];
  const size = tf.util.sizeFromShape(x.shape);

  const dxInfo = backend.makeOutput(x.shape, 'float32');
  const outputs = [0, 1, 2, 3].map(() => backend.makeOutput([channels], 'float32'));
  const dx = heapF32(backend, dxInfo);
  const { xv, dyv, meanv, varv, scalev } = batchNormGradViews(backend, inputs);

  const rsqrt = new Float32Array(channels);
  const dxFactor = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    rsqrt[c] = 1 / Math.sqrt(varv[c] + varianceEpsilon);
    dxFactor[c] = rsqrt[c] * (scalev ? scalev[c] : 1);
  }
  // Blocks of rows, one channel at a time: the sums stay in registers (a per-element
  // read-modify-write of a per-channel array was ~40% slower) and a block stays in cache.
  // Float64 totals: the sums run over batch·height·width terms.
  const sumDy = new Float64Array(channels);
  const sumDyCentered = new Float64Array(channels);
  const rows = size / channels;
  for (let firstRow = 0; firstRow < rows; firstRow += BN_ROW_BLOCK) {
    const end = Math.min(rows, firstRow + BN_ROW_BLOCK) * channels;
    for (let c = 0; c < channels; c++) {
      const m = meanv[c];
      const factor = dxFactor[c];
      let s1 = 0;
      let s2 = 0;
      for (let i = firstRow * channels + c; i < end; i += channels) {
        const g = dyv[i];
        s1 += g;
        s2 += g * (xv[i] - m);
        dx[i] = g * factor;
      }
      sumDy[c] += s1;
      sumDyCentered[c] += s2;
    }
  }
  const [dMean, dVariance, dScale, dOffset] = outputs.map((o) => heapF32(backend, o)) as [
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
  ];
  for (let c = 0; c < channels; c++) {
    const r = rsqrt[c];
    const s = scalev ? scalev[c] : 1;
    dMean[c] = -r * s * sumDy[c];
    dVariance[c] = -0.5 * r * r * r * s * sumDyCentered[c];
    dScale[c] = r * sumDyCentered[c];
    dOffset[c] = sumDy[c]!;
  }
  return [dxInfo, ...outputs];
}

export const fusedBatchNormGradKernelConfig: tf.KernelConfig = {
  kernelName: FUSED_BN_GRAD_KERNEL,
  backendName: 'wasm',
  kernelFunc: fusedBatchNormGrad as unknown as tf.KernelFunc,
};
