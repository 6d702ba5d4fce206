/**
 * stdout/stderr discipline (clig.dev): stdout carries data only (a path, a table the user asked
 * for, or exactly one JSON document); everything for humans (logs, warnings, progress) goes to
 * stderr. Colour only on a TTY and never when NO_COLOR is set.
 */
import cliProgress from 'cli-progress';

/**
 * What became of stdout: a reader that went away (EPIPE: `slim … | head -c 1`) or a write the
 * system refused (ENOSPC on `> /dev/full`, EIO). Recorded once, by guardStdout's listener or by a
 * write that threw (stdout is a file: writes are synchronous); the CLI turns it into an exit code.
 */
export interface StdoutState {
  failure?: NodeJS.ErrnoException;
}

const guarded = new WeakMap<NodeJS.WritableStream, StdoutState>();

/**
 * Takes over the errors of a stream the CLI writes data to (stdout): none of them may reach Node's
 * default handler (a stack trace, and with the wasm backend loaded an exit code 7). The first
 * failure is kept; later writes are dropped. Called once by the CLI; in-process callers that never
 * call it keep Node's behaviour.
 */
export function guardStdout(stream: NodeJS.WritableStream = process.stdout): StdoutState {
  const known = guarded.get(stream);
  if (known !== undefined) return known;
  const state: StdoutState = {};
  guarded.set(stream, state);
  stream.on('error', (error: NodeJS.ErrnoException) => {
    state.failure ??= error;
  });
  return state;
}

/** Writes `text` to a data stream, unless it already failed; a guarded stream's failure is recorded, not thrown. */
function writeData(stream: NodeJS.WritableStream, text: string): void {
  const state = guarded.get(stream);
  if (state === undefined) {
    stream.write(text);
    return;
  }
  if (state.failure !== undefined) return;
  try {
    stream.write(text);
  } catch (error) {
    state.failure ??= error as NodeJS.ErrnoException;
  }
}

export interface OutputOptions {
  verbose?: boolean;
  quiet?: boolean;
  progress?: boolean;
  color?: boolean;
  stdout?: NodeJS.WritableStream & { isTTY?: boolean };
  stderr?: NodeJS.WritableStream & { isTTY?: boolean };
  env?: NodeJS.ProcessEnv;
}

export interface ProgressBar {
  update(value: number, payload?: Record<string, string | number>): void;
  stop(): void;
}

const NO_BAR: ProgressBar = { update() {}, stop() {} };

/** Colour is on only for a TTY, off with NO_COLOR (any value, per no-color.org) or TERM=dumb. */
export function colorEnabled(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0') return true;
  if (env.TERM === 'dumb') return false;
  return stream.isTTY === true;
}

export class Output {
  readonly verbose: boolean;
  private readonly quiet: boolean;
  private readonly showProgress: boolean;
  private readonly color: boolean;
  private readonly out: NodeJS.WritableStream;
  private readonly err: NodeJS.WritableStream & { isTTY?: boolean };

  constructor(options: OutputOptions = {}) {
    const env = options.env ?? process.env;
    this.out = options.stdout ?? process.stdout;
    this.err = options.stderr ?? process.stderr;
    this.verbose = options.verbose ?? false;
    this.quiet = options.quiet ?? false;
    this.color = (options.color ?? true) && colorEnabled(this.err, env);
    // Bars redraw in place, which only makes sense on a terminal; logs get epoch lines instead.
    // TERM=dumb: a terminal that cannot move the cursor, so no bars (they redraw with escapes).
    this.showProgress = (options.progress ?? true) && this.err.isTTY === true && !this.quiet && env.TERM !== 'dumb';
  }

  /** The command's product: one line of data on stdout. */
  data(line: string): void {
    writeData(this.out, line.endsWith('\n') ? line : `${line}\n`);
  }

  /** The command's product as exactly one JSON document on stdout. */
  json(value: unknown): void {
    writeData(this.out, `${JSON.stringify(value, null, 2)}\n`);
  }

  info(message: string): void {
    if (!this.quiet) this.err.write(`${message}\n`);
  }

  debug(message: string): void {
    if (this.verbose) this.err.write(`${this.paint('2', message)}\n`);
  }

  /** A warning: for people, so --quiet silences it like the logs (errors are never silenced). */
  warn(message: string): void {
    if (this.quiet) return;
    this.err.write(`${this.paint('33', 'warning:')} ${message}\n`);
  }

  error(message: string): void {
    this.err.write(`${this.paint('31', 'error:')} ${message}\n`);
  }

  /** A picture for a person at a terminal (e.g. a sparkline): stderr only when it is a TTY, never with --quiet. */
  terminal(line: string): void {
    if (this.err.isTTY === true && !this.quiet && line.trim() !== '') this.err.write(`${line}\n`);
  }

  /** Bold/highlighted text for headings in stderr logs. */
  strong(text: string): string {
    return this.paint('1', text);
  }

  private paint(code: string, text: string): string {
    return this.color ? `\u001b[${code}m${text}\u001b[0m` : text;
  }

  /** A progress bar on stderr, or a no-op when stderr is not a TTY or progress is off. */
  progressBar(label: string, total: number): ProgressBar {
    if (!this.showProgress) return NO_BAR;
    const bar = new cliProgress.SingleBar(
      {
        stream: this.err,
        format: `${label} [{bar}] {value}/{total} {info}`,
        hideCursor: true,
        clearOnComplete: true,
        barsize: 24,
        noTTYOutput: false,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { info: '' });
    return {
      update: (value, payload) => bar.update(value, payload ?? {}),
      stop: () => bar.stop(),
    };
  }
}
