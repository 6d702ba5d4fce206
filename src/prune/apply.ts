/**
 * Plan → new model: the ONE place a prune plan is applied.
 *
 * 1. Validate the plan against a fresh channel analysis of the model.
 * 2. β compensation (compensate.ts): the mean output of removed channels (β behind a BN) is
 *    folded into the next layer's bias, on the original weights before any slicing.
 * 3. Per layer: free layers lose output channels (kernel out-axis, bias) and input rows; tied
 *    layers with per-channel weights (BN, DepthwiseConv2D, PReLU, LayerNormalization) lose rows;
 *    configs are rewritten (filters / units / target_shape, nested models' input shapes).
 *    Layer and weight names are kept.
 */
import { InputError } from '../errors.js';
import { defaultRegistry, type LayerRegistry } from '../layers/registry.js';
import { unwrapTopology, isModelClass, type LayerConfig } from '../model/graph.js';
import type { LayerJson, ModelArtifacts, WeightMap } from '../model/topology.js';
import {
  compensateRemovedConstants,
  summarise,
  type BiasFold,
  type Compensation,
  type FoldSummary,
  type UnfoldedConstant,
} from './compensate.js';
import { keepOf, layoutOf, writeBack, type ApplyContext } from './context.js';
import { analyzeChannels, callOf, type AnalysisNode, type ChannelAnalysis, type ChannelGroup } from './groups.js';
import { keptRows, layoutWidth } from './layout.js';
import { groupImportance, type PrunePlan } from './plan.js';
import { indexWeights, roleWeightsOf } from './weights.js';

export type { BiasFold, FoldSummary, UnfoldedConstant } from './compensate.js';

export interface ApplyResult {
  artifacts: ModelArtifacts;
  folds: BiasFold[];
  unfolded: UnfoldedConstant[];
  summary: FoldSummary;
}

/** Applies a plan; see applyPlanDetailed for the β-compensation report. */
export function applyPlan(artifacts: ModelArtifacts, plan: PrunePlan, registry: LayerRegistry = defaultRegistry): ModelArtifacts {
  return applyPlanDetailed(artifacts, plan, registry).artifacts;
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
    if (!analysis.nodeByPath.has(layer)) throw new InputError(`${where}: layer '${layer}' is not in the model`);
  }
  const group = analysis.groups.find((g) => g.id === planGroup.id);
  const sameLayers =
    group !== undefined && group.layers.length === planGroup.layers.length && group.layers.every((l, i) => l === planGroup.layers[i]);
  if (group === undefined || !sameLayers) {
    throw new InputError(
      `${where} (${planGroup.layers.join(', ')}) does not match the model's channel groups: was the plan made for another model?`,
    );
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

/** The layer entries of the (cloned) topology by path ('outer/inner' inside nested models). */
function layerEntries(topology: LayerConfig, prefix = '', out = new Map<string, LayerJson>()): Map<string, LayerJson> {
  const config: unknown = topology.config;
  const layers: unknown = typeof config === 'object' && config !== null && 'layers' in config ? config.layers : undefined;
  const list = (Array.isArray(config) ? config : Array.isArray(layers) ? layers : []) as LayerJson[];
  for (const l of list) {
    const name: unknown = l.name ?? l.config?.name;
    if (typeof name !== 'string') continue;
    out.set(prefix + name, l);
    if (isModelClass(l.class_name)) layerEntries(l, `${prefix}${name}/`, out);
  }
  return out;
}

/** Step 3 for one layer (first call only: the calls of a shared layer share weights). */
function sliceLayer(ctx: ApplyContext, a: AnalysisNode, entries: Map<string, LayerJson>): void {
  const facet = a.facet;
  if (facet === undefined || facet.role === 'source' || facet.role === 'merge') return;
  const call = callOf(a.node);
  const keep = keepOf(ctx);
  const inLayout = layoutOf(ctx, a.inputs[0]);
  const outLayout = layoutOf(ctx, a.outputs[0]);
  const inRows = keptRows(inLayout, keep);
  const outRows = keptRows(outLayout, keep);
  if (!inRows.changed && !outRows.changed) return;
  const name = a.node.name;
  let roles = roleWeightsOf(ctx.weights, ctx.index, name);
  if (facet.role === 'free') {
    if (roles.size === 0) throw new InputError(`weights have no entries for layer '${name}'`);
    if (outRows.changed) roles = facet.sliceOutputs(roles, outRows.rows, call);
    if (inRows.changed) roles = facet.sliceInputs(roles, inRows.rows, call);
  } else if (facet.role === 'tied' && facet.sliceChannels !== undefined) {
    roles = facet.sliceChannels(roles, { input: inRows.rows, output: outRows.rows }, call);
  }
  writeBack(ctx.weights, ctx.index, name, roles);
  if (outRows.changed && (facet.role === 'free' || facet.role === 'tied') && facet.rewriteConfig !== undefined) {
    const entry = entries.get(a.path);
    if (entry === undefined) throw new InputError(`layer '${a.path}' not found in the topology`);
    entry.config = facet.rewriteConfig(entry.config, { oldChannels: layoutWidth(outLayout), newChannels: outRows.rows.length }, call);
  }
}

/** A nested model declares its input shape: follow the new width of what feeds it. */
function rewriteNestedInputs(ctx: ApplyContext, entries: Map<string, LayerJson>): void {
  for (const n of ctx.analysis.nested) {
    const inner = n.node.inner!;
    n.inputs.forEach((tensor, i) => {
      const { rows, changed } = keptRows(layoutOf(ctx, tensor), keepOf(ctx));
      if (!changed) return;
      const innerInput = inner.tensors.get(inner.inputs[i])!;
      // Sequential: the first layer (or its InputLayer) declares the shape; functional: the InputLayer.
      const declaring = innerInput.producer === null ? inner.layers[0] : inner.nodeById.get(innerInput.producer)!.layer;
      const name = declaring.name ?? (declaring.config?.name as string | undefined);
      const entry = entries.get(`${n.path}/${name}`);
      if (entry === undefined) throw new InputError(`nested model '${n.path}': cannot find its input layer '${name}'`);
      for (const key of ['batch_input_shape', 'batchInputShape', 'batch_shape']) {
        const shape: unknown = entry.config[key];
        if (Array.isArray(shape)) entry.config = { ...entry.config, [key]: [...(shape as unknown[]).slice(0, -1), rows.length] };
      }
      const inputShape: unknown = entry.config.input_shape;
      if (Array.isArray(inputShape)) {
        entry.config = { ...entry.config, input_shape: [...(inputShape as unknown[]).slice(0, -1), rows.length] };
      }
    });
  }
}

export function applyPlanDetailed(artifacts: ModelArtifacts, plan: PrunePlan, registry: LayerRegistry = defaultRegistry): ApplyResult {
  checkPlanShape(plan);
  const analysis = analyzeChannels(artifacts.modelTopology, registry);
  const keepByRoot = keptChannels(plan, analysis);
  const topology = structuredClone(artifacts.modelTopology);
  const entries = layerEntries(unwrapTopology(topology));
  const weights: WeightMap = new Map(artifacts.weights);
  const index = indexWeights(weights);
  const ctx: ApplyContext = { analysis, weights, index, keepByRoot, deadByRoot: deadChannels(artifacts, analysis, keepByRoot, index) };
  let compensation: Compensation = { folds: [], unfolded: [] };
  if (keepByRoot.size > 0) {
    compensation = compensateRemovedConstants(ctx);
    // First calls only: the calls of a shared layer share weights.
    for (const a of analysis.nodes) if (a.wall === null && a.node.callIndex === 0) sliceLayer(ctx, a, entries);
    rewriteNestedInputs(ctx, entries);
  }
  return { artifacts: { ...artifacts, modelTopology: topology, weights }, ...compensation, summary: summarise(compensation) };
}

/** Validated plan groups → kept channels by root space, for groups that lose channels. */
function keptChannels(plan: PrunePlan, analysis: ChannelAnalysis): Map<number, number[]> {
  const work = plan.groups.map((planGroup) => ({ group: validateGroup(planGroup, analysis), keep: [...planGroup.keep] }));
  const seen = new Set<number>();
  const keepByRoot = new Map<number, number[]>();
  for (const { group, keep } of work) {
    if (seen.has(group.id)) throw new InputError(`prune plan lists group ${group.id} twice`);
    seen.add(group.id);
    if (keep.length < group.channels) keepByRoot.set(group.space, keep);
  }
  return keepByRoot;
}

/** For each changed group (plan order): 1 per channel whose strongest BN |γ| is 0 (its output is a constant). */
function deadChannels(
  artifacts: ModelArtifacts,
  analysis: ChannelAnalysis,
  keepByRoot: Map<number, number[]>,
  index: Map<string, Map<string, string>>,
): Map<number, Uint8Array> {
  const deadByRoot = new Map<number, Uint8Array>();
  for (const space of keepByRoot.keys()) {
    const group = analysis.groupOfSpace(space)!;
    const strongest = groupImportance(artifacts, group, 'max', analysis, index);
    deadByRoot.set(
      group.space,
      Uint8Array.from(strongest, (v) => (v === 0 ? 1 : 0)),
    );
  }
  return deadByRoot;
}
