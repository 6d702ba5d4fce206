/**
 * BatchNormalization folding for inference export: a BN right after a linear layer is an affine
 * map per output channel (y = scale·x + shift), so it can move into that layer's kernel and bias
 * and disappear from the graph. Pure: artifacts in, artifacts out, nothing printed.
 *
 * Which layers are affine maps (BN) and which can absorb one (Conv*, DepthwiseConv2D,
 * SeparableConv2D's pointwise part, Dense) is per-layer knowledge kept in the handler registry:
 * `inferenceAffine` and `foldsAffine` (see src/layers/types.ts). This file only walks the graph, checks
 * that the producer's output feeds the BN alone, does the arithmetic (float64, stored float32)
 * and rewires the topology.
 */
import { buildGraph, unwrapTopology, type GraphNode, type LayerGraph } from '../model/graph.js';
import type { ModelArtifacts, Weight, WeightMap } from '../model/topology.js';
import { defaultRegistry, type LayerRegistry } from '../layers/registry.js';
import type { AffineFoldFacet, ChannelAffine } from '../layers/types.js';
import { callOf } from '../model/graph.js';
import { indexWeights, roleWeightsOf } from '../prune/weights.js';
import { inboundRef, removeLayers, type Container } from './rewire.js';

/** A BN that was folded: its path ('outer/bn' inside nested models) and the layer that absorbed it. */
export interface FoldedBatchNorm {
  bn: string;
  into: string;
}

/** A BN left in place, and why (one line). */
export interface SkippedBatchNorm {
  bn: string;
  reason: string;
}

export interface FoldBatchNormResult {
  artifacts: ModelArtifacts;
  folded: FoldedBatchNorm[];
  skipped: SkippedBatchNorm[];
}

interface Context {
  registry: LayerRegistry;
  weights: WeightMap;
  index: Map<string, Map<string, string>>;
  /** New bias weights, keyed by the manifest name of the kernel they go after. */
  addedAfter: Map<string, { name: string; weight: Weight }>;
  folded: FoldedBatchNorm[];
  skipped: SkippedBatchNorm[];
}

/** A fold that passed every check, ready to apply. */
interface FoldPlan {
  producer: GraphNode;
  facet: AffineFoldFacet;
  affine: ChannelAffine;
}

/** Folds every foldable BatchNormalization (top level and inside nested models) into its producer. */
export function foldBatchNorm(artifacts: ModelArtifacts, registry: LayerRegistry = defaultRegistry): FoldBatchNormResult {
  const topology = structuredClone(artifacts.modelTopology);
  // The graph is built from the clone, so its nodes' `layer` entries are the JSON we rewrite.
  const graph = buildGraph(topology, undefined, registry);
  const weights: WeightMap = new Map(artifacts.weights);
  const ctx: Context = { registry, weights, index: indexWeights(weights), addedAfter: new Map(), folded: [], skipped: [] };
  foldInGraph(graph, unwrapTopology(topology), '', ctx);

  // Manifest order: a new bias goes right after its kernel, as tfjs itself would list it.
  const ordered: WeightMap = new Map();
  for (const [name, w] of weights) {
    ordered.set(name, w);
    const added = ctx.addedAfter.get(name);
    if (added !== undefined) ordered.set(added.name, added.weight);
  }
  return { artifacts: { ...artifacts, modelTopology: topology, weights: ordered }, folded: ctx.folded, skipped: ctx.skipped };
}

function foldInGraph(graph: LayerGraph, container: Container, prefix: string, ctx: Context): void {
  /** BN name → the tensor reference (as written in inbound_nodes) of what it read. */
  const removed = new Map<string, unknown[]>();
  for (const node of graph.nodes) {
    if (node.inner !== undefined) {
      // A nested model's layers are folded inside it (once, however often it is called).
      if (node.callIndex === 0) foldInGraph(node.inner, node.layer, `${prefix}${node.name}/`, ctx);
      continue;
    }
    const handler = ctx.registry.get(node.className);
    if (handler?.inferenceAffine === undefined || node.callIndex > 0) continue;
    const bnPath = prefix + node.name;
    const plan = planFold(graph, node, ctx);
    if (typeof plan === 'string') {
      ctx.skipped.push({ bn: bnPath, reason: plan });
      continue;
    }
    applyFold(plan, node, ctx);
    ctx.folded.push({ bn: bnPath, into: prefix + plan.producer.name });
    removed.set(node.name, inboundRef(node.layer));
  }
  if (removed.size > 0) removeLayers(container, graph.kind, removed);
}

/** Everything that must hold for `bn` to fold into its producer; a reason string when it does not. */
function planFold(graph: LayerGraph, bn: GraphNode, ctx: Context): FoldPlan | string {
  if (bn.callCount > 1) return `is called ${bn.callCount} times (shared layer)`;
  if (bn.inputs.length !== 1) return `has ${bn.inputs.length} inputs`;
  const affine = ctx.registry.get(bn.className)!.inferenceAffine!(roleWeightsOf(ctx.weights, ctx.index, bn.name), callOf(bn));
  if (typeof affine === 'string') return affine;

  const tensor = graph.tensors.get(bn.inputs[0])!;
  if (tensor.producer === null) return 'reads the model input: no layer to fold into';
  const producer = graph.nodeById.get(tensor.producer)!;
  const what = `producer '${producer.name}' (${producer.className})`;
  if (producer.inner !== undefined) return `${what} is a nested model`;
  const facet = ctx.registry.get(producer.className)?.foldsAffine;
  if (facet === undefined) return `${what} cannot absorb a per-channel scale`;
  if (producer.callCount > 1) return `${what} is called ${producer.callCount} times (shared layer)`;
  if (producer.outputs.length !== 1) return `${what} has ${producer.outputs.length} outputs`;
  const others = tensor.consumers.filter((id) => id !== bn.id);
  if (others.length > 0) return `${what} output also feeds ${others.map((id) => `'${id}'`).join(', ')}`;
  if (graph.outputs.includes(tensor.id)) return `${what} output is also a model output`;
  const refused = facet.refuse?.(callOf(producer)) ?? null;
  if (refused !== null) return `${what} ${refused}`;

  const roles = roleWeightsOf(ctx.weights, ctx.index, producer.name);
  const kernel = roles.get(facet.kernelRole);
  if (kernel === undefined || kernel.dtype !== 'float32') return `${what} has no float32 '${facet.kernelRole}' weight`;
  const { size } = outputAxesSpan(kernel.shape, facet.kernelOutputAxes);
  const channels = affine.scale.length;
  if (size !== channels) return `${what} has ${size} output channels, the BatchNormalization ${channels}`;
  const bias = roles.get(facet.biasRole);
  if (bias !== undefined && bias.data.length !== channels)
    return `${what} '${facet.biasRole}' has ${bias.data.length} values, expected ${channels}`;
  if (bias === undefined && producer.config.use_bias !== false) return `${what} uses a bias but its weights have no '${facet.biasRole}'`;
  return { producer, facet, affine };
}

/** outer·size·inner decomposition of a row-major shape around consecutive (negative) axes. */
function outputAxesSpan(shape: number[], axes: number[]): { outer: number; size: number; inner: number } {
  const first = Math.min(...axes) + shape.length;
  const last = Math.max(...axes) + shape.length;
  const product = (dims: number[]): number => dims.reduce((a, b) => a * b, 1);
  return { outer: product(shape.slice(0, first)), size: product(shape.slice(first, last + 1)), inner: product(shape.slice(last + 1)) };
}

/** Scales the producer's kernel per output channel, sets bias·scale + shift, drops the BN's weights. */
function applyFold(plan: FoldPlan, bn: GraphNode, ctx: Context): void {
  const { producer, facet, affine } = plan;
  const names = ctx.index.get(producer.name)!;
  const kernelName = names.get(facet.kernelRole)!;
  const kernel = ctx.weights.get(kernelName)!;
  const { outer, size, inner } = outputAxesSpan(kernel.shape, facet.kernelOutputAxes);
  const scaled = new Float32Array(kernel.data.length);
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < size; c++) {
      const base = (o * size + c) * inner;
      for (let i = 0; i < inner; i++) scaled[base + i] = kernel.data[base + i] * affine.scale[c];
    }
  }
  ctx.weights.set(kernelName, { shape: [...kernel.shape], dtype: 'float32', data: scaled });

  const biasName = names.get(facet.biasRole);
  const oldBias = biasName !== undefined ? ctx.weights.get(biasName) : undefined;
  const bias = new Float32Array(size);
  for (let c = 0; c < size; c++) bias[c] = (oldBias?.data[c] ?? 0) * affine.scale[c] + affine.shift[c];
  const biasWeight: Weight = { shape: [size], dtype: 'float32', data: bias };
  if (biasName !== undefined) {
    ctx.weights.set(biasName, biasWeight);
  } else {
    // `conv/kernel` → `conv/bias` (keeps any scope prefix and `:0` suffix tfjs wrote).
    const name = kernelName.replace(/[^/]+?(:\d+)?$/, (_m, suffix: string | undefined) => `${facet.biasRole}${suffix ?? ''}`);
    ctx.addedAfter.set(kernelName, { name, weight: biasWeight });
    names.set(facet.biasRole, name);
    producer.layer.config = facet.enableBias(producer.layer.config);
  }
  for (const name of ctx.index.get(bn.name)?.values() ?? []) ctx.weights.delete(name);
}
