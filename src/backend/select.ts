/**
 * Backend selection: @tensorflow/tfjs-node-gpu → @tensorflow/tfjs-node → wasm → cpu.
 * Never prints; the caller shows `detail` and, if it wants, the `tried` list.
 */
import * as tf from '#tfjs';
import { InputError } from '../errors.js';
import type { WasmInfo } from './wasm.js';

export type BackendPreference = 'auto' | 'tensorflow' | 'wasm' | 'cpu';

export interface BackendInfo {
  name: 'tensorflow' | 'wasm' | 'cpu';
  /** npm package that provides the backend, e.g. '@tensorflow/tfjs-node-gpu'. */
  package: string;
  gpu: boolean;
  /** One human line, e.g. "wasm (SIMD, 1 thread, slim training kernels), no GPU". */
  detail: string;
  /** Candidates tried before the chosen one, with the one-line reason each failed. */
  tried: { package: string; error: string }[];
}

export interface BackendDeps {
  /** Loads a module by name; the native packages register the 'tensorflow' backend on import. */
  importModule(name: string): Promise<unknown>;
  /** Activates the wasm backend (with slim's kernels); throws if it cannot. */
  initWasm(): Promise<WasmInfo>;
}

export const NODE_GPU_PACKAGE = '@tensorflow/tfjs-node-gpu';
export const NODE_CPU_PACKAGE = '@tensorflow/tfjs-node';
export const WASM_PACKAGE = '@tensorflow/tfjs-backend-wasm';
export const CPU_PACKAGE = '@tensorflow/tfjs-backend-cpu';

const INSTALL_HINT =
  `install one: \`npm i ${NODE_GPU_PACKAGE}\` (Linux, needs CUDA 11.2 + cuDNN 8.1) or ` +
  `\`npm i ${NODE_CPU_PACKAGE}\` (CPU); or choose --backend wasm`;

/** The notice when tfjs-node-gpu loads but TensorFlow sees no GPU. */
export const GPU_NOT_VISIBLE =
  'no GPU visible to TensorFlow, running on CPU (tfjs-node-gpu 4.x needs libcudart.so.11.0 and libcudnn.so.8; run `slim doctor`)';

const defaultDeps: BackendDeps = {
  importModule: (name) => import(name),
  // Imported when chosen: importing tfjs-backend-wasm registers the backend, and modules that merely
  // import this one (the library, src/api) must not change a caller's tfjs.
  initWasm: async () => (await import('./wasm.js')).initWasmBackend(),
};

/** First line of an error's message, trimmed to a readable length. */
export function oneLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const first =
    text
      .split('\n')
      .find((line) => line.trim() !== '')
      ?.trim() ?? 'unknown error';
  return first.length > 240 ? `${first.slice(0, 237)}...` : first;
}

/** The shape of tfjs-node's NodeJSKernelBackend that tells whether TensorFlow found a GPU. */
interface NodeBackendGpuProbe {
  /** Set in the backend's constructor from binding.isUsingGpuDevice(). */
  isUsingGpuDevice?: boolean | (() => boolean);
  binding?: { isUsingGpuDevice?: () => boolean };
}

function nodeBackendUsesGpu(backend: unknown): boolean {
  const probe = backend as NodeBackendGpuProbe | null;
  if (probe == null) return false;
  if (typeof probe.isUsingGpuDevice === 'boolean') return probe.isUsingGpuDevice;
  if (typeof probe.isUsingGpuDevice === 'function') return Boolean(probe.isUsingGpuDevice());
  if (typeof probe.binding?.isUsingGpuDevice === 'function') return Boolean(probe.binding.isUsingGpuDevice());
  return false;
}

/** Imports a native package and activates its 'tensorflow' backend. Throws a one-line reason. */
export async function activateNodePackage(pkg: string, deps: BackendDeps): Promise<BackendInfo> {
  await deps.importModule(pkg);
  if (tf.findBackendFactory('tensorflow') == null) {
    throw new Error(
      `loaded, but registered no 'tensorflow' backend with slim's @tensorflow/tfjs (another tfjs-core copy? versions must match ${tf.version_core})`,
    );
  }
  const ok = await tf.setBackend('tensorflow');
  if (!ok) {
    // Leave no half-registered backend behind for the next candidate.
    tf.removeBackend('tensorflow');
    throw new Error(`the 'tensorflow' backend failed to initialise`);
  }
  await tf.ready();
  const gpu = pkg === NODE_GPU_PACKAGE && nodeBackendUsesGpu(tf.backend());
  // The most common tfjs-node-gpu failure: it loads, TensorFlow finds no usable CUDA/cuDNN and
  // only logs a warning; say so, and where to find out why.
  const kind = pkg === NODE_GPU_PACKAGE ? (gpu ? 'GPU' : GPU_NOT_VISIBLE) : 'CPU, no GPU';
  return { name: 'tensorflow', package: pkg, gpu, detail: `tensorflow (${pkg}), ${kind}`, tried: [] };
}

export async function activateWasm(deps: Pick<BackendDeps, 'initWasm'>): Promise<BackendInfo> {
  const wasm = await deps.initWasm();
  const threads = `${wasm.threads} thread${wasm.threads === 1 ? '' : 's'}`;
  const simd = wasm.simd ? 'SIMD' : 'no SIMD';
  return {
    name: 'wasm',
    package: WASM_PACKAGE,
    gpu: false,
    detail: `wasm (${simd}, ${threads}${wasm.trainingKernels === false ? '' : ', slim training kernels'}), no GPU`,
    tried: [],
  };
}

export async function activateCpu(): Promise<BackendInfo> {
  const ok = await tf.setBackend('cpu');
  if (!ok) throw new Error(`the tfjs 'cpu' backend failed to initialise`);
  await tf.ready();
  return { name: 'cpu', package: CPU_PACKAGE, gpu: false, detail: 'cpu (plain JavaScript, slowest), no GPU', tried: [] };
}

/**
 * Picks and activates a backend. 'auto' walks the whole chain and records every failure in
 * `tried`; 'tensorflow', 'wasm' and 'cpu' force that backend and throw InputError if it
 * cannot start.
 */
export async function selectBackend(pref: BackendPreference, deps: Partial<BackendDeps> = {}): Promise<BackendInfo> {
  const resolved: BackendDeps = { ...defaultDeps, ...deps };
  const tried: { package: string; error: string }[] = [];

  if (pref === 'auto' || pref === 'tensorflow') {
    for (const pkg of [NODE_GPU_PACKAGE, NODE_CPU_PACKAGE]) {
      try {
        return { ...(await activateNodePackage(pkg, resolved)), tried };
      } catch (error) {
        tried.push({ package: pkg, error: oneLine(error) });
      }
    }
    if (pref === 'tensorflow') {
      const reasons = tried.map((t) => `${t.package}: ${t.error}`).join('; ');
      throw new InputError(`backend 'tensorflow' is not available (${reasons}); ${INSTALL_HINT}`);
    }
  }

  if (pref === 'auto' || pref === 'wasm') {
    try {
      return { ...(await activateWasm(resolved)), tried };
    } catch (error) {
      if (pref === 'wasm') {
        throw new InputError(`backend 'wasm' could not start: ${oneLine(error)}; try --backend cpu`);
      }
      tried.push({ package: WASM_PACKAGE, error: oneLine(error) });
    }
  }

  try {
    return { ...(await activateCpu()), tried };
  } catch (error) {
    throw new InputError(`backend 'cpu' could not start: ${oneLine(error)}`);
  }
}
