/**
 * What the module-resolution hook (tfjs-node-hook.ts) hands out for @tensorflow/tfjs-node(-gpu):
 * like the real package, importing it registers the 'tensorflow' backend, and it re-exports
 * @tensorflow/tfjs. SLIM_STANDIN_GPU=1 makes the backend report a visible GPU.
 * With SLIM_STANDIN_REPORT=<file>, the process writes at exit what ran on the stand-in (see
 * StandInReport), for tests that drive the slim binary.
 */
import { writeFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { kernelRecord, registerStandInTensorflowBackend } from './tensorflow-standin.js';

export * from '@tensorflow/tfjs';

export interface StandInReport {
  kernelCalls: Record<string, number>;
  scopes: string[];
  /** Kernels registered for 'wasm' whose names start with 'Slim' (slim's own wasm kernels). */
  slimWasmKernels: string[];
  /** True when the FusedBatchNorm / ClipByValue gradients are still the ones tfjs-core registered. */
  stockGradients: boolean;
  backend: string;
}

const stockGradients = [tf.getGradient('FusedBatchNorm'), tf.getGradient('ClipByValue')];
registerStandInTensorflowBackend({ gpu: process.env['SLIM_STANDIN_GPU'] === '1' });

const reportFile = process.env['SLIM_STANDIN_REPORT'];
if (reportFile) {
  process.on('exit', () => {
    const report: StandInReport = {
      kernelCalls: Object.fromEntries(kernelRecord.calls),
      scopes: [...kernelRecord.scopes].sort(),
      slimWasmKernels: tf
        .getKernelsForBackend('wasm')
        .map((k) => k.kernelName)
        .filter((name) => name.startsWith('Slim')),
      stockGradients: tf.getGradient('FusedBatchNorm') === stockGradients[0] && tf.getGradient('ClipByValue') === stockGradients[1],
      backend: tf.getBackend(),
    };
    writeFileSync(reportFile, JSON.stringify(report));
  });
}
