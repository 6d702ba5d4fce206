/**
 * The export runs a Flatten → Dense head as Conv2D layers plus one Reshape
 * (src/export/dense-as-conv.ts): no Dense (no matmul) is left, stock tf.loadLayersModel and
 * tf.loadGraphModel load it, it predicts what the input predicts (1e-4 relative; quantized within
 * the quantized tolerance) with the same output shape and name, and one predict launches fewer
 * kernels. Patterns where the rewrite would not be exact or simple stay as they are, with the reason.
 */
import { strict as assert } from 'node:assert';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { exportForInference } from '../src/api/node.js';
import { denseHeadAsConv } from '../src/export/dense-as-conv.js';
import { fromLayersModel, toLayersModel } from '../src/model/convert.js';
import { unwrapTopology } from '../src/model/graph.js';
import type { LayerJson, ModelArtifacts } from '../src/model/topology.js';
import { exportModel, QUANTIZED_RELATIVE_TOLERANCE } from '../src/pipeline/export.js';
import { exportStage } from '../src/pipeline/stages/export.js';
import { loadGraphWithStockTfjs, loadWithStockTfjs } from './helpers/stock-load.js';
import { quietOutput } from './helpers/capture-output.js';

let dir: string;
before(async () => {
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
  dir = await mkdtemp(path.join(tmpdir(), 'slim-dense-as-conv-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const init = (seed: number) => tf.initializers.glorotNormal({ seed });
const classesOf = (a: ModelArtifacts): string[] => (unwrapTopology(a.modelTopology).config.layers as LayerJson[]).map((l) => l.class_name);

/** conv → Flatten → Dense(relu) → Dense(softmax), functional; `dropout` puts Dropout layers around the first Dense. */
async function head(options: { dropout?: boolean; sequential?: boolean } = {}): Promise<ModelArtifacts> {
  const layers: tf.layers.Layer[] = [
    tf.layers.conv2d({ filters: 5, kernelSize: 3, activation: 'relu', kernelInitializer: init(1), name: 'conv' }),
    tf.layers.flatten({ name: 'flat' }),
    ...(options.dropout === true ? [tf.layers.dropout({ rate: 0.4, name: 'drop1' })] : []),
    tf.layers.dense({ units: 7, activation: 'relu', kernelInitializer: init(2), biasInitializer: 'ones', name: 'fc' }),
    ...(options.dropout === true ? [tf.layers.dropout({ rate: 0.4, name: 'drop2' })] : []),
    tf.layers.dense({ units: 4, activation: 'softmax', kernelInitializer: init(3), name: 'head' }),
  ];
  let model: tf.LayersModel;
  if (options.sequential === true) {
    model = tf.sequential({ layers: [tf.layers.inputLayer({ inputShape: [6, 5, 2] }), ...layers] });
  } else {
    const input = tf.input({ shape: [6, 5, 2], name: 'image' });
    const y = layers.reduce<tf.SymbolicTensor>((x, layer) => layer.apply(x) as tf.SymbolicTensor, input);
    model = tf.model({ inputs: input, outputs: y });
  }
  const artifacts = await fromLayersModel(model);
  model.dispose();
  return artifacts;
}

const x = () => tf.randomNormal([3, 6, 5, 2], 0, 1, 'float32', 7);

/** max |a − b| ≤ tolerance · max(1, max |a|), same shape. */
function assertClose(a: tf.Tensor, b: tf.Tensor, tolerance: number, what: string): void {
  assert.deepEqual(b.shape, a.shape, what);
  const diff = tf.max(tf.abs(tf.sub(a, b))).dataSync()[0];
  const scale = Math.max(1, tf.max(tf.abs(a)).dataSync()[0]);
  assert.ok(diff <= tolerance * scale, `${what}: max |diff| ${diff}`);
}

/** Kernel names of one predict, as tf.profile lists them. */
async function kernelsOf(predict: () => tf.Tensor): Promise<string[]> {
  const info = await tf.profile(() => predict());
  return info.kernels.map((k) => k.name);
}

const matmuls = (kernels: string[]) => kernels.filter((k) => /matmul/i.test(k));
const reshapes = (kernels: string[]) => kernels.filter((k) => k === 'Reshape');

for (const variant of [
  { name: 'functional', options: {} },
  { name: 'Sequential with Dropout between (dropped first)', options: { dropout: true, sequential: true } },
]) {
  describe(`Flatten → Dense(relu) → Dense(softmax), ${variant.name}`, () => {
    let original: ModelArtifacts;
    let layersDir: string;
    let graphJson: string;
    before(async () => {
      original = await head(variant.options);
      const slug = variant.name.split(' ')[0];
      layersDir = (await exportStage(original, { dir: path.join(dir, `${slug}-layers`), write: { overwrite: false } }, quietOutput()))
        .written!;
      graphJson = (
        await exportStage(original, { dir: path.join(dir, `${slug}-graph`), write: { overwrite: false }, format: 'graph' }, quietOutput())
      ).written!;
    });

    it('becomes a Flatten-free chain of Conv2D layers and one Reshape that keeps the output name', async () => {
      const outcome = await exportModel(original);
      assert.deepEqual(
        outcome.rewrites.filter((r) => r.kind === 'as-conv').map((r) => [r.layer, r.into, r.kernelSize, r.absorbed ?? null]),
        [
          ['fc', 'fc', [4, 3], 'flat'],
          ['head', 'head_conv', [1, 1], null],
        ],
      );
      const classes = classesOf(outcome.artifacts);
      assert.ok(!classes.includes('Dense') && !classes.includes('Flatten'), classes.join(' '));
      assert.equal(classes.at(-1), 'Reshape');
      assert.deepEqual([...outcome.artifacts.weights.keys()].slice(-4), ['fc/kernel', 'fc/bias', 'head_conv/kernel', 'head_conv/bias']);
      assert.deepEqual(outcome.artifacts.weights.get('fc/kernel')!.shape, [4, 3, 5, 7]);
    });

    it('loads in stock tf.loadLayersModel and predicts what the input predicts, same output name and shape', async () => {
      const a = await toLayersModel(original);
      const b = await loadWithStockTfjs(layersDir);
      try {
        assert.deepEqual(b.outputNames, a.outputNames);
        tf.tidy(() => assertClose(a.predict(x()) as tf.Tensor, b.predict(x()) as tf.Tensor, 1e-4, 'layers export'));
      } finally {
        a.dispose();
        b.dispose();
      }
    });

    it('loads in stock tf.loadGraphModel with no matmul and no trailing Identity op; predict and execute agree', async () => {
      const json = JSON.parse(await readFile(graphJson, 'utf8')) as { modelTopology: { node: { name: string; op: string }[] } };
      const ops = json.modelTopology.node.map((n) => n.op);
      assert.deepEqual(matmuls(ops), []);
      assert.ok(!ops.includes('Identity'), ops.join(' '));
      assert.equal(json.modelTopology.node.at(-1)!.name, 'Identity');
      const a = await toLayersModel(original);
      const g = await loadGraphWithStockTfjs(graphJson);
      try {
        assert.deepEqual(g.outputNodes, ['Identity']);
        assert.deepEqual(
          g.outputs.map((o) => o.name),
          ['Identity'],
        );
        tf.tidy(() => {
          const want = a.predict(x()) as tf.Tensor;
          assertClose(want, g.predict(x()) as tf.Tensor, 1e-4, 'graph predict');
          assertClose(want, g.execute(x(), 'Identity') as tf.Tensor, 1e-4, 'graph execute');
        });
      } finally {
        a.dispose();
        g.dispose();
      }
    });

    it('one predict launches no matmul and fewer kernels (tf.profile, before vs after)', async () => {
      const kept = await toLayersModel((await exportModel(original, { denseAsConv: false })).artifacts);
      const asConv = await loadWithStockTfjs(layersDir);
      const input = x();
      try {
        const before = await kernelsOf(() => kept.predict(input) as tf.Tensor);
        const after = await kernelsOf(() => asConv.predict(input) as tf.Tensor);
        assert.ok(matmuls(before).length >= 2, before.join(' '));
        assert.deepEqual(matmuls(after), [], after.join(' '));
        // Flatten's Reshape and tfjs-core's three around each matmul, against the one restoring [batch, units].
        assert.equal(reshapes(before).length, 7, before.join(' '));
        assert.equal(reshapes(after).length, 1, after.join(' '));
        assert.ok(after.length < before.length, `${after.length} kernels vs ${before.length}`);
      } finally {
        input.dispose();
        kept.dispose();
        asConv.dispose();
      }
    });
  });
}

describe('quantized export of a head run as conv', () => {
  it('uint8 layers and graph exports load in stock tfjs and stay within the quantized tolerance', async () => {
    const original = await head();
    const quantize = [{ dtype: 'uint8' as const, pattern: '*' }];
    const layers = await exportStage(original, { dir: path.join(dir, 'q-layers'), write: { overwrite: false } }, quietOutput(), {
      quantize,
    });
    const graph = await exportStage(
      original,
      { dir: path.join(dir, 'q-graph'), write: { overwrite: false }, format: 'graph' },
      quietOutput(),
      {
        quantize,
      },
    );
    assert.ok(layers.rewrites.some((r) => r.kind === 'as-conv'));
    const manifest = JSON.parse(await readFile(layers.written!, 'utf8')) as { weightsManifest: { weights: { name: string }[] }[] };
    assert.ok(manifest.weightsManifest[0].weights.some((w) => w.name === 'head_conv/kernel'));
    const a = await toLayersModel(original);
    const b = await loadWithStockTfjs(layers.written!);
    const g = await loadGraphWithStockTfjs(graph.written!);
    try {
      tf.tidy(() => {
        const want = a.predict(x()) as tf.Tensor;
        assertClose(want, b.predict(x()) as tf.Tensor, QUANTIZED_RELATIVE_TOLERANCE, 'uint8 layers');
        assertClose(want, g.predict(x()) as tf.Tensor, QUANTIZED_RELATIVE_TOLERANCE, 'uint8 graph');
      });
    } finally {
      a.dispose();
      b.dispose();
      g.dispose();
    }
  });

  it("a quantization pattern naming the last Dense's weights still finds them after the rename", async () => {
    const outcome = await exportModel(await head(), { quantize: [{ dtype: 'uint8', pattern: 'head/kernel' }] });
    assert.deepEqual([...outcome.quantized!.quantization.keys()], ['head_conv/kernel']);
  });
});

describe("a Sequential MLP whose first layer, the Flatten, carries the model's input shape", () => {
  it('the first conv takes the input shape over; stock tfjs loads it and it predicts the same', async () => {
    const model = tf.sequential({
      layers: [
        tf.layers.flatten({ inputShape: [6, 5, 2], name: 'flat' }),
        tf.layers.dense({ units: 6, activation: 'relu', kernelInitializer: init(6), name: 'fc' }),
        tf.layers.dense({ units: 3, kernelInitializer: init(7), name: 'out' }),
      ],
    });
    const original = await fromLayersModel(model);
    model.dispose();
    const written = await exportStage(original, { dir: path.join(dir, 'mlp'), write: { overwrite: false } }, quietOutput());
    assert.deepEqual(classesOf(written.artifacts), ['Conv2D', 'Conv2D', 'Reshape']);
    const a = await toLayersModel(original);
    const b = await loadWithStockTfjs(written.written!);
    try {
      assert.deepEqual(b.inputs[0].shape, [null, 6, 5, 2]);
      tf.tidy(() => assertClose(a.predict(x()) as tf.Tensor, b.predict(x()) as tf.Tensor, 1e-4, 'MLP export'));
    } finally {
      a.dispose();
      b.dispose();
    }
  });
});

describe('GlobalAveragePooling2D → Dense → Dense: as convs in the graph format only', () => {
  async function gapHead(): Promise<ModelArtifacts> {
    const input = tf.input({ shape: [6, 5, 2] });
    let y = tf.layers.conv2d({ filters: 6, kernelSize: 3, activation: 'relu', kernelInitializer: init(8), name: 'conv' }).apply(input);
    y = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(y);
    y = tf.layers.dense({ units: 5, activation: 'relu', kernelInitializer: init(9), biasInitializer: 'ones', name: 'fc' }).apply(y);
    y = tf.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: init(10), name: 'head' }).apply(y);
    const model = tf.model({ inputs: input, outputs: y as tf.SymbolicTensor });
    const artifacts = await fromLayersModel(model);
    model.dispose();
    return artifacts;
  }

  it('the layers export keeps the pool and the Dense layers; the graph runs AvgPool + convs, no Mean, no matmul, same outputs', async () => {
    const original = await gapHead();
    const layers = await exportStage(original, { dir: path.join(dir, 'gap-layers'), write: { overwrite: false } }, quietOutput());
    assert.deepEqual(
      layers.rewrites.filter((r) => r.kind === 'as-conv'),
      [],
    );
    assert.deepEqual(classesOf(layers.artifacts), ['InputLayer', 'Conv2D', 'GlobalAveragePooling2D', 'Dense', 'Dense']);
    const quantize = [{ dtype: 'uint8' as const, pattern: '*' }];
    for (const q of [undefined, quantize]) {
      const graph = await exportStage(
        original,
        { dir: path.join(dir, `gap-graph-${q === undefined ? 'f32' : 'u8'}`), write: { overwrite: false }, format: 'graph' },
        quietOutput(),
        q === undefined ? {} : { quantize: q },
      );
      const ops = graph.graph!.ops;
      assert.equal(ops.AvgPool, 1, JSON.stringify(ops));
      assert.equal(ops._FusedConv2D, 3, JSON.stringify(ops));
      assert.ok(ops.Mean === undefined && matmuls(Object.keys(ops)).length === 0, JSON.stringify(ops));
      const json = JSON.parse(await readFile(graph.written!, 'utf8')) as {
        weightsManifest: { weights: { name: string; dtype: string; quantization?: { dtype: string } }[] }[];
      };
      const stored = json.weightsManifest[0].weights.filter((w) => w.dtype === 'float32').map((w) => w.quantization?.dtype ?? 'float32');
      // Every float weight as asked, the reshaped head kernels included.
      assert.deepEqual([...new Set(stored)], [q === undefined ? 'float32' : 'uint8']);
      const a = await toLayersModel(original);
      const g = await loadGraphWithStockTfjs(graph.written!);
      try {
        const tolerance = q === undefined ? 1e-4 : QUANTIZED_RELATIVE_TOLERANCE;
        tf.tidy(() =>
          assertClose(
            a.predict(x()) as tf.Tensor,
            g.predict(x()) as tf.Tensor,
            tolerance,
            `graph ${q === undefined ? 'float32' : 'uint8'}`,
          ),
        );
      } finally {
        a.dispose();
        g.dispose();
      }
    }
  });
});

describe('patterns left as they are', () => {
  /** The export's as-conv rewrites and skipped reasons for a model built from `build`. */
  async function rewrite(build: () => tf.LayersModel) {
    const model = build();
    const artifacts = await fromLayersModel(model);
    model.dispose();
    const outcome = await exportModel(artifacts);
    return {
      asConv: outcome.rewrites.filter((r) => r.kind === 'as-conv').map((r) => r.layer),
      skipped: outcome.rewritesSkipped,
      classes: classesOf(outcome.artifacts),
      outcome,
    };
  }

  it('a Flatten feeding two layers', async () => {
    const { asConv, skipped, classes } = await rewrite(() => {
      const input = tf.input({ shape: [3, 3, 2] });
      const flat = tf.layers.flatten({ name: 'flat' }).apply(input) as tf.SymbolicTensor;
      const a = tf.layers.dense({ units: 3, name: 'a' }).apply(flat) as tf.SymbolicTensor;
      const b = tf.layers.dense({ units: 3, name: 'b' }).apply(flat) as tf.SymbolicTensor;
      return tf.model({ inputs: input, outputs: tf.layers.add({}).apply([a, b]) as tf.SymbolicTensor });
    });
    assert.deepEqual(asConv, []);
    assert.deepEqual(skipped, [{ layer: 'flat', reason: 'feeds 2 layers' }]);
    assert.equal(classes.filter((c) => c === 'Dense').length, 2);
  });

  it('a Flatten over an input that is not [H, W, C] (rank 3)', async () => {
    const { asConv, skipped } = await rewrite(() => {
      const input = tf.input({ shape: [4, 3] });
      const flat = tf.layers.flatten({ name: 'flat' }).apply(input) as tf.SymbolicTensor;
      return tf.model({ inputs: input, outputs: tf.layers.dense({ units: 2 }).apply(flat) as tf.SymbolicTensor });
    });
    assert.deepEqual(asConv, []);
    assert.match(skipped[0].reason, /input shape \[null, 4, 3\] is not a fixed \[batch, H, W, C\]/);
  });

  it('a channels_first Flatten', async () => {
    const { asConv, skipped } = await rewrite(() => {
      const input = tf.input({ shape: [3, 3, 2] });
      const flat = tf.layers.flatten({ name: 'flat', dataFormat: 'channelsFirst' }).apply(input) as tf.SymbolicTensor;
      return tf.model({ inputs: input, outputs: tf.layers.dense({ units: 2 }).apply(flat) as tf.SymbolicTensor });
    });
    assert.deepEqual(asConv, []);
    assert.deepEqual(skipped, [{ layer: 'flat', reason: 'flattens channels_first' }]);
  });

  it('a Dense whose output is also a model output ends the chain: the Dense after it stays', async () => {
    const build = () => {
      const input = tf.input({ shape: [3, 3, 2] });
      const flat = tf.layers.flatten({ name: 'flat' }).apply(input) as tf.SymbolicTensor;
      const mid = tf.layers
        .dense({ units: 5, activation: 'relu', kernelInitializer: init(4), name: 'mid' })
        .apply(flat) as tf.SymbolicTensor;
      const last = tf.layers.dense({ units: 2, kernelInitializer: init(5), name: 'last' }).apply(mid) as tf.SymbolicTensor;
      return tf.model({ inputs: input, outputs: [mid, last] });
    };
    const { asConv, classes, outcome } = await rewrite(build);
    assert.deepEqual(asConv, ['mid']);
    assert.deepEqual(classes, ['InputLayer', 'Conv2D', 'Reshape', 'Dense']);
    assert.ok(outcome.check.maxAbsDiff <= outcome.check.tolerance);
    const written = await exportStage(
      await fromLayersModel(build()),
      { dir: path.join(dir, 'mid'), write: { overwrite: false } },
      quietOutput(),
    );
    const stock = await loadWithStockTfjs(written.written!);
    try {
      assert.deepEqual(stock.outputNames, ['mid', 'last']);
      assert.deepEqual(
        stock.outputs.map((o) => o.shape),
        [
          [null, 5],
          [null, 2],
        ],
      );
    } finally {
      stock.dispose();
    }
    // The graph form: 'mid' is read by 'last', so no op can carry the output names: one Identity each.
    const graph = await exportStage(
      await fromLayersModel(build()),
      { dir: path.join(dir, 'mid-graph'), write: { overwrite: false }, format: 'graph' },
      quietOutput(),
    );
    assert.equal(graph.graph!.ops.Identity, 2);
    const g = await loadGraphWithStockTfjs(graph.written!);
    const a = await toLayersModel(await fromLayersModel(build()));
    try {
      assert.deepEqual(g.outputNodes, ['Identity_0', 'Identity_1']);
      tf.tidy(() => {
        const input = tf.randomNormal([2, 3, 3, 2], 0, 1, 'float32', 3);
        const want = a.predict(input) as tf.Tensor[];
        const got = g.predict(input) as tf.Tensor[];
        want.forEach((y, i) => assertClose(y, got[i], 1e-4, `graph output ${i}`));
      });
    } finally {
      g.dispose();
      a.dispose();
    }
  });

  it('a Keras file keeps its Dense layers (its users load it in Keras)', async () => {
    const written = await exportStage(
      await head(),
      { dir: path.join(dir, 'head.keras'), write: { overwrite: false }, format: 'keras' },
      quietOutput(),
    );
    assert.deepEqual(
      written.rewrites.filter((r) => r.kind === 'as-conv'),
      [],
    );
    assert.deepEqual(
      classesOf(written.artifacts).filter((c) => c === 'Dense'),
      ['Dense', 'Dense'],
    );
  });

  it('a Dense with no Flatten before it, and everything with denseAsConv: false', async () => {
    const artifacts = await head();
    assert.deepEqual(
      denseHeadAsConv(await fromLayersModel(tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [3] })] }))).changes,
      [],
    );
    const kept = await exportForInference(artifacts, { denseAsConv: false });
    assert.deepEqual(
      kept.rewrites.filter((r) => r.kind === 'as-conv'),
      [],
    );
    assert.deepEqual(
      classesOf(kept.model).filter((c) => c === 'Dense' || c === 'Flatten'),
      ['Flatten', 'Dense', 'Dense'],
    );
  });
});
