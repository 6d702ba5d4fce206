import { strict as assert } from 'node:assert';
import { afterEach, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { InputError } from '../src/errors.js';
import {
  GPU_NOT_VISIBLE,
  NODE_CPU_PACKAGE,
  NODE_GPU_PACKAGE,
  SLIM_WASM_KERNELS,
  SLIM_WASM_REPLACEMENTS,
  WASM_PACKAGE,
  registerSlimWasmKernels,
  selectBackend,
} from '../src/backend/index.js';
import { fakeImporter, removeFakeNodeBackend } from './helpers/backend-fakes.js';
import { fusedBatchNormGradConfig } from '../src/backend/wasm-kernels/batch-norm-grad.js';

tf.env().set('PROD', true); // silences tfjs's "install tfjs-node" banner in test output

const failingWasm = async (): Promise<never> => {
  throw new Error('failed to load wasm binary file at /nowhere/tfjs-backend-wasm-simd.wasm');
};

describe('selectBackend with injected importers', () => {
  afterEach(removeFakeNodeBackend);

  it('auto: tries node-gpu, then node, then falls back to wasm, listing each failure', async () => {
    const importer = fakeImporter({
      [NODE_GPU_PACKAGE]: { ok: false, error: 'libcudart.so.11.0: cannot open shared object file\n    at Module._extensions' },
    });
    const info = await selectBackend('auto', { importModule: importer.importModule });
    assert.deepEqual(importer.calls, [NODE_GPU_PACKAGE, NODE_CPU_PACKAGE]);
    assert.equal(info.name, 'wasm');
    assert.equal(info.package, WASM_PACKAGE);
    assert.equal(info.gpu, false);
    assert.equal(tf.getBackend(), 'wasm');
    assert.deepEqual(info.tried, [
      { package: NODE_GPU_PACKAGE, error: 'libcudart.so.11.0: cannot open shared object file' },
      { package: NODE_CPU_PACKAGE, error: `Cannot find package '${NODE_CPU_PACKAGE}' imported from /fake/select.js` },
    ]);
    assert.match(info.detail, /^wasm \((no )?SIMD, \d+ threads?, slim training kernels\), no GPU$/);
  });

  it('auto: node-gpu that sees a GPU wins at once and reports gpu=true', async () => {
    const importer = fakeImporter({ [NODE_GPU_PACKAGE]: { ok: true, gpu: true } });
    const info = await selectBackend('auto', { importModule: importer.importModule });
    assert.deepEqual(importer.calls, [NODE_GPU_PACKAGE]);
    assert.deepEqual(
      { name: info.name, package: info.package, gpu: info.gpu, tried: info.tried },
      { name: 'tensorflow', package: NODE_GPU_PACKAGE, gpu: true, tried: [] },
    );
    assert.equal(tf.getBackend(), 'tensorflow');
    assert.equal(info.detail, `tensorflow (${NODE_GPU_PACKAGE}), GPU`);
  });

  it('auto: node-gpu without a visible GPU reports gpu=false', async () => {
    const importer = fakeImporter({ [NODE_GPU_PACKAGE]: { ok: true, gpu: false } });
    const info = await selectBackend('auto', { importModule: importer.importModule });
    assert.equal(info.package, NODE_GPU_PACKAGE);
    assert.equal(info.gpu, false);
    assert.match(info.detail, /no GPU visible/);
  });

  it('auto: node-gpu without a visible GPU: the one-line notice names the libraries and slim doctor', async () => {
    const importer = fakeImporter({ [NODE_GPU_PACKAGE]: { ok: true, gpu: false } });
    const info = await selectBackend('auto', { importModule: importer.importModule });
    assert.equal(info.detail, `tensorflow (${NODE_GPU_PACKAGE}), ${GPU_NOT_VISIBLE}`);
    assert.match(info.detail, /no GPU visible to TensorFlow, running on CPU .*libcudart\.so\.11\.0.*libcudnn\.so\.8.*`slim doctor`/);
    assert.ok(!info.detail.includes('\n'), 'one line');
  });

  it('tensorflow: falls back from node-gpu to plain tfjs-node, which never claims a GPU', async () => {
    const importer = fakeImporter({
      [NODE_GPU_PACKAGE]: { ok: false, error: 'The specified module could not be found. tfjs_binding.node' },
      [NODE_CPU_PACKAGE]: { ok: true, gpu: true },
    });
    const info = await selectBackend('tensorflow', { importModule: importer.importModule });
    assert.equal(info.name, 'tensorflow');
    assert.equal(info.package, NODE_CPU_PACKAGE);
    assert.equal(info.gpu, false);
    assert.equal(info.tried.length, 1);
    assert.equal(info.tried[0].package, NODE_GPU_PACKAGE);
  });

  it('tensorflow: a package that loads but registers no backend is a failure with a reason', async () => {
    const importer = fakeImporter({ [NODE_GPU_PACKAGE]: { ok: true, registersNothing: true } });
    const info = await selectBackend('auto', { importModule: importer.importModule });
    assert.equal(info.name, 'wasm');
    assert.match(info.tried[0].error, /registered no 'tensorflow' backend/);
  });

  it('tensorflow: neither package loads -> one-line InputError with install hints', async () => {
    const importer = fakeImporter({});
    await assert.rejects(selectBackend('tensorflow', { importModule: importer.importModule }), (error: unknown) => {
      assert.ok(error instanceof InputError);
      assert.equal(error.exitCode, 2);
      assert.ok(!error.message.includes('\n'), 'message is one line');
      assert.match(error.message, /backend 'tensorflow' is not available/);
      assert.ok(error.message.includes(`npm i ${NODE_GPU_PACKAGE}`));
      assert.ok(error.message.includes('CUDA 11.2 + cuDNN 8.1'));
      assert.ok(error.message.includes(`npm i ${NODE_CPU_PACKAGE}`));
      return true;
    });
    assert.deepEqual(importer.calls, [NODE_GPU_PACKAGE, NODE_CPU_PACKAGE]);
  });

  it('auto: wasm failing falls back to cpu with all three failures listed', async () => {
    const importer = fakeImporter({});
    const info = await selectBackend('auto', { importModule: importer.importModule, initWasm: failingWasm });
    assert.equal(info.name, 'cpu');
    assert.equal(tf.getBackend(), 'cpu');
    assert.deepEqual(
      info.tried.map((t) => t.package),
      [NODE_GPU_PACKAGE, NODE_CPU_PACKAGE, WASM_PACKAGE],
    );
    assert.match(info.tried[2].error, /failed to load wasm binary/);
  });

  it('wasm forced but unable to start -> InputError, no silent fallback', async () => {
    await assert.rejects(selectBackend('wasm', { initWasm: failingWasm }), (error: unknown) => {
      assert.ok(error instanceof InputError);
      assert.match(error.message, /^backend 'wasm' could not start: failed to load wasm binary/);
      return true;
    });
  });

  it('wasm and cpu forced: no native package is even tried', async () => {
    const importer = fakeImporter({ [NODE_GPU_PACKAGE]: { ok: true, gpu: true } });
    const wasm = await selectBackend('wasm', { importModule: importer.importModule });
    assert.equal(wasm.name, 'wasm');
    const cpu = await selectBackend('cpu', { importModule: importer.importModule });
    assert.equal(cpu.name, 'cpu');
    assert.equal(tf.getBackend(), 'cpu');
    assert.deepEqual(importer.calls, []);
  });
});

describe('real wasm backend', () => {
  it('starts from the package dist folder and carries slim kernels', async () => {
    const info = await selectBackend('wasm');
    assert.equal(tf.getBackend(), 'wasm');
    const onWasm = new Set(tf.getKernelsForBackend('wasm').map((k) => k.kernelName));
    for (const kernel of SLIM_WASM_KERNELS) assert.ok(onWasm.has(kernel.kernelName), kernel.kernelName);
    assert.match(info.detail, /slim training kernels/);
    await tf.setBackend('cpu');
  });

  it('registerSlimWasmKernels is idempotent', () => {
    const first = registerSlimWasmKernels();
    const second = registerSlimWasmKernels();
    assert.deepEqual(
      first,
      [...SLIM_WASM_KERNELS, ...SLIM_WASM_REPLACEMENTS].map((k) => k.kernelName),
    );
    assert.deepEqual(second, first);
    // Replacements are in the registry, and the FusedBatchNorm gradient is slim's.
    for (const k of SLIM_WASM_REPLACEMENTS) assert.equal(tf.getKernel(k.kernelName, 'wasm')?.kernelFunc, k.kernelFunc);
    assert.equal(tf.getGradient('FusedBatchNorm'), fusedBatchNormGradConfig);
  });
});
