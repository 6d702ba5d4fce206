/**
 * The Slurm executor: one job array over a plan's unfinished candidates (task i = candidate i,
 * each running `slim sweep --plan DIR --shard env`), followed through squeue and the plan folder
 * (job accounting may be off on a cluster), then gathered. Tasks are requeueable: a pre-empted
 * task gets SIGTERM, checkpoints its fine-tune and resumes from it when Slurm starts it again.
 */
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { InputError, ProblemError } from '../errors.js';
import { writeFileAtomic } from '../io/files.js';
import type { Output } from '../io/output.js';
import type { SweepResult } from '../pipeline/sweep.js';
import { candidateStates, gatherPlan, type SweepPlan } from './plan.js';

/** bin/slim.js of this installation (dist/src/executors → the package root). */
const SLIM_BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../bin/slim.js');
const POLL_MS = 2000;
/** Lines of a failed task's log shown with its error. */
const LOG_TAIL = 15;

export interface SlurmOptions {
  sbatchArgs?: string;
  maxParallel?: number;
}

function run(command: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string; missing: boolean }> {
  return new Promise((resolve) => {
    execFile(command, args, { encoding: 'utf8', timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
      resolve({ code, stdout, stderr, missing: (error as NodeJS.ErrnoException | null)?.code === 'ENOENT' });
    });
  });
}

/** InputError when Slurm's client tools are not installed here. */
export async function checkSlurm(): Promise<void> {
  for (const tool of ['sbatch', 'squeue']) {
    if ((await run(tool, ['--version'])).missing)
      throw new InputError(
        `--executor slurm: ${tool} not found on PATH (run slim on a machine with Slurm's client tools, or use --emit slurm)`,
      );
  }
}

/** The array spec: the indices, compressed to ranges, with %K. */
function arraySpec(indices: number[], maxParallel?: number): string {
  const parts: string[] = [];
  for (let i = 0; i < indices.length;) {
    let j = i;
    while (j + 1 < indices.length && indices[j + 1] === indices[j] + 1) j++;
    parts.push(i === j ? `${indices[i]}` : `${indices[i]}-${indices[j]}`);
    i = j + 1;
  }
  return parts.join(',') + (maxParallel !== undefined ? `%${maxParallel}` : '');
}

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** The batch script (what --emit slurm prints, and what the executor submits for its candidates). */
export function slurmScript(dir: string, plan: SweepPlan, options: SlurmOptions & { indices?: number[] } = {}): string {
  const absolute = path.resolve(dir);
  const indices = options.indices ?? plan.candidates.map((_, i) => i);
  const extra = (options.sbatchArgs ?? '').split(/\s+/).filter((a) => a !== '');
  return [
    '#!/bin/bash',
    `# slim sweep: ${plan.candidates.length} candidate(s) of the plan in ${absolute}, one array task each`,
    '#SBATCH --job-name=slim-sweep',
    `#SBATCH --array=${arraySpec(indices, options.maxParallel)}`,
    '#SBATCH --ntasks=1',
    `#SBATCH --chdir=${plan.cwd}`,
    `#SBATCH --output=${path.join(absolute, 'logs', '%A_%a.log')}`,
    // Requeued tasks (pre-emption, node failure) append to the same log and resume from their checkpoint.
    '#SBATCH --open-mode=append',
    '#SBATCH --requeue',
    '#SBATCH --signal=TERM@60',
    ...extra.map((a) => `#SBATCH ${a}`),
    `exec ${quote(process.execPath)} ${quote(SLIM_BIN)} sweep --plan ${quote(absolute)} --shard "\${SLURM_ARRAY_TASK_ID}/${plan.candidates.length}"`,
    '',
  ].join('\n');
}

function logOf(dir: string, job: string, index: number): string {
  return path.join(path.resolve(dir), 'logs', `${job}_${index}.log`);
}

async function tail(file: string, lines: number): Promise<string[] | undefined> {
  try {
    const text = await fs.readFile(file, 'utf8');
    return text.trimEnd().split('\n').slice(-lines);
  } catch {
    return undefined;
  }
}

/** Tasks of `job` still queued or running, or undefined once the job has left the queue. */
async function queued(job: string): Promise<string[] | undefined> {
  const result = await run('squeue', ['-h', '-r', '-j', job, '-o', '%i %T']);
  if (result.code !== 0) {
    if (/invalid job id/i.test(result.stderr)) return undefined;
    throw new ProblemError(`squeue: ${result.stderr.trim().split('\n')[0] || `exit ${result.code}`} (is the Slurm controller reachable?)`);
  }
  const lines = result.stdout.split('\n').filter((l) => l.trim() !== '');
  return lines.length === 0 ? undefined : lines;
}

/**
 * `slim sweep --executor slurm --plan DIR`: submits the candidates not yet done as one job array,
 * follows it until it leaves the queue, and gathers. A candidate not done then is a ProblemError
 * naming its task's log (whose last lines go to stderr first).
 */
export async function runOnSlurm(dir: string, plan: SweepPlan, options: SlurmOptions, out: Output, pollMs = POLL_MS): Promise<SweepResult> {
  await checkSlurm();
  const before = await candidateStates(dir, plan);
  const pending = before.filter((s) => s.state !== 'done').map((s) => s.index);
  if (pending.length === 0) {
    out.info(`plan ${dir}: every candidate is done already`);
    return gatherPlan(dir);
  }
  const script = path.join(path.resolve(dir), 'sweep.sbatch');
  await writeFileAtomic(script, slurmScript(dir, plan, { ...options, indices: pending }));
  const submitted = await run('sbatch', ['--parsable', script]);
  if (submitted.code !== 0) {
    throw new ProblemError(`sbatch ${script}: ${submitted.stderr.trim().split('\n').pop() || `exit ${submitted.code}`}`);
  }
  const job = submitted.stdout.trim().split(';')[0];
  out.info(
    `slurm job ${job}: ${pending.length} task(s) (${before.length - pending.length} candidate(s) done already), logs in ${path.join(dir, 'logs')}`,
  );
  const bar = out.progressBar('candidates', before.length);
  let last = -1;
  try {
    for (;;) {
      const tasks = await queued(job);
      const states = await candidateStates(dir, plan).catch(() => before);
      const done = states.filter((s) => s.state === 'done').length;
      bar.update(done, { info: tasks === undefined ? '' : `${tasks.length} task(s) in the queue` });
      if (done !== last) {
        out.debug(`slurm job ${job}: ${done}/${states.length} candidate(s) done`);
        last = done;
      }
      if (tasks === undefined) break;
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
  } finally {
    bar.stop();
  }
  const states = await candidateStates(dir, plan);
  const unfinished = states.filter((s) => s.state !== 'done');
  if (unfinished.length === 0) return gatherPlan(dir);
  const named: string[] = [];
  for (const s of unfinished) {
    const log = logOf(dir, job, s.index);
    const lines = await tail(log, LOG_TAIL);
    out.info(`--- task ${s.index} (ratio ${s.ratio}), last lines of ${log}:`);
    for (const line of lines ?? ['(no log: the task never started)']) out.info(`  ${line}`);
    named.push(`ratio ${s.ratio} (task ${s.index}, log ${log})`);
  }
  throw new ProblemError(
    `slurm job ${job}: ${unfinished.length} of ${states.length} candidate(s) failed: ${named.join(', ')}; run the same command again to retry them`,
  );
}
