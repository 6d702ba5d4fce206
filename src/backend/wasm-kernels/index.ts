/**
 * slim's own wasm kernels: the ones training needs that tfjs-backend-wasm 4.22 lacks.
 * Found by comparing tf.getKernelsForBackend('wasm') with 'cpu' and by running
 * gradients of real nets on both (see test/backend-kernels.test.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { conv2DBackpropFilterConfig } from './conv2d-backprop-filter.js';
import { depthwiseBackpropFilterConfig, depthwiseBackpropInputConfig } from './depthwise-backprop.js';

export const SLIM_WASM_KERNELS: readonly tf.KernelConfig[] = [
  conv2DBackpropFilterConfig,
  depthwiseBackpropFilterConfig,
  depthwiseBackpropInputConfig,
];

/**
 * Registers slim's kernels for the 'wasm' backend. Idempotent; a kernel the wasm package
 * already provides (a future version) is left alone.
 * @returns names of the kernels slim registered (now or earlier).
 */
export function registerSlimWasmKernels(): string[] {
  const registered: string[] = [];
  for (const config of SLIM_WASM_KERNELS) {
    const existing = tf.getKernel(config.kernelName, 'wasm');
    if (existing === undefined) {
      tf.registerKernel(config);
      registered.push(config.kernelName);
    } else if (existing.kernelFunc === config.kernelFunc) {
      registered.push(config.kernelName);
    }
  }
  return registered;
}
