/** Conformance: every registered handler honours the facet contract its role implies. */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { allHandlers, getHandler } from '../src/prune/registry.js';

describe('handler registry', () => {
  it('each handler is registered under its class name and its channel facet is complete for its role', () => {
    const handlers = allHandlers();
    assert.ok(handlers.length >= 40);
    for (const h of handlers) {
      assert.equal(getHandler(h.className), h);
      const facet = h.channels;
      if (facet === undefined) continue;
      if (facet.role === 'free') {
        for (const key of ['sliceOutputs', 'sliceInputs', 'rewriteConfig'] as const) assert.ok(facet[key], `${h.className} lacks ${key}`);
        assert.equal(facet.sliceChannels, undefined, `${h.className}: free layers slice outputs, not channels`);
      }
      if (facet.role === 'tied') {
        assert.equal(facet.sliceOutputs, undefined, `${h.className}: tied layers have no outputs of their own`);
        if (facet.importanceRole) assert.ok(facet.sliceChannels, `${h.className} scores channels but cannot slice them`);
      }
      if (facet.absorbsInputShift !== undefined) {
        assert.equal(facet.role, 'tied', `${h.className}: only a tied layer can absorb its input's shift per row`);
      }
    }
    for (const wall of ['Softmax', 'Dot']) {
      assert.equal(getHandler(wall)?.channels, undefined, `${wall} mixes channels: a wall`);
    }
    // Shape rules live in the handlers (graph.ts asks the registry, then tfjs).
    for (const ruled of ['InputLayer', 'Dense', 'Conv2D', 'DepthwiseConv2D', 'Flatten', 'Concatenate', 'Add', 'BatchNormalization']) {
      assert.ok(getHandler(ruled)?.outputShapes, `${ruled} infers its output shape`);
    }
    for (const through of ['Add', 'Concatenate', 'DepthwiseConv2D', 'SeparableConv2D', 'Conv2DTranspose', 'LayerNormalization', 'PReLU']) {
      assert.ok(getHandler(through)?.channels, `${through} can be pruned through`);
    }
  });
});
