/** What every command shares: the global flags and the output channel built from them. */
import { Output } from '../io/output.js';

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
