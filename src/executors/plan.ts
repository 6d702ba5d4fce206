/**
 * Sweep plans: the one thing the executors (local, slurm, manifests) share. A plan folder holds
 *   plan.json            the resolved config, the candidates (ratio + replica count), the baseline
 *                        row, the slim version and the sparse model's hash, and a fingerprint of all
 *   sparse/              the sparse model every candidate is pruned from
 *   candidates/NNN/      row.json (written last, atomically: the candidate is done), model/ (pruned
 *                        and fine-tuned), checkpoint/ (a fine-tune under way), failed.json
 *   logs/                the scheduler's task logs
 * A candidate depends only on what plan.json fixes, so it computes the same row wherever it runs.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import * as tf from '#tfjs';
import { candidateFileSchema, configSchema, sweepPlanSchema, type Backend, type Config } from '../config/schema.js';
import { InputError, ProblemError } from '../errors.js';
import { writeFileAtomic } from '../io/files.js';
import type { Output } from '../io/output.js';
import { fromLayersModel, toLayersModel } from '../model/convert.js';
import { readModel, writeModel } from '../model/io.js';
import type { ModelArtifacts } from '../model/topology.js';
import { countModel } from '../report/count.js';
import { chooseReplicas, replicaWorkload } from '../train/replicas.js';
import { VERSION } from '../version.js';
import { startBackend } from '../pipeline/backend.js';
import { artifactsHash } from '../pipeline/checkpoint.js';
import type { PreparedData } from '../pipeline/data.js';
import { loadLayersModel } from '../pipeline/model.js';
import { pruneModel } from '../pipeline/prune.js';
import { exportModel } from '../pipeline/export.js';
import {
  measureCandidate,
  prepareSweepData,
  scoreOnSelectionSplit,
  selectionSplit,
  type LatencyOptions,
  type SweepResult,
  type SweepRow,
} from '../pipeline/sweep.js';

export const PLAN_JSON = 'plan.json';
export type SweepPlan = ReturnType<typeof sweepPlanSchema.parse> & { config: Config };

export const planPaths = (dir: string) => ({
  plan: path.join(dir, PLAN_JSON),
  sparse: path.join(dir, 'sparse'),
  logs: path.join(dir, 'logs'),
  candidate: (index: number) => {
    const base = path.join(dir, 'candidates', String(index).padStart(3, '0'));
    return {
      dir: base,
      row: path.join(base, 'row.json'),
      failed: path.join(base, 'failed.json'),
      model: path.join(base, 'model'),
      checkpoint: path.join(base, 'checkpoint'),
    };
  },
});

function hashOf(...parts: string[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part).update('\0');
  return hash.digest('hex');
}

export function planFingerprint(plan: Omit<SweepPlan, 'fingerprint' | 'baseline' | 'examples' | 'split' | 'source' | 'cwd'>): string {
  return hashOf(
    plan.version,
    plan.modelHash,
    JSON.stringify(plan.config),
    String(plan.finetuneEpochs),
    JSON.stringify(plan.candidates),
    ...(plan.budget !== undefined ? [JSON.stringify(plan.budget)] : []),
  );
}

/** The fingerprint of the plan as first written (round 1): what writing the same plan again compares. */
function firstRoundFingerprint(plan: SweepPlan): string {
  return planFingerprint({ ...plan, candidates: plan.candidates.filter((c) => (c.round ?? 1) === 1) });
}

/** Reads and checks plan.json (format, this slim version); InputError naming the folder otherwise. */
export async function readPlan(dir: string, flag = '--plan'): Promise<SweepPlan> {
  const file = planPaths(dir).plan;
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    throw new InputError(`${flag} ${dir}: no sweep plan there (${PLAN_JSON} missing; write one with slim sweep --plan DIR --model ...)`);
  }
  let plan: SweepPlan;
  try {
    const parsed = sweepPlanSchema.parse(JSON.parse(text));
    plan = { ...parsed, config: configSchema.parse(parsed.config) };
  } catch (error) {
    throw new InputError(`${flag} ${dir}: ${PLAN_JSON} is not a sweep plan slim can read (${firstLine(error)})`, { cause: error });
  }
  if (plan.version !== VERSION) {
    throw new InputError(
      `${flag} ${dir}: plan written by slim ${plan.version}, this is slim ${VERSION} (make a new plan in another folder)`,
    );
  }
  if (planFingerprint(plan) !== plan.fingerprint)
    throw new InputError(`${flag} ${dir}: ${PLAN_JSON} was edited (its fingerprint does not match)`);
  return plan;
}

function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0].slice(0, 200);
}

/**
 * The replica count each candidate's fine-tune uses: 'auto' resolved here, on the planning
 * machine, for the pruned candidate (as the local sweep resolves it), so a task on a node with
 * other cores trains the same way.
 */
async function candidateReplicas(sparse: ModelArtifacts, ratio: number, config: Config, epochs: number): Promise<number> {
  if (config.replicas !== 'auto') return config.replicas;
  if (epochs === 0) return 1;
  const model = await toLayersModel(
    pruneModel(sparse, { ...config.prune, ratio, threshold: undefined, maxAccuracyDrop: undefined }).artifacts,
  );
  try {
    return chooseReplicas('auto', tf.getBackend(), availableParallelism(), replicaWorkload(model, config.finetune.batchSize)).replicas;
  } finally {
    model.dispose();
  }
}

/** An accuracy budget plan: round 1 is the whole bracket, gather chooses (src/executors/budget-rounds.ts). */
export interface PlanBudget {
  maxAccuracyDrop: number;
  searchEpochs: number;
}

/**
 * `slim sweep --plan DIR`: writes the plan (sparse model, then plan.json last). A folder already
 * holding the same plan is kept as it is (re-submitting continues it); one holding another
 * model's or version's plan is an InputError.
 */
export async function writePlan(
  dir: string,
  config: Config,
  modelPath: string,
  ratios: number[],
  finetuneEpochs: number,
  out: Output,
  budget?: PlanBudget,
): Promise<SweepPlan> {
  await startBackend(config.backend, out);
  const { model, path: source } = await loadLayersModel(modelPath);
  try {
    const data = await prepareSweepData(config, model, out);
    return await writePlanOf(dir, config, model, source, data, ratios, finetuneEpochs, out, budget);
  } finally {
    model.dispose();
  }
}

/**
 * The plan of a model and data already loaded (the backend started): `slim sweep --plan`, and
 * `slim run`'s budget candidates on an executor. The caller owns `model` and `data`.
 */
export async function writePlanOf(
  dir: string,
  config: Config,
  model: tf.LayersModel,
  source: string,
  data: PreparedData,
  ratios: number[],
  finetuneEpochs: number,
  out: Output,
  budget?: PlanBudget,
): Promise<SweepPlan> {
  const paths = planPaths(dir);
  const existing = await fs.stat(paths.plan).then(
    () => true,
    () => false,
  );
  const artifacts = await fromLayersModel(model);
  const modelHash = artifactsHash(artifacts);
  if (existing) {
    const plan = await readPlan(dir);
    if (plan.modelHash !== modelHash)
      throw new InputError(`--plan ${dir}: holds the plan of another model (${plan.source}); use a new folder`);
  }
  const resolved = configSchema.parse({ ...config, backend: tf.getBackend() as Backend });
  const candidates = [];
  for (const ratio of ratios) candidates.push({ ratio, replicas: await candidateReplicas(artifacts, ratio, resolved, finetuneEpochs) });
  const fixed = {
    format: 'slim-sweep-plan-1' as const,
    version: VERSION,
    modelHash,
    config: resolved,
    finetuneEpochs,
    candidates,
    ...(budget !== undefined ? { budget } : {}),
  };
  const fingerprint = planFingerprint(fixed);
  if (existing) {
    const plan = await readPlan(dir);
    if (firstRoundFingerprint(plan) !== fingerprint)
      throw new InputError(`--plan ${dir}: holds a plan with another config, ratios or --finetune-epochs; use a new folder`);
    out.info(`plan ${dir}: already there (backend ${resolved.backend}); continuing it`);
    return plan;
  }
  const { split, source: selection } = selectionSplit(data);
  const plan0 = pruneModel(artifacts, { ...config.prune, ratio: 0, threshold: undefined, maxAccuracyDrop: undefined }).plan;
  const count = countModel(artifacts.modelTopology);
  const baseline = {
    channels: plan0.candidateChannels,
    params: count.params.total,
    macs: count.macs,
    ...(await scoreOnSelectionSplit(model, data)),
  };
  const plan: SweepPlan = {
    ...fixed,
    source,
    cwd: process.cwd(),
    split,
    examples: selection.count,
    baseline,
    fingerprint,
  };
  await writeModel(paths.sparse, artifacts, { overwrite: true });
  await fs.mkdir(paths.logs, { recursive: true });
  await writeFileAtomic(paths.plan, `${JSON.stringify(plan, null, 2)}\n`);
  out.info(`plan ${dir}: ${candidates.length} candidate(s), backend ${resolved.backend}, seed ${resolved.seed}`);
  return plan;
}

/**
 * Appends a round of candidates (a budget plan's bisection) to plan.json, atomically, with the
 * replica count each gets as round 1's did. Returns the plan as written.
 */
export async function appendRound(dir: string, plan: SweepPlan, ratios: number[]): Promise<SweepPlan> {
  const round = Math.max(...plan.candidates.map((c) => c.round ?? 1)) + 1;
  const sparse = await readModel(planPaths(dir).sparse);
  const added = [];
  for (const ratio of ratios)
    added.push({ ratio, replicas: await candidateReplicas(sparse, ratio, plan.config, plan.finetuneEpochs), round });
  const next = { ...plan, candidates: [...plan.candidates, ...added] };
  next.fingerprint = planFingerprint(next);
  await writeFileAtomic(planPaths(dir).plan, `${JSON.stringify(next, null, 2)}\n`);
  return next;
}

/** What the folder holds for each candidate. */
export type CandidateState =
  | { index: number; ratio: number; state: 'done'; row: SweepRow; seconds: number }
  | { index: number; ratio: number; state: 'failed'; message: string }
  | { index: number; ratio: number; state: 'missing' };

/** A finished candidate's row, or undefined when it has none; InputError when row.json is corrupt. */
export async function readCandidateRow(dir: string, index: number): Promise<{ row: SweepRow; seconds: number } | undefined> {
  const file = planPaths(dir).candidate(index).row;
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    return candidateFileSchema.parse(JSON.parse(text));
  } catch (error) {
    throw new InputError(`${file}: corrupt candidate result (${firstLine(error)}); remove it to compute the candidate again`, {
      cause: error,
    });
  }
}

export async function candidateStates(dir: string, plan: SweepPlan): Promise<CandidateState[]> {
  const states: CandidateState[] = [];
  for (const [index, { ratio }] of plan.candidates.entries()) {
    const done = await readCandidateRow(dir, index);
    if (done !== undefined) {
      states.push({ index, ratio, state: 'done', ...done });
      continue;
    }
    const failed = await fs.readFile(planPaths(dir).candidate(index).failed, 'utf8').then(
      (text) => (JSON.parse(text) as { message?: string }).message ?? 'failed',
      () => undefined,
    );
    states.push(failed !== undefined ? { index, ratio, state: 'failed', message: failed } : { index, ratio, state: 'missing' });
  }
  return states;
}

/** One line naming candidates that are not done. */
export function describeUnfinished(states: CandidateState[]): string {
  return states
    .filter((s) => s.state !== 'done')
    .map((s) => `ratio ${s.ratio} (${s.state === 'failed' ? `failed: ${s.message}` : 'missing'})`)
    .join(', ');
}

/**
 * `slim sweep --gather DIR`: the sweep result of a plan whose candidates ran elsewhere, the same
 * value a local sweep returns. ProblemError (exit 1) naming the candidates not done.
 */
export async function gatherPlan(dir: string): Promise<SweepResult> {
  const plan = await readPlan(dir, '--gather');
  const states = await candidateStates(dir, plan);
  const unfinished = states.filter((s) => s.state !== 'done');
  if (unfinished.length > 0) {
    throw new ProblemError(
      `--gather ${dir}: ${unfinished.length} of ${states.length} candidate(s) not done: ${describeUnfinished(states)}`,
    );
  }
  const done = states as Extract<CandidateState, { state: 'done' }>[];
  return {
    model: path.join(planPaths(dir).sparse, 'model.json'),
    split: plan.split,
    examples: plan.examples,
    baseline: plan.baseline,
    rows: done.map((s) => s.row),
    seconds: done.reduce((sum, s) => sum + s.seconds, 0),
  };
}

/** What a task needs from the plan: the data and the sparse model, loaded as the local sweep loads them. */
export interface LoadedPlan {
  plan: SweepPlan;
  data: PreparedData;
  sparse: ModelArtifacts;
}

export async function loadPlan(dir: string, out: Output): Promise<LoadedPlan> {
  const plan = await readPlan(dir);
  if (path.resolve(process.cwd()) !== path.resolve(plan.cwd)) process.chdir(plan.cwd); // the config's relative data paths
  await startBackend(plan.config.backend, out);
  const sparse = await readModel(planPaths(dir).sparse);
  if (artifactsHash(sparse) !== plan.modelHash) throw new InputError(`--plan ${dir}: sparse/ is not the model the plan was made for`);
  const model = await toLayersModel(sparse);
  try {
    return { plan, data: await prepareSweepData(plan.config, model, out), sparse };
  } finally {
    model.dispose();
  }
}

/** Writes a finished candidate: its model, then row.json (the marker that it is done). */
export async function writeCandidate(dir: string, index: number, row: SweepRow, seconds: number): Promise<void> {
  const paths = planPaths(dir).candidate(index);
  await fs.rm(paths.failed, { force: true });
  await writeFileAtomic(paths.row, `${JSON.stringify({ row, seconds }, null, 2)}\n`);
}

export async function writeCandidateModel(dir: string, index: number, model: tf.LayersModel): Promise<void> {
  await writeModel(planPaths(dir).candidate(index).model, await fromLayersModel(model), { overwrite: true });
}

export async function writeCandidateFailure(dir: string, index: number, message: string): Promise<void> {
  await writeFileAtomic(planPaths(dir).candidate(index).failed, `${JSON.stringify({ message })}\n`);
}

/**
 * `--latency` of a gathered sweep: measured at gather, on this machine, every candidate (pruned from
 * sparse/ at its ratio, exported) against the exported unpruned model, as the local sweep measures
 * them. Shards do not measure: nodes differ in hardware and load, and a speed-up column is only
 * comparable when one machine times every candidate.
 */
export async function measureGathered(
  dir: string,
  result: SweepResult,
  latency: Omit<LatencyOptions, 'seed'>,
  out: Output,
): Promise<SweepResult> {
  const plan = await readPlan(dir, '--gather');
  await startBackend(plan.config.backend, out);
  const sparse = await readModel(planPaths(dir).sparse);
  const baseline = (await exportModel(sparse)).artifacts;
  const rows: SweepRow[] = [];
  for (const row of result.rows) {
    const pruned = pruneModel(sparse, { ...plan.config.prune, ratio: row.ratio, threshold: undefined, maxAccuracyDrop: undefined });
    const measured = await measureCandidate(pruned.artifacts, baseline, { ...latency, seed: plan.config.seed });
    out.info(`ratio ${row.ratio}: ${measured.runtime} ${measured.ms.toFixed(2)} ms (${measured.speedup.toFixed(2)}× faster)`);
    rows.push({ ...row, latency: measured });
  }
  return { ...result, rows };
}
