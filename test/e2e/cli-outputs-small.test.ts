/**
 * Concurrent writers of one output, epoch numbering in --json, and the small CLI promises of the
 * pipeline user's report: configs named by the user's file, --epochs 0 named as the flag, a folder
 * given as --config, the error line's colour under --color false. (--version --json being one JSON
 * document of exactly schemaVersion and version, and train --json counting epochs from 1, are
 * checked on the runs of test/e2e/output-schemas.test.ts.)
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { describeRun, runSlim, STACK_FRAME, stderrLines, type SlimResult } from '../helpers/cli.js';
import { loadWithStockTfjs } from '../helpers/stock-load.js';
import { lockPath } from '../../src/io/out-path.js';
import { existsSync } from 'node:fs';
import { realpath } from 'node:fs/promises';
import { writeTinyInputs, type TinyInputs } from '../helpers/tiny-inputs.js';
import { refusalInProcess } from '../helpers/cli-in-process.js';

let dir: string;
let inputs: TinyInputs;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'slim-small-'));
  inputs = await writeTinyInputs(path.join(dir, 'in'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/**
 * The same checks on an argv parsed in-process by the binary's buildCli, its error mapped by
 * main()'s describeFailure (test/helpers/cli-in-process.ts): where one run of the same kind in this
 * test goes through the binary. Nothing printed before the refusal stands for "one line".
 */
async function oneErrorLineInProcess(args: string[], code: number, pattern: RegExp): Promise<void> {
  const refusal = await refusalInProcess(args);
  const why = `slim ${args.join(' ')}: ${JSON.stringify(refusal)}`;
  assert.equal(refusal.exitCode, code, why);
  assert.equal(refusal.stdout, '', why);
  assert.equal(refusal.stderr, '', why);
  assert.match(`error: ${refusal.line}`, pattern, why);
}

function oneErrorLine(result: SlimResult, code: number, pattern: RegExp): void {
  assert.equal(result.code, code, describeRun(result));
  assert.doesNotMatch(result.stderr, STACK_FRAME, describeRun(result));
  const lines = stderrLines(result);
  assert.deepEqual(
    lines.filter((l) => l.startsWith('error:')),
    [lines.at(-1)],
    describeRun(result),
  );
  assert.match(lines.at(-1)!, pattern, describeRun(result));
}

describe('three slims writing one --out, started together', () => {
  test('prune: one whole model; every other process exits 0 (it came after) or 1 naming --out', async () => {
    const out = path.join(dir, 'same');
    for (let round = 0; round < 6; round++) {
      const results = await Promise.all(
        [0, 1, 2].map(() => runSlim(['prune', '--model', inputs.model, '--ratio', '0.5', '--out', out, '--overwrite'])),
      );
      assert.ok(
        results.some((r) => r.code === 0),
        results.map(describeRun).join('\n'),
      );
      for (const result of results.filter((r) => r.code !== 0)) {
        oneErrorLine(
          result,
          1,
          new RegExp(`^error: --out ${out.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: another slim \\(pid \\d+\\) is writing it`),
        );
        assert.equal(stderrLines(result).length, 1, describeRun(result));
      }
      assert.deepEqual((await readdir(out)).sort(), ['model.json', 'prune-plan.json', 'weights.bin']);
      (await loadWithStockTfjs(path.join(out, 'model.json'))).dispose();
      assert.deepEqual(
        (await readdir(dir)).filter((name) => name.includes('.slim-')),
        [],
      );
    }
  });
  test('export --format keras: the same rule for a file output', async () => {
    const out = path.join(dir, 'same.keras');
    const results = await Promise.all(
      [0, 1, 2].map(() =>
        runSlim(['export', '--model', inputs.model, '--format', 'keras', '--out', out, '--overwrite', '--backend', 'cpu']),
      ),
    );
    assert.ok(results.some((r) => r.code === 0));
    for (const result of results.filter((r) => r.code !== 0))
      oneErrorLine(result, 1, /--out .*same\.keras: another slim \(pid \d+\) is writing it/);
    assert.deepEqual(
      (await readdir(dir)).filter((name) => name.startsWith('same.keras') || name.includes('.slim-')),
      ['same.keras'],
    );
  });
  test('a lock left by a killed slim is taken over', async () => {
    const out = path.join(dir, 'after-kill');
    const child = spawn(
      process.execPath,
      [path.resolve('bin/slim.js'), 'train', '--config', inputs.config, '--model', inputs.model, '--out', out, '--epochs', '50'],
      {
        stdio: 'ignore',
      },
    );
    // Killed once it holds the lock (taken when --out is checked, before the data is read).
    const lock = lockPath(path.join(await realpath(dir), 'after-kill'));
    while (!existsSync(lock) && child.exitCode === null) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.ok(existsSync(lock), 'the training run never took the lock');
    child.kill('SIGKILL');
    await new Promise((resolve) => child.on('close', resolve));
    const result = await runSlim(['prune', '--model', inputs.model, '--ratio', '0.5', '--out', out, '--overwrite']);
    assert.equal(result.code, 0, describeRun(result));
  });
});

describe('epochs count from 1 everywhere', () => {
  // train --json --epochs 2 gets the same checks in test/e2e/output-schemas.test.ts, on its train run.
  test('train --json and finetune --json', async () => {
    for (const command of ['finetune']) {
      const result = await runSlim([
        command,
        '--model',
        inputs.model,
        '--config',
        inputs.config,
        '--out',
        path.join(dir, command),
        '--epochs',
        '2',
        '--json',
      ]);
      assert.equal(result.code, 0, describeRun(result));
      const epochs = (JSON.parse(result.stdout) as { epochs: Array<{ epoch: number }> }).epochs.map((e) => e.epoch);
      assert.deepEqual(epochs, [1, 2]);
      assert.match(result.stderr, /epoch 1\/2/);
    }
  });
  test('the divergence error names epoch 1, step 1', async () => {
    const result = await runSlim([
      'train',
      '--model',
      inputs.model,
      '--config',
      inputs.config,
      '--out',
      path.join(dir, 'diverged'),
      '--lr',
      '1e30',
    ]);
    oneErrorLine(result, 1, /^error: training diverged (at|in) epoch 1\b/);
  });
});

describe('small CLI promises', () => {
  test('an empty config names the file (or stdin), before the backend starts', async () => {
    const empty = path.join(dir, 'empty.json');
    await writeFile(empty, '\n');
    // In-process: nothing printed before it (the one line); stdin below goes through the binary.
    await oneErrorLineInProcess(['eval', '--model', inputs.model, '--config', empty], 2, /^error: .*empty\.json: the config is empty/);
    const fromStdin = await runSlim(['train', '--config', '-', '--out', path.join(dir, 'never')], { input: '' });
    oneErrorLine(fromStdin, 2, /^error: stdin: the config is empty/);
    const noData = path.join(dir, 'no-data.json');
    await writeFile(noData, '{}');
    await oneErrorLineInProcess(['eval', '--model', inputs.model, '--config', noData], 2, /^error: .*no-data\.json: data: required/);
  });
  test('--epochs 0 is named as the flag', async () => {
    await oneErrorLineInProcess(
      ['train', '--config', inputs.config, '--model', inputs.model, '--epochs', '0', '--out', path.join(dir, 'never')],
      2,
      /^error: --epochs 0: must be at least 1/,
    );
  });
  test('--config a-folder/ says it is a folder', async () => {
    const folder = path.join(dir, 'conf-folder');
    await mkdir(folder, { recursive: true });
    await oneErrorLineInProcess(
      ['eval', '--model', inputs.model, '--config', `${folder}/`],
      2,
      /conf-folder\/: is a folder, not a JSON file$/,
    );
  });
  test('--color false and --color=false leave the error line uncoloured (FORCE_COLOR set)', async () => {
    // Every spelling (--color=false, --no-color too) is read by colorFlag, checked in-process in
    // test/output-policy.test.ts; through the binary, the two-word spelling (it reads the next argument).
    for (const flags of [['--color', 'false']]) {
      const result = await runSlim(['report', '--model', path.join(dir, 'nowhere'), ...flags], { env: { FORCE_COLOR: '1', NO_COLOR: '' } });
      assert.equal(result.code, 2, describeRun(result));
      assert.ok(!result.stderr.includes('\u001b['), `${flags.join(' ')}: ${JSON.stringify(result.stderr)}`);
    }
    const coloured = await runSlim(['report', '--model', path.join(dir, 'nowhere')], { env: { FORCE_COLOR: '1', NO_COLOR: '' } });
    assert.ok(coloured.stderr.includes('\u001b[31merror:'), JSON.stringify(coloured.stderr));
  });
});
