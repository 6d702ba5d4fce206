/**
 * Plan → new model: the ONE place a prune plan is applied.
 *
 * 1. Validate the plan against a fresh channel analysis of the model.
 * 2. β compensation: a removed channel whose BN has γ = 0 outputs the constant β (then
 *    activation(β), pooled, flattened…). Where that constant reaches a consumer exactly
 *    (Dense, or a conv without zero padding), its contribution is added to the consumer's bias,
 *    so removing the channel changes nothing. Done on the original weights before any slicing.
 * 3. Slice every producer's output channels, tied per-channel weights, consumers' input rows,
 *    and rewrite configs (filters / units / target_shape). Layer and weight names are kept.
 */
import { InputError } from '../errors.js';
import { unwrapTopology, type LayerConfig } from '../model/graph.js';
import type { LayerJson, ModelArtifacts, Weight, WeightMap } from '../model/topology.js';
import { analyzeChannels, callOf, type ChannelAnalysis, type ChannelGroup } from './groups.js';
import type { PrunePlan } from './plan.js';
import { expandChannels } from './slice.js';
import type { RoleWeights } from './types.js';
import { indexWeights, roleWeightsOf } from './weights.js';

/** A constant from removed channels folded into a consumer's bias. */
export interface BiasFold {
  group: number;
  layer: string;
  /** Removed channels whose constant output was folded. */
  channels: number;
  /** Largest |change| made to one bias value. */
  maxAbsBiasChange: number;
}

/** A removed channel's constant output that could not be folded (the output will shift slightly). */
export interface UnfoldedConstant {
  group: number;
  layer: string;
  reason: string;
}

export interface ApplyResult {
  artifacts: ModelArtifacts;
  folds: BiasFold[];
  unfolded: UnfoldedConstant[];
}

/** Applies a plan; see applyPlanDetailed for the β-compensation report. */
export function applyPlan(artifacts: ModelArtifacts, plan: PrunePlan): ModelArtifacts {
  return applyPlanDetailed(artifacts, plan).artifacts;
}

function checkPlanShape(plan: PrunePlan): void {
  if (plan === null || typeof plan !== 'object' || plan.version !== 1 || !Array.isArray(plan.groups)) {
    throw new InputError('prune plan must be an object with version 1 and a groups list');
  }
}

function validateGroup(planGroup: PrunePlan['groups'][number], analysis: ChannelAnalysis): ChannelGroup {
  const where = `prune plan group ${planGroup.id}`;
  if (!Array.isArray(planGroup.layers) || !Array.isArray(planGroup.keep)) throw new InputError(`${where}: needs layers and keep lists`);
  for (const layer of planGroup.layers) {
    if (!analysis.graph.nodeById.has(layer)) throw new InputError(`${where}: layer '${layer}' is not in the model`);
  }
  const group = analysis.groups.find((g) => g.id === planGroup.id);
  const sameLayers =
    group !== undefined && group.layers.length === planGroup.layers.length && group.layers.every((l, i) => l === planGroup.layers[i]);
  if (group === undefined || !sameLayers) {
    throw new InputError(`${where} (${planGroup.layers.join(', ')}) does not match the model's channel groups: was the plan made for another model?`);
  }
  if (group.blocked !== null) throw new InputError(`${where} (${group.layers[0]}) cannot be pruned: ${group.blocked}`);
  if (planGroup.channels !== group.channels) {
    throw new InputError(`${where} (${group.layers[0]}): plan says ${planGroup.channels} channels, the model has ${group.channels}`);
  }
  if (planGroup.keep.length === 0) throw new InputError(`${where} (${group.layers[0]}): keep is empty; a layer needs at least one channel`);
  planGroup.keep.forEach((c, i) => {
    if (!Number.isInteger(c) || c < 0 || c >= group.channels) {
      throw new InputError(`${where} (${group.layers[0]}): channel index ${c} is out of range 0..${group.channels - 1}`);
    }
    if (i > 0 && c <= planGroup.keep[i - 1]) throw new InputError(`${where} (${group.layers[0]}): keep must be sorted and without repeats`);
  });
  return group;
}

/** The layer entries of the (cloned) topology by name, for config rewrites. */
function layerEntries(topology: LayerConfig): Map<string, LayerJson> {
  const config = topology.config;
  const list: LayerJson[] = Array.isArray(config) ? config : Array.isArray(config?.layers) ? config.layers : [];
  const out = new Map<string, LayerJson>();
  for (const l of list) {
    const name = l.name ?? l.config?.name;
    if (typeof name === 'string') out.set(name, l);
  }
  return out;
}

function writeBack(weights: WeightMap, index: Map<string, Map<string, string>>, layer: string, updated: RoleWeights): void {
  const names = index.get(layer);
  for (const [role, w] of updated) {
    const name = names?.get(role);
    if (name !== undefined) weights.set(name, w);
  }
}

function requireRole(roles: RoleWeights, role: string, layer: string): Weight {
  const w = roles.get(role);
  if (w === undefined) throw new InputError(`weights have no '${role}' for layer '${layer}'`);
  return w;
}

/** Step 2: constants of removed channels → consumer bias deltas (on the original weights). */
function foldConstants(
  group: ChannelGroup,
  keep: number[],
  analysis: ChannelAnalysis,
  weights: WeightMap,
  index: Map<string, Map<string, string>>,
  folds: BiasFold[],
  unfolded: UnfoldedConstant[],
): void {
  const C = group.channels;
  const kept = new Set(keep);
  const unknown = (): Float64Array => new Float64Array(C).fill(NaN);
  const constants = new Map<string, Float64Array>();
  const order = new Map(analysis.graph.nodes.map((n, i) => [n.id, i]));
  for (const m of [...group.tied].sort((a, b) => order.get(a.node.id)! - order.get(b.node.id)!)) {
    const input = constants.get(m.node.inputs[0]) ?? unknown();
    const out = m.facet.mapConstant?.(input, roleWeightsOf(weights, index, m.node.name), callOf(m.node)) ?? unknown();
    constants.set(m.node.outputs[0], out);
  }
  for (const consumer of group.consumers) {
    const values = constants.get(consumer.node.inputs[0]);
    if (values === undefined) continue;
    const removed: number[] = [];
    for (let c = 0; c < C; c++) if (!kept.has(c) && !Number.isNaN(values[c]) && values[c] !== 0) removed.push(c);
    if (removed.length === 0) continue;
    const fold = consumer.facet.foldConstantInput;
    if (fold === undefined) {
      unfolded.push({ group: group.id, layer: consumer.node.name, reason: `${consumer.node.className} cannot absorb a constant input` });
      continue;
    }
    const rowValues = new Float64Array(C * consumer.repeat);
    for (let p = 0; p < consumer.repeat; p++) for (const c of removed) rowValues[p * C + c] = values[c];
    const roles = roleWeightsOf(weights, index, consumer.node.name);
    const result = fold(roles, rowValues, callOf(consumer.node));
    if (typeof result === 'string') {
      unfolded.push({ group: group.id, layer: consumer.node.name, reason: result });
      continue;
    }
    const bias = requireRole(roles, 'bias', consumer.node.name);
    const data = new Float32Array(bias.data);
    let maxAbs = 0;
    for (let j = 0; j < data.length; j++) {
      data[j] += result[j];
      maxAbs = Math.max(maxAbs, Math.abs(result[j]));
    }
    writeBack(weights, index, consumer.node.name, new Map([['bias', { ...bias, data }]]));
    folds.push({ group: group.id, layer: consumer.node.name, channels: removed.length, maxAbsBiasChange: maxAbs });
  }
}

export function applyPlanDetailed(artifacts: ModelArtifacts, plan: PrunePlan): ApplyResult {
  checkPlanShape(plan);
  const analysis = analyzeChannels(artifacts.modelTopology);
  const work = plan.groups.map((pg) => ({ group: validateGroup(pg, analysis), keep: [...pg.keep] }));
  const seen = new Set<number>();
  for (const w of work) {
    if (seen.has(w.group.id)) throw new InputError(`prune plan lists group ${w.group.id} twice`);
    seen.add(w.group.id);
  }

  const topology = structuredClone(artifacts.modelTopology);
  const entries = layerEntries(unwrapTopology(topology));
  const weights: WeightMap = new Map(artifacts.weights);
  const index = indexWeights(weights);
  const folds: BiasFold[] = [];
  const unfolded: UnfoldedConstant[] = [];
  const changed = work.filter((w) => w.keep.length < w.group.channels);

  for (const { group, keep } of changed) foldConstants(group, keep, analysis, weights, index, folds, unfolded);

  for (const { group, keep } of changed) {
    const change = { oldChannels: group.channels, newChannels: keep.length };
    const rewrite = (layer: string, next: (c: LayerConfig) => LayerConfig): void => {
      const entry = entries.get(layer);
      if (entry === undefined) throw new InputError(`layer '${layer}' not found in the topology`);
      entry.config = next(entry.config);
    };
    for (const p of group.producers) {
      const roles = roleWeightsOf(weights, index, p.node.name);
      requireRole(roles, 'kernel', p.node.name);
      writeBack(weights, index, p.node.name, p.facet.sliceOutputs!(roles, keep, callOf(p.node)));
      if (p.facet.rewriteConfig) rewrite(p.node.name, (c) => p.facet.rewriteConfig!(c, change, callOf(p.node)));
    }
    for (const t of group.tied) {
      if (t.facet.sliceChannels) {
        const roles = roleWeightsOf(weights, index, t.node.name);
        writeBack(weights, index, t.node.name, t.facet.sliceChannels(roles, keep, callOf(t.node)));
      }
      if (t.facet.rewriteConfig) rewrite(t.node.name, (c) => t.facet.rewriteConfig!(c, change, callOf(t.node)));
    }
    for (const c of group.consumers) {
      const roles = roleWeightsOf(weights, index, c.node.name);
      requireRole(roles, 'kernel', c.node.name);
      const rows = expandChannels(keep, group.channels, c.repeat);
      writeBack(weights, index, c.node.name, c.facet.sliceInputs!(roles, rows, callOf(c.node)));
    }
  }

  return { artifacts: { ...artifacts, modelTopology: topology, weights }, folds, unfolded };
}
