/**
 * Runs the built `slim` binary the way a user's shell would: a child process of this Node,
 * cwd = repo root, stdin closed (or fed `input`), stdout/stderr captured separately so tests can
 * check that stdout holds only the data and stderr only the human text.
 */
import { spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repo root: this file is compiled to dist/test/helpers/cli.js. */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const SLIM_BIN = path.join(REPO_ROOT, 'bin', 'slim.js');

export interface SlimResult {
  /** Exit code (a signal death is reported as 128 + 1 so it never reads as success). */
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunSlimOptions {
  /** Text fed to stdin; without it stdin is closed at once (no TTY, no waiting). */
  input?: string;
  /** Extra environment; NO_COLOR=1 is set unless overridden here. */
  env?: Record<string, string>;
  /** Working directory (default: repo root). */
  cwd?: string;
  /** The launcher to run (default: the repository's bin/slim.js), e.g. one installed from the tarball. */
  bin?: string;
}

export function runSlim(args: string[], opts: RunSlimOptions = {}): Promise<SlimResult> {
  return new Promise((resolve, reject) => {
    // Drop variables that would switch colour on or change tfjs behaviour behind the test's back.
    const { FORCE_COLOR: _force, NODE_OPTIONS: _nodeOptions, ...inherited } = process.env;
    const child = spawn(process.execPath, [opts.bin ?? SLIM_BIN, ...args], {
      cwd: opts.cwd ?? REPO_ROOT,
      env: { ...inherited, NO_COLOR: '1', ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      resolve({
        code: code ?? (signal ? 129 : 2),
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
      });
    });
    // A closed stdin (EPIPE if the child exits before reading) must not fail the test.
    child.stdin.on('error', () => {});
    if (opts.input !== undefined) child.stdin.end(opts.input);
    else child.stdin.end();
  });
}

/** Lines of stderr that are not empty. */
export function stderrLines(result: SlimResult): string[] {
  return result.stderr.split('\n').filter((line) => line.trim() !== '');
}

/** A Node/V8 stack frame line ("    at fn (file:...)"). */
export const STACK_FRAME = /^\s+at .+[:(]/m;

/** A compact description of a run for assertion messages. */
export function describeRun(result: SlimResult): string {
  return `exit ${result.code}\n--- stdout ---\n${result.stdout.slice(0, 2000)}\n--- stderr ---\n${result.stderr.slice(0, 4000)}`;
}

/** True if the path exists (file or folder). */
export async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}
