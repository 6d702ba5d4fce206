/** The handler registry: complete facets per role, and registries passed in instead of a global. */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { fromLayersModel } from '../src/model/convert.js';
import { buildGraph } from '../src/model/graph.js';
import type { ModelJson } from '../src/model/topology.js';
import { defaultRegistry } from '../src/layers/registry.js';
import type { BaseLayerConfig, LayerHandler } from '../src/layers/types.js';
import { applyPlan } from '../src/prune/apply.js';
import { analyzeChannels } from '../src/prune/groups.js';
import { planPrune } from '../src/prune/plan.js';
import { countModel } from '../src/report/count.js';

const has = (facet: object, key: string): boolean => key in facet && (facet as Record<string, unknown>)[key] !== undefined;

describe('handler registry', () => {
  it('each handler is registered under its class name and its channel facet is complete for its role', () => {
    const handlers = defaultRegistry.all();
    assert.ok(handlers.length >= 40);
    for (const h of handlers) {
      assert.equal(defaultRegistry.get(h.className), h);
      const facet = h.channels;
      if (facet === undefined) continue;
      // The role union makes these compile-time facts; the checks keep them true for handlers built from untyped objects.
      if (facet.role === 'free') {
        for (const key of ['sliceOutputs', 'sliceInputs', 'rewriteConfig'] as const) assert.ok(facet[key], `${h.className} lacks ${key}`);
        assert.ok(!has(facet, 'sliceChannels'), `${h.className}: free layers slice outputs, not channels`);
      }
      if (facet.role === 'tied') {
        assert.ok(!has(facet, 'sliceOutputs'), `${h.className}: tied layers have no outputs of their own`);
        if (facet.importanceRole) assert.ok(facet.sliceChannels, `${h.className} scores channels but cannot slice them`);
      }
      if (has(facet, 'absorbsInputShift')) {
        assert.equal(facet.role, 'tied', `${h.className}: only a tied layer can absorb its input's shift per row`);
      }
    }
    for (const wall of ['Softmax', 'Dot']) {
      assert.equal(defaultRegistry.get(wall)?.channels, undefined, `${wall} mixes channels: a wall`);
    }
    // Shape rules live in the handlers (graph.ts asks the registry, then tfjs).
    for (const ruled of ['InputLayer', 'Dense', 'Conv2D', 'DepthwiseConv2D', 'Flatten', 'Concatenate', 'Add', 'BatchNormalization']) {
      assert.ok(defaultRegistry.get(ruled)?.outputShapes, `${ruled} infers its output shape`);
    }
    for (const through of ['Add', 'Concatenate', 'DepthwiseConv2D', 'SeparableConv2D', 'Conv2DTranspose', 'LayerNormalization', 'PReLU']) {
      assert.ok(defaultRegistry.get(through)?.channels, `${through} can be pruned through`);
    }
  });
});

/** dense(8) → BN → [layer under test, 'act'] → dense(2): BN's channels reach the classifier only through 'act'. */
function modelThrough(className: string): ModelJson {
  const layers = [
    { class_name: 'Dense', config: { name: 'fc1', units: 8, batch_input_shape: [null, 4] } },
    { class_name: 'BatchNormalization', config: { name: 'bn', axis: -1 } },
    { class_name: className, config: { name: 'act', activation: 'relu' } },
    { class_name: 'Dense', config: { name: 'fc2', units: 2 } },
  ];
  return { class_name: 'Sequential', config: { name: 's', layers } };
}

interface HalveConfig extends BaseLayerConfig {
  activation: string;
}

/** A custom layer type tfjs does not know: y = x / 2 per element, so channels are tied. */
const halve: LayerHandler<HalveConfig> = {
  className: 'Halve',
  count: () => ({ trainable: 0, nonTrainable: 0, macs: 0 }),
  outputShapes: (_config, [x]) => [[...x]],
  channels: { role: 'tied', mapConstant: (values) => values.map((v) => v / 2) },
};

describe('a registry passed in', () => {
  it('a custom handler in a fresh registry is used by graph, analysis, planning, applying and counting; the default is untouched', async () => {
    const registry = defaultRegistry.copy().register(halve);
    const json = modelThrough('Halve');
    assert.equal(defaultRegistry.get('Halve'), undefined);
    // The default registry does not know 'Halve': tfjs cannot infer its shape either.
    assert.throws(() => buildGraph(json), /unknown layer class 'Halve'/);
    assert.deepEqual(buildGraph(json, undefined, registry).nodeById.get('act')!.outputShapes, [[null, 8]]);

    const analysis = analyzeChannels(json, registry);
    assert.deepEqual(analysis.walls, []);
    const group = analysis.groups.find((g) => g.layers.includes('act'))!;
    assert.deepEqual(group.layers, ['fc1', 'bn', 'act', 'fc2']);
    assert.equal(group.blocked, null);
    assert.equal(countModel(json, registry).params.total, 4 * 8 + 8 + 4 * 8 + 8 * 2 + 2);

    const model = tf.sequential({
      layers: [
        tf.layers.dense({ name: 'fc1', inputShape: [4], units: 8 }),
        tf.layers.batchNormalization({ name: 'bn' }),
        tf.layers.dense({ name: 'fc2', units: 2 }),
      ],
    });
    const artifacts = { ...(await fromLayersModel(model)), modelTopology: json };
    model.dispose();
    const plan = planPrune(artifacts, { ratio: 0.5 }, registry);
    assert.equal(plan.prunedChannels, 4);
    const pruned = applyPlan(artifacts, plan, registry);
    assert.deepEqual(pruned.weights.get('fc2/kernel')!.shape, [4, 2]);
    assert.equal(defaultRegistry.get('Halve'), undefined, 'registering into a copy leaves the default registry alone');
  });

  it('a handler replaced in a copy changes only that copy', () => {
    const registry = defaultRegistry.copy();
    // ReLU without a channel facet: a wall, in this registry only.
    registry.register({ className: 'ReLU', count: () => ({ trainable: 0, nonTrainable: 0, macs: 0 }) });
    const json = modelThrough('ReLU');
    assert.deepEqual(
      analyzeChannels(json, registry).walls.map((w) => w.layer),
      ['act'],
    );
    assert.deepEqual(analyzeChannels(json).walls, []);
    assert.ok(defaultRegistry.get('ReLU')!.channels);
  });
});
