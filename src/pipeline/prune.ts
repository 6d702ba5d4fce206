/**
 * The prune stage: plan (pure data) → apply (one function) → counts before/after.
 * No printing here; `describePlan` returns lines the command decides where to put.
 */
import { InputError, ProblemError } from '../errors.js';
import { requireSomethingToSlim } from '../prune/slimmable.js';
import { applyPlanDetailed, type ApplyResult, type BiasFold, type UnfoldedConstant } from '../prune/apply.js';
import { planPrune, plural, type PrunePlan } from '../prune/plan.js';
import { countModel, type ModelCount } from '../report/count.js';
import type { ModelArtifacts } from '../model/topology.js';
import type { PruneConfig } from '../config/schema.js';

export interface PruneOutcome {
  plan: PrunePlan;
  artifacts: ModelArtifacts;
  folds: BiasFold[];
  unfolded: UnfoldedConstant[];
  foldSummary: ApplyResult['summary'];
  before: ModelCount;
  after: ModelCount;
}

/** The one line when a prune config says neither how many channels to remove nor below which |γ|. */
export const NO_PRUNE_AMOUNT = 'prune: give --ratio (fraction of BN channels to remove) or --threshold (|gamma| below which to remove)';

export function makePlan(artifacts: ModelArtifacts, prune: PruneConfig): PrunePlan {
  if (prune.ratio === undefined && prune.threshold === undefined) throw new InputError(NO_PRUNE_AMOUNT);
  // Nothing to slim is an answer (exit 1), never an unchanged copy written as if pruned.
  requireSomethingToSlim(artifacts.modelTopology, 'prune');
  const plan = planPrune(artifacts, {
    ...(prune.ratio !== undefined ? { ratio: prune.ratio } : { threshold: prune.threshold! }),
    minChannels: prune.minChannels,
    roundTo: prune.roundTo,
    ...(prune.roundMode !== undefined ? { roundMode: prune.roundMode } : {}),
    importance: prune.importance,
  });
  if (plan.groups.length === 0) {
    const walls = plan.walls.slice(0, 3).map((w) => `${w.layer} (${w.className}): ${w.reason}`);
    throw new ProblemError(
      `prune: nothing to slim: no BatchNormalization γ scales a prunable channel` +
        (walls.length > 0 ? ` (walls: ${walls.join('; ')}${plan.walls.length > 3 ? `; and ${plan.walls.length - 3} more` : ''})` : ''),
    );
  }
  return plan;
}

export function pruneModel(artifacts: ModelArtifacts, prune: PruneConfig): PruneOutcome {
  const plan = makePlan(artifacts, prune);
  const applied = applyPlanDetailed(artifacts, plan);
  return {
    plan,
    artifacts: applied.artifacts,
    folds: applied.folds,
    unfolded: applied.unfolded,
    foldSummary: applied.summary,
    before: countModel(artifacts.modelTopology),
    after: countModel(applied.artifacts.modelTopology),
  };
}

/** Removing this much more than the near-zero share of the channels counts as cutting live channels. */
const SEPARATION_SLACK = 0.05;

/**
 * One warning line when the |γ| of the model do not separate (few near zero, as before sparsity
 * training) and the plan removes far more channels than are near zero; undefined otherwise.
 */
export function describeSeparation(plan: PrunePlan): string | undefined {
  const near = plan.nearZeroShare;
  if (near === undefined || plan.candidateChannels === 0) return undefined;
  const requested = plan.requestedChannels / plan.candidateChannels;
  if (requested <= near + SEPARATION_SLACK) return undefined;
  const percent = (x: number) => `${(x * 100).toFixed(1)}%`;
  return (
    `prune: the |gamma| do not separate: ${percent(near)} of BN channels are near zero, the plan removes ${percent(requested)}, ` +
    `so channels that still carry signal are cut; train with sparsity first (slim train) or use a smaller ratio (about ${near.toFixed(2)})`
  );
}

/** Human summary of a plan (one group per line), for stderr or for `--dry-run` on stdout. */
export function describePlan(plan: PrunePlan): string[] {
  const shown = shownGroupNumbers(plan);
  const lines: string[] = [];
  const how = plan.ratio !== null ? `ratio ${plan.ratio}` : 'threshold';
  lines.push(
    `prune plan: ${plan.prunedChannels} of ${plan.candidateChannels} BN channels removed (${how}, |gamma| threshold ${plan.threshold.toPrecision(4)}, importance ${plan.importance})`,
  );
  for (const g of plan.groups) {
    const n = shown.get(g.id);
    const kept = plural(g.keep.length, 'channel');
    lines.push(`  group ${n}: ${g.channels} -> ${kept}  [bn: ${g.bn.join(', ')}; layers: ${g.layers.join(', ')}]`);
  }
  if (plan.groups.length === 0) lines.push('  no prunable channel group (no BatchNormalization scales a prunable channel)');
  for (const g of plan.groups) for (const note of g.notes ?? []) lines.push(`  note (group ${shown.get(g.id)}): ${note}`);
  for (const k of plan.keptWhole ?? []) lines.push(`  kept whole: ${k.channels} channels of ${k.layers.join(', ')}: ${k.reason}`);
  for (const w of plan.walls) lines.push(`  wall: ${w.layer} (${w.className}): ${w.reason}`);
  return lines;
}

/**
 * One line when the plan removes fewer channels than the ratio (or threshold) asked for, or (nearest
 * rounding) more, saying what was reached and why; undefined when it removes exactly those.
 */
export function describeShortfall(plan: PrunePlan): string | undefined {
  const roundedDown = plan.rounding?.fewerChannels ?? 0;
  if (plan.shortfall === undefined && roundedDown === 0) return undefined;
  const percent = (x: number) => `${(x * 100).toFixed(1)}%`;
  const requested =
    plan.ratio !== null ? `${+(plan.ratio * 100).toFixed(4)}%` : `${plan.requestedChannels} channels (threshold ${plan.threshold})`;
  const keptWhole = (plan.keptWhole ?? []).reduce((a, k) => a + k.channels, 0);
  const walls = keptWhole > 0 ? `; ${keptWhole} channels behind walls are kept whole and not counted` : '';
  // The shortfall's round-to reason already counts the groups rounded down when some went up.
  const onlyDown = plan.rounding !== undefined && plan.rounding.moreChannels === 0 && roundedDown > 0;
  const reasons = [
    ...(plan.shortfall ?? []),
    ...(onlyDown
      ? [`round-to ${plan.rounding!.roundTo} (nearest) removes ${roundedDown} more in ${plural(plan.rounding!.fewerGroups, 'group')}`]
      : []),
  ];
  const versus =
    plan.prunedChannels < plan.requestedChannels
      ? 'not the requested'
      : plan.prunedChannels > plan.requestedChannels
        ? 'more than the requested'
        : 'the requested';
  return `prune: removed ${percent(plan.achievedRatio)} of channels (${plan.prunedChannels} of ${plan.candidateChannels}), ${versus} ${requested} (${reasons.join('; ')}${walls})`;
}

/**
 * The numbers groups are shown with: 1, 2, … in plan order (the plan's ids are the channel
 * analysis's, which also count the groups that are not candidates, so they start anywhere).
 */
export function shownGroupNumbers(plan: PrunePlan): Map<number, number> {
  return new Map(plan.groups.map((g, i) => [g.id, i + 1]));
}

export function describeFolds(summary: ApplyResult['summary'], unfolded: UnfoldedConstant[], plan?: PrunePlan): string[] {
  const shown = plan !== undefined ? shownGroupNumbers(plan) : new Map<number, number>();
  const lines: string[] = [];
  if (summary.foldedChannels > 0) {
    lines.push(
      `beta compensation: folded the mean output of ${summary.foldedChannels} removed channel(s) into ${summary.foldedLayers} layer(s) ` +
        `(sum |bias change| ${summary.sumAbsBiasChange.toPrecision(3)}, max ${summary.maxAbsBiasChange.toPrecision(3)})`,
    );
  }
  for (const u of unfolded) lines.push(`beta not folded exactly into ${u.layer} (group ${shown.get(u.group) ?? u.group}): ${u.reason}`);
  return lines;
}
