/**
 * Threshold → prune plan. The plan is plain JSON data; applyPlan (apply.ts) is the only thing that acts on it.
 *
 * Importance of a channel = |γ| of the BatchNormalization(s) over it (aggregated by mean (default),
 * sum or max when a group has several). One global threshold over all candidate channels:
 *  - threshold t: a channel is pruned when its importance is strictly below t (importance < t);
 *  - ratio r (0 ≤ r < 1): sort all N candidate channels by importance, ascending, ties broken by
 *    group order then channel index; the k = floor(r·N) first are pruned. The reported threshold
 *    is the importance of the first kept channel in that order (so equal importances on both
 *    sides of the cut are possible; the order above decides them).
 * With 'mean', a channel's importance is the mean of its |γ| over every BN row that holds it.
 * Then per group: keep at least max(minChannels, 1) (capped at the width), round the kept count
 * up to a multiple of roundTo (capped at the width); channels added back are the most important
 * of those pruned. With roundMode 'nearest' the count goes to the nearest multiple instead (a tie
 * against the channels rounding added in the groups before, up when even), never below the floor rounded up to roundTo (capped at the width); rounding down removes
 * the least important kept channels. No group ever ends with zero channels.
 */
import type { z } from 'zod';
import {
  SCHEMA_VERSION,
  type importanceSchema,
  type keptWholeGroupSchema,
  type planGroupSchema,
  type planRoundingSchema,
  type planWallSchema,
  type prunePlanSchema,
  type roundModeSchema,
} from './plan-schema.js';
import { InputError } from '../errors.js';
import { defaultRegistry, type LayerRegistry } from '../layers/registry.js';
import type { ModelArtifacts } from '../model/topology.js';
import { analyzeChannels, type ChannelAnalysis, type ChannelGroup } from './groups.js';
import { forEachRow } from './layout.js';
import { indexWeights } from './weights.js';

export type ImportanceAggregate = z.infer<typeof importanceSchema>;
export type RoundMode = z.infer<typeof roundModeSchema>;

/**
 * 'mean' keeps a channel's score on the scale of one |γ| however many BNs share it (for one BN it
 * is the paper's |γ|), so one global threshold compares residual groups with one-BN groups fairly;
 * 'sum' would score a channel shared by k BNs about k times higher and cut one-BN groups first.
 */
export const DEFAULT_IMPORTANCE: ImportanceAggregate = 'mean';

export interface PruneOptions {
  /** Fraction of all candidate channels to prune (0 ≤ ratio < 1). Exactly one of ratio / threshold. */
  ratio?: number;
  /** Prune channels whose importance is < threshold. */
  threshold?: number;
  /** Minimum channels a group keeps (default 1; values below 1 count as 1). */
  minChannels?: number;
  /** Kept counts are rounded up to a multiple of this (default 1). */
  roundTo?: number;
  /** 'up' (default): round kept counts up; 'nearest': to the nearest multiple of roundTo, down too. */
  roundMode?: RoundMode;
  /** How |γ| of several BNs over one group combine (default 'mean': comparable across group sizes). */
  importance?: ImportanceAggregate;
}

export type PlanGroup = z.infer<typeof planGroupSchema>;
export type PlanWall = z.infer<typeof planWallSchema>;
export type PlanRounding = z.infer<typeof planRoundingSchema>;
/** A group of channels that a prunable layer produces but that stays whole, and why. */
export type KeptWholeGroup = z.infer<typeof keptWholeGroupSchema>;
/** The plan (prune-plan.json): its shape is prunePlanSchema (src/prune/plan-schema.ts). */
export type PrunePlan = z.infer<typeof prunePlanSchema>;

/** A channel's |γ| importance below this fraction of the 90th percentile counts as near zero. */
export const NEAR_ZERO_OF_P90 = 0.05;

/** Share of `values` below NEAR_ZERO_OF_P90 × their 90th percentile (0 for none). */
function nearZeroShare(values: number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const p90 = sorted[Math.min(sorted.length - 1, Math.floor(0.9 * sorted.length))];
  return sorted.filter((v) => v < NEAR_ZERO_OF_P90 * p90).length / sorted.length;
}

interface ResolvedOptions {
  ratio: number | null;
  threshold: number | null;
  minChannels: number;
  roundTo: number;
  roundMode: RoundMode;
  importance: ImportanceAggregate;
}

function resolveOptions(options: PruneOptions): ResolvedOptions {
  const hasRatio = options.ratio !== undefined && options.ratio !== null;
  const hasThreshold = options.threshold !== undefined && options.threshold !== null;
  if (hasRatio === hasThreshold) throw new InputError('give exactly one of ratio or threshold for pruning');
  if (hasRatio && !(Number.isFinite(options.ratio) && options.ratio! >= 0 && options.ratio! < 1)) {
    throw new InputError(`prune ratio must be in [0, 1), got ${options.ratio}`);
  }
  if (hasThreshold && !(Number.isFinite(options.threshold) && options.threshold! >= 0)) {
    throw new InputError(`prune threshold must be a finite number ≥ 0, got ${options.threshold}`);
  }
  const minChannels = options.minChannels ?? 1;
  const roundTo = options.roundTo ?? 1;
  if (!Number.isInteger(minChannels)) throw new InputError(`minChannels must be an integer, got ${minChannels}`);
  if (!Number.isInteger(roundTo) || roundTo < 1) throw new InputError(`roundTo must be an integer ≥ 1, got ${roundTo}`);
  const roundMode = options.roundMode ?? 'up';
  if (!['up', 'nearest'].includes(roundMode)) throw new InputError(`roundMode must be up or nearest, got '${roundMode}'`);
  const importance = options.importance ?? DEFAULT_IMPORTANCE;
  if (!['sum', 'mean', 'max'].includes(importance)) throw new InputError(`importance must be sum, mean or max, got '${importance}'`);
  return {
    ratio: hasRatio ? options.ratio! : null,
    threshold: hasThreshold ? options.threshold! : null,
    minChannels: Math.max(1, minChannels),
    roundTo,
    roundMode,
    importance,
  };
}

/**
 * Per-channel importance of a candidate group: every BN row that holds one of its channels
 * contributes |γ| (a BN after Concatenate scores several groups; after a depthwise multiplier or
 * Flatten one channel has several rows). 'sum' adds the contributions, 'mean' averages them,
 * 'max' takes the largest.
 */
export function groupImportance(
  artifacts: ModelArtifacts,
  group: ChannelGroup,
  aggregate: ImportanceAggregate,
  analysis: ChannelAnalysis,
  index: Map<string, Map<string, string>> = indexWeights(artifacts.weights),
): Float64Array {
  const scores = new Float64Array(group.channels);
  const counts = new Float64Array(group.channels);
  for (const { layer, node, role } of group.importance) {
    const name = index.get(layer)?.get(role);
    const weight = name === undefined ? undefined : artifacts.weights.get(name);
    if (weight === undefined) throw new InputError(`weights have no '${role}' for layer '${layer}'`);
    const layout = analysis.layouts.get(node.inputs[0])!;
    let rows = 0;
    forEachRow(layout, (row, space, c) => {
      rows++;
      if (analysis.find(space) !== group.space) return;
      const v = Math.abs(weight.data[row]);
      scores[c] = aggregate === 'max' ? Math.max(scores[c], v) : scores[c] + v;
      counts[c] += 1;
    });
    if (weight.data.length !== rows) {
      throw new InputError(`'${name}' has ${weight.data.length} values, expected ${rows} (one per channel)`);
    }
  }
  if (aggregate === 'mean') for (let c = 0; c < scores.length; c++) scores[c] /= Math.max(1, counts[c]);
  return scores;
}

/** Decides which channels every candidate group keeps. Pure: reads the model, returns data. */
export function planPrune(artifacts: ModelArtifacts, options: PruneOptions, registry: LayerRegistry = defaultRegistry): PrunePlan {
  const opts = resolveOptions(options);
  const analysis = analyzeChannels(artifacts.modelTopology, registry);
  const candidates = analysis.groups.filter((g) => g.blocked === null);
  const index = indexWeights(artifacts.weights);
  const scores = candidates.map((g) => groupImportance(artifacts, g, opts.importance, analysis, index));

  const prunedSets = candidates.map(() => new Set<number>());
  let threshold: number;
  if (opts.ratio !== null) {
    const all: { g: number; c: number; s: number }[] = [];
    scores.forEach((s, g) => s.forEach((v, c) => all.push({ g, c, s: v })));
    // Array.prototype.sort is stable, and `all` is already in (group, channel) order.
    all.sort((a, b) => a.s - b.s);
    const k = Math.floor(opts.ratio * all.length);
    for (let i = 0; i < k; i++) prunedSets[all[i].g].add(all[i].c);
    threshold = all.length === 0 ? 0 : all[Math.min(k, all.length - 1)].s;
  } else {
    threshold = opts.threshold!;
    scores.forEach((s, g) => s.forEach((v, c) => v < threshold && prunedSets[g].add(c)));
  }

  const addedBack = { floorGroups: 0, floorChannels: 0, roundGroups: 0, roundChannels: 0 };
  const removedByRounding = { groups: 0, channels: 0 };
  const groups: PlanGroup[] = candidates.map((g, i) => {
    const s = scores[i];
    const keep = new Set<number>();
    for (let c = 0; c < g.channels; c++) if (!prunedSets[i].has(c)) keep.add(c);
    const floored = Math.max(keep.size, Math.min(g.channels, opts.minChannels));
    const target = roundedCount(floored, g.channels, opts, addedBack.roundChannels - removedByRounding.channels);
    if (floored > keep.size) {
      addedBack.floorGroups++;
      addedBack.floorChannels += floored - keep.size;
    }
    if (target > floored) {
      addedBack.roundGroups++;
      addedBack.roundChannels += target - floored;
    }
    if (target < floored) {
      removedByRounding.groups++;
      removedByRounding.channels += floored - target;
      // Remove the least important kept channels (ties: lower index first, as the global order).
      const drop = [...keep].sort((a, b) => s[a] - s[b] || a - b).slice(0, floored - target);
      for (const c of drop) keep.delete(c);
    }
    // Add back the most important pruned channels (ties: lower index first).
    const back = [...prunedSets[i]].sort((a, b) => s[b] - s[a] || a - b);
    for (const c of back) {
      if (keep.size >= target) break;
      keep.add(c);
    }
    const kept = [...keep].sort((a, b) => a - b);
    const planGroup: PlanGroup = {
      id: g.id,
      layers: g.layers,
      bn: [...new Set(g.importance.map((b) => b.node.path))],
      channels: g.channels,
      keep: kept,
      pruned: g.channels - kept.length,
    };
    if (g.notes.length > 0) planGroup.notes = [...g.notes];
    return planGroup;
  });

  const candidateChannels = groups.reduce((a, g) => a + g.channels, 0);
  const prunedChannels = groups.reduce((a, g) => a + g.pruned, 0);
  const shortfall = shortfallReasons(addedBack, removedByRounding, opts);
  const rounding: PlanRounding | undefined =
    opts.roundMode === 'up'
      ? undefined
      : {
          roundTo: opts.roundTo,
          mode: opts.roundMode,
          moreChannels: addedBack.roundChannels,
          moreGroups: addedBack.roundGroups,
          fewerChannels: removedByRounding.channels,
          fewerGroups: removedByRounding.groups,
        };
  return {
    schemaVersion: SCHEMA_VERSION,
    version: 1,
    threshold,
    ratio: opts.ratio,
    importance: opts.importance,
    candidateChannels,
    requestedChannels: prunedSets.reduce((a, set) => a + set.size, 0),
    prunedChannels,
    achievedRatio: candidateChannels === 0 ? 0 : prunedChannels / candidateChannels,
    ...(shortfall.length > 0 ? { shortfall } : {}),
    ...(rounding !== undefined ? { rounding } : {}),
    nearZeroShare: nearZeroShare(scores.flatMap((s) => [...s])),
    groups,
    walls: analysis.walls.map((w) => ({ ...w })),
    keptWhole: analysis.groups
      .filter((g) => g.blocked !== null && g.producers.length > 0)
      .map((g) => ({ id: g.id, layers: g.layers, channels: g.channels, reason: g.blocked! })),
  };
}

/**
 * A group's kept count after rounding `floored` (the selected count, at least the floor) to a
 * multiple of roundTo: up, or to the nearest but never below the floor rounded up; never above the
 * width. `balance`: channels nearest rounding has added (+) or removed (−) in the groups before.
 */
function roundedCount(floored: number, width: number, opts: ResolvedOptions, balance: number): number {
  const step = opts.roundTo;
  const up = Math.ceil(floored / step) * step;
  if (opts.roundMode === 'up') return Math.min(width, up);
  const down = Math.floor(floored / step) * step;
  // A tie (halfway) goes against the channels rounding has added so far (up when even): at ratio
  // 0.5 halves of multiples of 8 tie often, and always up would keep ~1/16 of the channels extra.
  const nearest = floored - down < up - floored || (floored - down === up - floored && balance > 0) ? down : up;
  const lowest = Math.ceil(Math.min(width, opts.minChannels) / step) * step;
  return Math.min(width, Math.max(lowest, nearest));
}

/** `n word`, with an s unless n is 1 (plan summaries: '1 group', '3 more channels'). */
export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** What the floor and the rounding added back, in words (empty when they added nothing). */
function shortfallReasons(
  added: { floorGroups: number; floorChannels: number; roundGroups: number; roundChannels: number },
  removed: { groups: number; channels: number },
  opts: ResolvedOptions,
): string[] {
  const reasons: string[] = [];
  if (added.floorChannels > 0) {
    reasons.push(
      `min-channels ${opts.minChannels} keeps ${plural(added.floorGroups, 'group')} at their floor (+${plural(added.floorChannels, 'channel')})`,
    );
  }
  if (added.roundChannels > 0) {
    const more = `keeps ${plural(added.roundChannels, 'more channel')} in ${plural(added.roundGroups, 'group')}`;
    reasons.push(
      opts.roundMode === 'up'
        ? `round-to ${opts.roundTo} ${more}`
        : `round-to ${opts.roundTo} (nearest) ${more}, ${removed.channels} fewer in ${plural(removed.groups, 'group')}`,
    );
  }
  return reasons;
}
