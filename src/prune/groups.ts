/**
 * The channel dependency analysis: which channels must be removed together.
 *
 * walk.ts gives every tensor a channel layout over channel spaces (channel-spaces.ts, a
 * union-find); this file collects one group per root space with the layers that produce, carry,
 * score and read its channels. A group is a pruning candidate when a free layer produces it, a
 * BatchNormalization γ scales it, and it touches no wall, model input or model output.
 */
import { defaultRegistry, type LayerRegistry } from '../layers/registry.js';
import { buildGraph, type LayerGraph } from '../model/graph.js';
import type { ModelJson } from '../model/topology.js';
import { ChannelSpaces } from './channel-spaces.js';
import { spacesOf, type Layout } from './layout.js';
import { callOf } from '../model/graph.js';
import { ChannelWalk, type AnalysisNode, type NestedModel, type Wall } from './walk.js';

export { callOf } from '../model/graph.js';
export type { AnalysisNode, NestedModel, Wall } from './walk.js';

export interface ChannelGroup {
  id: number;
  /** Root channel space (union-find) of the group. */
  space: number;
  /** Channel count of the space. */
  channels: number;
  /** Free layers producing the channels. */
  producers: AnalysisNode[];
  /** Tied and merge layers reading them. */
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

/** Builds the layout of every tensor and the channel groups of a topology. */
export function analyzeChannels(topology: ModelJson, registry: LayerRegistry = defaultRegistry): ChannelAnalysis {
  const graph = buildGraph(topology, undefined, registry);
  const spaces = new ChannelSpaces();
  const walk = new ChannelWalk(spaces, registry);
  walk.run(graph);
  const { groups, groupByRoot } = groupsOfSpaces(spaces);
  addMembers(walk, spaces, groupByRoot);
  finishGroups(groups, walk.nodes);
  return {
    graph,
    nodes: walk.nodes,
    nodeByPath: new Map(walk.nodes.filter((a) => a.node.callIndex === 0).map((a) => [a.path, a])),
    nested: walk.nested,
    groups,
    walls: walk.walls,
    layouts: walk.layouts,
    find: (s) => spaces.find(s),
    groupOfSpace: (s) => groupByRoot.get(spaces.find(s)),
  };
}

/** One group per root space, in order of the space's creation; blocked when any of its spaces is. */
function groupsOfSpaces(spaces: ChannelSpaces): { groups: ChannelGroup[]; groupByRoot: Map<number, ChannelGroup> } {
  const groupByRoot = new Map<number, ChannelGroup>();
  const groups: ChannelGroup[] = [];
  for (let s = 0; s < spaces.count; s++) {
    const root = spaces.find(s);
    let g = groupByRoot.get(root);
    if (g === undefined) {
      g = {
        id: groups.length,
        space: root,
        channels: spaces.channels(root),
        producers: [],
        tied: [],
        consumers: [],
        importance: [],
        layers: [],
        notes: [],
        blocked: null,
      };
      groupByRoot.set(root, g);
      groups.push(g);
    }
    if (g.blocked === null && spaces.blockedReason(s) !== null) g.blocked = spaces.blockedReason(s);
  }
  return { groups, groupByRoot };
}

/** Files every walked-through call under the groups its inputs and outputs touch. */
function addMembers(walk: ChannelWalk, spaces: ChannelSpaces, groupByRoot: Map<number, ChannelGroup>): void {
  const touched = (ids: string[]): Set<ChannelGroup> => {
    const out = new Set<ChannelGroup>();
    for (const t of ids) for (const s of spacesOf(walk.layouts.get(t) ?? [])) out.add(groupByRoot.get(spaces.find(s))!);
    return out;
  };
  for (const a of walk.nodes) {
    const facet = a.facet;
    if (a.wall !== null || facet === undefined || facet.role === 'source') continue;
    if (facet.role === 'free') {
      for (const g of touched(a.outputs)) if (!g.producers.some((p) => p.path === a.path)) g.producers.push(a);
      for (const g of touched(a.inputs)) g.consumers.push(a);
      continue;
    }
    const call = callOf(a.node);
    const role = facet.role === 'tied' ? (facet.importanceRole?.(call) ?? null) : null;
    const note = facet.role === 'tied' ? (facet.inexact?.(call) ?? null) : null;
    for (const g of touched(a.inputs)) {
      g.tied.push(a);
      if (role !== null) g.importance.push({ layer: a.node.name, node: a, role });
      if (note !== null && !g.notes.includes(note)) g.notes.push(note);
    }
  }
}

/** Lists each group's layers in graph order and says why a group without blocking walls is still no candidate. */
function finishGroups(groups: ChannelGroup[], nodes: AnalysisNode[]): void {
  const order = new Map(nodes.map((a, i) => [a, i]));
  for (const g of groups) {
    const members = [...g.producers, ...g.tied, ...g.consumers].sort((x, y) => order.get(x)! - order.get(y)!);
    g.layers = [...new Set(members.map((m) => m.path))];
    if (g.blocked !== null) continue;
    if (g.producers.length === 0) g.blocked = 'no prunable layer produces these channels';
    else if (g.importance.length === 0) g.blocked = 'no BatchNormalization γ scales these channels';
    else if (g.channels <= 0) g.blocked = 'unknown channel count';
  }
}
