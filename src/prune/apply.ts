/**
 * Plan → new model: the ONE place a prune plan is applied.
 *
 * 1. Validate the plan against a fresh channel analysis of the model.
 * 2. β compensation: a removed channel whose BN has γ = 0 outputs the constant β (then
 *    activation(β), pooled, added, concatenated, flattened…). Constants are propagated through
 *    the tied layers; where one reaches a free consumer exactly (Dense, a 1×1 or 'valid' conv, a
 *    'valid' separable conv), its contribution is added to the consumer's bias, so removing the
 *    channel changes nothing. Done on the original weights before any slicing.
 * 3. Per layer: free layers lose output channels (kernel out-axis, bias) and input rows; tied
 *    layers with per-channel weights (BN, DepthwiseConv2D, PReLU, LayerNormalization) lose rows;
 *    configs are rewritten (filters / units / target_shape, nested models' input shapes).
 *    Layer and weight names are kept.
 */
import { InputError } from '../errors.js';
import { unwrapTopology, isModelClass, type LayerConfig } from '../model/graph.js';
import type { LayerJson, ModelArtifacts, Weight, WeightMap } from '../model/topology.js';
import { analyzeChannels, callOf, type AnalysisNode, type ChannelAnalysis, type ChannelGroup } from './groups.js';
import { forEachRow, keptRows, layoutWidth, type Layout } from './layout.js';
import { groupImportance, type PrunePlan } from './plan.js';
import type { RoleWeights } from './types.js';
import { indexWeights, roleWeightsOf } from './weights.js';

/** A constant from removed channels folded into a consumer's bias. */
export interface BiasFold {
  /** First group whose channels were folded (see `groups` when the consumer reads several). */
  group: number;
  groups: number[];
  /** The consumer that reads the removed channels. */
  layer: string;
  /** The weight that absorbed the constant: '<layer>/bias', or '<next BN>/moving_mean' for a consumer without bias. */
  into: string;
  /** Removed channels whose constant output was folded. */
  channels: number;
  /** Largest |change| made to one bias value. */
  maxAbsBiasChange: number;
  /** Σ |change| over the consumer's bias values. */
  sumAbsBiasChange: number;
}

/** A removed channel's constant output that could not be folded (the output will shift slightly). */
export interface UnfoldedConstant {
  group: number;
  layer: string;
  /** Removed channels whose non-zero constant was lost here. */
  channels: number;
  reason: string;
}

/** Totals for a one-line report (`slim prune` prints these). */
export interface FoldSummary {
  /** Σ over consumers of the removed channels folded into them. */
  foldedChannels: number;
  /** Consumers whose bias changed. */
  foldedLayers: number;
  sumAbsBiasChange: number;
  maxAbsBiasChange: number;
  /** Σ over places of removed channels whose non-zero constant could not be folded. */
  unfoldedChannels: number;
}

export interface ApplyResult {
  artifacts: ModelArtifacts;
  folds: BiasFold[];
  unfolded: UnfoldedConstant[];
  summary: FoldSummary;
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
    if (!analysis.nodeByPath.has(layer)) throw new InputError(`${where}: layer '${layer}' is not in the model`);
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

/** The layer entries of the (cloned) topology by path ('outer/inner' inside nested models). */
function layerEntries(topology: LayerConfig, prefix = '', out = new Map<string, LayerJson>()): Map<string, LayerJson> {
  const config = topology.config;
  const list: LayerJson[] = Array.isArray(config) ? config : Array.isArray(config?.layers) ? config.layers : [];
  for (const l of list) {
    const name = l.name ?? l.config?.name;
    if (typeof name !== 'string') continue;
    out.set(prefix + name, l);
    if (isModelClass(l.class_name)) layerEntries(l, `${prefix}${name}/`, out);
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

interface Context {
  analysis: ChannelAnalysis;
  weights: WeightMap;
  index: Map<string, Map<string, string>>;
  /** Kept channels by root space (absent = all kept). */
  keepByRoot: Map<number, number[]>;
  /** For changed groups: 1 where every BN γ over the channel is 0. */
  deadByRoot: Map<number, Uint8Array>;
}

function keepOf(ctx: Context): (space: number) => number[] | null {
  return (space) => ctx.keepByRoot.get(ctx.analysis.find(space)) ?? null;
}

function layoutOf(ctx: Context, tensor: string): Layout {
  const layout = ctx.analysis.layouts.get(tensor);
  if (layout === undefined) throw new InputError(`internal: tensor ${tensor} has no channel layout`);
  return layout;
}

/** Per row of `layout`: true when its channel is removed. */
function removedRows(ctx: Context, layout: Layout): Uint8Array {
  const removed = new Uint8Array(layoutWidth(layout));
  const keeps = new Map<number, Set<number>>();
  forEachRow(layout, (row, space, c) => {
    const root = ctx.analysis.find(space);
    const keep = ctx.keepByRoot.get(root);
    if (keep === undefined) return;
    let set = keeps.get(root);
    if (set === undefined) keeps.set(root, (set = new Set(keep)));
    if (!set.has(c)) removed[row] = 1;
  });
  return removed;
}

/** Distinct (group, channel) pairs among the flagged rows, and the groups involved. */
function channelsAt(ctx: Context, layout: Layout, flagged: (row: number) => boolean): { count: number; groups: number[] } {
  const seen = new Set<string>();
  const groups = new Set<number>();
  forEachRow(layout, (row, space, c) => {
    if (!flagged(row)) return;
    const g = ctx.analysis.groupOfSpace(space)!;
    seen.add(`${g.id}:${c}`);
    groups.add(g.id);
  });
  return { count: seen.size, groups: [...groups].sort((a, b) => a - b) };
}

/**
 * Rows removed by the plan whose channel is dead (γ = 0 in every BN of its group, so it should be
 * a constant) but whose value at this tensor is not a known constant; null when there are none.
 */
function lostDeadRows(ctx: Context, tensor: string, values: Float64Array | undefined): ((row: number) => boolean) | null {
  const layout = layoutOf(ctx, tensor);
  const lost = new Uint8Array(layoutWidth(layout));
  let any = false;
  forEachRow(layout, (row, space, c) => {
    const root = ctx.analysis.find(space);
    const dead = ctx.deadByRoot.get(root);
    if (dead === undefined || dead[c] !== 1 || ctx.keepByRoot.get(root)!.includes(c)) return;
    if (values === undefined || Number.isNaN(values[row])) {
      lost[row] = 1;
      any = true;
    }
  });
  return any ? (row) => lost[row] === 1 : null;
}

/**
 * Where a consumer's constant change goes: its own bias, or, without one, the layer that alone
 * reads its output if that layer's handler can absorb an input shift (BatchNormalization: its
 * moving mean, since BN(x + d) with mean μ − d equals BN(x) with mean μ).
 */
function foldTarget(ctx: Context, a: AnalysisNode, readers: Map<string, AnalysisNode[]>): { layer: string; role: string; sign: number } | string {
  if (a.node.config.use_bias !== false) return { layer: a.node.name, role: 'bias', sign: 1 };
  const next = readers.get(a.outputs[0]) ?? [];
  const reader = next[0];
  const shift = next.length === 1 ? reader.facet?.absorbsInputShift : undefined;
  if (shift !== undefined && reader.wall === null && reader.node.callCount === 1) {
    const linear = a.node.config.activation === undefined || a.node.config.activation === null || a.node.config.activation === 'linear';
    if (linear) return { layer: reader.node.name, role: shift.role, sign: shift.sign };
  }
  return 'has no bias to absorb the constant (and is not followed by a BatchNormalization alone)';
}

/** Step 2: propagate constants of the original model and fold removed ones into consumer biases. */
function foldConstants(ctx: Context, folds: BiasFold[], unfolded: UnfoldedConstant[]): void {
  const { analysis, weights, index } = ctx;
  const constants = new Map<string, Float64Array>();
  const readers = new Map<string, AnalysisNode[]>();
  for (const a of analysis.nodes) for (const t of a.inputs) readers.set(t, [...(readers.get(t) ?? []), a]);
  const unknown = (tensor: string): Float64Array => new Float64Array(layoutWidth(layoutOf(ctx, tensor))).fill(NaN);
  const removedCache = new Map<string, Uint8Array>();
  const removedAt = (tensor: string): Uint8Array => {
    let r = removedCache.get(tensor);
    if (r === undefined) removedCache.set(tensor, (r = removedRows(ctx, layoutOf(ctx, tensor))));
    return r;
  };
  /** Rows removed by the plan whose value is a known non-zero constant. */
  const liveConstants = (tensor: string): ((row: number) => boolean) | null => {
    const values = constants.get(tensor);
    if (values === undefined) return null;
    const removed = removedAt(tensor);
    let any = false;
    for (let r = 0; r < values.length; r++) if (removed[r] && !Number.isNaN(values[r]) && values[r] !== 0) any = true;
    return any ? (r) => removed[r] === 1 && !Number.isNaN(values[r]) && values[r] !== 0 : null;
  };

  for (const a of analysis.nodes) {
    if (a.wall !== null || a.facet === undefined || a.facet.role === 'source') continue;
    const facet = a.facet;
    const call = callOf(a.node);
    if (facet.role === 'tied') {
      let out: Float64Array | undefined;
      if (facet.mergeConstants !== undefined && a.inputs.length > 1) {
        out = facet.mergeConstants(a.inputs.map((t) => constants.get(t) ?? unknown(t)), call);
      } else if (facet.mapConstant !== undefined && a.inputs.length === 1) {
        out = facet.mapConstant(constants.get(a.inputs[0]) ?? unknown(a.inputs[0]), roleWeightsOf(weights, index, a.node.name), call);
        // Flatten-like layers: each input row appears once per position, channels fastest.
        const positions = facet.expand?.(call) ?? 1;
        if (positions > 1) {
          const tiled = new Float64Array(out.length * positions);
          for (let p = 0; p < positions; p++) tiled.set(out, p * out.length);
          out = tiled;
        }
      }
      if (out !== undefined && out.some((v) => !Number.isNaN(v))) constants.set(a.outputs[0], out);
      continue;
    }
    // Free consumer.
    const input = a.inputs[0];
    const lost = lostDeadRows(ctx, input, constants.get(input));
    if (lost !== null) {
      const at = channelsAt(ctx, layoutOf(ctx, input), lost);
      unfolded.push({
        group: at.groups[0],
        layer: a.path,
        channels: at.count,
        reason: 'the constant output of dead channels does not reach this layer unchanged (zero padding or a non-elementwise layer on the way)',
      });
    }
    const live = liveConstants(input);
    if (live === null) continue;
    const values = constants.get(input)!;
    const at = channelsAt(ctx, layoutOf(ctx, input), live);
    const rowValues = new Float64Array(values.length);
    for (let r = 0; r < values.length; r++) if (live(r)) rowValues[r] = values[r];
    const fail = (reason: string): void => {
      unfolded.push({ group: at.groups[0], layer: a.path, channels: at.count, reason });
    };
    if (a.node.callCount > 1) {
      fail('shared layer: its calls see different constants');
      continue;
    }
    if (facet.foldConstantInput === undefined) {
      fail(`${a.node.className} cannot absorb a constant input`);
      continue;
    }
    const roles = roleWeightsOf(weights, index, a.node.name);
    const result = facet.foldConstantInput(roles, rowValues, call);
    if (typeof result === 'string') {
      fail(result);
      continue;
    }
    const target = foldTarget(ctx, a, readers);
    if (typeof target === 'string') {
      fail(target);
      continue;
    }
    const current = requireRole(roleWeightsOf(weights, index, target.layer), target.role, target.layer);
    const data = new Float32Array(current.data);
    let maxAbs = 0;
    let sumAbs = 0;
    for (let j = 0; j < data.length; j++) {
      data[j] += target.sign * result[j];
      maxAbs = Math.max(maxAbs, Math.abs(result[j]));
      sumAbs += Math.abs(result[j]);
    }
    writeBack(weights, index, target.layer, new Map([[target.role, { ...current, data }]]));
    folds.push({
      group: at.groups[0],
      groups: at.groups,
      layer: a.path,
      into: target.role === 'bias' ? `${a.path}/bias` : `${target.layer}/${target.role}`,
      channels: at.count,
      maxAbsBiasChange: maxAbs,
      sumAbsBiasChange: sumAbs,
    });
  }
}

/** Step 3 for one layer (first call only: the calls of a shared layer share weights). */
function sliceLayer(ctx: Context, a: AnalysisNode, entries: Map<string, LayerJson>): void {
  const facet = a.facet!;
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
    if (outRows.changed) roles = facet.sliceOutputs!(roles, outRows.rows, call);
    if (inRows.changed) roles = facet.sliceInputs!(roles, inRows.rows, call);
  } else if (facet.sliceChannels !== undefined) {
    roles = facet.sliceChannels(roles, { input: inRows.rows, output: outRows.rows }, call);
  }
  writeBack(ctx.weights, ctx.index, name, roles);
  if (outRows.changed && facet.rewriteConfig !== undefined) {
    const entry = entries.get(a.path);
    if (entry === undefined) throw new InputError(`layer '${a.path}' not found in the topology`);
    entry.config = facet.rewriteConfig(entry.config, { oldChannels: layoutWidth(outLayout), newChannels: outRows.rows.length }, call);
  }
}

/** A nested model declares its input shape: follow the new width of what feeds it. */
function rewriteNestedInputs(ctx: Context, entries: Map<string, LayerJson>): void {
  for (const n of ctx.analysis.nested) {
    const inner = n.node.inner!;
    n.inputs.forEach((tensor, i) => {
      const { rows, changed } = keptRows(layoutOf(ctx, tensor), keepOf(ctx));
      if (!changed) return;
      const innerInput = inner.tensors.get(inner.inputs[i])!;
      // Sequential: the first layer (or its InputLayer) declares the shape; functional: the InputLayer.
      const declaring = innerInput.producer === null ? inner.layers[0] : inner.nodeById.get(innerInput.producer)!.layer;
      const name = declaring.name ?? declaring.config?.name;
      const entry = entries.get(`${n.path}/${name}`);
      if (entry === undefined) throw new InputError(`nested model '${n.path}': cannot find its input layer '${name}'`);
      for (const key of ['batch_input_shape', 'batchInputShape', 'batch_shape']) {
        const shape: unknown = entry.config[key];
        if (Array.isArray(shape)) entry.config = { ...entry.config, [key]: [...shape.slice(0, -1), rows.length] };
      }
      if (Array.isArray(entry.config.input_shape)) {
        entry.config = { ...entry.config, input_shape: [...entry.config.input_shape.slice(0, -1), rows.length] };
      }
    });
  }
}

function summarise(folds: BiasFold[], unfolded: UnfoldedConstant[]): FoldSummary {
  return {
    foldedChannels: folds.reduce((a, f) => a + f.channels, 0),
    foldedLayers: folds.length,
    sumAbsBiasChange: folds.reduce((a, f) => a + f.sumAbsBiasChange, 0),
    maxAbsBiasChange: folds.reduce((a, f) => Math.max(a, f.maxAbsBiasChange), 0),
    unfoldedChannels: unfolded.reduce((a, u) => a + u.channels, 0),
  };
}

export function applyPlanDetailed(artifacts: ModelArtifacts, plan: PrunePlan): ApplyResult {
  checkPlanShape(plan);
  const analysis = analyzeChannels(artifacts.modelTopology);
  const work = plan.groups.map((pg) => ({ group: validateGroup(pg, analysis), keep: [...pg.keep] }));
  const seen = new Set<number>();
  const keepByRoot = new Map<number, number[]>();
  for (const w of work) {
    if (seen.has(w.group.id)) throw new InputError(`prune plan lists group ${w.group.id} twice`);
    seen.add(w.group.id);
    if (w.keep.length < w.group.channels) keepByRoot.set(w.group.space, w.keep);
  }

  const topology = structuredClone(artifacts.modelTopology);
  const entries = layerEntries(unwrapTopology(topology));
  const weights: WeightMap = new Map(artifacts.weights);
  const index = indexWeights(weights);
  const deadByRoot = new Map<number, Uint8Array>();
  for (const w of work) {
    if (!keepByRoot.has(w.group.space)) continue;
    const strongest = groupImportance(artifacts, w.group, 'max', analysis, index);
    deadByRoot.set(w.group.space, Uint8Array.from(strongest, (v) => (v === 0 ? 1 : 0)));
  }
  const ctx: Context = { analysis, weights, index, keepByRoot, deadByRoot };
  const folds: BiasFold[] = [];
  const unfolded: UnfoldedConstant[] = [];
  if (keepByRoot.size > 0) {
    foldConstants(ctx, folds, unfolded);
    for (const a of analysis.nodes) {
      if (a.wall !== null || a.facet === undefined || a.facet.role === 'source' || a.node.callIndex > 0) continue;
      sliceLayer(ctx, a, entries);
    }
    rewriteNestedInputs(ctx, entries);
  }
  return { artifacts: { ...artifacts, modelTopology: topology, weights }, folds, unfolded, summary: summarise(folds, unfolded) };
}
