import type { CommandModule } from 'yargs';
import { versioned } from '../config/outputs.js';
import { isRuntimeName, RUNTIMES, type RuntimeName } from '../bench/runtime.js';
import { renderBenchTable } from '../bench/table.js';
import { benchSchema } from '../config/schema.js';
import { InputError } from '../errors.js';
import { outputFor, type GlobalFlags } from './common.js';
import { modelOption, seedOption } from './options.js';

interface BenchFlags extends GlobalFlags {
  model: string;
  baseline?: string;
  runtime?: string[];
  batch?: string[];
  runs?: number;
  warmup?: number;
  seed?: number;
  inputShape?: string;
  browser?: string;
  pageCpuTime?: boolean;
  timeout: number;
  serve: boolean;
  host: string;
  port: number;
}

/** A comma list (or a repeated flag) of positive integers. */
function positiveInts(flag: string, values: string[]): number[] {
  const items = values.flatMap((v) => v.split(',')).map((v) => v.trim());
  return items.map((item) => {
    const n = Number(item);
    if (item === '' || !Number.isInteger(n) || n <= 0)
      throw new InputError(`--${flag} ${values.join(',')}: '${item}' is not a positive integer`);
    return n;
  });
}

export function runtimesOf(values: string[]): RuntimeName[] {
  const names = values.flatMap((v) => v.split(',')).map((v) => v.trim());
  for (const name of names) {
    if (!isRuntimeName(name)) throw new InputError(`--runtime ${name}: unknown runtime; choose from ${RUNTIMES.join(', ')}`);
  }
  return [...new Set(names as RuntimeName[])];
}

function countOption(flag: string, value: number | undefined, min: number): number | undefined {
  if (value !== undefined && !(Number.isInteger(value) && value >= min)) {
    throw new InputError(`--${flag} ${value}: must be an integer of at least ${min}`);
  }
  return value;
}

export const benchCommand: CommandModule<GlobalFlags, BenchFlags> = {
  command: 'bench',
  describe:
    'time predict of a model (against --baseline, interleaved) on Node backends and in an installed Chromium: realised speed-up next to the MACs one',
  builder: (y) =>
    y
      .option('model', modelOption('model.json (or its folder); or a slim run folder: its exported model against its input, exported'))
      .option('baseline', { type: 'string', describe: 'the model to compare against (e.g. the unpruned one, exported)' })
      .option('runtime', {
        type: 'string',
        array: true,
        describe: `comma list of ${RUNTIMES.join(', ')} (default: every one available here; the others are skipped with the reason)`,
      })
      .option('batch', { type: 'string', array: true, describe: 'comma list of batch sizes (default 1,32)' })
      .option('runs', { type: 'number', describe: 'timed predicts per model, runtime and batch (default 20)' })
      .option('warmup', { type: 'number', describe: 'untimed predicts per model before the timed ones (default 3)' })
      .option('seed', seedOption('seed of the random input batch (default 42)'))
      .option('input-shape', {
        type: 'string',
        describe: 'input shape without the batch, e.g. 224,224,3, for a model whose input has free dimensions',
      })
      .option('browser', { type: 'string', describe: 'Chromium or Chrome executable for chromium:* (default: found on PATH)' })
      .option('page-cpu-time', {
        type: 'boolean',
        default: false,
        describe:
          "chromium:*: also read the page thread's CPU time around each predict (for a loaded host; each reading slows a sub-millisecond predict)",
      })
      .option('timeout', {
        type: 'number',
        default: 300,
        describe: 'seconds a browser step (or --serve) may take before it counts as hung',
      })
      .option('serve', {
        type: 'boolean',
        default: false,
        describe: 'serve the bench page to any browser (e.g. a phone) and print its rows',
      })
      .option('host', { type: 'string', default: '127.0.0.1', describe: '--serve: address to listen on (0.0.0.0 for other devices)' })
      .option('port', { type: 'number', default: 0, describe: '--serve: port (default: a free one)' }),
  handler: async (argv) => {
    const out = outputFor(argv);
    const defaults = benchSchema.parse({});
    const runtimes = argv.runtime !== undefined ? runtimesOf(argv.runtime) : undefined;
    if (argv.serve && runtimes !== undefined)
      throw new InputError('--runtime and --serve: give one (--serve measures in whatever browser opens the page)');
    const batches = argv.batch !== undefined ? positiveInts('batch', argv.batch) : defaults.batches;
    const inputShape = argv.inputShape !== undefined ? positiveInts('input-shape', [argv.inputShape]) : undefined;
    const runs = countOption('runs', argv.runs, 1) ?? defaults.runs;
    const warmup = countOption('warmup', argv.warmup, 0) ?? defaults.warmup;
    if (!(argv.timeout > 0)) throw new InputError(`--timeout ${argv.timeout}: must be a positive number of seconds`);
    if (!(Number.isInteger(argv.port) && argv.port >= 0 && argv.port <= 65535))
      throw new InputError(`--port ${argv.port}: must be 0..65535`);
    const [{ readModel }, { benchModelsOf }, { benchStage }] = await Promise.all([
      import('../model/io.js'),
      import('../pipeline/bench.js'),
      import('../pipeline/stages/bench.js'),
    ]);
    const models = await benchModelsOf(argv.model, argv.baseline, readModel);
    const report = await benchStage(
      models.model,
      models.baseline,
      {
        runtimes: runtimes ?? RUNTIMES,
        explicit: runtimes !== undefined,
        batches,
        runs,
        warmup,
        seed: argv.seed ?? 42,
        inputShape,
        browser: argv.browser,
        pageCpuTime: argv.pageCpuTime,
        timeoutMs: argv.timeout * 1000,
        ...(argv.serve ? { serve: { host: argv.host, port: argv.port } } : {}),
      },
      out,
    );
    if (argv.json) out.json(versioned('bench', report));
    else out.data(renderBenchTable(report));
  },
};
