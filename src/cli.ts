/**
 * yargs root. Registers the commands and maps every error to an exit code in ONE place:
 * SlimError → its own code (2 bad input, 1 problem found), yargs usage errors → 2, system errors
 * naming a path (EACCES, ENOENT…) → one line in words, exit 2; anything else is unexpected: a
 * bug, reported as such with exit 3. Always one `error:` line; stacks and details only with --verbose.
 */
import { versioned } from './config/outputs.js';
import { createRequire } from 'node:module';
import * as tf from '#tfjs';
import type { Argv, MiddlewareFunction } from 'yargs';
import { EXIT_BUG, EXIT_OK, EXIT_PROBLEM, InputError, InterruptedError, ProblemError, SlimError } from './errors.js';
import { guardStdout, Output, type StdoutState } from './io/output.js';
import { lockOutputsUntilExit } from './io/out-path.js';
import type { GlobalFlags } from './commands/common.js';
import { trainCommand } from './commands/train.js';
import { pruneCommand } from './commands/prune.js';
import { finetuneCommand } from './commands/finetune.js';
import { reportCommand } from './commands/report.js';
import { runCommand } from './commands/run.js';
import { schemaCommand } from './commands/schema.js';
import { evalCommand } from './commands/eval.js';
import { exportCommand } from './commands/export.js';
import { doctorCommand } from './commands/doctor.js';
import { sweepCommand } from './commands/sweep.js';
import { benchCommand } from './commands/bench.js';
import { VERSION } from './version.js';

/**
 * yargs's CommonJS build, on purpose: its ESM build lays out help with cliui's ESM stand-in for
 * wrap-ansi, which cuts every line at exactly the column width, mid-word ("f" / "ine-tune").
 * The CommonJS build wraps with wrap-ansi, at word boundaries. Same parser, same API otherwise.
 */
const requireHere = createRequire(import.meta.url);
const yargs = requireHere('yargs') as typeof import('yargs').default;
keepInlineColumnsApart(createRequire(requireHere.resolve('yargs'))('cliui') as (options: object) => object);

interface CliuiLine {
  text: string;
  span?: boolean;
}

/**
 * cliui puts an option's type column ("[string] [required]") on the description's last line when
 * the description ends before the column starts, but it also does so when it ends exactly there,
 * gluing the two ("test split[string]"). Ending exactly there now counts as not fitting: the type
 * column goes on its own line, as for longer descriptions. Patched on the cliui copy yargs loads.
 */
function keepInlineColumnsApart(cliui: (options: object) => object): void {
  const proto = Object.getPrototypeOf(cliui({})) as {
    renderInline: (this: { wrap?: boolean }, source: string, previous: CliuiLine) => string;
    wrap?: boolean;
  };
  const renderInline = proto.renderInline;
  proto.renderInline = function (this: { wrap?: boolean }, source: string, previous: CliuiLine): string {
    const indent = source.length - source.trimStart().length;
    if (previous.span && this.wrap && indent === previous.text.trimEnd().length) return source;
    return renderInline.call(this, source, previous);
  };
}

export function buildCli(argv: string[]): Argv<GlobalFlags> {
  return yargs(argv)
    .scriptName('slim')
    .usage('$0 <command> [options]\n\nNetwork Slimming for TensorFlow.js layers models.')
    .option('verbose', { type: 'boolean', default: false, describe: 'more logs; stack traces on errors' })
    .option('quiet', { type: 'boolean', default: false, describe: 'no logs on stderr (errors still shown)' })
    .option('json', { type: 'boolean', default: false, describe: 'stdout is exactly one JSON document' })
    .option('progress', {
      type: 'boolean',
      default: true,
      describe: 'progress bars on stderr (only on a TTY); --no-progress turns them off',
    })
    .option('color', { type: 'boolean', default: true, describe: 'colour on stderr (only on a TTY; NO_COLOR also turns it off)' })
    .middleware(refuseRepeatedFlags as unknown as MiddlewareFunction)
    .command(trainCommand)
    .command(pruneCommand)
    .command(finetuneCommand)
    .command(reportCommand)
    .command(runCommand)
    .command(schemaCommand)
    .command(evalCommand)
    .command(exportCommand)
    .command(sweepCommand)
    .command(benchCommand)
    .command(doctorCommand)
    .group(['verbose', 'quiet', 'json', 'progress', 'color', 'help', 'version'], 'Global options:')
    .demandCommand(
      1,
      'give a command: train, prune, finetune, report, eval, export, run, sweep, bench, schema or doctor (slim --help lists them)',
    )
    .strict()
    .recommendCommands()
    .version(VERSION)
    .help()
    .alias('h', 'help')
    .wrap(Math.min(110, process.stdout.columns ?? 100))
    .exitProcess(false)
    .fail((message, error) => {
      // Usage problems (unknown flag, missing option, bad choice) come with a message only; yargs
      // spreads some over lines ("Invalid values:\n  Argument: …"): one line, one hint.
      if (error) throw error;
      const line = oneLine(message);
      throw new InputError(line.includes('slim --help') ? line : `${line} (slim --help shows the usage)`);
    });
}

/** What the middleware below reads of the yargs instance: the options the command declared. */
interface DeclaredOptions {
  getOptions(): { key: Record<string, unknown>; array: string[] };
}

/**
 * yargs turns a flag given twice into a list (`--model a --model b` → ['a', 'b']), which every
 * single-valued option would then receive. Refused here, once for every option of every command
 * (and every spelling: `--batch-size 1 --batchSize 2` too); options declared as lists may repeat.
 * yargs passes its instance as a middleware's second argument (@types/yargs leaves it out: the cast).
 */
function refuseRepeatedFlags(argv: Record<string, unknown>, cli: DeclaredOptions): void {
  const { key, array } = cli.getOptions();
  const lists = new Set(array);
  for (const name of Object.keys(key)) {
    if (!lists.has(name) && Array.isArray(argv[name])) {
      throw new InputError(`--${name} given twice; give it once (slim --help shows the usage)`);
    }
  }
}

/** Newlines and the indentation after them become single spaces. */
function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

/**
 * yargs reads a bare '-' as a positional; `--config -` (stdin) and `--html -` (stdout) must reach
 * the option as its value.
 * An empty value (`--ratio ""`, `--model=`) is refused here: yargs would read it as 0 or as the
 * current folder, and no slim flag means anything by an empty string.
 */
function withStdinValues(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const flag = /^--([a-z][a-z0-9-]*)(=?)$/.exec(arg);
    if (flag !== null && (flag[2] === '=' || argv[i + 1] === '')) {
      throw new InputError(`--${flag[1]}: the value is empty; give a value (slim --help shows the usage)`);
    }
    if ((arg === '--config' || arg === '--html') && argv[i + 1] === '-') {
      out.push(`${arg}=-`);
      i++;
    } else out.push(argv[i]);
  }
  return out;
}

/** Runs the CLI; resolves to the exit code (bin/slim.js sets process.exitCode). */
export async function main(argv: string[]): Promise<number> {
  // PROD silences tfjs's console.log banners, which would otherwise land on stdout among the data.
  tf.env().set('PROD', true);
  const verbose = argv.includes('--verbose');
  const out = new Output({ verbose, color: colorFlag(argv) });
  const stdout = guardStdout(process.stdout);
  // stderr is for people; if it is gone there is no one to tell, and nothing to stop for.
  process.stderr.on('error', () => {});
  catchStrayErrors(out, verbose);
  // Two slims on one output: the second is refused at the start (README: Output folders).
  lockOutputsUntilExit();
  let code: number;
  try {
    if (wantsJsonVersion(argv)) out.json(versioned('version', { version: VERSION }));
    else await buildCli(withStdinValues(argv)).parseAsync();
    code = EXIT_OK;
  } catch (err) {
    if (err instanceof InterruptedError) {
      process.stderr.write(`interrupted: ${err.message}; resume with: ${resumeCommand(argv)}\n`);
      return err.exitCode;
    }
    const failure = describeFailure(err, verbose);
    out.error(failure.line);
    for (const extra of failure.verboseLines) process.stderr.write(`${extra}\n`);
    code = failure.exitCode;
  }
  await flushed(process.stdout);
  return stdoutOutcome(stdout, code, out);
}

/** `slim --version --json`: the version as the one JSON document --json promises (yargs prints it bare). */
function wantsJsonVersion(argv: string[]): boolean {
  const flags = argv.includes('--') ? argv.slice(0, argv.indexOf('--')) : argv;
  return flags.includes('--version') && flags.includes('--json') && !flags.includes('--help') && !flags.includes('-h');
}

/**
 * The exit code once stdout's fate is known. A reader that stopped early (EPIPE: `| head -c 1`,
 * `| true`, `| grep -q`) is normal in a pipeline: no line, the command's own code (like `yes | head`
 * ends quietly for the shell). A write the system refused (ENOSPC on `> /dev/full`, EIO) means the
 * data did not arrive: one `error:` line and exit 1, unless the command already failed on its own.
 */
export function stdoutOutcome(state: StdoutState, code: number, out: Output): number {
  const failure = state.failure;
  if (failure === undefined || failure.code === 'EPIPE' || code !== EXIT_OK) return code;
  const words = SYSTEM_ERROR_WORDS[failure.code ?? ''] ?? oneLine(failure.message);
  out.error(`stdout: ${words}${failure.code ? ` (${failure.code})` : ''}; the output did not arrive whole`);
  return EXIT_PROBLEM;
}

/** Resolves once what was written to `stream` has been handed to the system (or has failed). */
function flushed(stream: NodeJS.WritableStream & { destroyed?: boolean }): Promise<void> {
  if (stream.destroyed === true) return Promise.resolve();
  // The callback of an empty write runs after every earlier write's; its error, if any, is the
  // stream's 'error' (recorded by guardStdout). setImmediate lets that event fire first.
  return new Promise((resolve) => {
    try {
      stream.write('', () => setImmediate(resolve));
    } catch {
      resolve();
    }
  });
}

/**
 * Errors no command caught (an 'error' event without a listener, a rejected promise nobody awaited,
 * a worker thread's failure): one `error:` line and exit 3, never Node's trace or an exit code
 * outside the README's table. Registered before any backend loads, so this runs before the
 * handlers Emscripten's wasm runtime adds (which rethrow, ending the process with exit 7).
 */
function catchStrayErrors(out: Output, verbose: boolean): void {
  const onStray = (err: unknown) => {
    const failure = describeFailure(err, verbose);
    out.error(failure.line);
    for (const extra of failure.verboseLines) process.stderr.write(`${extra}\n`);
    process.exit(failure.exitCode);
  };
  process.on('uncaughtException', onStray);
  process.on('unhandledRejection', onStray);
}

/**
 * Whether the error line may be coloured, read before yargs parses (a usage error has no parsed
 * flags): the last of `--no-color`, `--color`, `--color=BOOL`, `--color BOOL` wins, as in yargs.
 */
export function colorFlag(argv: string[]): boolean {
  let color = true;
  for (let i = 0; i < argv.length && argv[i] !== '--'; i++) {
    const arg = argv[i];
    if (arg === '--no-color') color = false;
    else if (arg.startsWith('--color=')) color = arg.slice('--color='.length) !== 'false';
    else if (arg === '--color') {
      const next = argv[i + 1];
      color = next !== 'false';
      if (next === 'false' || next === 'true') i++;
    }
  }
  return color;
}

/** How the CLI reports an error: its one `error:` line, its exit code, and what --verbose adds. */
export interface Failure {
  line: string;
  exitCode: number;
  verboseLines: string[];
}

/** Maps any thrown value to one line and an exit code (see src/errors.ts). */
export function describeFailure(err: unknown, verbose = false): Failure {
  const known = err instanceof SlimError ? err : systemError(err);
  if (known !== undefined) {
    const extra = verbose ? [known.detail, known.stack].filter((x): x is string => x !== undefined) : [];
    return { line: oneLine(known.message), exitCode: known.exitCode, verboseLines: extra };
  }
  const e = err as Error | undefined;
  return {
    line: `internal error (a bug in slim, please report it): ${oneLine(e?.message ?? String(err))}${verbose ? '' : ' (--verbose shows the stack)'}`,
    exitCode: EXIT_BUG,
    verboseLines: verbose && e?.stack ? [e.stack] : [],
  };
}

/** What a filesystem error code means, in words. */
const SYSTEM_ERROR_WORDS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOENT: 'no such file or folder',
  EEXIST: 'already exists',
  ENOTDIR: 'a part of the path is not a folder',
  EISDIR: 'is a folder, not a file',
  ENOTEMPTY: 'folder is not empty',
  EROFS: 'read-only file system',
  ELOOP: 'too many levels of symbolic links',
  ENAMETOOLONG: 'name too long',
  EXDEV: 'crosses file systems',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EIO: 'input/output error',
  EMFILE: 'too many open files',
};

/**
 * A Node system error about a path (from fs) as one line naming the path: bad input (exit 2),
 * except a full or failing disk, which is a problem the run met (exit 1). Others: undefined.
 */
function systemError(err: unknown): SlimError | undefined {
  const e = err as (NodeJS.ErrnoException & { dest?: string }) | undefined;
  if (e === undefined || e === null || typeof e.code !== 'string') return undefined;
  const words = SYSTEM_ERROR_WORDS[e.code];
  const disk = ['ENOSPC', 'EDQUOT', 'EIO'].includes(e.code);
  const where = e.code === 'EEXIST' && e.dest !== undefined ? e.dest : e.path;
  if (words === undefined || (where === undefined && !disk)) return undefined;
  const message = `${where ?? 'writing the output'}: ${words} (${e.code}${e.syscall ? ` on ${e.syscall}` : ''})`;
  return disk ? new ProblemError(message, { cause: err }) : new InputError(message, { cause: err });
}

/** The command line that continues an interrupted run: the same arguments plus --resume, shell-quoted. */
function resumeCommand(argv: string[]): string {
  const quote = (arg: string) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, "'\\''")}'`);
  const args = argv.includes('--resume') ? argv : [...argv, '--resume'];
  return ['slim', ...args.map(quote)].join(' ');
}
