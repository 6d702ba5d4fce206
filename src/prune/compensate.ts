/**
 * β compensation, done on the original weights before any slicing: a removed channel is replaced
 * by its mean output. At a BatchNormalization that is β, because (x − moving_mean)/√(var + ε)
 * averages ≈ 0 over the data the statistics came from; for γ = 0 it is β for every input, and
 * sparsity training leaves removed channels at |γ| ≈ 1e-8…1e-6, where the difference is
 * negligible (γ is never exactly 0 after L1 subgradient steps, so waiting for 0 would fold nothing).
 * A kept channel counts as constant only when it is exactly so (γ = 0, or a constant input).
 * Constants are propagated through the tied and merge layers (activation(β), pooled, added,
 * concatenated, flattened…); where one reaches a free consumer exactly (Dense, a 1×1 or 'valid'
 * conv, a 'valid' separable conv), its contribution is added to the consumer's bias (or, without
 * one, to the moving mean of the BN that alone reads it).
 */
import type { FreeFacet, LayerConfig, MergeFacet, TiedFacet } from '../layers/types.js';
import { layoutOf, requireRole, writeBack, type ApplyContext } from './context.js';
import { callOf, type AnalysisNode } from './groups.js';
import { forEachRow, layoutWidth, type Layout } from './layout.js';
import { roleWeightsOf } from './weights.js';

/** A constant from removed channels folded into a consumer's bias. */
export interface BiasFold {
  /** First group whose channels were folded (see `groups` when the consumer reads several). */
  group: number;
  groups: number[];
  /** The consumer that reads the removed channels. */
  layer: string;
  /** The weight that absorbed the constant: '<layer>/bias', or '<next BN>/moving_mean' for a consumer without bias. */
  into: string;
  /** Removed channels whose mean output was folded. */
  channels: number;
  /** Largest |change| made to one bias value. */
  maxAbsBiasChange: number;
  /** Σ |change| over the consumer's bias values. */
  sumAbsBiasChange: number;
}

/** A removed channel's mean output that could not be folded (the output will shift slightly). */
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

export interface Compensation {
  folds: BiasFold[];
  unfolded: UnfoldedConstant[];
}

/** Per row of `layout`: true when its channel is removed. */
function removedRows(ctx: ApplyContext, layout: Layout): Uint8Array {
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
function channelsAt(ctx: ApplyContext, layout: Layout, flagged: (row: number) => boolean): { count: number; groups: number[] } {
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
function lostDeadRows(ctx: ApplyContext, tensor: string, values: Float64Array | undefined): ((row: number) => boolean) | null {
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

/** The per-row constants known at each tensor of the original model, and which rows the plan removes. */
class ConstantTracker {
  readonly values = new Map<string, Float64Array>();
  /** Tensor → the calls reading it. */
  readonly readers = new Map<string, AnalysisNode[]>();
  private readonly removed = new Map<string, Uint8Array>();

  constructor(private readonly ctx: ApplyContext) {
    for (const a of ctx.analysis.nodes) for (const t of a.inputs) this.readers.set(t, [...(this.readers.get(t) ?? []), a]);
  }

  /** Known constants at a tensor, NaN where not constant. */
  at(tensor: string): Float64Array {
    return this.values.get(tensor) ?? new Float64Array(layoutWidth(layoutOf(this.ctx, tensor))).fill(NaN);
  }

  /** Per row of the tensor: 1 when the plan removes its channel. */
  removedAt(tensor: string): Uint8Array {
    let removed = this.removed.get(tensor);
    if (removed === undefined) this.removed.set(tensor, (removed = removedRows(this.ctx, layoutOf(this.ctx, tensor))));
    return removed;
  }

  /** Rows removed by the plan whose value is a known non-zero constant; null when none. */
  liveConstants(tensor: string): ((row: number) => boolean) | null {
    const values = this.values.get(tensor);
    if (values === undefined) return null;
    const removed = this.removedAt(tensor);
    const live = (r: number): boolean => removed[r] === 1 && !Number.isNaN(values[r]) && values[r] !== 0;
    for (let r = 0; r < values.length; r++) if (live(r)) return live;
    return null;
  }
}

/** Propagates constants of the original model and folds removed ones into consumer biases. */
export function compensateRemovedConstants(ctx: ApplyContext): Compensation {
  const result: Compensation = { folds: [], unfolded: [] };
  const constants = new ConstantTracker(ctx);
  for (const a of ctx.analysis.nodes) {
    const facet = a.facet;
    if (a.wall !== null || facet === undefined || facet.role === 'source') continue;
    if (facet.role === 'free') foldIntoConsumer(ctx, a, facet, constants, result);
    else propagate(ctx, a, facet, constants);
  }
  return result;
}

/** A tied or merge call's output constants from its inputs' (kept only when some row is constant). */
function propagate(
  ctx: ApplyContext,
  a: AnalysisNode,
  facet: TiedFacet<LayerConfig> | MergeFacet<LayerConfig>,
  constants: ConstantTracker,
): void {
  const call = callOf(a.node);
  let out: Float64Array | undefined;
  if (facet.role === 'merge') {
    if (a.inputs.length > 1)
      out = facet.mergeConstants(
        a.inputs.map((t) => constants.at(t)),
        call,
      );
  } else if ((facet.mapConstant !== undefined || facet.meanOutput !== undefined) && a.inputs.length === 1) {
    const weights = roleWeightsOf(ctx.weights, ctx.index, a.node.name);
    const means = facet.meanOutput?.(weights, call);
    out =
      facet.mapConstant !== undefined
        ? facet.mapConstant(constants.at(a.inputs[0]), weights, call)
        : new Float64Array(means?.length ?? 0).fill(NaN);
    // Flatten-like layers: each input row appears once per position, channels fastest.
    const positions = facet.expand?.(call) ?? 1;
    if (positions > 1) {
      const tiled = new Float64Array(out.length * positions);
      for (let p = 0; p < positions; p++) tiled.set(out, p * out.length);
      out = tiled;
    }
    // Removed rows only: a kept channel whose γ is merely small still carries its input.
    if (means !== undefined) {
      const removed = constants.removedAt(a.outputs[0]);
      for (let r = 0; r < out.length; r++) if (removed[r] === 1) out[r] = means[r % means.length];
    }
  }
  if (out !== undefined && out.some((v) => !Number.isNaN(v))) constants.values.set(a.outputs[0], out);
}

/** A free consumer: reports dead channels whose constant is lost, folds live removed constants into a bias. */
function foldIntoConsumer(
  ctx: ApplyContext,
  a: AnalysisNode,
  facet: FreeFacet<LayerConfig>,
  constants: ConstantTracker,
  result: Compensation,
): void {
  const input = a.inputs[0];
  const lost = lostDeadRows(ctx, input, constants.values.get(input));
  if (lost !== null) {
    const at = channelsAt(ctx, layoutOf(ctx, input), lost);
    result.unfolded.push({
      group: at.groups[0],
      layer: a.path,
      channels: at.count,
      reason:
        'the constant output of dead channels does not reach this layer unchanged (zero padding or a non-elementwise layer on the way)',
    });
  }
  const live = constants.liveConstants(input);
  if (live === null) return;
  const values = constants.values.get(input)!;
  const at = channelsAt(ctx, layoutOf(ctx, input), live);
  const rowValues = new Float64Array(values.length);
  for (let r = 0; r < values.length; r++) if (live(r)) rowValues[r] = values[r];
  const fail = (reason: string): void => {
    result.unfolded.push({ group: at.groups[0], layer: a.path, channels: at.count, reason });
  };
  if (a.node.callCount > 1) return fail('shared layer: its calls see different constants');
  if (facet.foldConstantInput === undefined) return fail(`${a.node.className} cannot absorb a constant input`);
  const delta = facet.foldConstantInput(roleWeightsOf(ctx.weights, ctx.index, a.node.name), rowValues, callOf(a.node));
  if (typeof delta === 'string') return fail(delta);
  const target = foldTarget(a, constants.readers);
  if (typeof target === 'string') return fail(target);
  const change = addToWeight(ctx, target, delta);
  result.folds.push({
    group: at.groups[0],
    groups: at.groups,
    layer: a.path,
    into: target.role === 'bias' ? `${a.path}/bias` : `${target.layer}/${target.role}`,
    channels: at.count,
    ...change,
  });
}

interface FoldTarget {
  layer: string;
  role: string;
  sign: number;
}

/**
 * Where a consumer's constant change goes: its own bias, or, without one, the layer that alone
 * reads its output if that layer's handler can absorb an input shift (BatchNormalization: its
 * moving mean, since BN(x + d) with mean μ − d equals BN(x) with mean μ).
 */
function foldTarget(a: AnalysisNode, readers: Map<string, AnalysisNode[]>): FoldTarget | string {
  if (a.node.config.use_bias !== false) return { layer: a.node.name, role: 'bias', sign: 1 };
  const next = readers.get(a.outputs[0]) ?? [];
  const reader = next[0];
  const shift = next.length === 1 && reader.facet?.role === 'tied' ? reader.facet.absorbsInputShift : undefined;
  if (shift !== undefined && reader.wall === null && reader.node.callCount === 1) {
    const linear = a.node.config.activation === undefined || a.node.config.activation === null || a.node.config.activation === 'linear';
    if (linear) return { layer: reader.node.name, role: shift.role, sign: shift.sign };
  }
  return 'has no bias to absorb the constant (and is not followed by a BatchNormalization alone)';
}

/** Adds sign·delta to the target weight; the largest and summed |delta|. */
function addToWeight(ctx: ApplyContext, target: FoldTarget, delta: Float64Array): { maxAbsBiasChange: number; sumAbsBiasChange: number } {
  const current = requireRole(roleWeightsOf(ctx.weights, ctx.index, target.layer), target.role, target.layer);
  const data = new Float32Array(current.data);
  let maxAbs = 0;
  let sumAbs = 0;
  for (let j = 0; j < data.length; j++) {
    data[j] += target.sign * delta[j];
    maxAbs = Math.max(maxAbs, Math.abs(delta[j]));
    sumAbs += Math.abs(delta[j]);
  }
  writeBack(ctx.weights, ctx.index, target.layer, new Map([[target.role, { ...current, data }]]));
  return { maxAbsBiasChange: maxAbs, sumAbsBiasChange: sumAbs };
}

export function summarise({ folds, unfolded }: Compensation): FoldSummary {
  return {
    foldedChannels: folds.reduce((a, f) => a + f.channels, 0),
    foldedLayers: folds.length,
    sumAbsBiasChange: folds.reduce((a, f) => a + f.sumAbsBiasChange, 0),
    maxAbsBiasChange: folds.reduce((a, f) => Math.max(a, f.maxAbsBiasChange), 0),
    unfoldedChannels: unfolded.reduce((a, u) => a + u.channels, 0),
  };
}
