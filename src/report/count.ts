/**
 * Params and MACs of a model from its topology alone (no weight files, nothing allocated for
 * the layers slim knows). Per-layer formulas live in the handler registry (src/layers/handlers).
 *
 * Conventions: one MAC = one multiply-accumulate (bias adds, activations, normalisation are not
 * MACs); flops = 2·macs. A layer with `trainable: false` (or inside a frozen nested model)
 * counts all its params as non-trainable; BN moving statistics are always non-trainable.
 * A shared layer is listed once: params once, MACs summed over its calls.
 * Nested models are walked recursively; `layers` lists only leaf layers, with path
 * 'outer/inner', so summing `layers` gives the totals.
 * Layer types without a handler are counted by building that single layer in tfjs and summing
 * its weight sizes (this allocates that layer's weights once, then frees them; MACs are 0).
 */
import { buildGraph, callOf, instantiateLayer, type GraphNode, type LayerGraph, type Shape } from '../model/graph.js';
import type { ModelJson } from '../model/topology.js';
import { InputError } from '../errors.js';
import { defaultRegistry, type LayerRegistry } from '../layers/registry.js';
import type { LayerCall, LayerCost } from '../layers/types.js';

export interface LayerCount {
  name: string;
  className: string;
  /** 'outer/inner' for layers of nested models; the layer name at top level. */
  path: string;
  outputShape: (number | null)[] | (number | null)[][];
  params: number;
  trainable: number;
  nonTrainable: number;
  macs: number;
  /** Set when the count did not come from a formula (e.g. 'counted by building the layer in tfjs'). */
  note?: string;
}

export interface ModelCount {
  layers: LayerCount[];
  params: { total: number; trainable: number; nonTrainable: number };
  macs: number;
  /** 2 · macs. */
  flops: number;
}

export function countModel(topology: ModelJson, registry: LayerRegistry = defaultRegistry): ModelCount {
  const layers: LayerCount[] = [];
  countGraph(buildGraph(topology, undefined, registry), '', false, layers, registry);
  const params = { total: 0, trainable: 0, nonTrainable: 0 };
  let macs = 0;
  for (const l of layers) {
    params.total += l.params;
    params.trainable += l.trainable;
    params.nonTrainable += l.nonTrainable;
    macs += l.macs;
  }
  return { layers, params, macs, flops: 2 * macs };
}

function countGraph(graph: LayerGraph, prefix: string, frozen: boolean, out: LayerCount[], registry: LayerRegistry): void {
  const byName = new Map<string, LayerCount>();
  for (const node of graph.nodes) {
    const path = prefix === '' ? node.name : `${prefix}/${node.name}`;
    const frozenHere = frozen || node.config.trainable === false;
    if (node.inner !== undefined) {
      // A nested model called several times shares its weights; its MACs per extra call are not added (rare).
      if (node.callIndex === 0) countGraph(node.inner, path, frozenHere, out, registry);
      continue;
    }
    const { cost, note } = countNode(node, registry);
    const existing = byName.get(node.name);
    if (existing !== undefined) {
      existing.macs += cost.macs;
      continue;
    }
    const params = cost.trainable + cost.nonTrainable;
    const count: LayerCount = {
      name: node.name,
      className: node.className,
      path,
      outputShape: outputShapeOf(node.outputShapes),
      params,
      trainable: frozenHere ? 0 : cost.trainable,
      nonTrainable: frozenHere ? params : cost.nonTrainable,
      macs: cost.macs,
    };
    if (note !== undefined) count.note = note;
    byName.set(node.name, count);
    out.push(count);
  }
}

function outputShapeOf(shapes: Shape[]): LayerCount['outputShape'] {
  return shapes.length === 1 ? [...shapes[0]] : shapes.map((s) => [...s]);
}

function countNode(node: GraphNode, registry: LayerRegistry): { cost: LayerCost; note?: string } {
  const call = callOf(node);
  const handler = registry.get(node.className);
  if (handler !== undefined) return { cost: handler.count(call) };
  return { cost: countByBuilding(call), note: 'counted by building the layer in tfjs' };
}

/** Fallback for layer types without a formula: build the one layer, read its weight shapes, free it. */
function countByBuilding(call: LayerCall): LayerCost {
  const layer = instantiateLayer(call.name, call.className, call.config);
  try {
    layer.build(call.inputShapes.length === 1 ? call.inputShapes[0] : call.inputShapes);
  } catch (err) {
    throw new InputError(`layer '${call.name}' (${call.className}): cannot count its params: ${(err as Error).message}`);
  }
  const size = (shape: (number | null)[]): number => shape.reduce<number>((a, b) => a * (b ?? 0), 1);
  let trainable = 0;
  for (const w of layer.trainableWeights) trainable += size(w.shape);
  let nonTrainable = 0;
  for (const w of layer.nonTrainableWeights) nonTrainable += size(w.shape);
  for (const w of layer.weights) w.dispose();
  return { trainable, nonTrainable, macs: 0 };
}
