/**
 * `slim sweep --executor slurm` against a real one-node Slurm cluster (test/helpers/slurm-cluster.ts;
 * skipped with the reason when Slurm or root is absent): a 4-candidate sweep with fine-tuning gives
 * the local sweep's rows; an array task killed mid-way fails the run naming its log, and the same
 * command again completes the plan without computing any finished candidate twice. Tiny model, a
 * few hundred MNIST images.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import type { SweepResult } from '../../src/pipeline/sweep.js';
import { describeRun, REPO_ROOT, runSlim, stderrLines, STACK_FRAME } from '../helpers/cli.js';
import { slurmUnavailable, startSlurmCluster, type SlurmCluster } from '../helpers/slurm-cluster.js';

const RATIOS = '0.2,0.4,0.6,0.8';
const skip = slurmUnavailable();

let dir: string;
let config: string;
let sparse: string;
let local: SweepResult;
let cluster: SlurmCluster | undefined;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'slim-sweep-slurm-'));
  const tiny = JSON.parse(await readFile(path.join(REPO_ROOT, 'test', 'fixtures', 'cli', 'tiny.json'), 'utf8')) as Record<string, unknown>;
  config = path.join(dir, 'config.json');
  await writeFile(
    config,
    JSON.stringify({
      ...tiny,
      model: { type: 'vgg', cfg: [8, 'M', 16] },
      data: { dataset: 'mnist', trainLimit: 400, testLimit: 100, validationSplit: 0.25, preprocess: { mean: [0.1307], std: [0.3081] } },
    }),
  );
  if (skip !== undefined) return;
  sparse = path.join(dir, 'sparse');
  const trained = await runSlim(['train', '--config', config, '--out', sparse]);
  assert.equal(trained.code, 0, describeRun(trained));
  const swept = await runSlim(['sweep', '--config', config, '--model', sparse, '--ratios', RATIOS, '--finetune-epochs', '1', '--json']);
  assert.equal(swept.code, 0, describeRun(swept));
  local = JSON.parse(swept.stdout) as SweepResult;
  cluster = await startSlurmCluster();
});
after(async () => {
  await cluster?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** Every "ratio r: done" line of the task logs in the plan folder: one per candidate computed. */
async function doneLines(planDir: string): Promise<string[]> {
  const logs = path.join(planDir, 'logs');
  const lines: string[] = [];
  for (const file of await readdir(logs)) {
    lines.push(...(await readFile(path.join(logs, file), 'utf8')).split('\n').filter((l) => /^ratio [\d.]+: done,/.test(l)));
  }
  return lines.sort();
}

test('--executor slurm: one job array, followed and gathered; rows identical to the local sweep', { skip }, async () => {
  const planDir = path.join(dir, 'plan-slurm');
  const result = await runSlim(
    [
      'sweep',
      '--config',
      config,
      '--model',
      sparse,
      '--ratios',
      RATIOS,
      '--finetune-epochs',
      '1',
      '--plan',
      planDir,
      '--executor',
      'slurm',
      '--max-parallel',
      '2',
      '--json',
    ],
    { env: { SLURM_CONF: cluster!.env.SLURM_CONF! } },
  );
  assert.equal(result.code, 0, describeRun(result));
  const sweep = JSON.parse(result.stdout) as SweepResult;
  assert.deepEqual(sweep.rows, local.rows);
  assert.deepEqual(sweep.baseline, local.baseline);
  assert.match(result.stderr, /slurm job \d+: 4 task\(s\)/);
  assert.equal((await doneLines(planDir)).length, 4);
  const script = await readFile(path.join(planDir, 'sweep.sbatch'), 'utf8');
  assert.match(script, /^#SBATCH --array=0-3%2$/m);
  // --emit slurm prints the script the executor submitted; --gather prints the same table as the run.
  const emitted = await runSlim(['sweep', '--plan', planDir, '--emit', 'slurm', '--max-parallel', '2']);
  assert.equal(emitted.code, 0, describeRun(emitted));
  assert.equal(emitted.stdout, script);
  const gathered = await runSlim(['sweep', '--gather', planDir, '--json']);
  assert.equal(gathered.code, 0, describeRun(gathered));
  assert.deepEqual((JSON.parse(gathered.stdout) as SweepResult).rows, local.rows);
});

test(
  'a task killed mid-way: exit 1 naming its log; the same command again completes the plan, nothing computed twice',
  { skip },
  async () => {
    const planDir = path.join(dir, 'plan-kill');
    const env = { SLURM_CONF: cluster!.env.SLURM_CONF! };
    const args = ['sweep', '--plan', planDir, '--executor', 'slurm', '--max-parallel', '1', '--json'];
    const first = runSlim([...args, '--config', config, '--model', sparse, '--ratios', RATIOS, '--finetune-epochs', '1'], { env });
    // Task 1 runs once task 0 has finished (one at a time): kill it as soon as Slurm starts it.
    let killed: string | undefined;
    for (let i = 0; i < 600 && killed === undefined; i++) {
      const queue = await cluster!.client('squeue', ['-h', '-r', '-o', '%i %T']);
      const running = queue.stdout.split('\n').find((l) => /^\d+_1 RUNNING$/.test(l.trim()));
      if (running !== undefined) {
        killed = running.trim().split(' ')[0];
        const cancel = await cluster!.client('scancel', ['--signal=KILL', killed]);
        assert.equal(cancel.code, 0, cancel.stderr);
      } else await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.ok(killed !== undefined, 'task 1 ran');
    const failed = await first;
    assert.equal(failed.code, 1, describeRun(failed));
    assert.equal(failed.stdout, '', 'nothing on stdout when the sweep is incomplete');
    const errors = stderrLines(failed).filter((l) => l.startsWith('error:'));
    assert.equal(errors.length, 1, failed.stderr);
    assert.match(errors[0], /1 of 4 candidate\(s\) failed: ratio 0\.4 \(task 1, log .*logs\/\d+_1\.log\)/);
    assert.doesNotMatch(failed.stderr, STACK_FRAME);
    assert.match(failed.stderr, /--- task 1 \(ratio 0\.4\), last lines of /);
    const rows = (i: number) => path.join(planDir, 'candidates', String(i).padStart(3, '0'), 'row.json');
    const mtimes = await Promise.all([0, 2, 3].map((i) => stat(rows(i)).then((s) => s.mtimeMs)));

    const again = await runSlim(args, { env });
    assert.equal(again.code, 0, describeRun(again));
    assert.match(again.stderr, /slurm job \d+: 1 task\(s\) \(3 candidate\(s\) done already\)/);
    assert.deepEqual((JSON.parse(again.stdout) as SweepResult).rows, local.rows);
    assert.deepEqual(await Promise.all([0, 2, 3].map((i) => stat(rows(i)).then((s) => s.mtimeMs))), mtimes);
    const done = await doneLines(planDir);
    assert.deepEqual(
      done.map((l) => l.split(':')[0]),
      ['ratio 0.2', 'ratio 0.4', 'ratio 0.6', 'ratio 0.8'],
      'each candidate computed exactly once',
    );
  },
);

test('a task pre-empted mid fine-tune (scontrol requeue) resumes from its checkpoint and gives the local row', { skip }, async () => {
  // The requeue follows the first epoch's line: five epochs left keep it mid fine-tune on a loaded machine.
  const epochs = '6';
  const localRun = await runSlim([
    'sweep',
    '--config',
    config,
    '--model',
    sparse,
    '--ratios',
    '0.4',
    '--finetune-epochs',
    epochs,
    '--json',
  ]);
  assert.equal(localRun.code, 0, describeRun(localRun));
  const planDir = path.join(dir, 'plan-requeue');
  const env = { SLURM_CONF: cluster!.env.SLURM_CONF! };
  const run = runSlim(
    [
      'sweep',
      '--config',
      config,
      '--model',
      sparse,
      '--ratios',
      '0.4',
      '--finetune-epochs',
      epochs,
      '--plan',
      planDir,
      '--executor',
      'slurm',
      '--json',
    ],
    { env },
  );
  // Requeue the task once its fine-tune has finished an epoch (a checkpoint exists) and not yet ended.
  let requeued = false;
  for (let i = 0; i < 1500 && !requeued; i++) {
    const logs = await readdir(path.join(planDir, 'logs')).catch(() => []);
    const log = logs.length === 1 ? await readFile(path.join(planDir, 'logs', logs[0]), 'utf8') : '';
    if (log.includes(`epoch 1/${epochs}:`) && !/ratio 0\.4: done/.test(log)) {
      const job = logs[0].replace(/\.log$/, '');
      const result = await cluster!.client('scontrol', ['requeue', job]);
      assert.equal(result.code, 0, result.stderr);
      requeued = true;
    } else await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.ok(requeued, 'the task was requeued mid fine-tune');
  const result = await run;
  assert.equal(result.code, 0, describeRun(result));
  assert.deepEqual((JSON.parse(result.stdout) as SweepResult).rows, (JSON.parse(localRun.stdout) as SweepResult).rows);
  const log = await readFile(path.join(planDir, 'logs', (await readdir(path.join(planDir, 'logs')))[0]), 'utf8');
  assert.match(log, /fine-tune: resuming from .*checkpoint at epoch \d+/, log);
  assert.equal((await doneLines(planDir)).length, 1);
});

test('--executor slurm without Slurm on PATH: one error line, exit 2, before any planning', async () => {
  const result = await runSlim(
    ['sweep', '--config', config, '--model', path.join(dir, 'none'), '--plan', path.join(dir, 'plan-none'), '--executor', 'slurm'],
    {
      env: { PATH: path.join(dir, 'empty-bin') },
    },
  );
  assert.equal(result.code, 2, describeRun(result));
  assert.deepEqual(stderrLines(result), [
    "error: --executor slurm: sbatch not found on PATH (run slim on a machine with Slurm's client tools, or use --emit slurm)",
  ]);
});

test(
  "run --max-drop --executor slurm: the budget candidates as job arrays, then the run goes on; the local run's winner and record",
  { skip },
  async () => {
    // A sparse model the budget can be judged against (the sweep fixture's is at chance level), no speed measurement.
    const runConfig = path.join(dir, 'run-config.json');
    await writeFile(
      runConfig,
      JSON.stringify({
        ...JSON.parse(await readFile(config, 'utf8')),
        data: { dataset: 'mnist', trainLimit: 1000, testLimit: 100, validationSplit: 0.2, preprocess: { mean: [0.1307], std: [0.3081] } },
        train: { epochs: 2, batchSize: 32, lr: 0.05, sparsity: 3e-3 },
        prune: { maxAccuracyDrop: 5, searchEpochs: 1 },
        bench: { runtimes: [] },
      }),
    );
    const env = { SLURM_CONF: cluster!.env.SLURM_CONF! };
    const localRun = await runSlim(['run', '--config', runConfig, '--out', path.join(dir, 'run-local'), '--json']);
    assert.equal(localRun.code, 0, describeRun(localRun));
    const planDir = path.join(dir, 'plan-run');
    const slurmRun = await runSlim(
      [
        'run',
        '--config',
        runConfig,
        '--out',
        path.join(dir, 'run-slurm'),
        '--executor',
        'slurm',
        '--plan',
        planDir,
        '--max-parallel',
        '2',
        '--json',
      ],
      { env },
    );
    assert.equal(slurmRun.code, 0, describeRun(slurmRun));
    type Summary = { passes: { budget: { ratio: number; candidates: unknown[] } }[]; accuracy: unknown; prune: unknown; report: unknown };
    const local = JSON.parse(localRun.stdout) as Summary;
    const slurm = JSON.parse(slurmRun.stdout) as Summary;
    assert.deepEqual(slurm.passes[0].budget, local.passes[0].budget, 'the same candidates, winner and reason');
    assert.deepEqual(slurm.prune, local.prune);
    assert.deepEqual(slurm.accuracy, local.accuracy, 'the run went on as the local one: the same fine-tuned model');
    assert.equal(
      JSON.stringify(slurm.report).replaceAll('/run-slurm/', '/run-local/'),
      JSON.stringify(local.report),
      'the same final model',
    );
    assert.match(slurmRun.stderr, /slurm job \d+: 9 task\(s\)/, 'round 1: the bracket as one job array');
    const runJson = JSON.parse(await readFile(path.join(dir, 'run-slurm', 'run.json'), 'utf8')) as Summary;
    assert.deepEqual(runJson.passes[0].budget, local.passes[0].budget);
    // The plan folder gathers to the same choice; its table holds every candidate computed.
    const gathered = await runSlim(['sweep', '--gather', planDir, '--json']);
    assert.equal(gathered.code, 0, describeRun(gathered));
    const sweep = JSON.parse(gathered.stdout) as SweepResult & { budget: unknown };
    assert.deepEqual(sweep.budget, local.passes[0].budget);
    assert.ok(sweep.rows.length >= 9);
  },
);
