/**
 * yargs root. Registers the commands and maps every error to an exit code in ONE place:
 * SlimError → its own code (2 bad input, 1 problem found), yargs usage errors → 2,
 * anything unexpected → 2 as an internal error. Stacks only with --verbose.
 */
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs';
import type { Argv } from 'yargs';
import { EXIT_BAD_INPUT, EXIT_OK, InputError, SlimError } from './errors.js';
import { Output } from './io/output.js';
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
  const proto = Object.getPrototypeOf(cliui({})) as { renderInline(source: string, previous: CliuiLine): string; wrap?: boolean };
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
    .command(trainCommand)
    .command(pruneCommand)
    .command(finetuneCommand)
    .command(reportCommand)
    .command(runCommand)
    .command(schemaCommand)
    .command(evalCommand)
    .command(exportCommand)
    .command(doctorCommand)
    .group(['verbose', 'quiet', 'json', 'progress', 'color', 'help', 'version'], 'Global options:')
    .demandCommand(1, 'give a command: train, prune, finetune, report, eval, export, run, schema or doctor (slim --help lists them)')
    .strict()
    .recommendCommands()
    .version(VERSION)
    .help()
    .alias('h', 'help')
    .wrap(Math.min(110, process.stdout.columns ?? 100))
    .exitProcess(false)
    .fail((message, error) => {
      // Usage problems (unknown flag, missing option, conflicts) come with a message only.
      throw error ?? new InputError(`${message} (slim --help shows the usage)`);
    });
}

/** yargs reads a bare '-' as a positional; `--config -` (stdin) must reach the option as its value. */
function withStdinValues(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--config' && argv[i + 1] === '-') {
      out.push('--config=-');
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
  const out = new Output({ verbose, color: !argv.includes('--no-color') });
  try {
    await buildCli(withStdinValues(argv)).parseAsync();
    return EXIT_OK;
  } catch (err) {
    if (err instanceof SlimError) {
      out.error(err.message);
      if (verbose && err.stack) process.stderr.write(`${err.stack}\n`);
      return err.exitCode;
    }
    const e = err as Error;
    out.error(`internal error: ${e?.message ?? String(err)}${verbose ? '' : ' (run with --verbose for the stack)'}`);
    if (verbose && e?.stack) process.stderr.write(`${e.stack}\n`);
    return EXIT_BAD_INPUT;
  }
}
