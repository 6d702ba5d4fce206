// Timing on node:wasm measures stock tfjs even in a process that registered slim's training kernels
// (slim run trains, then times its exports in the same process).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initWasmBackend } from '../src/backend/wasm.js';
import { SLIM_WASM_REPLACEMENTS } from '../src/backend/wasm-kernels/index.js';
import { stockKernel } from '../src/backend/wasm-kernels/stock.js';
import { openNodeRuntime } from '../src/bench/node.js';
import { fromLayersModel } from '../src/model/convert.js';

test('a node:wasm timing session runs the stock kernels slim replaced, and puts slim’s back when it closes', async () => {
  await initWasmBackend(); // with slim's training kernels, as a training command starts
  const slimFuncs = SLIM_WASM_REPLACEMENTS.map((c) => c.kernelFunc);
  const active = () => SLIM_WASM_REPLACEMENTS.map((c) => tf.getKernel(c.kernelName, 'wasm')?.kernelFunc);
  assert.deepEqual(active(), slimFuncs);

  const model = tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [8, 8, 2], filters: 4, kernelSize: 3 }),
      tf.layers.globalAveragePooling2d({}),
      tf.layers.dense({ units: 3 }),
    ],
  });
  const artifacts = await fromLayersModel(model);
  model.dispose();
  const session = await openNodeRuntime('wasm', [artifacts]);
  try {
    assert.deepEqual(
      active(),
      SLIM_WASM_REPLACEMENTS.map((c) => stockKernel(c.kernelName).kernelFunc),
    );
    const timing = await session.time({ batch: 2, runs: 2, warmup: 1, seed: 1, inputShapes: [[8, 8, 2]] });
    assert.equal(timing.timesMs[0].length, 2);
  } finally {
    await session.close();
  }
  assert.deepEqual(active(), slimFuncs);
});
