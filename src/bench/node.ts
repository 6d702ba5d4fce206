/**
 * The node:<backend> runtimes: the models timed in this process on one tfjs backend. The
 * backend is activated through the same functions `--backend` uses (src/backend/select.ts), and
 * the one active before is restored on close.
 */
import * as tf from '#tfjs';
import {
  activateCpu,
  activateNodePackage,
  activateWasm,
  oneLine,
  NODE_CPU_PACKAGE,
  NODE_GPU_PACKAGE,
  type BackendDeps,
} from '../backend/select.js';
import { toLayersModel } from '../model/convert.js';
import { interleavedRuns } from './pairing.js';
import { isModelFiles, servedFormat, type ServedModel } from './server.js';
import { RuntimeUnavailable, type RuntimeName, type RuntimeSession, type SessionTiming, type TimingRequest } from './runtime.js';

export type NodeBackend = 'wasm' | 'cpu' | 'tensorflow';

// Timing predicts needs no training kernel (see initWasmBackend). Imported when chosen: importing
// tfjs-backend-wasm registers the backend (src/backend/select.ts says why that matters).
const defaultDeps: BackendDeps = {
  importModule: (name) => import(name),
  initWasm: async () => (await import('../backend/wasm.js')).initWasmBackend({ trainingKernels: false }),
};

/** Activates `backend` or throws RuntimeUnavailable; returns the backend's one-line description. */
async function activate(backend: NodeBackend, deps: BackendDeps): Promise<string> {
  const runtime: RuntimeName = `node:${backend}`;
  if (backend === 'cpu') return (await activateCpu()).detail;
  if (backend === 'wasm') {
    try {
      return (await activateWasm(deps)).detail;
    } catch (error) {
      throw new RuntimeUnavailable(runtime, `tfjs-backend-wasm could not start: ${oneLine(error)}`, 'reinstall slim (npm ci)');
    }
  }
  const failures: string[] = [];
  let installed = false;
  for (const pkg of [NODE_GPU_PACKAGE, NODE_CPU_PACKAGE]) {
    try {
      return (await activateNodePackage(pkg, deps)).detail;
    } catch (error) {
      const reason = oneLine(error);
      installed ||= !reason.startsWith('Cannot find package');
      failures.push(`${pkg}: ${reason}`);
    }
  }
  throw new RuntimeUnavailable(
    runtime,
    installed
      ? `tfjs-node does not load (${failures.join('; ')})`
      : `tfjs-node is not installed (neither ${NODE_GPU_PACKAGE} nor ${NODE_CPU_PACKAGE})`,
    `\`npm i ${NODE_CPU_PACKAGE}\` (or ${NODE_GPU_PACKAGE} with CUDA 11.2 + cuDNN 8.1)`,
  );
}

/** Reads every output back so the work is done, then frees it. */
async function settle(output: tf.Tensor | tf.Tensor[] | tf.NamedTensorMap): Promise<void> {
  const outputs = output instanceof tf.Tensor ? [output] : Array.isArray(output) ? output : Object.values(output);
  await Promise.all(outputs.map((t) => t.data()));
  tf.dispose(outputs);
}

/** A served model as stock tfjs loads it: its files through tf.io.fromMemory (dequantized on load), artifacts as slim builds them. */
async function loadServed(model: ServedModel): Promise<tf.LayersModel | tf.GraphModel> {
  if (!isModelFiles(model)) return toLayersModel(model);
  const groups = model.modelJson.weightsManifest ?? [];
  const parts = groups.flatMap((g) => g.paths.map((p) => model.weightFiles[p]));
  const data = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  parts.reduce((at, p) => (data.set(p, at), at + p.byteLength), 0);
  const handler = tf.io.fromMemory({
    modelTopology: model.modelJson.modelTopology as tf.io.ModelJSON['modelTopology'],
    weightSpecs: groups.flatMap((g) => g.weights) as tf.io.WeightsManifestEntry[],
    weightData: data.buffer,
    format: model.modelJson.format,
  });
  return servedFormat(model) === 'graph-model' ? tf.loadGraphModel(handler) : tf.loadLayersModel(handler);
}

export async function openNodeRuntime(
  backend: NodeBackend,
  models: readonly ServedModel[],
  deps: Partial<BackendDeps> = {},
): Promise<RuntimeSession> {
  const previous = tf.getBackend();
  const detail = await activate(backend, { ...defaultDeps, ...deps });
  // In a process that trained on wasm (slim run), slim's training kernels are registered: time stock tfjs.
  const restoreKernels = backend === 'wasm' ? (await import('../backend/wasm-kernels/index.js')).useStockWasmKernels() : () => {};
  const live = await Promise.all(models.map((m) => loadServed(m)));
  const restore = async () => {
    for (const model of live) model.dispose();
    restoreKernels();
    if (previous !== undefined && previous !== tf.getBackend()) await tf.setBackend(previous);
  };
  return {
    runtime: `node:${backend}`,
    device: `Node ${process.version} — ${detail}`,
    software: false,
    async time(request: TimingRequest, onRun?: (done: number) => void): Promise<SessionTiming> {
      const inputs = request.inputShapes.map((shape, i) => tf.randomUniform([request.batch, ...shape], 0, 1, 'float32', request.seed + i));
      try {
        const predicts = live.map((model) => () => settle(model.predict(inputs, { batchSize: request.batch })));
        // This process's CPU time (user + system), read around each predict.
        const cpuNow = () => {
          const used = process.cpuUsage();
          return (used.user + used.system) / 1000;
        };
        const { firstMs, timesMs, cpuMs } = await interleavedRuns(predicts, request.warmup, request.runs, undefined, onRun, cpuNow);
        const peakBytes: (number | null)[] = [];
        for (const model of live) {
          const info = await tf.profile(() => model.predict(inputs, { batchSize: request.batch }));
          tf.dispose(info.result);
          peakBytes.push(info.peakBytes);
        }
        return { firstMs, timesMs, peakBytes, cpuMs };
      } finally {
        tf.dispose(inputs);
      }
    },
    close: restore,
  };
}
