/**
 * The speed budget (prune.minSpeedup): of the candidate ratios, the one with the smallest accuracy
 * loss whose measured speed-up on one runtime reaches a factor. A candidate's speed depends only on
 * its widths, not its weights, so every candidate is timed first (exported, against the exported
 * input model, interleaved run by run), and only the fast-enough ones pay for the brief fine-tune
 * that judges their accuracy. With prune.maxAccuracyDrop as well, both must hold. Every candidate
 * is recorded, with its measured speed-up, for run.json; no candidate meeting the budget is a
 * ProblemError naming the best speed-up reached.
 */
import type * as tf from '#tfjs';
import type { BenchConfig, PruneConfig } from '../config/schema.js';
import { ProblemError, InputError } from '../errors.js';
import type { Output } from '../io/output.js';
import { RuntimeUnavailable } from '../bench/runtime.js';
import { fromLayersModel } from '../model/convert.js';
import type { ModelArtifacts } from '../model/topology.js';
import { CHANCE_CAUSES } from '../train/chance.js';
import { BRACKET_RATIOS, DEFAULT_SEARCH_EPOCHS } from './budget.js';
import type { PreparedData } from './data.js';
import { exportModel } from './export.js';
import { pruneModel } from './prune.js';
import { openRuntime } from './stages/bench.js';
import { percent } from './stages/common.js';
import type { TrainingConfig } from './stages/train.js';
import {
  measureCandidate,
  scoreCandidate,
  scoreOnSelectionSplit,
  selectionSplit,
  tidy,
  type SplitScore,
  type SweepCurve,
} from './sweep.js';

export type MinSpeedup = NonNullable<PruneConfig['minSpeedup']>;

/** How long one browser step of a measurement may take before the browser counts as hung. */
const STEP_TIMEOUT_MS = 300_000;

export interface SpeedCandidate {
  ratio: number;
  channels: { kept: number; removed: number };
  params: number;
  macs: number;
  /** Median ms of one predict of the exported candidate and of the exported input model, interleaved. */
  ms: number;
  baselineMs: number;
  /** baselineMs / ms, the median of the paired runs' ratios. */
  speedup: number;
  meetsSpeed: boolean;
  /** Accuracy the candidate is judged by (after the brief fine-tune, or as pruned when searchEpochs is 0); only fast-enough candidates are scored. */
  judged?: number;
  /** Percentage points below the reference. */
  drop?: number;
  atChance?: true;
  /** Set when this ratio removes the same channels as an earlier candidate, whose figures it repeats. */
  sameAs?: number;
  /** Whether it meets every budget given (speed, and accuracy with maxAccuracyDrop). */
  eligible: boolean;
}

export interface SpeedBudgetSearch {
  minSpeedup: MinSpeedup;
  maxAccuracyDrop?: number;
  split: 'val' | 'test';
  searchEpochs: number;
  /** The sparsity-trained model on the same split. */
  reference: SplitScore;
  /** In ratio order. */
  candidates: SpeedCandidate[];
  ratio: number;
  reason: string;
}

/**
 * Refuses a runtime that cannot run here before any training: opens it on the model and closes it.
 * (The config already rejected unknown runtime names.)
 */
export async function checkSpeedRuntime(minSpeedup: MinSpeedup, model: ModelArtifacts): Promise<void> {
  try {
    const session = await openRuntime(minSpeedup.on, [model], {
      runtimes: [minSpeedup.on],
      explicit: true,
      batches: [minSpeedup.batch],
      runs: 1,
      warmup: 0,
      seed: 0,
      timeoutMs: STEP_TIMEOUT_MS,
    });
    await session.close();
  } catch (error) {
    if (!(error instanceof RuntimeUnavailable)) throw error;
    throw new InputError(`prune.minSpeedup.on ${minSpeedup.on}: not available here: ${error.reason}; fix: ${error.fix}`, { cause: error });
  }
}

/**
 * The search on one loaded sparse model; `input` is the run's input model (the speed-up is against
 * it, exported, whatever pass this is). The caller owns both; nothing is written.
 */
export async function searchRatioWithinSpeedBudget(
  sparse: tf.LayersModel,
  input: ModelArtifacts,
  prune: PruneConfig & { minSpeedup: MinSpeedup },
  bench: Pick<BenchConfig, 'runs' | 'warmup'>,
  seed: number,
  data: PreparedData,
  training: TrainingConfig,
  out: Output,
): Promise<SpeedBudgetSearch> {
  const { minSpeedup, maxAccuracyDrop } = prune;
  const target = `${minSpeedup.factor}× on ${minSpeedup.on} at batch ${minSpeedup.batch}`;
  const artifacts = await fromLayersModel(sparse);
  const { split } = selectionSplit(data);
  const reference = await scoreOnSelectionSplit(sparse, data);
  if (reference.atChance) {
    throw new ProblemError(
      `speed budget: the sparsity-trained model's ${split} accuracy ${percent(reference.accuracy)} is at chance level, so no candidate's accuracy loss can be judged; ${CHANCE_CAUSES}`,
    );
  }
  const searchEpochs = prune.searchEpochs ?? DEFAULT_SEARCH_EPOCHS;
  out.info(
    `speed budget: ${target}` +
      (maxAccuracyDrop !== undefined ? `, within ${maxAccuracyDrop} point(s) of the sparse model's ${split} accuracy` : '') +
      `; every candidate timed, the fast-enough ones fine-tuned ${searchEpochs} epoch(s) and scored`,
  );
  const baseline = (await exportModel(input)).artifacts;
  const latency = { runtime: minSpeedup.on, batch: minSpeedup.batch, runs: bench.runs, warmup: bench.warmup, seed };
  const planConfig = { ...prune, threshold: undefined, maxAccuracyDrop: undefined, minSpeedup: undefined };

  // Speed first: it needs no fine-tune. Ratios a channel apart prune the same channels and share figures.
  const candidates: SpeedCandidate[] = [];
  for (const ratio of BRACKET_RATIOS) {
    const outcome = pruneModel(artifacts, { ...planConfig, ratio });
    const removed = outcome.plan.prunedChannels;
    const same = candidates.find((c) => c.channels.removed === removed);
    if (same) {
      candidates.push({ ...same, ratio, sameAs: same.sameAs ?? same.ratio });
      out.info(`  ratio ${ratio}: removes the same ${removed} channels as ratio ${same.ratio}`);
      continue;
    }
    const timed = await measureCandidate(outcome.artifacts, baseline, latency);
    const meetsSpeed = timed.speedup >= minSpeedup.factor;
    candidates.push({
      ratio,
      channels: { kept: outcome.plan.candidateChannels - removed, removed },
      params: outcome.after.params.total,
      macs: outcome.after.macs,
      ms: timed.ms,
      baselineMs: timed.baselineMs,
      speedup: timed.speedup,
      meetsSpeed,
      eligible: false,
    });
    out.info(
      `  ratio ${ratio}: ${timed.ms.toFixed(2)} ms against ${timed.baselineMs.toFixed(2)} ms, ${timed.speedup.toFixed(2)}× ${meetsSpeed ? 'reaches' : 'is below'} ${minSpeedup.factor}×`,
    );
  }

  // Accuracy of the fast-enough ones (a repeat shares its original's score).
  for (const candidate of candidates) {
    if (!candidate.meetsSpeed) continue;
    const original = candidate.sameAs !== undefined ? candidates.find((c) => c.ratio === candidate.sameAs) : undefined;
    if (original !== undefined) {
      Object.assign(candidate, { judged: original.judged, drop: original.drop, eligible: original.eligible });
      if (original.atChance) candidate.atChance = true;
      continue;
    }
    const row = await scoreCandidate(artifacts, candidate.ratio, planConfig, data, { finetuneEpochs: searchEpochs, training }, out);
    const judged = row.finetuned?.accuracy ?? row.accuracy;
    const atChance = (row.finetuned ?? row).atChance === true;
    const drop = tidy((reference.accuracy - judged) * 100);
    const withinAccuracy = maxAccuracyDrop === undefined || drop <= maxAccuracyDrop + 1e-9;
    Object.assign(candidate, { judged, drop, eligible: withinAccuracy && !atChance });
    if (atChance) candidate.atChance = true;
    out.info(
      `  ratio ${candidate.ratio}: ${split} accuracy ${percent(judged)}, drop ${drop.toFixed(2)} points` +
        (atChance
          ? ': at chance level, refused'
          : maxAccuracyDrop !== undefined
            ? `: ${withinAccuracy ? 'within' : 'over'} the accuracy budget`
            : ''),
    );
  }

  const chosen = pickCandidate(candidates);
  if (chosen === undefined) throw new ProblemError(`speed budget: ${whyNone(candidates, minSpeedup, maxAccuracyDrop)}`);
  const reason = chosenReason(chosen, candidates, minSpeedup, split);
  out.info(`speed budget: chose ${reason}`);
  return {
    minSpeedup,
    ...(maxAccuracyDrop !== undefined ? { maxAccuracyDrop } : {}),
    split,
    searchEpochs,
    reference,
    candidates,
    ratio: chosen.ratio,
    reason,
  };
}

/** The eligible candidate with the smallest accuracy loss; a tie goes to the faster one. */
export function pickCandidate(candidates: readonly SpeedCandidate[]): SpeedCandidate | undefined {
  let best: SpeedCandidate | undefined;
  for (const c of candidates) {
    if (!c.eligible || c.drop === undefined) continue;
    if (best === undefined || c.drop < best.drop! - 1e-9 || (Math.abs(c.drop - best.drop!) <= 1e-9 && c.speedup > best.speedup)) best = c;
  }
  return best;
}

function chosenReason(chosen: SpeedCandidate, candidates: readonly SpeedCandidate[], minSpeedup: MinSpeedup, split: string): string {
  return (
    `ratio ${chosen.ratio} is ${chosen.speedup.toFixed(2)}× faster on ${minSpeedup.on} (batch ${minSpeedup.batch}, budget ${minSpeedup.factor}×) ` +
    `and drops ${chosen.drop!.toFixed(2)} ${split} accuracy points, the least of the ${candidates.filter((c) => c.eligible).length} candidate(s) meeting the budget`
  );
}

/** The one-line reason no candidate meets the budget, naming the best speed-up reached. */
export function whyNone(candidates: readonly SpeedCandidate[], minSpeedup: MinSpeedup, maxAccuracyDrop: number | undefined): string {
  const fastest = candidates.reduce((a, b) => (b.speedup > a.speedup ? b : a));
  const best = `the best speed-up reached is ${fastest.speedup.toFixed(2)}× (ratio ${fastest.ratio})`;
  const where = `on ${minSpeedup.on} at batch ${minSpeedup.batch}`;
  const fast = candidates.filter((c) => c.meetsSpeed && c.sameAs === undefined);
  const tried = candidates.length === 1 ? `${candidates[0].ratio}` : `${candidates[0].ratio} ... ${candidates.at(-1)!.ratio}`;
  if (fast.length === 0) return `no candidate ratio (${tried}) reaches ${minSpeedup.factor}× ${where}: ${best}`;
  const scored = fast.filter((c) => c.drop !== undefined && c.atChance !== true);
  const least = scored.length > 0 ? scored.reduce((a, b) => (b.drop! < a.drop! ? b : a)) : undefined;
  const accuracy =
    least === undefined
      ? 'every one is at chance level'
      : `the least accuracy loss among them is ${least.drop!.toFixed(2)} points (ratio ${least.ratio}), over the budget of ${maxAccuracyDrop}`;
  return `no candidate both reaches ${minSpeedup.factor}× ${where} and stays within the accuracy budget: ${accuracy}; ${best}`;
}

/** A sweep's pick under a speed budget (`slim sweep --min-speedup X --on RUNTIME`). */
export interface SweepSpeedChoice {
  minSpeedup: MinSpeedup;
  ratio: number;
  reason: string;
}

/**
 * `slim sweep` with a speed budget: of the swept rows (each timed with --latency on the budget's
 * runtime), the one with the smallest accuracy loss against the unpruned model (after the brief
 * fine-tune when there was one) whose speed-up reaches the factor. None: a ProblemError.
 */
export function chooseFromSweep(curve: SweepCurve, minSpeedup: MinSpeedup): SweepSpeedChoice {
  const candidates: SpeedCandidate[] = curve.rows.map((row) => {
    const latency = row.latency!;
    const judged = row.finetuned?.accuracy ?? row.accuracy;
    const drop = tidy((curve.baseline.accuracy - judged) * 100);
    const atChance = (row.finetuned ?? row).atChance === true;
    const meetsSpeed = latency.speedup >= minSpeedup.factor;
    return {
      ratio: row.ratio,
      channels: row.channels,
      params: row.params,
      macs: row.macs,
      ms: latency.ms,
      baselineMs: latency.baselineMs,
      speedup: latency.speedup,
      meetsSpeed,
      judged,
      drop,
      ...(atChance ? { atChance: true as const } : {}),
      eligible: meetsSpeed && !atChance,
    };
  });
  const chosen = pickCandidate(candidates);
  if (chosen === undefined) throw new ProblemError(`speed budget: ${whyNone(candidates, minSpeedup, undefined)}`);
  return { minSpeedup, ratio: chosen.ratio, reason: chosenReason(chosen, candidates, minSpeedup, curve.split) };
}
