/** What applying a plan works on, shared by apply.ts (slicing) and compensate.ts (β folding). */
import { InputError } from '../errors.js';
import type { RoleWeights, Weight } from '../layers/types.js';
import type { WeightMap } from '../model/topology.js';
import type { ChannelAnalysis } from './groups.js';
import type { Layout } from './layout.js';

export interface ApplyContext {
  analysis: ChannelAnalysis;
  /** The weights being rewritten (a copy of the model's map). */
  weights: WeightMap;
  /** layer name → role → manifest name (weights.ts). */
  index: Map<string, Map<string, string>>;
  /** Kept channels by root space (absent = all kept). */
  keepByRoot: Map<number, number[]>;
  /** For changed groups: 1 where every BN γ over the channel is 0. */
  deadByRoot: Map<number, Uint8Array>;
}

/** Kept channels of a space (null = all), for layout.keptRows. */
export function keepOf(ctx: ApplyContext): (space: number) => number[] | null {
  return (space) => ctx.keepByRoot.get(ctx.analysis.find(space)) ?? null;
}

export function layoutOf(ctx: ApplyContext, tensor: string): Layout {
  const layout = ctx.analysis.layouts.get(tensor);
  if (layout === undefined) throw new InputError(`internal: tensor ${tensor} has no channel layout`);
  return layout;
}

/** Stores a layer's updated weights under their manifest names. */
export function writeBack(weights: WeightMap, index: Map<string, Map<string, string>>, layer: string, updated: RoleWeights): void {
  const names = index.get(layer);
  for (const [role, w] of updated) {
    const name = names?.get(role);
    if (name !== undefined) weights.set(name, w);
  }
}

export function requireRole(roles: RoleWeights, role: string, layer: string): Weight {
  const w = roles.get(role);
  if (w === undefined) throw new InputError(`weights have no '${role}' for layer '${layer}'`);
  return w;
}
