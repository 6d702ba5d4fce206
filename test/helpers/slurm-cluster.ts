/**
 * A real one-node Slurm cluster for tests, from the Debian packages (slurm-wlm, munge; this helper
 * installs nothing): munged, slurmctld and slurmd run as root in the foreground with their key,
 * sockets, state, spool and logs under a temporary folder, ProctrackType=proctrack/linuxproc and
 * TaskPlugin=task/none (no cgroups needed). Clients reach it through SLURM_CONF in `env`.
 * `stop` ends exactly the processes started here (by PID) and removes the folder.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { availableParallelism, hostname } from 'node:os';
import * as path from 'node:path';

export interface SlurmCluster {
  dir: string;
  /** process.env plus SLURM_CONF: for sbatch, squeue, scancel and slim. */
  env: NodeJS.ProcessEnv;
  /** Runs a Slurm client (squeue, scancel, ...) against the cluster. */
  client(command: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  stop(): Promise<void>;
}

const TOOLS = ['munged', 'munge', 'slurmctld', 'slurmd', 'sbatch', 'squeue', 'scancel', 'scontrol', 'sinfo'];
const SEARCH = ['/usr/sbin', '/usr/bin', '/sbin', '/bin'];

function which(tool: string): string | undefined {
  for (const dir of [...(process.env.PATH ?? '').split(':'), ...SEARCH]) {
    const candidate = path.join(dir, tool);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Why a cluster cannot start on this machine (for the test's skip), or undefined when it can. */
export function slurmUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'Slurm tests need Linux';
  if (process.getuid?.() !== 0) return 'the one-node Slurm cluster runs its daemons as root';
  const missing = TOOLS.filter((t) => which(t) === undefined);
  if (missing.length > 0) return `Slurm is not installed (missing ${missing.join(', ')}; apt-get install slurm-wlm munge)`;
  return undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { env, encoding: 'utf8', timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
    });
  });
}

async function waitFor(what: string, check: () => Promise<boolean>, logs: () => Promise<string>, tries = 120): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`slurm test cluster: ${what} did not come up\n${await logs()}`);
}

export async function startSlurmCluster(): Promise<SlurmCluster> {
  // 0755: munged refuses a socket folder others cannot traverse.
  const dir = await mkdtemp(path.join('/tmp', 'slim-slurm-'));
  await chmod(dir, 0o755);
  const started: ChildProcess[] = [];
  const stop = async () => {
    for (const child of started.reverse()) {
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) continue;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      process.kill(child.pid, 'SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
    }
    await rm(dir, { recursive: true, force: true });
  };
  const daemon = (tool: string, args: string[], env: NodeJS.ProcessEnv) => {
    const child = spawn(which(tool)!, args, { env, stdio: 'ignore' });
    started.push(child);
  };
  const logs = async () => {
    const parts = [];
    for (const file of ['munged.log', 'slurmctld.log', 'slurmd.log']) {
      parts.push(`--- ${file}\n${(await readFile(path.join(dir, file), 'utf8').catch(() => '(none)')).split('\n').slice(-20).join('\n')}`);
    }
    return parts.join('\n');
  };
  try {
    const key = path.join(dir, 'munge.key');
    await writeFile(key, randomBytes(1024), { mode: 0o400 });
    const socket = path.join(dir, 'munge.sock');
    daemon(
      'munged',
      [
        '-F',
        `--key-file=${key}`,
        `--socket=${socket}`,
        `--pid-file=${dir}/munged.pid`,
        `--log-file=${dir}/munged.log`,
        `--seed-file=${dir}/munged.seed`,
      ],
      process.env,
    );
    await waitFor('munged', async () => (await run(which('munge')!, [`--socket=${socket}`, '-n'], process.env)).code === 0, logs);

    const host = hostname().split('.')[0];
    const [ctldPort, slurmdPort] = [await freePort(), await freePort()];
    await mkdir(path.join(dir, 'state'));
    await mkdir(path.join(dir, 'spool'));
    const conf = path.join(dir, 'slurm.conf');
    await writeFile(
      conf,
      [
        'ClusterName=slimtest',
        `SlurmctldHost=${host}(127.0.0.1)`,
        `SlurmctldPort=${ctldPort}`,
        `SlurmdPort=${slurmdPort}`,
        'AuthType=auth/munge',
        // A requeued job waits cred_expire seconds before it starts again (default 120).
        `AuthInfo=socket=${socket},cred_expire=10`,
        'SlurmUser=root',
        'SlurmdUser=root',
        `StateSaveLocation=${dir}/state`,
        `SlurmdSpoolDir=${dir}/spool`,
        `SlurmctldPidFile=${dir}/slurmctld.pid`,
        `SlurmdPidFile=${dir}/slurmd.pid`,
        `SlurmctldLogFile=${dir}/slurmctld.log`,
        `SlurmdLogFile=${dir}/slurmd.log`,
        'ProctrackType=proctrack/linuxproc',
        'TaskPlugin=task/none',
        'JobAcctGatherType=jobacct_gather/none',
        'AccountingStorageType=accounting_storage/none',
        'JobCompType=jobcomp/none',
        'SchedulerType=sched/backfill',
        'SelectType=select/cons_tres',
        'SelectTypeParameters=CR_Core',
        'ReturnToService=2',
        'MpiDefault=none',
        'SwitchType=switch/none',
        'KillWait=5',
        `NodeName=slimnode NodeHostname=${host} NodeAddr=127.0.0.1 CPUs=${availableParallelism()} State=UNKNOWN`,
        'PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP',
        '',
      ].join('\n'),
    );
    const env = { ...process.env, SLURM_CONF: conf };
    daemon('slurmctld', ['-D', '-f', conf], env);
    daemon('slurmd', ['-D', '-f', conf, '-N', 'slimnode'], env);
    await waitFor('the node', async () => /idle/.test((await run(which('sinfo')!, ['-h', '-o', '%T'], env)).stdout), logs);
    return { dir, env, client: (command, args) => run(which(command) ?? command, args, env), stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
