/**
 * The local executor: the candidates of one shard of a plan, run in this process (a Slurm array
 * task, a Kubernetes index, a CI matrix job, or every candidate at once). A finished candidate is
 * skipped, so a re-queued or re-run task only computes what is missing; a fine-tune stopped by
 * SIGTERM (pre-emption) resumes from its checkpoint.
 */
import { promises as fs } from 'node:fs';
import { availableParallelism } from 'node:os';
import * as tf from '#tfjs';
import { InputError, InterruptedError, ProblemError, SlimError } from '../errors.js';
import type { Output } from '../io/output.js';
import { checkpointExists } from '../pipeline/checkpoint.js';
import { scoreCandidate } from '../pipeline/sweep.js';
import { percent } from '../pipeline/stages/common.js';
import { loadPlan, planPaths, readCandidateRow, writeCandidate, writeCandidateFailure, writeCandidateModel } from './plan.js';

export interface Shard {
  index: number;
  count: number;
}

/** Environment variables a shard can come from, in the order they are tried. */
export const SHARD_ENV = 'SLIM_SHARD';

/** `I/N` with 0 <= I < N; InputError naming `from` otherwise. */
export function parseShard(text: string, from = '--shard'): Shard {
  const match = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  if (match === null) throw new InputError(`${from} ${JSON.stringify(text)}: expected I/N, e.g. 0/4 (shard I of N, counted from 0)`);
  const index = Number(match[1]);
  const count = Number(match[2]);
  if (count < 1) throw new InputError(`${from} ${text}: N must be at least 1`);
  if (index >= count)
    throw new InputError(`${from} ${text}: shard index ${index} is not below the shard count ${count} (shards are 0..${count - 1})`);
  return { index, count };
}

/**
 * `--shard env`: SLIM_SHARD (I/N, for CI matrices), else SLURM_ARRAY_TASK_ID with
 * SLURM_ARRAY_TASK_COUNT, else JOB_COMPLETION_INDEX (a Kubernetes Indexed Job) with SLIM_SHARD_COUNT.
 */
export function shardFromEnv(env: NodeJS.ProcessEnv = process.env): Shard {
  if (env[SHARD_ENV] !== undefined) return parseShard(env[SHARD_ENV], SHARD_ENV);
  if (env.SLURM_ARRAY_TASK_ID !== undefined) {
    const count = env.SLURM_ARRAY_TASK_COUNT ?? '';
    return parseShard(`${env.SLURM_ARRAY_TASK_ID}/${count}`, 'SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT');
  }
  if (env.JOB_COMPLETION_INDEX !== undefined) {
    return parseShard(`${env.JOB_COMPLETION_INDEX}/${env.SLIM_SHARD_COUNT ?? ''}`, 'JOB_COMPLETION_INDEX/SLIM_SHARD_COUNT');
  }
  throw new InputError(`--shard env: none of ${SHARD_ENV}, SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX is set`);
}

export interface ShardOutcome {
  computed: number[];
  skipped: number[];
  failed: number[];
}

/**
 * Runs the candidates i of the plan in `dir` with i % N == I. Each is written atomically when
 * done; a candidate that fails with an error slim explains is recorded (failed.json) and the shard
 * goes on, then ends with a ProblemError naming them. Interruption (SIGTERM) propagates after the
 * fine-tune's checkpoint is written.
 */
export async function runShard(dir: string, shard: Shard, out: Output, signal?: AbortSignal): Promise<ShardOutcome> {
  const { plan, data, sparse } = await loadPlan(dir, out);
  const mine = plan.candidates.map((c, index) => ({ ...c, index })).filter((c) => c.index % shard.count === shard.index);
  out.info(`shard ${shard.index}/${shard.count} of ${dir}: candidate(s) ${mine.map((c) => c.ratio).join(', ') || 'none'}`);
  const outcome: ShardOutcome = { computed: [], skipped: [], failed: [] };
  const failures: string[] = [];
  for (const candidate of mine) {
    if ((await readCandidateRow(dir, candidate.index)) !== undefined) {
      out.info(`ratio ${candidate.ratio}: done already, skipped`);
      outcome.skipped.push(candidate.index);
      continue;
    }
    const paths = planPaths(dir).candidate(candidate.index);
    await fs.mkdir(paths.dir, { recursive: true });
    const cores = availableParallelism();
    if (candidate.replicas > 1 && (cores < candidate.replicas || !['wasm', 'cpu'].includes(tf.getBackend()))) {
      out.warn(
        `ratio ${candidate.ratio}: the plan fixes ${candidate.replicas} replicas; this node has ${cores} core(s), so its row may differ`,
      );
    }
    const started = Date.now();
    try {
      const resume = await checkpointExists(paths.checkpoint);
      const row = await scoreCandidate(
        sparse,
        candidate.ratio,
        plan.config.prune,
        data,
        { finetuneEpochs: plan.finetuneEpochs, training: { ...plan.config, replicas: candidate.replicas } },
        out,
        {
          control: { checkpointDir: paths.checkpoint, resume, signal },
          keep: (model) => writeCandidateModel(dir, candidate.index, model),
        },
      );
      await writeCandidate(dir, candidate.index, row, (Date.now() - started) / 1000);
      out.info(
        `ratio ${candidate.ratio}: done, ${plan.split} accuracy ${percent(row.accuracy)}${row.finetuned ? ` (fine-tuned ${percent(row.finetuned.accuracy)})` : ''}`,
      );
      outcome.computed.push(candidate.index);
    } catch (error) {
      if (error instanceof InterruptedError || !(error instanceof SlimError)) throw error;
      await writeCandidateFailure(dir, candidate.index, error.message);
      out.warn(`ratio ${candidate.ratio}: failed: ${error.message}`);
      failures.push(`ratio ${candidate.ratio}: ${error.message}`);
      outcome.failed.push(candidate.index);
    }
  }
  if (failures.length > 0) throw new ProblemError(`shard ${shard.index}/${shard.count}: ${failures.join('; ')}`);
  return outcome;
}
