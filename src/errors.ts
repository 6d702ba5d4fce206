/**
 * Exit codes, documented in the README:
 *   0  ok
 *   1  ran, but found a problem (e.g. a run diverged, a check failed)
 *   2  bad input (config, flags, model or data files) or an internal error
 *   130 interrupted (SIGINT/SIGTERM) after saving a checkpoint
 */
export const EXIT_OK = 0;
export const EXIT_PROBLEM = 1;
export const EXIT_BAD_INPUT = 2;
export const EXIT_INTERRUPTED = 130;

/** An error slim expects and can explain in one line; the CLI prints `message` without a stack. */
export class SlimError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number = EXIT_BAD_INPUT, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SlimError';
    this.exitCode = exitCode;
  }
}

/** Bad user input: config, flags, model files, data files. Exit 2. */
export class InputError extends SlimError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, EXIT_BAD_INPUT, options);
    this.name = 'InputError';
  }
}

/** The job ran but hit a problem it must report, e.g. training diverged (NaN loss). Exit 1. */
export class ProblemError extends SlimError {
  constructor(message: string, options?: { cause?: unknown }) {
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
