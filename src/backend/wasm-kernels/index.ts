/**
 * slim's own wasm kernels: the ones training needs that tfjs-backend-wasm 4.22 lacks, and
 * faster replacements for stock ones that dominated a training step (see bench/profile-train.ts).
 * Found by comparing tf.getKernelsForBackend('wasm') with 'cpu', by running gradients of
 * real nets on both (test/backend-kernels.test.ts) and by profiling training steps.
 */
import * as tf from '#tfjs';
import { conv2DBackpropFilterConfig } from './conv2d-backprop-filter.js';
import { conv2DBackpropInputConfig } from './conv2d-backprop-input.js';
import { depthwiseBackpropFilterConfig } from './depthwise-backprop-filter.js';
import { depthwiseBackpropInputConfig } from './depthwise-backprop-input.js';
import { fusedBatchNormGradKernelConfig } from './fused-batch-norm-grad-kernel.js';
import { fusedBatchNormGradConfig } from './fused-batch-norm-gradient.js';
import { batchMomentsKernelConfig } from './batch-moments.js';
import { batchNormTrainingGradKernelConfig } from './batch-norm-training-grad.js';
import { maxPoolGradConfig } from './max-pool-grad.js';
import { castConfig } from './cast.js';
import { identityConfig } from './identity.js';
import { meanConfig } from './mean.js';
import { sumConfig } from './sum.js';
import { clipByValueGradKernelConfig } from './clip-by-value-grad-kernel.js';
import { clipByValueGradConfig } from './clip-by-value-gradient.js';
import { rememberStockKernel, stockKernelIfAny } from './stock.js';

/** Kernels the stock wasm backend does not have. */
export const SLIM_WASM_KERNELS: readonly tf.KernelConfig[] = [
  conv2DBackpropFilterConfig,
  depthwiseBackpropFilterConfig,
  depthwiseBackpropInputConfig,
  fusedBatchNormGradKernelConfig,
  clipByValueGradKernelConfig,
  // The fused training-mode BatchNorm's (src/train/fused-bn.ts).
  batchMomentsKernelConfig,
  batchNormTrainingGradKernelConfig,
];

/** Stock wasm kernels slim replaces with faster ones (same maths, checked against cpu). */
export const SLIM_WASM_REPLACEMENTS: readonly tf.KernelConfig[] = [
  conv2DBackpropInputConfig,
  maxPoolGradConfig,
  identityConfig,
  castConfig,
  meanConfig,
  sumConfig,
];

/**
 * Registers slim's kernels for the 'wasm' backend, and slim's FusedBatchNorm and ClipByValue gradients
 * (global: tf.registerGradient has no per-backend form; it picks its wasm kernel itself). Idempotent; a missing kernel the wasm
 * package already provides (a future version) is left alone. Replacements keep the stock
 * kernel reachable (stockKernel()) and chain its setup, so a fallback to it still works.
 * @returns names of the kernels slim registered (now or earlier).
 */
export function registerSlimWasmKernels(): string[] {
  const registered: string[] = [];
  // Global (all backends), same maths as tfjs-core's; see fused-batch-norm-gradient.ts.
  if (tf.getGradient('FusedBatchNorm') !== fusedBatchNormGradConfig) tf.registerGradient(fusedBatchNormGradConfig);
  if (tf.getGradient('ClipByValue') !== clipByValueGradConfig) tf.registerGradient(clipByValueGradConfig);
  for (const config of SLIM_WASM_KERNELS) {
    const existing = tf.getKernel(config.kernelName, 'wasm');
    if (existing === undefined) {
      tf.registerKernel(config);
      registered.push(config.kernelName);
    } else if (existing.kernelFunc === config.kernelFunc) {
      registered.push(config.kernelName);
    }
  }
  for (const config of SLIM_WASM_REPLACEMENTS) {
    const existing = tf.getKernel(config.kernelName, 'wasm');
    registered.push(config.kernelName);
    if (existing?.kernelFunc === config.kernelFunc) continue;
    if (existing !== undefined) {
      rememberStockKernel(existing);
      tf.unregisterKernel(config.kernelName, 'wasm');
    }
    // The stock setupFunc (cwrap of its C++ entry) still has to run when the backend starts.
    const stockSetup = existing?.setupFunc;
    tf.registerKernel({ ...config, setupFunc: stockSetup ?? config.setupFunc });
  }
  return registered;
}

/**
 * Puts the stock wasm kernels back in place of slim's replacements until the returned function is
 * called. Timing a predict measures what a user's stock tfjs runs, not slim's training kernels
 * (some of which are slower for inference shapes). Nothing to swap when slim's kernels are not
 * registered.
 */
export function useStockWasmKernels(): () => void {
  const swapped: tf.KernelConfig[] = [];
  for (const config of SLIM_WASM_REPLACEMENTS) {
    const active = tf.getKernel(config.kernelName, 'wasm');
    const stock = stockKernelIfAny(config.kernelName);
    if (active === undefined || stock === undefined || active.kernelFunc !== config.kernelFunc) continue;
    tf.unregisterKernel(config.kernelName, 'wasm');
    tf.registerKernel(stock);
    swapped.push(active);
  }
  return () => {
    for (const slim of swapped) {
      tf.unregisterKernel(slim.kernelName, 'wasm');
      tf.registerKernel(slim);
    }
  };
}
