/** The stock wasm kernels slim replaced, kept so a replacement can fall back to them. */
import type * as tf from '#tfjs';

const stock = new Map<string, tf.KernelConfig>();

export function rememberStockKernel(config: tf.KernelConfig): void {
  stock.set(config.kernelName, config);
}

/** The stock wasm kernel that slim replaced under this name (throws if there is none). */
export function stockKernel(kernelName: string): tf.KernelConfig {
  const config = stock.get(kernelName);
  if (config === undefined) throw new Error(`slim wasm kernels: no stock '${kernelName}' kernel to fall back to`);
  return config;
}

/** The stock wasm kernel slim replaced under this name, or undefined when slim replaced none. */
export function stockKernelIfAny(kernelName: string): tf.KernelConfig | undefined {
  return stock.get(kernelName);
}
