/**
 * A stand-in for the 'tensorflow' backend that @tensorflow/tfjs-node(-gpu) registers, for
 * machines where libtensorflow cannot be installed (no network for its download, no GPU). It
 * registers a backend named 'tensorflow' on slim's own @tensorflow/tfjs whose instance is a tfjs
 * cpu backend, and re-registers every cpu kernel under the name 'tensorflow', so
 * selectBackend takes its real tensorflow branch and everything after it runs unmodified.
 *
 * Each re-registered kernel also records, per call, its name and the op scopes it runs in
 * (tf.engine().state.scopeStack, an engine internal), so a test can tell which slim patches ran.
 *
 * Differences from the real binding (what a test here cannot prove about it):
 *  - The real NodeJSKernelBackend runs TensorFlow C++ ops (multi-threaded, or CUDA) and has its
 *    own kernel set: some cpu kernels have no tfjs-node kernel and the reverse, and its
 *    numerics differ from the cpu backend's in the last bits (float32 reductions in another order).
 *  - The real backend carries `binding` (the native addon: TFE ops, `isUsingGpuDevice()`,
 *    TensorBoard summaries) and sets its `isUsingGpuDevice` field from it; the stand-in sets only
 *    that field (false unless asked), because it is all that slim reads.
 *  - The real package also exports `tf.node` (decodeImage, TensorBoard callbacks, SavedModel
 *    loading), a file:// IO handler and `version['tfjs-node']`; the stand-in module re-exports
 *    @tensorflow/tfjs only. slim uses none of those.
 *  - The real backend's memory accounting (tf.memory().numBytesInGPU, unreliable) and its
 *    dataSync copies from native memory; the stand-in shares the cpu backend's JavaScript storage.
 */
import * as tf from '@tensorflow/tfjs';

export const STANDIN_BACKEND = 'tensorflow';

export interface KernelRecord {
  /** Calls per kernel name on the stand-in backend. */
  calls: Map<string, number>;
  /** Names of every op scope some kernel of the stand-in ran inside (e.g. 'batchNormTraining__op'). */
  scopes: Set<string>;
}

export const kernelRecord: KernelRecord = { calls: new Map(), scopes: new Set() };

interface EngineScopes {
  state: { scopeStack: { name: string }[] };
}

function recordCall(kernelName: string): void {
  kernelRecord.calls.set(kernelName, (kernelRecord.calls.get(kernelName) ?? 0) + 1);
  for (const scope of (tf.engine() as unknown as EngineScopes).state.scopeStack) kernelRecord.scopes.add(scope.name);
}

function cpuBackendClass(): new () => tf.KernelBackend {
  const cpu = tf.findBackend('cpu');
  if (cpu == null) throw new Error('tensorflow stand-in: the tfjs cpu backend is not available');
  return cpu.constructor as new () => tf.KernelBackend;
}

/**
 * Registers the stand-in 'tensorflow' backend (with the cpu kernels) unless it is registered
 * already; `gpu` is what the backend's `isUsingGpuDevice` reports.
 */
export function registerStandInTensorflowBackend(options: { gpu: boolean } = { gpu: false }): void {
  if (tf.findBackendFactory(STANDIN_BACKEND) != null) return;
  const Backend = cpuBackendClass();
  for (const kernel of tf.getKernelsForBackend('cpu')) {
    if (tf.getKernel(kernel.kernelName, STANDIN_BACKEND) !== undefined) continue;
    const cpuKernel = kernel.kernelFunc;
    tf.registerKernel({
      ...kernel,
      backendName: STANDIN_BACKEND,
      kernelFunc: (params) => {
        recordCall(kernel.kernelName);
        return cpuKernel(params);
      },
    });
  }
  // Priority 3, as tfjs-node registers it (above wasm's 2 and cpu's 1).
  tf.registerBackend(STANDIN_BACKEND, () => Object.assign(new Backend(), { isUsingGpuDevice: options.gpu }), 3);
}
