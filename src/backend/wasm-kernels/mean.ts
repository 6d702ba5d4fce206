/**
 * Replaces the stock wasm Mean kernel, whose cost in a training step is overhead, not maths
 * (found with bench/profile-train.ts --detail <Kernel>):
 *  Mean over every axis but the last runs as one pass (leading-axes-reduction.ts); other
 *  reductions go to the stock kernel.
 */
import * as tf from '#tfjs';
import type { BackendWasm } from './common.js';
import { leadingAxesReduction } from './leading-axes-reduction.js';
import { stockKernel } from './stock.js';

function mean(args: { inputs: tf.MeanInputs; backend: BackendWasm; attrs: tf.MeanAttrs }): tf.TensorInfo {
  const { x } = args.inputs;
  const fast = x === undefined ? undefined : leadingAxesReduction(args.backend, x, args.attrs, 'Mean');
  return fast ?? (stockKernel('Mean').kernelFunc({ ...args, attrs: { ...args.attrs } }) as tf.TensorInfo);
}

export const meanConfig: tf.KernelConfig = { kernelName: 'Mean', backendName: 'wasm', kernelFunc: mean as unknown as tf.KernelFunc };
