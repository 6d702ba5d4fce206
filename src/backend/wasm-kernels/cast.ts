/**
 * Replaces the stock wasm Cast kernel, whose cost in a training step is overhead, not maths
 * (found with bench/profile-train.ts --detail <Kernel>):
 *  a Cast to the dtype the tensor already has (tfjs-core always runs the kernel; tf.layers
 *  casts float32 to float32 in every BatchNormalization and loss) shares the data with a
 *  reference count, as identity.ts does. Other casts go to the stock kernel.
 */
import * as tf from '#tfjs';
import { type BackendWasm, shareData } from './common.js';
import { stockKernel } from './stock.js';

function cast(args: { inputs: tf.CastInputs; backend: BackendWasm; attrs: tf.CastAttrs }): tf.TensorInfo {
  const { x } = args.inputs;
  if (x === undefined || args.attrs.dtype !== x.dtype || x.dtype === 'string') {
    return stockKernel('Cast').kernelFunc({ ...args, attrs: { ...args.attrs } }) as tf.TensorInfo;
  }
  return shareData(args.backend, x);
}

export const castConfig: tf.KernelConfig = { kernelName: 'Cast', backendName: 'wasm', kernelFunc: cast as unknown as tf.KernelFunc };
