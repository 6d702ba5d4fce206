/**
 * A refusal of the CLI checked in this process: the argv parsed and dispatched by the same
 * buildCli the binary runs (its options, middleware and command handlers), the thrown error
 * mapped by the same describeFailure main() uses to its `error:` line and exit code. For checks
 * of what a command refuses and in which words, when the binary's share (one line on stderr, the
 * exit code, no stack) is shown by other runs of it: no process start-up per case. Whatever the
 * command writes to stdout or stderr meanwhile is captured, so "refused before any work" still
 * shows (nothing printed). Not for argv that reads stdin ('-'): main() resolves that before parsing.
 * Text written to stdout/stderr is captured; Buffers pass through (the test runner's own reports).
 */
import assert from 'node:assert/strict';
import { buildCli, describeFailure } from '../../src/cli.js';

export interface InProcessRefusal {
  /** The error line without its `error: ` prefix (as main() prints it after that prefix). */
  line: string;
  exitCode: number;
  /** What the command printed before it failed. */
  stdout: string;
  stderr: string;
}

/** Runs `argv` in-process with stdout/stderr text captured; `error` is what it threw, if anything. */
async function runCaptured(argv: string[]): Promise<{ stdout: string; stderr: string; error?: unknown }> {
  if (argv.includes('-')) throw new Error(`slim ${argv.join(' ')}: a '-' value is main()'s to resolve; run it through the binary`);
  let stdout = '';
  let stderr = '';
  const writeOut = process.stdout.write;
  const writeErr = process.stderr.write;
  // slim writes text (src/io/output.ts); node's test runner sends its reports down this process's
  // stdout as serialized Buffers at any await, and those must reach it: only strings are captured.
  const capture =
    (original: typeof process.stdout.write, stream: NodeJS.WriteStream, append: (text: string) => void) =>
    (chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
      if (typeof chunk !== 'string') return (original as (...args: unknown[]) => boolean).call(stream, chunk, ...rest);
      append(chunk);
      const done = rest.find((arg) => typeof arg === 'function') as (() => void) | undefined;
      done?.();
      return true;
    };
  process.stdout.write = capture(writeOut, process.stdout, (text) => (stdout += text));
  process.stderr.write = capture(writeErr, process.stderr, (text) => (stderr += text));
  try {
    await buildCli(argv).parseAsync();
    return { stdout, stderr };
  } catch (error) {
    return { stdout, stderr, error };
  } finally {
    process.stdout.write = writeOut;
    process.stderr.write = writeErr;
  }
}

/** Runs `argv` in-process; resolves to how it failed, or rejects if it succeeded. */
export async function refusalInProcess(argv: string[]): Promise<InProcessRefusal> {
  const { stdout, stderr, error } = await runCaptured(argv);
  if (error === undefined) throw new Error(`slim ${argv.join(' ')} did not fail (stderr: ${stderr.slice(0, 500)})`);
  const failure = describeFailure(error);
  return { line: failure.line, exitCode: failure.exitCode, stdout, stderr };
}

/** Runs `argv` in-process; resolves to what it printed, or rejects with its error line if it failed. */
export async function outputInProcess(argv: string[]): Promise<{ stdout: string; stderr: string }> {
  const { stdout, stderr, error } = await runCaptured(argv);
  if (error !== undefined)
    throw new Error(`slim ${argv.join(' ')} failed: ${describeFailure(error).line} (stderr: ${stderr.slice(0, 500)})`);
  return { stdout, stderr };
}

/**
 * The refusal checks the binary's runs get, in-process: exit 2, nothing printed before the refusal
 * (refused before any work), its `error:` line matching `pattern`. Run in `cwd` (relative paths are
 * the user's); resolves to the refusal for further checks.
 */
export async function assertRefusedInProcess(argv: string[], pattern: RegExp, cwd = process.cwd()): Promise<InProcessRefusal> {
  const previous = process.cwd();
  process.chdir(cwd);
  try {
    const refusal = await refusalInProcess(argv);
    const why = `slim ${argv.join(' ')}: ${JSON.stringify(refusal)}`;
    assert.equal(refusal.exitCode, 2, why);
    assert.equal(refusal.stdout, '', why);
    assert.equal(refusal.stderr, '', why);
    assert.match(`error: ${refusal.line}`, pattern, why);
    return refusal;
  } finally {
    process.chdir(previous);
  }
}
