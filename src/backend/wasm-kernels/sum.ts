/**
 * Replaces the stock wasm Sum kernel, whose cost in a training step is overhead, not maths
 * (found with bench/profile-train.ts --detail <Kernel>):
 *  Sum over every axis but the last runs as one pass (leading-axes-reduction.ts); other
 *  reductions go to the stock kernel.
 */
import * as tf from '#tfjs';
import type { BackendWasm } from './common.js';
import { leadingAxesReduction } from './leading-axes-reduction.js';
import { stockKernel } from './stock.js';

function sum(args: { inputs: tf.SumInputs; backend: BackendWasm; attrs: tf.SumAttrs }): tf.TensorInfo {
  const { x } = args.inputs;
  const fast = x === undefined ? undefined : leadingAxesReduction(args.backend, x, args.attrs, 'Sum');
  return fast ?? (stockKernel('Sum').kernelFunc({ ...args, attrs: { ...args.attrs } }) as tf.TensorInfo);
}

export const sumConfig: tf.KernelConfig = { kernelName: 'Sum', backendName: 'wasm', kernelFunc: sum as unknown as tf.KernelFunc };
