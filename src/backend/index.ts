export {
  selectBackend,
  oneLine,
  GPU_NOT_VISIBLE,
  NODE_GPU_PACKAGE,
  NODE_CPU_PACKAGE,
  WASM_PACKAGE,
  CPU_PACKAGE,
  type BackendPreference,
  type BackendInfo,
  type BackendDeps,
} from './select.js';
export { initWasmBackend, wasmDistDir, type WasmInfo } from './wasm.js';
export { registerSlimWasmKernels, SLIM_WASM_KERNELS, SLIM_WASM_REPLACEMENTS } from './wasm-kernels/index.js';
