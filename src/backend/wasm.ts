/**
 * Starting tfjs-backend-wasm under Node.
 *
 * Threads: the stock package hard-codes WASM_HAS_MULTITHREAD_SUPPORT = false under Node, and
 * forcing it on fails: the threaded build starts its pthread workers from a `blob:` URL, which
 * Node's worker_threads rejects (ERR_WORKER_PATH). So slim runs the single-threaded SIMD build.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '#tfjs';
import { registerSlimWasmKernels } from './wasm-kernels/index.js';

// Loaded with require(), as '#tfjs' loads tfjs: an ESM import of this CommonJS package makes Node
// lex it for its export names (~0.05 s CPU per process). Same module object either way.
const { getThreadsCount, setWasmPaths } = createRequire(import.meta.url)(
  '@tensorflow/tfjs-backend-wasm',
) as typeof import('@tensorflow/tfjs-backend-wasm');

export interface WasmInfo {
  simd: boolean;
  threads: number;
  /** Folder the .wasm binaries were loaded from. */
  wasmDir: string;
  /** slim's training kernels were registered (false: inference only). */
  trainingKernels?: boolean;
}

/**
 * The package's dist folder, resolved the way Node resolves slim's own imports, so it is
 * right both in this repo and when slim is installed as a dependency elsewhere.
 */
export function wasmDistDir(): string {
  const require = createRequire(import.meta.url);
  const mainFile = require.resolve('@tensorflow/tfjs-backend-wasm');
  return path.dirname(mainFile) + path.sep;
}

let wasmPathsSet = false;

/**
 * Makes wasm the active backend, with slim's training kernels unless `trainingKernels` is false.
 * Throws if it cannot start. Inference alone (slim bench) needs none of them, and registering them
 * in a process that trains on another backend would put wasm-only kernels on that path.
 */
export async function initWasmBackend({ trainingKernels = true }: { trainingKernels?: boolean } = {}): Promise<WasmInfo> {
  if (trainingKernels) registerSlimWasmKernels();
  const wasmDir = wasmDistDir();
  if (!wasmPathsSet) {
    // Must precede the backend's initialisation (tf.findBackend would trigger it, so don't
    // probe); if something else initialised wasm first, it throws and its paths stay.
    try {
      setWasmPaths(wasmDir);
    } catch {
      /* already initialised by someone else */
    }
    wasmPathsSet = true;
  }
  const ok = await tf.setBackend('wasm');
  if (!ok) throw new Error(`tfjs-backend-wasm failed to initialise (binaries looked up in ${wasmDir})`);
  await tf.ready();
  const simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
  return { simd, threads: getThreadsCount(), wasmDir, trainingKernels };
}
