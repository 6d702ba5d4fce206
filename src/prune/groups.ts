/**
 * The channel dependency analysis: which channels must be removed together.
 *
 * Every tensor gets a channel layout (layout.ts): which channel of which channel space sits on
 * each row of its last axis. Free layers (Conv2D, Dense, SeparableConv2D…) start a new space at
 * their output; tied layers derive their output layout from their input (BN and activations
 * keep it, Flatten spreads it over positions, DepthwiseConv2D multiplies it, Concatenate lays
 * inputs side by side); elementwise merges (Add…) and the calls of a shared layer join spaces by
 * union-find. Nested models are walked inline, their tensors aliased to the outer ones.
 * A group (root space) is a pruning candidate when a free layer produces it, a BatchNormalization γ
 * scales it, and it touches no wall, model input or model output.
 */
import { buildGraph, type GraphNode, type LayerGraph } from '../model/graph.js';
import type { ModelJson } from '../model/topology.js';
import {
  concatLayouts,
  expandLayout,
  layoutWidth,
  multiplyLayout,
  plainLayout,
  spacesOf,
  type Layout,
} from './layout.js';
import { getHandler } from './registry.js';
import type { ChannelFacet, LayerCall } from './types.js';

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

export interface ChannelGroup {
  id: number;
  /** Root channel space (union-find) of the group. */
  space: number;
  /** Channel count of the space. */
  channels: number;
  /** Free layers producing the channels. */
  producers: AnalysisNode[];
  /** Tied layers reading them. */
  tied: AnalysisNode[];
  /** Free layers reading them. */
  consumers: AnalysisNode[];
  /** BN layers (and the role) whose |γ| scores the channels. */
  importance: { layer: string; node: AnalysisNode; role: string }[];
  /** Every layer path touching the group, in graph order. */
  layers: string[];
  /** Why removing channels here is not output-preserving even for dead channels (LayerNormalization). */
  notes: string[];
  /** Null for a pruning candidate, else why the channels stay whole. */
  blocked: string | null;
}

export interface ChannelAnalysis {
  graph: LayerGraph;
  nodes: AnalysisNode[];
  nodeByPath: Map<string, AnalysisNode>;
  nested: NestedModel[];
  groups: ChannelGroup[];
  walls: Wall[];
  /** Layout of a canonical tensor id. */
  layouts: Map<string, Layout>;
  /** Union-find root of a space. */
  find(space: number): number;
  /** Group of a space (by its root), if any. */
  groupOfSpace(space: number): ChannelGroup | undefined;
}

export function callOf(node: GraphNode): LayerCall {
  return { name: node.name, className: node.className, config: node.config, inputShapes: node.inputShapes, outputShapes: node.outputShapes };
}

const lastDim = (shape: (number | null)[]): number | null => shape[shape.length - 1] ?? null;

/** Builds the layout of every tensor and the channel groups of a topology. */
export function analyzeChannels(topology: ModelJson): ChannelAnalysis {
  const graph = buildGraph(topology);

  // --- union-find over channel spaces ---
  const parent: number[] = [];
  const spaceChannels: number[] = [];
  const spaceBlocked: (string | null)[] = [];
  const find = (s: number): number => {
    let r = s;
    while (parent[r] !== r) r = parent[r];
    while (parent[s] !== r) {
      const next = parent[s];
      parent[s] = r;
      s = next;
    }
    return r;
  };
  const newSpace = (channels: number, blocked: string | null = null): number => {
    parent.push(parent.length);
    spaceChannels.push(channels);
    spaceBlocked.push(blocked);
    return parent.length - 1;
  };
  const block = (layout: Layout | undefined, reason: string): void => {
    for (const s of layout === undefined ? [] : spacesOf(layout)) if (spaceBlocked[s] === null) spaceBlocked[s] = reason;
  };
  /** Joins two layouts row by row; false when they are not laid out alike. */
  const unify = (a: Layout, b: Layout): boolean => {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) {
      const x = a[i];
      const y = b[i];
      if (x.outer !== y.outer || x.segments.length !== y.segments.length) return false;
      for (let j = 0; j < x.segments.length; j++) {
        const s = x.segments[j];
        const t = y.segments[j];
        if (s.channels !== t.channels || s.inner !== t.inner) return false;
      }
    }
    a.forEach((x, i) =>
      x.segments.forEach((s, j) => {
        const ra = find(s.space);
        const rb = find(b[i].segments[j].space);
        if (ra !== rb) parent[Math.max(ra, rb)] = Math.min(ra, rb); // lower id stays root: deterministic groups
      }),
    );
    return true;
  };

  const layouts = new Map<string, Layout>();
  const alias = new Map<string, string>();
  const canonical = (t: string): string => {
    let id = t;
    while (alias.has(id)) id = alias.get(id)!;
    return id;
  };
  const nodes: AnalysisNode[] = [];
  const nested: NestedModel[] = [];
  const walls: Wall[] = [];
  const firstCall = new Map<string, AnalysisNode>();

  const freshOutputs = (a: AnalysisNode, reason: string | null): void => {
    a.outputs.forEach((t, i) => {
      const c = lastDim(a.node.outputShapes[i]);
      layouts.set(t, plainLayout(newSpace(c ?? 0, reason ?? (c === null ? 'unknown channel count' : null)), c ?? 0));
    });
  };
  const makeWall = (a: AnalysisNode, reason: string): void => {
    a.wall = reason;
    if (!walls.some((w) => w.layer === a.path)) walls.push({ layer: a.path, className: a.node.className, reason });
    const why = `touches wall '${a.path}'`;
    for (const t of a.inputs) block(layouts.get(t), why);
    if (a.outputs.every((t) => layouts.has(t))) for (const t of a.outputs) block(layouts.get(t), why);
    else freshOutputs(a, why);
  };

  /** Output layout of a tied call from its input layouts, or a wall reason. */
  const tiedOutput = (a: AnalysisNode, facet: ChannelFacet, inputs: Layout[]): Layout | string => {
    const call = callOf(a.node);
    if (inputs.length > 1) {
      if (facet.merge === 'concat') return concatLayouts(inputs);
      for (const l of inputs.slice(1)) if (!unify(inputs[0], l)) return 'inputs have different channel layouts';
      return inputs[0];
    }
    let out = inputs[0];
    const expand = facet.expand?.(call) ?? 1;
    const expanded = expandLayout(out, expand);
    if (expanded === null) return 'flattens a layout that is already spread over positions';
    out = multiplyLayout(expanded, facet.multiplier?.(call) ?? 1);
    return out;
  };

  const visit = (graphNode: GraphNode, prefix: string, inputIds: string[]): void => {
    const path = prefix + graphNode.name;
    if (graphNode.inner !== undefined) {
      const inner = graphNode.inner;
      const outer: NestedModel = { path, node: graphNode, inputs: inputIds };
      if (graphNode.callCount > 1) {
        // A nested model called twice: its inner tensors exist once per call; keep it whole.
        const a: AnalysisNode = { node: graphNode, path, inputs: inputIds, outputs: graphNode.outputs.map((t) => prefix + t), wall: null };
        nodes.push(a);
        makeWall(a, 'nested model called more than once');
        return;
      }
      nested.push(outer);
      const innerPrefix = `${path}/`;
      inner.inputs.forEach((t, i) => alias.set(innerPrefix + t, inputIds[i]));
      for (const n of inner.nodes) {
        if (n.className === 'InputLayer' && n.inputs.length === 0) continue; // aliased to the outer tensor
        visit(n, innerPrefix, n.inputs.map((t) => canonical(innerPrefix + t)));
      }
      graphNode.outputs.forEach((t, i) => alias.set(prefix + t, canonical(innerPrefix + inner.outputs[i])));
      return;
    }

    const facet = getHandler(graphNode.className)?.channels;
    const a: AnalysisNode = { node: graphNode, path, inputs: inputIds, outputs: graphNode.outputs.map((t) => prefix + t), facet, wall: null };
    nodes.push(a);
    const call = callOf(graphNode);
    const inputs = a.inputs.map((t) => layouts.get(t));
    if (inputs.some((l) => l === undefined)) return makeWall(a, 'reads a tensor with no channel layout');
    const inLayouts = inputs as Layout[];

    if (facet === undefined) return makeWall(a, `no pruning handler for ${graphNode.className}`);
    const own = facet.wallReason?.(call) ?? null;
    if (own !== null) return makeWall(a, own);
    if (facet.role === 'source') {
      for (const t of a.outputs) {
        const c = lastDim(graphNode.outputShapes[0]) ?? 0;
        layouts.set(t, plainLayout(newSpace(c, 'model input'), c));
      }
      return;
    }
    if (a.outputs.length !== 1) return makeWall(a, `has ${a.outputs.length} outputs`);
    if (a.inputs.length !== 1 && (facet.role === 'free' || facet.merge === undefined)) return makeWall(a, `has ${a.inputs.length} inputs`);
    if (facet.role === 'free' && facet.acceptsExpandedInput !== true && inLayouts[0].some((b) => b.outer !== 1)) {
      return makeWall(a, 'reads a flattened layout');
    }

    const first = firstCall.get(path);
    if (first !== undefined && first.wall !== null) return makeWall(a, first.wall);
    let out: Layout;
    if (facet.role === 'free') {
      if (first !== undefined) {
        // A shared layer has one kernel: every call reads the same channels and writes the same ones.
        if (!unify(layouts.get(first.inputs[0])!, inLayouts[0])) return makeWall(a, 'shared layer called on differently laid out inputs');
        out = layouts.get(first.outputs[0])!;
      } else {
        const c = lastDim(graphNode.outputShapes[0]);
        const outputWall = facet.outputWall?.(call) ?? null;
        const reason = c === null ? 'unknown channel count' : outputWall === null ? null : `'${path}': ${outputWall}`;
        out = plainLayout(newSpace(c ?? 0, reason), c ?? 0);
      }
    } else {
      const derived = tiedOutput(a, facet, inLayouts);
      if (typeof derived === 'string') return makeWall(a, derived);
      if (first !== undefined && !unify(layouts.get(first.inputs[0])!, inLayouts[0])) {
        return makeWall(a, 'shared layer called on differently laid out inputs');
      }
      out = derived;
    }
    const width = lastDim(graphNode.outputShapes[0]);
    if (width !== layoutWidth(out)) {
      block(out, `output of '${path}' does not hold ${layoutWidth(out)} rows on its last axis`);
    }
    layouts.set(a.outputs[0], out);
    if (first === undefined) firstCall.set(path, a);
  };

  // A Sequential without an InputLayer has an input tensor no node produces.
  for (const t of graph.inputs) {
    if (graph.tensors.get(t)!.producer !== null) continue;
    const c = lastDim(graph.tensors.get(t)!.shape) ?? 0;
    layouts.set(t, plainLayout(newSpace(c, 'model input'), c));
  }
  for (const n of graph.nodes) visit(n, '', n.inputs.map(canonical));
  for (const t of graph.inputs) block(layouts.get(canonical(t)), 'model input');
  for (const t of graph.outputs) block(layouts.get(canonical(t)), 'model output');
  // A shared layer that became a wall on a later call blocks what its first call touched too.
  for (const a of nodes) {
    const first = firstCall.get(a.path);
    if (first !== undefined && first !== a && a.wall !== null && first.wall === null) {
      first.wall = a.wall;
      for (const t of [...first.inputs, ...first.outputs]) block(layouts.get(t), `touches wall '${a.path}'`);
    }
  }

  // --- groups: one per root space, in order of the space's creation ---
  const groupByRoot = new Map<number, ChannelGroup>();
  const groups: ChannelGroup[] = [];
  for (let s = 0; s < parent.length; s++) {
    const root = find(s);
    let g = groupByRoot.get(root);
    if (g === undefined) {
      g = { id: groups.length, space: root, channels: spaceChannels[root], producers: [], tied: [], consumers: [], importance: [], layers: [], notes: [], blocked: null };
      groupByRoot.set(root, g);
      groups.push(g);
    }
    if (g.blocked === null && spaceBlocked[s] !== null) g.blocked = spaceBlocked[s];
  }
  const touched = (a: AnalysisNode, ids: string[]): Set<ChannelGroup> => {
    const out = new Set<ChannelGroup>();
    for (const t of ids) for (const s of spacesOf(layouts.get(t) ?? [])) out.add(groupByRoot.get(find(s))!);
    return out;
  };
  for (const a of nodes) {
    if (a.wall !== null || a.facet === undefined || a.facet.role === 'source') continue;
    const call = callOf(a.node);
    if (a.facet.role === 'free') {
      for (const g of touched(a, a.outputs)) if (!g.producers.some((p) => p.path === a.path)) g.producers.push(a);
      for (const g of touched(a, a.inputs)) g.consumers.push(a);
    } else {
      const role = a.facet.importanceRole?.(call) ?? null;
      const note = a.facet.inexact?.(call) ?? null;
      for (const g of touched(a, a.inputs)) {
        g.tied.push(a);
        if (role !== null) g.importance.push({ layer: a.node.name, node: a, role });
        if (note !== null && !g.notes.includes(note)) g.notes.push(note);
      }
    }
  }
  const order = new Map(nodes.map((a, i) => [a, i]));
  for (const g of groups) {
    const members = [...g.producers, ...g.tied, ...g.consumers].sort((x, y) => order.get(x)! - order.get(y)!);
    g.layers = [...new Set(members.map((m) => m.path))];
    if (g.blocked !== null) continue;
    if (g.producers.length === 0) g.blocked = 'no prunable layer produces these channels';
    else if (g.importance.length === 0) g.blocked = 'no BatchNormalization γ scales these channels';
    else if (g.channels <= 0) g.blocked = 'unknown channel count';
  }

  return {
    graph,
    nodes,
    nodeByPath: new Map(nodes.filter((a) => a.node.callIndex === 0).map((a) => [a.path, a])),
    nested,
    groups,
    walls,
    layouts,
    find,
    groupOfSpace: (s) => groupByRoot.get(find(s)),
  };
}
