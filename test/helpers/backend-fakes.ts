/**
 * Fake module importers for the backend-selection tests. A "working" fake native package does
 * what the real one does on import: it registers a 'tensorflow' backend on the shared
 * @tensorflow/tfjs-core. The backend is a plain tfjs cpu backend instance carrying the
 * `isUsingGpuDevice` field that tfjs-node's NodeJSKernelBackend sets from its binding.
 */
import * as tf from '@tensorflow/tfjs';

export type FakeOutcome = { ok: true; gpu: boolean } | { ok: true; registersNothing: true } | { ok: false; error: string };

export interface FakeImporter {
  importModule(name: string): Promise<unknown>;
  /** Module names in the order they were requested. */
  calls: string[];
}

function cpuBackendClass(): new () => tf.KernelBackend {
  const cpu = tf.findBackend('cpu');
  if (cpu == null) throw new Error('tfjs cpu backend is not available');
  return cpu.constructor as new () => tf.KernelBackend;
}

/** Outcomes per module name; any other name fails like a missing package. */
export function fakeImporter(outcomes: Record<string, FakeOutcome>): FakeImporter {
  const calls: string[] = [];
  return {
    calls,
    async importModule(name: string): Promise<unknown> {
      calls.push(name);
      const outcome = outcomes[name];
      if (outcome === undefined) {
        const error = new Error(`Cannot find package '${name}' imported from /fake/select.js`);
        Object.assign(error, { code: 'ERR_MODULE_NOT_FOUND' });
        throw error;
      }
      if (!outcome.ok) throw new Error(outcome.error);
      if ('gpu' in outcome) {
        const Backend = cpuBackendClass();
        tf.registerBackend('tensorflow', () => Object.assign(new Backend(), { isUsingGpuDevice: outcome.gpu }), 3);
      }
      return {};
    },
  };
}

/** Undo what a working fake did, and return to the cpu backend. */
export async function removeFakeNodeBackend(): Promise<void> {
  if (tf.findBackendFactory('tensorflow') != null) tf.removeBackend('tensorflow');
  await tf.setBackend('cpu');
}
