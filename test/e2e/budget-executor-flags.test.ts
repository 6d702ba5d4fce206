/**
 * Bad input to the budget's executor flags (`slim run --executor`, `slim sweep --max-drop`,
 * `--latency` with a plan): one `error:` line each, exit 2, no stack, nothing on stdout, refused
 * before any data or training. One case of each command goes through the built binary (the one
 * line, exit 2, no stack, nothing before it); the others are parsed and dispatched in-process by
 * the same buildCli, their error mapped by the same describeFailure (test/helpers/cli-in-process.ts),
 * with nothing printed before the refusal.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { describeRun, REPO_ROOT, runSlim, stderrLines, STACK_FRAME } from '../helpers/cli.js';
import { assertRefusedInProcess } from '../helpers/cli-in-process.js';

const CONFIG = path.join(REPO_ROOT, 'test', 'fixtures', 'cli', 'tiny.json');
let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'slim-budget-flags-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Through the built binary. */
async function oneError(args: string[], message: RegExp, env?: Record<string, string>): Promise<void> {
  const result = await runSlim(args, env ? { env } : {});
  assert.equal(result.code, 2, describeRun(result));
  assert.equal(result.stdout, '', describeRun(result));
  const lines = stderrLines(result);
  assert.equal(lines.length, 1, describeRun(result));
  assert.match(lines[0], message);
  assert.doesNotMatch(result.stderr, STACK_FRAME);
}

test('run --executor: only with a budget and --plan; --plan and friends only with --executor; no Slurm is refused before training', async () => {
  const out = path.join(dir, 'out');
  await assertRefusedInProcess(
    ['run', '--config', CONFIG, '--out', out, '--executor', 'slurm', '--plan', path.join(dir, 'p')],
    /^error: --executor slurm: only an accuracy budget's candidates run on an executor \(give --max-drop or prune\.maxAccuracyDrop\)$/,
  );
  await assertRefusedInProcess(
    ['run', '--config', CONFIG, '--out', out, '--max-drop', '1', '--executor', 'local'],
    /^error: --executor local: needs --plan DIR \(a folder every node sees\)$/,
  );
  await assertRefusedInProcess(
    ['run', '--config', CONFIG, '--out', out, '--max-drop', '1', '--plan', path.join(dir, 'p')],
    /^error: --plan: needs --executor local\|slurm$/,
  );
  await assertRefusedInProcess(
    [
      'run',
      '--config',
      CONFIG,
      '--out',
      out,
      '--max-drop',
      '1',
      '--executor',
      'slurm',
      '--plan',
      path.join(dir, 'p'),
      '--max-parallel',
      '0',
    ],
    /^error: --max-parallel 0: expected a whole number >= 1$/,
  );
  await oneError(
    ['run', '--config', CONFIG, '--out', out, '--max-drop', '1', '--executor', 'slurm', '--plan', path.join(dir, 'p')],
    /^error: --executor slurm: sbatch not found on PATH/,
    { PATH: path.join(dir, 'empty-bin') },
  );
});

test('sweep --max-drop: with --plan, not with --ratios or --finetune-epochs; --latency with a plan only where it is gathered', async () => {
  const model = path.join(dir, 'no-model');
  await oneError(['sweep', '--config', CONFIG, '--model', model, '--max-drop', '1'], /^error: --max-drop: needs --plan DIR$/);
  await assertRefusedInProcess(
    ['sweep', '--config', CONFIG, '--model', model, '--max-drop', '1', '--ratios', '0.2', '--plan', path.join(dir, 'p')],
    /max-drop.*ratios|ratios.*max-drop/,
  );
  await assertRefusedInProcess(
    ['sweep', '--config', CONFIG, '--model', model, '--max-drop', '1', '--finetune-epochs', '2', '--plan', path.join(dir, 'p')],
    /max-drop.*finetune-epochs|finetune-epochs.*max-drop/,
  );
  await assertRefusedInProcess(
    ['sweep', '--plan', path.join(dir, 'p'), '--max-drop', '1', '--executor', 'local'],
    /^error: --max-drop: with --model and --config, when writing the plan \(a plan keeps its budget\)$/,
  );
  await assertRefusedInProcess(
    ['sweep', '--config', CONFIG, '--model', model, '--plan', path.join(dir, 'p'), '--latency', 'node:wasm'],
    /^error: --latency: measured where a plan is gathered \(--gather DIR, or --plan DIR --executor \.\.\.\), not in a shard or when only writing a plan$/,
  );
});
