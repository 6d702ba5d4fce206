/**
 * Shared by the BatchNorm gradient kernels ('SlimFusedBatchNormGrad' in
 * fused-batch-norm-grad-kernel.ts, 'SlimBatchNormTrainingGrad' in batch-norm-training-grad.ts)
 * and 'SlimBatchMoments' (batch-moments.ts).
 */
import type * as tf from '#tfjs';
import { type BackendWasm, float32Inputs, heapF32, requireFloat32 } from './common.js';

/** Rows (pixels) per block of a single pass: a block of x stays in cache while every channel's sum runs over it. */
export const BN_ROW_BLOCK = 128;

/** The named inputs of both BatchNorm gradient kernels (scale optional); attrs are tfjs-core's FusedBatchNormAttrs. */
export type BatchNormGradInputs = Pick<tf.NamedTensorInfoMap, 'x' | 'dy' | 'mean' | 'variance' | 'scale'>;

/** Those inputs checked (float32, present but for scale), with ε. */
export interface BatchNormGradOperands {
  x: tf.TensorInfo;
  dy: tf.TensorInfo;
  mean: tf.TensorInfo;
  variance: tf.TensorInfo;
  scale?: tf.TensorInfo;
  varianceEpsilon: number;
}

export function batchNormGradOperands(
  args: { inputs: BatchNormGradInputs; attrs: tf.FusedBatchNormAttrs },
  kernelName: string,
): BatchNormGradOperands {
  const { scale } = args.inputs;
  const { x, dy, mean, variance } = float32Inputs(kernelName, args.inputs, 'x', 'dy', 'mean', 'variance');
  if (scale) requireFloat32(kernelName, scale);
  return { x, dy, mean, variance, scale, varianceEpsilon: args.attrs.varianceEpsilon };
}

/** Heap views of those inputs. Take them only after every makeOutput: the heap may grow and detach earlier views. */
export function batchNormGradViews(backend: BackendWasm, inputs: BatchNormGradOperands) {
  return {
    xv: heapF32(backend, inputs.x),
    dyv: heapF32(backend, inputs.dy),
    meanv: heapF32(backend, inputs.mean),
    varv: heapF32(backend, inputs.variance),
    scalev: inputs.scale ? heapF32(backend, inputs.scale) : null,
  };
}
