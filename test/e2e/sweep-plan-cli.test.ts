/**
 * Bad input to `slim sweep --plan/--shard/--gather` through the built binary: one `error:` line
 * each, naming what and where, the documented exit code, no stack, nothing on stdout. The plan
 * folders are written by hand (no model needs training to be refused). The first case of each
 * test goes through the binary; the others are parsed and run in-process by the same buildCli,
 * their error mapped by main()'s describeFailure (test/helpers/cli-in-process.ts): same line, same
 * exit code, nothing printed before it.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { configSchema } from '../../src/config/schema.js';
import { planFingerprint, type SweepPlan } from '../../src/executors/plan.js';
import { VERSION } from '../../src/version.js';
import { describeRun, runSlim, stderrLines, STACK_FRAME } from '../helpers/cli.js';
import { refusalInProcess } from '../helpers/cli-in-process.js';
import { slurmUnavailable } from '../helpers/slurm-cluster.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'slim-sweep-plan-cli-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A plan.json as writePlan writes it, for `version`. */
async function handWrittenPlan(name: string, version: string): Promise<string> {
  const planDir = path.join(dir, name);
  const fixed = {
    format: 'slim-sweep-plan-1' as const,
    version,
    modelHash: 'a'.repeat(64),
    config: configSchema.parse({ backend: 'cpu' }),
    finetuneEpochs: 0,
    candidates: [
      { ratio: 0.3, replicas: 1 },
      { ratio: 0.6, replicas: 1 },
    ],
  };
  const plan: SweepPlan = {
    ...fixed,
    source: '/models/sparse/model.json',
    cwd: dir,
    split: 'val',
    examples: 10,
    baseline: { accuracy: 0.5, loss: 1, channels: 8, params: 100, macs: 1000 },
    fingerprint: planFingerprint(fixed),
  };
  await mkdir(planDir, { recursive: true });
  await writeFile(path.join(planDir, 'plan.json'), JSON.stringify(plan));
  return planDir;
}

async function oneError(args: string[], code: number, message: RegExp): Promise<void> {
  const result = await runSlim(['sweep', ...args]);
  assert.equal(result.code, code, describeRun(result));
  assert.equal(result.stdout, '', describeRun(result));
  const lines = stderrLines(result);
  assert.equal(lines.length, 1, describeRun(result));
  assert.match(lines[0], message);
  assert.doesNotMatch(result.stderr, STACK_FRAME);
}

/** oneError's checks in-process: the one line is main()'s, so nothing else may be printed. */
async function oneErrorInProcess(args: string[], code: number, message: RegExp): Promise<void> {
  const refusal = await refusalInProcess(['sweep', ...args]);
  const why = `slim sweep ${args.join(' ')}: ${JSON.stringify(refusal)}`;
  assert.equal(refusal.exitCode, code, why);
  assert.equal(refusal.stdout, '', why);
  assert.equal(refusal.stderr, '', why);
  assert.match(`error: ${refusal.line}`, message, why);
}

test('--shard 5/4 and friends: exit 2 naming the flag', async () => {
  const planDir = await handWrittenPlan('shard', VERSION);
  await oneError(
    ['--plan', planDir, '--shard', '5/4'],
    2,
    /^error: --shard 5\/4: shard index 5 is not below the shard count 4 \(shards are 0\.\.3\)$/,
  );
  await oneErrorInProcess(['--plan', planDir, '--shard', 'two'], 2, /^error: --shard "two": expected I\/N/);
  await oneErrorInProcess(['--shard', '0/1', '--model', 'm', '--config', 'c'], 2, /^error: --shard: needs --plan DIR$/);
  await oneErrorInProcess(['--ratios', '0.5'], 2, /^error: slim sweep: --model and --config are required$/);
});

test('a plan folder written by another slim version: exit 2 naming the folder and both versions', async () => {
  const planDir = await handWrittenPlan('old', '0.0.1');
  await oneError(
    ['--plan', planDir, '--shard', '0/1'],
    2,
    new RegExp(`^error: --plan ${planDir}: plan written by slim 0\\.0\\.1, this is slim ${VERSION.replace(/\./g, '\\.')}`),
  );
  await oneErrorInProcess(['--gather', planDir], 2, /^error: --gather .*: plan written by slim 0\.0\.1/);
  await oneErrorInProcess(['--plan', path.join(dir, 'nowhere'), '--shard', '0/1'], 2, /^error: --plan .*nowhere: no sweep plan there/);
});

test('--gather: candidates missing exit 1 naming them; a corrupt candidate exit 2 naming its file', async () => {
  const planDir = await handWrittenPlan('gather', VERSION);
  await oneError(
    ['--gather', planDir],
    1,
    /^error: --gather .*: 2 of 2 candidate\(s\) not done: ratio 0\.3 \(missing\), ratio 0\.6 \(missing\)$/,
  );
  await mkdir(path.join(planDir, 'candidates', '001'), { recursive: true });
  await writeFile(path.join(planDir, 'candidates', '001', 'row.json'), '{"row": ');
  await oneErrorInProcess(
    ['--gather', planDir],
    2,
    /^error: .*candidates\/001\/row\.json: corrupt candidate result \(.*\); remove it to compute the candidate again$/,
  );
});

test("--executor slurm with an unreachable controller: exit 1, one line with sbatch's reason", { skip: slurmUnavailable() }, async () => {
  const planDir = await handWrittenPlan('dead', VERSION);
  const conf = path.join(dir, 'dead-slurm.conf');
  // A controller on a port nobody listens on.
  await writeFile(
    conf,
    [
      'ClusterName=dead',
      `SlurmctldHost=${hostname().split('.')[0]}(127.0.0.1)`,
      'SlurmctldPort=1',
      'NodeName=n CPUs=1',
      'PartitionName=p Nodes=ALL Default=YES',
      '',
    ].join('\n'),
  );
  const result = await runSlim(['sweep', '--plan', planDir, '--executor', 'slurm'], { env: { SLURM_CONF: conf } });
  assert.equal(result.code, 1, describeRun(result));
  assert.equal(result.stdout, '');
  const errors = stderrLines(result).filter((l) => l.startsWith('error:'));
  assert.equal(errors.length, 1, describeRun(result));
  assert.match(errors[0], /^error: sbatch .*sweep\.sbatch: .*Unable to contact slurm controller/);
  assert.doesNotMatch(result.stderr, STACK_FRAME);
});
