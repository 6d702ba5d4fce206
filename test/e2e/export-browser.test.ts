/**
 * slim's exports in a real browser: the folders `slim export` writes (layers quantized uint8,
 * uint16 and float16; graph float32 and uint8) are served over loopback by `slim bench`'s server
 * and loaded in headless Chromium by the page's stock tfjs (tf.loadLayersModel / tf.loadGraphModel,
 * wasm backend). Each predicts a seeded batch there, and the outputs must match Node's:
 *   - against the float model the export came from: the export's own tolerances (float 1e-4,
 *     quantized QUANTIZED_RELATIVE_TOLERANCE, both relative to max(1, max |y|));
 *   - against the same folder loaded by stock tfjs in Node: 1e-4 relative, so the browser
 *     dequantizes exactly as Node does.
 * One browser for the whole file; skipped, with the reason, when Chromium is not installed.
 */
import { strict as assert } from 'node:assert';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { openChromiumRuntime, type ChromiumSession, type PlainTensor } from '../../src/bench/chromium.js';
import { readModelFiles, type ModelFiles } from '../../src/bench/server.js';
import type { QuantizationDType } from '../../src/model/io-manifest.js';
import { fromLayersModel, toLayersModel } from '../../src/model/convert.js';
import type { ModelArtifacts } from '../../src/model/topology.js';
import { EXPORT_RELATIVE_TOLERANCE, QUANTIZED_RELATIVE_TOLERANCE } from '../../src/pipeline/export.js';
import { exportStage } from '../../src/pipeline/stages/export.js';
import { CHROMIUM, chromiumMissing } from '../helpers/chromium.js';
import { loadGraphWithStockTfjs, loadWithStockTfjs } from '../helpers/stock-load.js';
import { quietOutput } from '../helpers/capture-output.js';

const skip = chromiumMissing() ?? false;
const INPUT: [number, number, number] = [12, 12, 3];

interface Case {
  name: string;
  format: 'layers' | 'graph';
  quantize?: QuantizationDType;
}

const CASES: Case[] = [
  { name: 'layers uint8', format: 'layers', quantize: 'uint8' },
  { name: 'layers uint16', format: 'layers', quantize: 'uint16' },
  { name: 'layers float16', format: 'layers', quantize: 'float16' },
  { name: 'graph float32', format: 'graph' },
  { name: 'graph uint8', format: 'graph', quantize: 'uint8' },
];

/** Conv + BN + ReLU6, depthwise + ReLU, a residual Add, pooling and Dense heads: every fused op's pattern. */
async function smallNet(): Promise<ModelArtifacts> {
  const init = (seed: number) => tf.initializers.glorotNormal({ seed });
  const input = tf.input({ shape: INPUT, name: 'image' });
  let x = tf.layers
    .conv2d({ filters: 8, kernelSize: 3, padding: 'same', useBias: false, kernelInitializer: init(1), name: 'stem' })
    .apply(input) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ name: 'stem_bn' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU({ maxValue: 6, name: 'stem_relu6' }).apply(x) as tf.SymbolicTensor;
  const dw = tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', depthwiseInitializer: init(2), name: 'dw' }).apply(x);
  const dwAct = tf.layers.activation({ activation: 'relu', name: 'dw_relu' }).apply(dw);
  const pw = tf.layers.conv2d({ filters: 8, kernelSize: 1, kernelInitializer: init(3), name: 'pw' }).apply(dwAct);
  const sum = tf.layers.add({ name: 'residual' }).apply([x, pw as tf.SymbolicTensor]);
  const pooled = tf.layers.maxPooling2d({ poolSize: 2, name: 'pool' }).apply(sum);
  const flat = tf.layers.flatten({ name: 'flat' }).apply(pooled);
  const hidden = tf.layers.dense({ units: 16, activation: 'relu', kernelInitializer: init(4), name: 'fc' }).apply(flat);
  const out = tf.layers.dense({ units: 5, activation: 'softmax', kernelInitializer: init(5), name: 'head' }).apply(hidden);
  const model = tf.model({ inputs: input, outputs: out as tf.SymbolicTensor });
  const artifacts = await fromLayersModel(model);
  model.dispose();
  // BatchNorm statistics away from the identity, so folding has something to get wrong.
  for (const [name, w] of artifacts.weights) {
    if (name.endsWith('moving_mean')) w.data.forEach((_, i) => (w.data[i] = 0.2 * Math.sin(i)));
    if (name.endsWith('moving_variance')) w.data.forEach((_, i) => (w.data[i] = 0.6 + 0.1 * i));
    if (name.endsWith('gamma')) w.data.forEach((_, i) => (w.data[i] = 0.8 + 0.05 * i));
  }
  return artifacts;
}

function maxAbs(values: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < values.length; i++) m = Math.max(m, Math.abs(values[i]));
  return m;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

let work: string;
let session: ChromiumSession | undefined;
let input: PlainTensor;
/** The float model's outputs in Node, and each exported folder's outputs from stock tfjs in Node. */
let floatOutput: Float32Array;
const nodeOutputs = new Map<string, Float32Array>();
const files = new Map<string, ModelFiles>();

before(async () => {
  if (skip) return;
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
  work = await mkdtemp(path.join(tmpdir(), 'slim-export-browser-'));
  const original = await smallNet();
  const x = tf.randomNormal([4, ...INPUT], 0, 1, 'float32', 11);
  input = { shape: x.shape, values: Array.from(await x.data()) };
  const float = await toLayersModel(original);
  floatOutput = (float.predict(x) as tf.Tensor).dataSync() as Float32Array;
  float.dispose();
  for (const c of CASES) {
    const dir = path.join(work, c.name.replace(' ', '-'));
    await exportStage(
      original,
      { dir, write: { overwrite: false }, format: c.format },
      quietOutput(),
      c.quantize ? { quantize: [{ dtype: c.quantize, pattern: '*' }] } : {},
    );
    files.set(c.name, await readModelFiles(dir));
    const model =
      c.format === 'graph'
        ? await loadGraphWithStockTfjs(path.join(dir, 'model.json'))
        : await loadWithStockTfjs(path.join(dir, 'model.json'));
    nodeOutputs.set(c.name, (model.predict(x) as tf.Tensor).dataSync() as Float32Array);
    model.dispose();
  }
  x.dispose();
  session = await openChromiumRuntime(
    'wasm',
    CASES.map((c) => files.get(c.name)!),
    { browser: CHROMIUM, timeoutMs: 120_000 },
  );
});

after(async () => {
  await session?.close();
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

describe('exports loaded by stock tfjs in headless Chromium', { skip }, () => {
  it('the folders are what they claim: quantized manifests, a graph model with fused ops', () => {
    for (const c of CASES) {
      const json = files.get(c.name)!.modelJson as unknown as {
        format: string;
        modelTopology: { node?: { op: string }[]; config?: { layers: { class_name: string }[] } };
        weightsManifest: { weights: { dtype: string; quantization?: { dtype: string } }[] }[];
      };
      assert.equal(json.format, c.format === 'graph' ? 'graph-model' : 'layers-model', c.name);
      // Every float weight stored as asked (int32 constants, e.g. a graph's shapes, stay as they are).
      const floats = json.weightsManifest[0].weights.filter((w) => w.dtype === 'float32');
      assert.ok(floats.length > 0, c.name);
      assert.deepEqual([...new Set(floats.map((w) => w.quantization?.dtype ?? 'float32'))], [c.quantize ?? 'float32'], c.name);
      // The Flatten -> Dense head runs as convs (src/export/dense-as-conv.ts): no matmul in either format.
      if (c.format === 'graph') {
        const ops = new Set((json.modelTopology.node ?? []).map((n) => n.op));
        for (const op of ['_FusedConv2D', 'FusedDepthwiseConv2dNative']) assert.ok(ops.has(op), `${c.name}: no ${op}`);
        assert.ok(!ops.has('_FusedMatMul'), `${c.name}: a matmul is left`);
      } else {
        const classes = json.modelTopology.config!.layers.map((l) => l.class_name);
        assert.ok(!classes.includes('Dense') && classes.includes('Reshape'), `${c.name}: ${classes.join(' ')}`);
      }
    }
  });

  it('each predicts in the page what Node predicts: the float model within the stated tolerance, the same file within 1e-4', async () => {
    const outputs = await session!.outputs([input]);
    assert.equal(outputs.length, CASES.length);
    const scale = Math.max(1, maxAbs(floatOutput));
    CASES.forEach((c, i) => {
      assert.equal(outputs[i].length, 1, c.name);
      const [y] = outputs[i];
      assert.deepEqual(y.shape, [4, 5], c.name);
      const vsFloat = maxAbsDiff(y.values, floatOutput);
      const tolerance = (c.quantize === undefined ? EXPORT_RELATIVE_TOLERANCE : QUANTIZED_RELATIVE_TOLERANCE) * scale;
      assert.ok(vsFloat <= tolerance, `${c.name}: browser vs float model ${vsFloat} > ${tolerance}`);
      const vsNode = maxAbsDiff(y.values, nodeOutputs.get(c.name)!);
      assert.ok(vsNode <= EXPORT_RELATIVE_TOLERANCE * scale, `${c.name}: browser vs Node on the same file ${vsNode}`);
    });
  });
});
