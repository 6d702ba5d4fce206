/**
 * A stdout that closes early or fills, with real shell pipes, through the built binary: `| true`
 * and `| head -c 1` end quietly with the command's own exit code (no trace, no `error:` line);
 * `> /dev/full` gives one `error:` line about stdout and exit 1.
 *
 * Every command under all three pipelines is a case of the full fuzz corpus (pipes/<command>/<pipeline>
 * in test/fuzz/corpus-outputs.ts, run by `npm run test:e2e` and CI: exit code, no stack, no error
 * line or exactly one as the last line). This file keeps what the corpus does not run: the wasm
 * backend and worker-thread replicas (they once turned EPIPE into exit 7), plain `--version`, and
 * the exact wording of the /dev/full line.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SLIM_BIN, STACK_FRAME, stderrLines, type SlimResult } from '../helpers/cli.js';
import { writeTinyInputs, type TinyInputs } from '../helpers/tiny-inputs.js';
import { STDOUT_PIPELINES, type StdoutPipeline } from '../fuzz/corpus.js';

/** Runs slim under bash with its stdout sent down `pipeline` (the fuzz corpus's table); stderr captured, stdin closed. */
function runPiped(args: string[], pipeline: StdoutPipeline, cwd: string): Promise<SlimResult> {
  return new Promise((resolve, reject) => {
    const { FORCE_COLOR: _force, NODE_OPTIONS: _nodeOptions, ...inherited } = process.env;
    const child = spawn('bash', ['-c', STDOUT_PIPELINES[pipeline], 'bash', process.execPath, SLIM_BIN, ...args], {
      cwd,
      env: { ...inherited, NO_COLOR: '1' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const stderr: Buffer[] = [];
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', reject);
    child.on('close', (code, signal) =>
      resolve({ code: code ?? (signal ? 129 : 2), stdout: '', stderr: Buffer.concat(stderr).toString('utf8') }),
    );
  });
}

let dir: string;
let inputs: TinyInputs;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'slim-pipes-'));
  inputs = await writeTinyInputs(path.join(dir, 'in'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/**
 * The cases the fuzz corpus's pipes cases leave out: its eval runs on cpu, its train without
 * replicas, its version is `--version --json`. (Its `head -c 1` cases cover the long outputs.)
 */
function commands(): Array<[string, (out: string) => string[]]> {
  const { model, config } = inputs;
  return [
    ['--version', () => ['--version']],
    ['eval --json (wasm)', () => ['eval', '--model', model, '--config', config, '--backend', 'wasm', '--json']],
    [
      'train (wasm, 2 replicas)',
      (out) => ['train', '--model', model, '--config', config, '--out', out, '--overwrite', '--backend', 'wasm', '--replicas', '2'],
    ],
  ];
}

function assertQuiet(result: SlimResult, label: string): void {
  const why = `${label}: exit ${result.code}\n${result.stderr}`;
  assert.equal(result.code, 0, why);
  assert.doesNotMatch(result.stderr, STACK_FRAME, why);
  assert.ok(!stderrLines(result).some((line) => line.startsWith('error:')), why);
}

describe('a closed or full stdout, real pipes', () => {
  test('| true: exit 0, no trace, no error line', async () => {
    for (const [name, argsOf] of commands()) {
      const out = path.join(dir, 'out', name.replace(/\W+/g, '-'));
      assertQuiet(await runPiped(argsOf(out), 'true', dir), `${name} | true`);
    }
  });
  test('> /dev/full: one error line naming stdout, exit 1, no trace', async () => {
    for (const [name, argsOf] of commands()) {
      const out = path.join(dir, 'out', name.replace(/\W+/g, '-'));
      const result = await runPiped(argsOf(out), 'dev-full', dir);
      const why = `${name} > /dev/full: exit ${result.code}\n${result.stderr}`;
      assert.equal(result.code, 1, why);
      assert.doesNotMatch(result.stderr, STACK_FRAME, why);
      const errors = stderrLines(result).filter((line) => line.startsWith('error:'));
      assert.deepEqual(errors, ['error: stdout: no space left on the device (ENOSPC); the output did not arrive whole'], why);
      assert.equal(stderrLines(result).at(-1), errors[0], why);
    }
  });
});
