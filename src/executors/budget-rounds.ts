/**
 * The accuracy budget over a plan folder. The local search sweeps 0.1, 0.2, … upwards and stops at
 * the first ratio over budget; a plan runs the whole bracket at once (round 1: the nodes are there,
 * and the extra candidates cost no time). Gather then replays the local search (the same code,
 * src/pipeline/budget.ts) over the rows in the folder: the same candidates in the same order, the
 * same winner and reason. Bisection is sequential; when the replay needs rows the folder does not
 * hold, the next round is every candidate the remaining bisection steps could need (both outcomes
 * of each step, at most 2^3 - 1), appended to the plan and run the same way as round 1; the gather
 * after it finishes the replay.
 */
import path from 'node:path';
import type * as tf from '#tfjs';
import type { Config, PruneConfig } from '../config/schema.js';
import { InputError, ProblemError } from '../errors.js';
import { Output } from '../io/output.js';
import { readModel } from '../model/io.js';
import type { ModelArtifacts } from '../model/topology.js';
import { BRACKET_RATIOS, DEFAULT_SEARCH_EPOCHS, searchBudget, type BudgetJudge, type BudgetSearch } from '../pipeline/budget.js';
import type { PreparedData } from '../pipeline/data.js';
import { makePlan } from '../pipeline/prune.js';
import type { SweepResult, SweepRow } from '../pipeline/sweep.js';
import { runShard } from './local.js';
import { appendRound, gatherPlan, planPaths, readPlan, writePlanOf, type SweepPlan } from './plan.js';
import { runOnSlurm, type SlurmOptions } from './slurm.js';

/** A sweep gathered from a budget plan: every candidate's row, and the search the local run records. */
export type BudgetSweepResult = SweepResult & { budget: BudgetSearch };

/** What a gather of a budget plan comes to: the choice, or the next round it appended. */
export type BudgetGather = { done: BudgetSweepResult } | { plan: SweepPlan; added: number[]; round: number };

/** The first-round ratios of a budget plan. */
export const BUDGET_BRACKET = BRACKET_RATIOS;

class RowNeeded extends Error {
  constructor(readonly ratio: number) {
    super(`ratio ${ratio}: no row in the plan folder`);
  }
}

/** A stand-in row for a ratio not computed yet, within or over budget: only its channel count is real. */
function assumedRow(artifacts: ModelArtifacts, prune: PruneConfig, ratio: number, within: boolean, reference: number): SweepRow {
  const plan = makePlan(artifacts, { ...prune, ratio, threshold: undefined, maxAccuracyDrop: undefined });
  return {
    ratio,
    channels: { kept: plan.candidateChannels - plan.prunedChannels, removed: plan.prunedChannels },
    widths: [],
    params: 0,
    macs: 0,
    accuracy: within ? reference : 0,
    loss: 0,
    ...(within ? {} : { atChance: true as const }),
  };
}

/**
 * The local search replayed over `rows`: its result when every row it needs is there, otherwise
 * the ratios the next round must compute (sorted).
 */
export async function replayBudget(
  dir: string,
  plan: SweepPlan,
  rows: readonly SweepRow[],
  out: Output,
): Promise<{ search: BudgetSearch } | { needed: number[] }> {
  if (plan.budget === undefined) throw new InputError(`--gather ${dir}: not an accuracy budget plan`);
  const artifacts = await readModel(planPaths(dir).sparse);
  const prune = { ...plan.config.prune, maxAccuracyDrop: plan.budget.maxAccuracyDrop, searchEpochs: plan.budget.searchEpochs };
  const { accuracy, loss, atChance } = plan.baseline;
  const judge: BudgetJudge = {
    split: plan.split,
    reference: { accuracy, loss, ...(atChance ? { atChance } : {}) },
    searchEpochs: plan.budget.searchEpochs,
  };
  const known = new Map(rows.map((r) => [r.ratio, r]));
  const quiet = new Output({ quiet: true, progress: false });
  const needed = new Set<number>();
  // A replay stops at the first row missing; the search after it is explored for both of its outcomes.
  const explore = async (assumed: ReadonlyMap<number, boolean>): Promise<void> => {
    const score = (ratio: number): Promise<SweepRow> => {
      const row = known.get(ratio);
      if (row !== undefined) return Promise.resolve(row);
      const within = assumed.get(ratio);
      if (within === undefined) return Promise.reject(new RowNeeded(ratio));
      return Promise.resolve(assumedRow(artifacts, prune, ratio, within, accuracy));
    };
    try {
      await searchBudget(artifacts, prune, judge, score, quiet);
    } catch (error) {
      if (!(error instanceof RowNeeded)) throw error;
      needed.add(error.ratio);
      for (const within of [true, false]) await explore(new Map([...assumed, [error.ratio, within]]));
    }
  };
  await explore(new Map());
  if (needed.size > 0) return { needed: [...needed].sort((a, b) => a - b) };
  // Every row is there: the search once more, telling its candidates and choice as the local one does.
  return { search: await searchBudget(artifacts, prune, judge, (ratio) => Promise.resolve(known.get(ratio)!), out) };
}

/**
 * `slim sweep --gather DIR` of a budget plan: the gathered sweep with the search's choice, or,
 * when bisection needs rows not there yet, the next round appended to the plan.
 */
export async function gatherBudget(dir: string, out: Output): Promise<BudgetGather> {
  const result = await gatherPlan(dir);
  const plan = await readPlan(dir, '--gather');
  const outcome = await replayBudget(dir, plan, result.rows, out);
  if ('search' in outcome) return { done: { ...result, budget: outcome.search } };
  const next = await appendRound(dir, plan, outcome.needed);
  const round = next.candidates.at(-1)!.round!;
  out.info(
    `accuracy budget: the bracket is done; bisection round ${round}: ${outcome.needed.length} candidate(s) (ratios ${outcome.needed.join(', ')}) added to ${path.join(dir, 'plan.json')}`,
  );
  return { plan: next, added: outcome.needed, round };
}

/** The ProblemError of a gather that planned another round instead of choosing. */
export function roundPlanned(dir: string, gathered: Extract<BudgetGather, { plan: SweepPlan }>): ProblemError {
  return new ProblemError(
    `--gather ${dir}: the accuracy budget needs bisection round ${gathered.round} (ratios ${gathered.added.join(', ')}), added to the plan; ` +
      `run its candidates as before (slim sweep --plan ${dir} --shard I/N, or --executor), then --gather again`,
  );
}

/**
 * A budget plan run to its choice on an executor: each round's candidates run (`runRound`: a
 * Slurm job array, or this process), then gathered, until the search has chosen.
 */
export async function runBudgetRounds(
  dir: string,
  plan: SweepPlan,
  runRound: (plan: SweepPlan) => Promise<unknown>,
  out: Output,
): Promise<BudgetSweepResult> {
  for (let current = plan; ;) {
    await runRound(current);
    const gathered = await gatherBudget(dir, out);
    if ('done' in gathered) return gathered.done;
    current = gathered.plan;
  }
}

/** `slim run --executor K --plan DIR`: where the budget search's candidates run. */
export interface BudgetExecutor extends SlurmOptions {
  kind: 'local' | 'slurm';
  plan: string;
}

/**
 * `slim run`'s budget search on an executor: the sparse model planned (round 1: the bracket) in
 * the executor's folder, (pass k > 1: its pass-k/ subfolder), the rounds run there to the choice;
 * the same record as the search in this process. The caller owns `sparse` and `data`.
 */
export async function searchBudgetOnExecutor(
  sparse: tf.LayersModel,
  source: string,
  prune: PruneConfig & { maxAccuracyDrop: number },
  data: PreparedData,
  config: Config,
  { executor, pass }: { executor: BudgetExecutor; pass: number },
  out: Output,
): Promise<BudgetSearch> {
  const dir = pass === 1 ? executor.plan : path.join(executor.plan, `pass-${pass}`);
  const budget = { maxAccuracyDrop: prune.maxAccuracyDrop, searchEpochs: prune.searchEpochs ?? DEFAULT_SEARCH_EPOCHS };
  const plan = await writePlanOf(dir, { ...config, prune }, sparse, source, data, BUDGET_BRACKET, budget.searchEpochs, out, budget);
  out.info(`accuracy budget: candidates on the ${executor.kind} executor, plan ${dir}`);
  const runRound = (current: SweepPlan) =>
    executor.kind === 'slurm' ? runOnSlurm(dir, current, executor, out) : runShard(dir, { index: 0, count: 1 }, out);
  return (await runBudgetRounds(dir, plan, runRound, out)).budget;
}
