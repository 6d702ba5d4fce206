/**
 * Exit codes, documented in the README:
 *   0  ok
 *   1  ran, but found a problem (e.g. a run diverged, a check failed, nothing to slim)
 *   2  bad input (config, flags, model or data files, output paths)
 *   3  internal error: an exception slim did not expect, i.e. a bug in slim (never bad input)
 *   130 interrupted (SIGINT/SIGTERM) after saving a checkpoint
 */
export const EXIT_OK = 0;
export const EXIT_PROBLEM = 1;
export const EXIT_BAD_INPUT = 2;
export const EXIT_BUG = 3;
export const EXIT_INTERRUPTED = 130;

/** What kind of failure an exit code stands for (the library's callers branch on this, not on numbers). */
export type ExitKind = 'ok' | 'problem' | 'bad-input' | 'bug' | 'interrupted';

export function exitKindOf(exitCode: number): ExitKind {
  if (exitCode === EXIT_OK) return 'ok';
  if (exitCode === EXIT_PROBLEM) return 'problem';
  if (exitCode === EXIT_BAD_INPUT) return 'bad-input';
  if (exitCode === EXIT_INTERRUPTED) return 'interrupted';
  return 'bug';
}

/** An error slim expects and can explain in one line; the CLI prints `message` without a stack. */
export class SlimError extends Error {
  readonly exitCode: number;
  /** More than the one line (every problem of a config, say); the CLI prints it with --verbose. */
  readonly detail?: string;
  constructor(message: string, exitCode: number = EXIT_BAD_INPUT, options?: SlimErrorOptions) {
    super(message, options);
    this.name = 'SlimError';
    this.exitCode = exitCode;
    if (options?.detail !== undefined) this.detail = options.detail;
  }

  /** The exit code's kind: 'bad-input' (2), 'problem' (1), 'interrupted' (130). */
  get kind(): ExitKind {
    return exitKindOf(this.exitCode);
  }
}

export interface SlimErrorOptions {
  cause?: unknown;
  detail?: string;
}

/** Bad user input: config, flags, model files, data files. Exit 2. */
export class InputError extends SlimError {
  constructor(message: string, options?: SlimErrorOptions) {
    super(message, EXIT_BAD_INPUT, options);
    this.name = 'InputError';
  }
}

/** The job ran but hit a problem it must report, e.g. training diverged (NaN loss). Exit 1. */
export class ProblemError extends SlimError {
  constructor(message: string, options?: SlimErrorOptions) {
    super(message, EXIT_PROBLEM, options);
    this.name = 'ProblemError';
  }
}

/**
 * Training stopped on SIGINT/SIGTERM after writing a checkpoint. Exit 130, like a shell's
 * interrupted job; the CLI prints `interrupted: ...` with the command that resumes.
 */
export class InterruptedError extends SlimError {
  constructor(readonly checkpoint: string) {
    super(`checkpoint saved to ${checkpoint}`, EXIT_INTERRUPTED);
    this.name = 'InterruptedError';
  }
}
