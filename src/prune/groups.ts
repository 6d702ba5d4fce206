/**
 * The channel dependency analysis: which channels must be removed together.
 *
 * Every tensor's last axis holds channels. Tied layers join their input and output tensors
 * into one group (union-find, so merge layers like Add can later join several inputs);
 * free layers (Conv2D, Dense) start a new group at their output and consume their input's.
 * A tensor may hold each channel at several positions (`repeat`, after Flatten).
 * A group is a pruning candidate when it has a free producer, a BatchNormalization γ over
 * its channels, and touches no wall, model input or model output.
 */
import { buildGraph, type GraphNode, type LayerGraph } from '../model/graph.js';
import type { ModelJson } from '../model/topology.js';
import { getHandler } from './registry.js';
import type { ChannelFacet, LayerCall } from './types.js';

export interface Wall {
  layer: string;
  className: string;
  reason: string;
}

export interface GroupMember {
  node: GraphNode;
  facet: ChannelFacet;
  /** How many positions each channel occupies in the tensor this member reads or writes. */
  repeat: number;
}

export interface ChannelGroup {
  id: number;
  /** Channel count (the producers' output width); 0 when the group has no producer. */
  channels: number;
  tensors: string[];
  producers: GroupMember[];
  tied: GroupMember[];
  consumers: GroupMember[];
  /** BN layers (and the role) whose |γ| scores the channels. */
  importance: { layer: string; role: string }[];
  /** Every layer touching the group, in graph order. */
  layers: string[];
  /** Null for a pruning candidate, else why the channels stay whole. */
  blocked: string | null;
}

export interface ChannelAnalysis {
  graph: LayerGraph;
  groups: ChannelGroup[];
  walls: Wall[];
}

export function callOf(node: GraphNode): LayerCall {
  return { name: node.name, className: node.className, config: node.config, inputShapes: node.inputShapes, outputShapes: node.outputShapes };
}

/** Why this node cannot take part in pruning, or null. `repeatOf` gives its input layouts. */
function wallReason(node: GraphNode, facet: ChannelFacet | undefined, inputRepeat: number): string | null {
  if (node.inner !== undefined) return 'nested model (pruning through nested models is not supported yet)';
  if (facet === undefined) return `no pruning handler for ${node.className}`;
  if (node.callCount > 1) return 'shared layer (called more than once)';
  const own = facet.wallReason?.(callOf(node)) ?? null;
  if (own !== null) return own;
  if (facet.role === 'source') return null;
  if (node.inputs.length !== 1) return `has ${node.inputs.length} inputs`;
  if (node.outputs.length !== 1) return `has ${node.outputs.length} outputs`;
  if (inputRepeat !== 1) {
    if (facet.role === 'tied' && facet.sliceChannels !== undefined) return 'per-channel weights over a flattened layout';
    if (facet.role === 'free' && facet.acceptsExpandedInput !== true) return 'reads a flattened layout';
  }
  return null;
}

export function analyzeChannels(topology: ModelJson): ChannelAnalysis {
  const graph = buildGraph(topology);
  const parent = new Map<string, string>();
  const find = (t: string): string => {
    let r = t;
    while (parent.get(r) !== r) r = parent.get(r)!;
    parent.set(t, r);
    return r;
  };
  const union = (a: string, b: string): void => {
    const ra = find(a);
    const rb = find(b);
    if (ra !== rb) parent.set(rb, ra);
  };
  for (const t of graph.tensors.keys()) parent.set(t, t);

  const repeat = new Map<string, number>();
  const blocked = new Map<string, string>();
  const producerAt = new Map<string, GroupMember>();
  const tiedAt = new Map<string, GroupMember[]>();
  const consumersAt = new Map<string, GroupMember[]>();
  const walls: Wall[] = [];
  const push = (m: Map<string, GroupMember[]>, t: string, g: GroupMember): void => {
    const list = m.get(t);
    if (list === undefined) m.set(t, [g]);
    else list.push(g);
  };
  const repeatOf = (t: string): number => repeat.get(t) ?? 1;

  for (const node of graph.nodes) {
    const facet = getHandler(node.className)?.channels;
    const inRepeat = node.inputs.length === 1 ? repeatOf(node.inputs[0]) : 1;
    const reason = wallReason(node, facet, inRepeat);
    if (reason !== null || facet === undefined) {
      const why = reason ?? 'no pruning handler';
      if (node.callIndex === 0) walls.push({ layer: node.name, className: node.className, reason: why });
      for (const t of [...node.inputs, ...node.outputs]) if (!blocked.has(t)) blocked.set(t, `touches wall '${node.name}'`);
      continue;
    }
    if (facet.role === 'source') {
      for (const t of node.outputs) blocked.set(t, 'model input');
    } else if (facet.role === 'free') {
      push(consumersAt, node.inputs[0], { node, facet, repeat: inRepeat });
      producerAt.set(node.outputs[0], { node, facet, repeat: 1 });
    } else {
      const out = node.outputs[0];
      union(node.inputs[0], out);
      repeat.set(out, inRepeat * (facet.expand?.(callOf(node)) ?? 1));
      push(tiedAt, out, { node, facet, repeat: inRepeat });
    }
  }
  for (const t of graph.inputs) if (!blocked.has(t)) blocked.set(t, 'model input');
  for (const t of graph.outputs) if (!blocked.has(t)) blocked.set(t, 'model output');

  // Gather groups in the order their first tensor appears (deterministic ids).
  const byRoot = new Map<string, ChannelGroup>();
  const groups: ChannelGroup[] = [];
  for (const t of graph.tensors.keys()) {
    const root = find(t);
    let g = byRoot.get(root);
    if (g === undefined) {
      g = { id: groups.length, channels: 0, tensors: [], producers: [], tied: [], consumers: [], importance: [], layers: [], blocked: null };
      byRoot.set(root, g);
      groups.push(g);
    }
    g.tensors.push(t);
    const p = producerAt.get(t);
    if (p !== undefined) g.producers.push(p);
    g.tied.push(...(tiedAt.get(t) ?? []));
    g.consumers.push(...(consumersAt.get(t) ?? []));
    if (g.blocked === null && blocked.has(t)) g.blocked = blocked.get(t)!;
  }

  const order = new Map(graph.nodes.map((n, i) => [n.id, i]));
  for (const g of groups) {
    const members = [...g.producers, ...g.tied, ...g.consumers].sort((a, b) => order.get(a.node.id)! - order.get(b.node.id)!);
    g.layers = [...new Set(members.map((m) => m.node.name))];
    for (const m of g.tied) {
      const role = m.facet.importanceRole?.(callOf(m.node)) ?? null;
      if (role !== null) g.importance.push({ layer: m.node.name, role });
    }
    if (g.producers.length > 0) {
      const out = g.producers[0].node.outputShapes[0];
      g.channels = out[out.length - 1] ?? 0;
    }
    if (g.blocked !== null) continue;
    if (g.producers.length === 0) g.blocked = 'no prunable layer produces these channels';
    else if (g.importance.length === 0) g.blocked = 'no BatchNormalization γ scales these channels';
    else if (g.channels <= 0) g.blocked = 'unknown channel count';
    else {
      for (const t of g.tensors) {
        const shape = graph.tensors.get(t)!.shape;
        if (shape[shape.length - 1] !== g.channels * repeatOf(t)) {
          g.blocked = `tensor ${t} does not hold ${g.channels} channels on its last axis`;
          break;
        }
      }
    }
  }
  return { graph, groups, walls };
}
