/**
 * planPrune / applyPrune / count: the prune stage's core (src/pipeline/prune.ts, src/prune) behind
 * typed, validated arguments. The plan is pure data, the same object `prune-plan.json` holds.
 */
import * as z from 'zod';
import { InputError } from '../../errors.js';
import { makePlan } from '../../pipeline/prune.js';
import { analyzeChannels } from '../../prune/groups.js';
import { applyPlanDetailed, type ApplyResult, type BiasFold, type UnfoldedConstant } from '../../prune/apply.js';
import { roundModeSchema } from '../../prune/plan-schema.js';
import type { PrunePlan } from '../../prune/plan.js';
import { countModel, type ModelCount } from '../../report/count.js';
import { buildReport, type Report } from '../../report/render.js';
import { parseArgument } from './args.js';
import { PlanMismatchError } from './errors.js';
import { artifactsOf, sameKindAs, type ModelInput } from './model.js';

export type { PrunePlan, PlanGroup, PlanWall, PlanRounding, KeptWholeGroup, RoundMode } from '../../prune/plan.js';
export type { BiasFold, UnfoldedConstant } from '../../prune/apply.js';
export type { ModelCount, LayerCount } from '../../report/count.js';
export type { Report } from '../../report/render.js';

const planOptionsSchema = z
  .strictObject({
    ratio: z.number().min(0).lt(1).optional(),
    threshold: z.number().min(0).optional(),
    minChannels: z.number().int().positive().default(1),
    roundTo: z.number().int().positive().default(1),
    roundMode: roundModeSchema.optional(),
    importance: z.enum(['sum', 'mean', 'max']).default('mean'),
  })
  .refine((o) => (o.ratio === undefined) !== (o.threshold === undefined), {
    message: 'give exactly one of ratio (fraction of BatchNorm channels to remove) or threshold (|gamma| below which to remove)',
  });

/** planPrune's options: `ratio` or `threshold`, and the floors the CLI's prune flags set. */
export type PlanOptions = z.input<typeof planOptionsSchema>;

/**
 * Which channels to keep, by one global |γ| threshold: the plan `slim prune --dry-run --json`
 * prints. ProblemError when no BatchNorm γ scales a prunable channel (nothing to slim).
 */
export async function planPrune(model: ModelInput, options: PlanOptions): Promise<PrunePlan> {
  const parsed = parseArgument(planOptionsSchema, options, 'planPrune', 'options');
  return makePlan(await artifactsOf(model, 'planPrune'), parsed);
}

/** applyPrune's result: the pruned model (the kind passed in) and what the β compensation folded. */
export interface PruneResult<M extends ModelInput> {
  model: M;
  plan: PrunePlan;
  /** β of removed channels folded into the next layer's bias. */
  folds: BiasFold[];
  /** Constants of removed channels that could not be folded exactly, and why. */
  unfolded: UnfoldedConstant[];
  foldSummary: ApplyResult['summary'];
  /** Counts of the input model and of the pruned one. */
  before: ModelCount;
  after: ModelCount;
}

const planShapeSchema = z.looseObject({ version: z.literal(1), groups: z.array(z.looseObject({})) });

/**
 * The model with the plan's channels removed: a new model (the input untouched), the β of the
 * removed channels folded into the next layer. PlanMismatchError when the plan was made for
 * another model.
 */
export async function applyPrune<M extends ModelInput>(model: M, plan: PrunePlan): Promise<PruneResult<M>> {
  parseArgument(planShapeSchema, plan, 'applyPrune', 'plan');
  const artifacts = await artifactsOf(model, 'applyPrune');
  let applied: ApplyResult;
  try {
    applied = applyPlanDetailed(artifacts, plan);
  } catch (error) {
    if (error instanceof InputError) throw new PlanMismatchError(`applyPrune: plan: ${error.message}`, { cause: error });
    throw error;
  }
  return {
    model: await sameKindAs(model, applied.artifacts),
    plan,
    folds: applied.folds,
    unfolded: applied.unfolded,
    foldSummary: applied.summary,
    before: countModel(artifacts.modelTopology),
    after: countModel(applied.artifacts.modelTopology),
  };
}

const countOptionsSchema = z.strictObject({ name: z.string().optional(), baselineName: z.string().optional() }).optional();

/** count's options: the names the report shows for the model and its baseline. */
export type CountOptions = z.input<typeof countOptionsSchema>;

/**
 * Params, MACs and FLOPs per layer and in total (what `slim report --json` prints); with a
 * baseline, its totals and the reductions too. Needs the topology only: plain data without
 * weights counts as well.
 */
export async function count(model: ModelInput, baseline?: ModelInput, options?: CountOptions): Promise<Report> {
  const names = parseArgument(countOptionsSchema, options, 'count', 'options') ?? {};
  const topology = (await artifactsOf(model, 'count')).modelTopology;
  const base = baseline === undefined ? undefined : (await artifactsOf(baseline, 'count', 'baseline')).modelTopology;
  return buildReport(
    names.name ?? 'model',
    countModel(topology),
    base === undefined ? undefined : { path: names.baselineName ?? 'baseline', count: countModel(base) },
    // The layers slim cannot prune through (the same channel analysis prune uses).
    analyzeChannels(topology).walls.map((w) => ({ layer: w.layer, className: w.className, reason: w.reason })),
  );
}
