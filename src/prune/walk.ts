/**
 * The walk over a graph's layer calls that gives every tensor its channel layout (layout.ts).
 *
 * Free layers (Conv2D, Dense, SeparableConv2D…) start a new channel space at their output; tied
 * layers derive their output layout from their input (BN and activations keep it, Flatten spreads
 * it over positions, DepthwiseConv2D multiplies it); merges lay inputs side by side (Concatenate)
 * or join their spaces (Add…); the calls of a shared layer join spaces too. A call the walk cannot
 * follow is a wall: the spaces it touches are blocked. Nested models are walked inline, their
 * tensors aliased to the outer ones.
 */
import type { LayerRegistry } from '../layers/registry.js';
import type { ChannelFacet, FreeFacet, LayerCall, LayerConfig, MergeFacet, TiedFacet } from '../layers/types.js';
import { callOf, type GraphNode, type LayerGraph } from '../model/graph.js';
import type { ChannelSpaces } from './channel-spaces.js';
import { concatLayouts, expandLayout, layoutWidth, multiplyLayout, plainLayout, type Layout } from './layout.js';

export interface Wall {
  layer: string;
  className: string;
  reason: string;
}

/** One layer call taking part in the analysis (nested models are expanded into their layers). */
export interface AnalysisNode {
  node: GraphNode;
  /** Layer path: the name at top level, 'outer/inner' inside nested models. */
  path: string;
  /** Canonical tensor ids (nested-model boundaries resolved). */
  inputs: string[];
  outputs: string[];
  facet?: ChannelFacet;
  /** Why this call is a wall, or null. */
  wall: string | null;
}

/** A nested model whose inputs may change width (its declared input shape must follow). */
export interface NestedModel {
  path: string;
  node: GraphNode;
  /** Canonical ids of the tensors fed to the nested model's inputs, in order. */
  inputs: string[];
}

const lastDim = (shape: (number | null)[]): number | null => shape[shape.length - 1] ?? null;

/** The walk's results; `run` fills them. */
export class ChannelWalk {
  readonly layouts = new Map<string, Layout>();
  readonly nodes: AnalysisNode[] = [];
  readonly nested: NestedModel[] = [];
  readonly walls: Wall[] = [];
  /** The first call of each layer path (a shared layer's later calls must agree with it). */
  readonly firstCall = new Map<string, AnalysisNode>();
  private readonly alias = new Map<string, string>();

  constructor(
    private readonly spaces: ChannelSpaces,
    private readonly registry: LayerRegistry,
  ) {}

  /** The outer tensor an inner (nested-model) tensor id stands for. */
  canonical(tensor: string): string {
    let id = tensor;
    while (this.alias.has(id)) id = this.alias.get(id)!;
    return id;
  }

  /** Walks the top-level graph, then blocks model inputs and outputs and the first calls of shared walls. */
  run(graph: LayerGraph): void {
    // A Sequential without an InputLayer has an input tensor no node produces.
    for (const t of graph.inputs) {
      if (graph.tensors.get(t)!.producer !== null) continue;
      const c = lastDim(graph.tensors.get(t)!.shape) ?? 0;
      this.layouts.set(t, plainLayout(this.spaces.add(c, 'model input'), c));
    }
    for (const n of graph.nodes)
      this.visit(
        n,
        '',
        n.inputs.map((t) => this.canonical(t)),
      );
    for (const t of graph.inputs) this.spaces.block(this.layouts.get(this.canonical(t)), 'model input');
    for (const t of graph.outputs) this.spaces.block(this.layouts.get(this.canonical(t)), 'model output');
    // A shared layer that became a wall on a later call blocks what its first call touched too.
    for (const a of this.nodes) {
      const first = this.firstCall.get(a.path);
      if (first !== undefined && first !== a && a.wall !== null && first.wall === null) {
        first.wall = a.wall;
        for (const t of [...first.inputs, ...first.outputs]) this.spaces.block(this.layouts.get(t), `touches wall '${a.path}'`);
      }
    }
  }

  private visit(graphNode: GraphNode, prefix: string, inputIds: string[]): void {
    if (graphNode.inner !== undefined) this.visitNested(graphNode, prefix, inputIds);
    else this.visitLayer(graphNode, prefix, inputIds);
  }

  private visitNested(graphNode: GraphNode, prefix: string, inputIds: string[]): void {
    const path = prefix + graphNode.name;
    const inner = graphNode.inner!;
    if (graphNode.callCount > 1) {
      // A nested model called twice: its inner tensors exist once per call; keep it whole.
      const a: AnalysisNode = { node: graphNode, path, inputs: inputIds, outputs: graphNode.outputs.map((t) => prefix + t), wall: null };
      this.nodes.push(a);
      this.makeWall(a, 'nested model called more than once');
      return;
    }
    this.nested.push({ path, node: graphNode, inputs: inputIds });
    const innerPrefix = `${path}/`;
    inner.inputs.forEach((t, i) => this.alias.set(innerPrefix + t, inputIds[i]));
    for (const n of inner.nodes) {
      if (n.className === 'InputLayer' && n.inputs.length === 0) continue; // aliased to the outer tensor
      this.visit(
        n,
        innerPrefix,
        n.inputs.map((t) => this.canonical(innerPrefix + t)),
      );
    }
    graphNode.outputs.forEach((t, i) => this.alias.set(prefix + t, this.canonical(innerPrefix + inner.outputs[i])));
  }

  private visitLayer(graphNode: GraphNode, prefix: string, inputIds: string[]): void {
    const path = prefix + graphNode.name;
    const facet = this.registry.get(graphNode.className)?.channels;
    const a: AnalysisNode = {
      node: graphNode,
      path,
      inputs: inputIds,
      outputs: graphNode.outputs.map((t) => prefix + t),
      facet,
      wall: null,
    };
    this.nodes.push(a);
    const inputs = a.inputs.map((t) => this.layouts.get(t));
    if (inputs.some((l) => l === undefined)) return this.makeWall(a, 'reads a tensor with no channel layout');
    if (facet === undefined) return this.makeWall(a, `no pruning handler for ${graphNode.className}`);
    if (facet.role === 'source') return this.sourceOutputs(a);
    const inLayouts = inputs as Layout[];
    const wall = this.structuralWall(a, facet, inLayouts);
    if (wall !== null) return this.makeWall(a, wall);

    const first = this.firstCall.get(path);
    const out = facet.role === 'free' ? this.freeOutput(a, facet, inLayouts, first) : this.derivedOutput(a, facet, inLayouts, first);
    if (typeof out === 'string') return this.makeWall(a, out);
    const width = lastDim(graphNode.outputShapes[0]);
    if (width !== layoutWidth(out)) {
      this.spaces.block(out, `output of '${path}' does not hold ${layoutWidth(out)} rows on its last axis`);
    }
    this.layouts.set(a.outputs[0], out);
    if (first === undefined) this.firstCall.set(path, a);
  }

  /** Why this call cannot be walked through whatever its inputs hold, or null. */
  private structuralWall(a: AnalysisNode, facet: Exclude<ChannelFacet, { role: 'source' }>, inLayouts: Layout[]): string | null {
    const own = facet.wallReason?.(callOf(a.node)) ?? null;
    if (own !== null) return own;
    if (a.outputs.length !== 1) return `has ${a.outputs.length} outputs`;
    if (a.inputs.length !== 1 && facet.role !== 'merge') return `has ${a.inputs.length} inputs`;
    if (facet.role === 'free' && facet.acceptsExpandedInput !== true && inLayouts[0].some((b) => b.outer !== 1)) {
      return 'reads a flattened layout';
    }
    const first = this.firstCall.get(a.path);
    return first !== undefined && first.wall !== null ? first.wall : null;
  }

  /** A model input: fixed channels. */
  private sourceOutputs(a: AnalysisNode): void {
    for (const t of a.outputs) {
      const c = lastDim(a.node.outputShapes[0]) ?? 0;
      this.layouts.set(t, plainLayout(this.spaces.add(c, 'model input'), c));
    }
  }

  /** A free layer's own output channels: a new space (shared layer: the first call's). */
  private freeOutput(
    a: AnalysisNode,
    facet: FreeFacet<LayerConfig>,
    inLayouts: Layout[],
    first: AnalysisNode | undefined,
  ): Layout | string {
    if (first !== undefined) {
      // A shared layer has one kernel: every call reads the same channels and writes the same ones.
      if (!this.spaces.unify(this.layouts.get(first.inputs[0])!, inLayouts[0])) return 'shared layer called on differently laid out inputs';
      return this.layouts.get(first.outputs[0])!;
    }
    const c = lastDim(a.node.outputShapes[0]);
    const outputWall = facet.outputWall?.(callOf(a.node)) ?? null;
    const reason = c === null ? 'unknown channel count' : outputWall === null ? null : `'${a.path}': ${outputWall}`;
    return plainLayout(this.spaces.add(c ?? 0, reason), c ?? 0);
  }

  /** A tied or merge layer's output layout, derived from its inputs; a wall reason when it cannot be. */
  private derivedOutput(
    a: AnalysisNode,
    facet: TiedFacet<LayerConfig> | MergeFacet<LayerConfig>,
    inLayouts: Layout[],
    first: AnalysisNode | undefined,
  ): Layout | string {
    const derived = facet.role === 'merge' ? this.mergeOutput(facet, inLayouts) : tiedOutput(facet, callOf(a.node), inLayouts[0]);
    if (typeof derived === 'string') return derived;
    if (first !== undefined && !this.spaces.unify(this.layouts.get(first.inputs[0])!, inLayouts[0])) {
      return 'shared layer called on differently laid out inputs';
    }
    return derived;
  }

  private mergeOutput(facet: MergeFacet<LayerConfig>, inputs: Layout[]): Layout | string {
    if (inputs.length === 1) return inputs[0];
    if (facet.combine === 'concat') return concatLayouts(inputs);
    for (const l of inputs.slice(1)) if (!this.spaces.unify(inputs[0], l)) return 'inputs have different channel layouts';
    return inputs[0];
  }

  /** Gives a wall's outputs fresh spaces blocked by `reason`. */
  private freshOutputs(a: AnalysisNode, reason: string): void {
    a.outputs.forEach((t, i) => {
      const c = lastDim(a.node.outputShapes[i]);
      this.layouts.set(t, plainLayout(this.spaces.add(c ?? 0, reason), c ?? 0));
    });
  }

  private makeWall(a: AnalysisNode, reason: string): void {
    a.wall = reason;
    if (!this.walls.some((w) => w.layer === a.path)) this.walls.push({ layer: a.path, className: a.node.className, reason });
    const why = `touches wall '${a.path}'`;
    for (const t of a.inputs) this.spaces.block(this.layouts.get(t), why);
    if (a.outputs.every((t) => this.layouts.has(t))) for (const t of a.outputs) this.spaces.block(this.layouts.get(t), why);
    else this.freshOutputs(a, why);
  }
}

/** Output layout of a one-input tied call: spread over positions, then rows multiplied. */
function tiedOutput(facet: TiedFacet<LayerConfig>, call: LayerCall, input: Layout): Layout | string {
  const expanded = expandLayout(input, facet.expand?.(call) ?? 1);
  if (expanded === null) return 'flattens a layout that is already spread over positions';
  return multiplyLayout(expanded, facet.multiplier?.(call) ?? 1);
}
