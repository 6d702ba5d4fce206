/**
 * Conformance over EVERY registered handler: for each one a sample layer is built in tfjs from a
 * config; counting must equal tfjs countParams, and (for handlers with a channel facet) slicing
 * its weights on either side must give exactly the weight shapes tfjs creates for the rewritten
 * config and the narrower input. A new handler without a sample here fails the test.
 * Handlers with `outputShapes` must give exactly tfjs's computeOutputShape, on the sample and on
 * the extra SHAPE_VARIANTS (strides, dilation, odd sizes, -1 in target_shape…).
 */
import { strict as assert } from 'node:assert';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { fromLayersModel } from '../src/model/convert.js';
import { buildGraph, instantiateLayer, type Shape } from '../src/model/graph.js';
import type { ModelJson } from '../src/model/topology.js';
import { defaultRegistry } from '../src/layers/registry.js';
import type { LayerCall, RoleWeights } from '../src/layers/types.js';
import { countModel } from '../src/report/count.js';

interface Sample {
  config: Record<string, unknown>;
  /** Input shapes without the batch dim; several for merges. */
  inputs: number[][];
  dtype?: 'int32';
}

const S = (config: Record<string, unknown>, ...inputs: number[][]): Sample => ({ config, inputs });
const IMG = [6, 6, 4];
const SEQ = [6, 4];

const SAMPLES: Record<string, Sample> = {
  Conv2D: S({ filters: 3, kernel_size: [3, 3], padding: 'same' }, IMG),
  Conv1D: S({ filters: 3, kernel_size: [3] }, SEQ),
  Conv3D: S({ filters: 2, kernel_size: [2, 2, 2] }, [4, 4, 4, 2]),
  Conv2DTranspose: S({ filters: 3, kernel_size: [3, 3], strides: [2, 2] }, IMG),
  DepthwiseConv2D: S({ kernel_size: [3, 3], depth_multiplier: 2, use_bias: true }, IMG),
  SeparableConv2D: S({ filters: 3, kernel_size: [3, 3] }, IMG),
  Dense: S({ units: 3 }, SEQ), // rank-3 input
  BatchNormalization: S({ axis: -1 }, IMG),
  LayerNormalization: S({ axis: -1 }, SEQ),
  ReLU: S({ max_value: 6 }, IMG),
  LeakyReLU: S({ alpha: 0.2 }, IMG),
  ELU: S({ alpha: 1 }, IMG),
  ThresholdedReLU: S({ theta: 1 }, IMG),
  Activation: S({ activation: 'relu' }, IMG),
  Dropout: S({ rate: 0.5 }, IMG),
  SpatialDropout1D: S({ rate: 0.5 }, SEQ),
  SpatialDropout2D: S({ rate: 0.5 }, IMG),
  GaussianNoise: S({ stddev: 0.1 }, IMG),
  Rescaling: S({ scale: 0.5, offset: 0.1 }, IMG),
  GaussianDropout: S({ rate: 0.1 }, IMG),
  AlphaDropout: S({ rate: 0.1 }, IMG),
  Softmax: S({ axis: -1 }, IMG),
  PReLU: S({}, IMG),
  UpSampling2D: S({ size: [2, 2] }, IMG),
  Cropping2D: S(
    {
      cropping: [
        [1, 1],
        [1, 1],
      ],
    },
    IMG,
  ),
  MaxPooling2D: S({ pool_size: [2, 2] }, IMG),
  AveragePooling2D: S({ pool_size: [2, 2] }, IMG),
  GlobalAveragePooling2D: S({}, IMG),
  GlobalMaxPooling2D: S({}, IMG),
  MaxPooling1D: S({ pool_size: [2] }, SEQ),
  AveragePooling1D: S({ pool_size: [2] }, SEQ),
  GlobalAveragePooling1D: S({}, SEQ),
  GlobalMaxPooling1D: S({}, SEQ),
  Flatten: S({}, [3, 3, 4]),
  Reshape: S({ target_shape: [9, 4] }, [3, 3, 4]),
  ZeroPadding2D: S(
    {
      padding: [
        [1, 1],
        [1, 1],
      ],
    },
    IMG,
  ),
  InputLayer: S({}, IMG),
  Add: S({}, IMG, IMG),
  Subtract: S({}, IMG, IMG),
  Multiply: S({}, IMG, IMG),
  Average: S({}, IMG, IMG),
  Maximum: S({}, IMG, IMG),
  Minimum: S({}, IMG, IMG),
  Concatenate: S({ axis: -1 }, IMG, [6, 6, 2]),
  Dot: S({ axes: [1, 1] }, [4], [4]),
  Embedding: { config: { input_dim: 10, output_dim: 3 }, inputs: [[5]], dtype: 'int32' },
  SimpleRNN: S({ units: 3 }, SEQ),
  LSTM: S({ units: 3 }, SEQ),
  GRU: S({ units: 3 }, SEQ),
};

const ODD_IMG = [7, 7, 4];

/** More configs per class for the output-shape check only (the sample above is always checked too). */
const SHAPE_VARIANTS: Record<string, Sample[]> = {
  Conv2D: [
    S({ filters: 5, kernel_size: [3, 3], strides: [2, 2], padding: 'valid' }, ODD_IMG),
    S({ filters: 5, kernel_size: 3, strides: 2, padding: 'same' }, ODD_IMG),
    S({ filters: 5, kernel_size: [3, 2], dilation_rate: [2, 2], padding: 'valid' }, ODD_IMG),
  ],
  Conv1D: [
    S({ filters: 2, kernel_size: 3, strides: 2, padding: 'same' }, [7, 4]),
    // ('causal' is left out: tfjs's computeOutputShape treats it as 'valid' and tfjs cannot run it.)
    S({ filters: 2, kernel_size: 2, dilation_rate: 2, padding: 'valid' }, [7, 4]),
  ],
  Conv2DTranspose: [
    S({ filters: 2, kernel_size: [3, 3], strides: [2, 2], padding: 'same' }, ODD_IMG),
    S({ filters: 2, kernel_size: [1, 1], strides: [3, 3], padding: 'valid' }, ODD_IMG),
  ],
  DepthwiseConv2D: [S({ kernel_size: 3, strides: 2, padding: 'same', depth_multiplier: 3 }, ODD_IMG)],
  SeparableConv2D: [S({ filters: 3, kernel_size: [3, 3], strides: [2, 2], padding: 'same' }, ODD_IMG)],
  Dense: [S({ units: 7 }, [5])],
  MaxPooling2D: [S({ pool_size: [3, 3], strides: [2, 2], padding: 'same' }, ODD_IMG), S({ pool_size: [2, 3], padding: 'valid' }, ODD_IMG)],
  AveragePooling2D: [S({ pool_size: 3, strides: 2, padding: 'valid' }, ODD_IMG)],
  Flatten: [S({}, [2, 3, 4, 5])],
  Reshape: [S({ target_shape: [-1, 4] }, [3, 3, 4]), S({ target_shape: [2, -1] }, [3, 3, 4])],
  ZeroPadding2D: [
    S({ padding: 2 }, IMG),
    S({ padding: [1, 2] }, IMG),
    S(
      {
        padding: [
          [0, 1],
          [2, 3],
        ],
      },
      ODD_IMG,
    ),
  ],
  Concatenate: [S({ axis: 1 }, IMG, [2, 6, 4]), S({}, IMG, [6, 6, 3], [6, 6, 1])],
  Add: [S({}, IMG, IMG, IMG)],
  Embedding: [{ config: { input_dim: 10, output_dim: 4 }, inputs: [[3, 2]], dtype: 'int32' }],
};

/** A functional topology: one InputLayer per input, then the layer under test named 'L'. */
function topology(className: string, sample: Sample, inputs = sample.inputs, config = sample.config): ModelJson {
  const inputLayers = inputs.map((shape, i) => ({
    class_name: 'InputLayer',
    name: `in${i}`,
    config: { name: `in${i}`, batch_input_shape: [null, ...shape], dtype: sample.dtype ?? 'float32', sparse: false },
    inbound_nodes: [],
  }));
  if (className === 'InputLayer') {
    return {
      class_name: 'Model',
      config: { name: 'm', layers: inputLayers, input_layers: [['in0', 0, 0]], output_layers: [['in0', 0, 0]] },
    };
  }
  const layer = {
    class_name: className,
    name: 'L',
    config: { name: 'L', ...config },
    inbound_nodes: [inputs.map((_, i) => [`in${i}`, 0, 0, {}])],
  };
  return {
    class_name: 'Model',
    config: {
      name: 'm',
      layers: [...inputLayers, layer],
      input_layers: inputs.map((_, i) => [`in${i}`, 0, 0]),
      output_layers: [['L', 0, 0]],
    },
  };
}

async function build(json: ModelJson): Promise<tf.LayersModel> {
  return tf.models.modelFromJSON({ modelTopology: json as unknown as tf.io.ModelJSON['modelTopology'] });
}

async function roleWeights(model: tf.LayersModel): Promise<RoleWeights> {
  const a = await fromLayersModel(model);
  const out: RoleWeights = new Map();
  for (const [name, w] of a.weights) if (name.startsWith('L/')) out.set(name.split('/').pop()!, w);
  return out;
}

const shapes = (w: RoleWeights): Record<string, number[]> => Object.fromEntries([...w].map(([r, x]) => [r, x.shape]));

function callOf(json: ModelJson): LayerCall {
  const node = buildGraph(json).nodeById.get('L')!;
  return { name: 'L', className: node.className, config: node.config, inputShapes: node.inputShapes, outputShapes: node.outputShapes };
}

before(async () => {
  await tf.setBackend('cpu');
});

/** tfjs's own answer for one layer call: deserialise the layer and ask computeOutputShape. */
function tfjsOutputShapes(className: string, config: Record<string, unknown>, inputs: Shape[]): Shape[] {
  const layer = instantiateLayer('L', className, { name: 'L', ...config });
  const out = layer.computeOutputShape(inputs.length === 1 ? inputs[0] : inputs);
  return Array.isArray(out[0]) ? (out as Shape[]) : [out as Shape];
}

/**
 * Ours must equal tfjs's answer for a known batch (batch dim then set back to null), and agree
 * with its answer for an unknown batch wherever tfjs knows a dim: with a null batch tfjs's
 * Reshape leaves a -1 target dim unknown, which slim resolves from the other dims.
 */
function assertLikeTfjs(ours: Shape[], className: string, config: Record<string, unknown>, inputs: Shape[], where: string): void {
  const withBatch = tfjsOutputShapes(
    className,
    config,
    inputs.map((s) => [1, ...s.slice(1)]),
  );
  assert.deepEqual(
    ours,
    withBatch.map((s) => [null, ...s.slice(1)]),
    `${where} (batch 1)`,
  );
  const symbolic = tfjsOutputShapes(className, config, inputs);
  const agrees =
    ours.length === symbolic.length &&
    ours.every((s, i) => s.length === symbolic[i].length && s.every((d, j) => symbolic[i][j] === null || symbolic[i][j] === d));
  assert.ok(agrees, `${where}: ours ${JSON.stringify(ours)} vs tfjs ${JSON.stringify(symbolic)} (batch null)`);
}

describe('every handler with outputShapes', () => {
  for (const handler of defaultRegistry.all()) {
    const outputShapes = handler.outputShapes;
    const sample = SAMPLES[handler.className];
    if (outputShapes === undefined || sample === undefined) continue;
    it(`${handler.className}: outputShapes equals tfjs computeOutputShape`, () => {
      const cases = [sample, ...(SHAPE_VARIANTS[handler.className] ?? [])];
      for (const { config, inputs } of cases) {
        const inputShapes: Shape[] = inputs.map((s) => [null, ...s]);
        const ours = outputShapes(config, inputShapes);
        const where = `${handler.className} ${JSON.stringify(config)} on ${JSON.stringify(inputShapes)}`;
        assert.notEqual(ours, undefined, `${where}: channels-last sample not covered`);
        if (tf.serialization.SerializationMap.getMap().classNameMap[handler.className] === undefined) {
          // Keras layers tfjs 4.22 cannot load (SpatialDropout2D, Subtract) keep their first input's shape.
          assert.deepEqual(ours, [inputShapes[0]], where);
          continue;
        }
        const tfjsConfig = handler.className === 'InputLayer' ? { batch_input_shape: inputShapes[0] } : config;
        assertLikeTfjs(ours!, handler.className, tfjsConfig, inputShapes, where);
      }
    });
  }

  it('leaves configs the rules do not cover to tfjs (undefined), and the graph still gets tfjs shapes', () => {
    const uncovered: [string, Record<string, unknown>, number[][]][] = [
      ['Conv2D', { filters: 3, kernel_size: 3, data_format: 'channels_first' }, [[4, 6, 6]]],
      ['MaxPooling2D', { pool_size: 2, data_format: 'channels_first' }, [[4, 6, 6]]],
      ['ZeroPadding2D', { padding: 1, data_format: 'channels_first' }, [[4, 6, 6]]],
      ['Add', {}, [[1, 1, 4], IMG]], // broadcasting
    ];
    for (const [className, config, inputs] of uncovered) {
      const inputShapes: Shape[] = inputs.map((s) => [null, ...s]);
      assert.equal(
        defaultRegistry
          .all()
          .find((h) => h.className === className)
          ?.outputShapes?.(config, inputShapes),
        undefined,
        className,
      );
      const json = topology(className, S(config, ...inputs));
      assert.deepEqual(buildGraph(json).nodeById.get('L')!.outputShapes, tfjsOutputShapes(className, config, inputShapes), className);
    }
  });
});

describe('every registered handler', () => {
  it('has a conformance sample', () => {
    const missing = defaultRegistry
      .all()
      .map((h) => h.className)
      .filter((c) => SAMPLES[c] === undefined);
    assert.deepEqual(missing, []);
  });

  for (const handler of defaultRegistry.all()) {
    const sample = SAMPLES[handler.className];
    if (sample === undefined) continue;
    it(`${handler.className}: counts like tfjs; weight specs and slicing match tfjs and the rewritten config`, async () => {
      const json = topology(handler.className, sample);
      if (tf.serialization.SerializationMap.getMap().classNameMap[handler.className] === undefined) {
        // Keras layers tfjs 4.22 cannot load (SpatialDropout2D, Subtract): weightless, counted as 0.
        assert.equal(countModel(json).params.total, 0);
        const tied = handler.channels?.role === 'tied' ? handler.channels : undefined;
        assert.equal(tied?.sliceChannels, undefined);
        assert.equal(handler.weights, undefined);
        return;
      }
      const model = await build(json);
      assert.equal(countModel(json).params.total, model.countParams(), 'params');
      // The weights the handler says the call must have: tfjs's, by role, shape and trainability, in its order.
      if (handler.className === 'InputLayer') {
        assert.equal(handler.weights, undefined);
      } else {
        const built = model.getLayer('L').weights;
        const tfjsSpecs = built.map((w) => ({ role: w.originalName.split('/').pop()!, shape: w.shape, trainable: w.trainable }));
        assert.deepEqual(handler.weights?.(callOf(json)) ?? [], tfjsSpecs, 'weight specs');
        if (tfjsSpecs.length > 0) assert.ok(handler.weights, `${handler.className} has weights, so it needs a weights facet`);
      }
      const facet = handler.channels;
      if (facet === undefined || facet.role === 'source' || handler.className === 'InputLayer') {
        model.dispose();
        return;
      }
      const call = callOf(json);
      const weights = await roleWeights(model);
      const keepIn = [1, 3]; // of 4 input channels (the first input's last axis)
      const narrow = sample.inputs.map((s) => [...s.slice(0, -1), 2]);
      const outWidth = call.outputShapes[0][call.outputShapes[0].length - 1] as number;

      if (facet.role === 'free') {
        // Output side: keep 2 of the layer's own channels; the rewritten config must build to those shapes.
        const keepOut = [0, 2];
        const slicedOut = facet.sliceOutputs(weights, keepOut, call);
        const outConfig = facet.rewriteConfig(json.config.layers.at(-1).config, { oldChannels: outWidth, newChannels: 2 }, call);
        const outModel = await build(topology(handler.className, sample, sample.inputs, outConfig));
        assert.deepEqual(shapes(slicedOut), shapes(await roleWeights(outModel)), 'output slice');
        outModel.dispose();
        // Input side: keep 2 input rows; the same config on a narrower input must build to those shapes.
        const slicedIn = facet.sliceInputs(weights, keepIn, call);
        const inModel = await build(topology(handler.className, sample, narrow));
        assert.deepEqual(shapes(slicedIn), shapes(await roleWeights(inModel)), 'input slice');
        inModel.dispose();
      } else {
        const tied = facet.role === 'tied' ? facet : undefined;
        const m = tied?.multiplier?.(call) ?? 1;
        const outRows = keepIn.flatMap((r) => Array.from({ length: m }, (_, j) => r * m + j));
        const narrowCall = callOf(topology(handler.className, sample, narrow));
        const newWidth = narrowCall.outputShapes[0][narrowCall.outputShapes[0].length - 1] as number;
        const config =
          tied?.rewriteConfig?.(json.config.layers.at(-1).config, { oldChannels: outWidth, newChannels: newWidth }, call) ?? sample.config;
        const narrowModel = await build(topology(handler.className, sample, narrow, config));
        const sliced = tied?.sliceChannels?.(weights, { input: keepIn, output: outRows }, call) ?? weights;
        assert.deepEqual(shapes(sliced), shapes(await roleWeights(narrowModel)), 'tied slice');
        narrowModel.dispose();
      }
      model.dispose();
    });
  }
});
