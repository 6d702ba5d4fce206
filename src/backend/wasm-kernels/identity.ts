/**
 * Replaces the stock wasm Identity kernel, whose cost in a training step is overhead, not maths
 * (found with bench/profile-train.ts --detail <Kernel>):
 *  tfjs-core's engine clones every tensor it saves for the backward pass (engine.clone →
 *  Identity kernel); the stock wasm Identity copies the data (~10 full-size copies per conv
 *  layer per step). Tensors are immutable, so the clone can share the data with a reference
 *  count, as the cpu backend and the wasm Reshape kernel do.
 */
import * as tf from '#tfjs';
import { type BackendWasm, shareData } from './common.js';
import { stockKernel } from './stock.js';

function identity(args: { inputs: tf.IdentityInputs; backend: BackendWasm }): tf.TensorInfo {
  const { x } = args.inputs;
  if (x === undefined || x.dtype === 'string') return stockKernel('Identity').kernelFunc(args) as tf.TensorInfo;
  return shareData(args.backend, x);
}

export const identityConfig: tf.KernelConfig = {
  kernelName: 'Identity',
  backendName: 'wasm',
  kernelFunc: identity as unknown as tf.KernelFunc,
};
