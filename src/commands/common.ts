/** What every command shares: the global flags and the output channel built from them. */
import { InputError } from '../errors.js';
import { checkOutPath } from '../io/out-path.js';
import { Output } from '../io/output.js';
import type { HtmlTarget } from '../report/html/page.js';

export interface GlobalFlags {
  verbose: boolean;
  quiet: boolean;
  json: boolean;
  progress: boolean;
  color: boolean;
}

/** The stderr/stdout channel for a command, configured from the global flags. */
export function outputFor(flags: Partial<GlobalFlags>): Output {
  return new Output({
    verbose: flags.verbose ?? false,
    quiet: flags.quiet ?? false,
    progress: flags.progress ?? true,
    color: flags.color ?? true,
  });
}

/**
 * SIGINT/SIGTERM during a training command: the first aborts the returned signal (the training
 * loop finishes its step, writes a checkpoint and the command exits 130); a second exits at once,
 * leaving the last complete checkpoint (checkpoints are written atomically). `dispose` restores
 * the default handlers.
 */
export function interruptOnSignals(): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const onSignal = () => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/** A yargs option: continue from the checkpoint of an interrupted run. */
export const resumeOption = {
  type: 'boolean',
  default: false,
  describe: 'continue from the checkpoint an interrupted run left (same config and input model)',
} as const;

/**
 * `--html FILE` or `--html -`, checked before any work by the output-path policy every output
 * follows (src/io/out-path.ts), `inputs` being the files the command reads. '-' sends the page to
 * stdout, which then carries the page alone: refused with --json (one document on stdout).
 */
export async function htmlTarget(
  html: string | undefined,
  json: boolean,
  inputs: readonly string[],
  out: Output,
): Promise<HtmlTarget | undefined> {
  if (html === undefined) return undefined;
  if (html === '-') {
    if (json) throw new InputError('--html - and --json both want stdout; give --html a file name, or leave out --json');
    return (page: string) => out.data(page);
  }
  await checkOutPath(html, 'file', { flag: '--html', inputs, stdoutHint: '--html - writes the page to stdout' });
  return html;
}
