import type { CommandModule } from 'yargs';
import { loadConfig } from '../config/load.js';
import { InputError } from '../errors.js';
import type { BudgetExecutor } from '../executors/budget-rounds.js';
import { interruptOnSignals, outputFor, resumeOption, type GlobalFlags } from './common.js';
import {
  backendOption,
  configOption,
  outOption,
  overwriteOption,
  passesOption,
  pruneAmountOverrides,
  replicaSplitOption,
  replicasOption,
  runtimeOverrides,
  seedOption,
  speedBudgetOptions,
  speedBudgetOverrides,
} from './options.js';

interface RunFlags extends GlobalFlags {
  config: string;
  out?: string;
  backend?: string;
  seed?: number;
  ratio?: number;
  'max-drop'?: number;
  'min-speedup'?: number;
  on?: string;
  passes?: number;
  'train-epochs'?: number;
  replicas?: string;
  'replica-split'?: string;
  'finetune-epochs'?: number;
  'train-limit'?: number;
  overwrite: boolean;
  resume: boolean;
  executor?: 'local' | 'slurm';
  plan?: string;
  'sbatch-args'?: string;
  'max-parallel'?: number;
}

export const runCommand: CommandModule<GlobalFlags, RunFlags> = {
  command: 'run',
  describe: 'the whole pipeline from one config: (train or load) -> sparsity train -> prune -> fine-tune -> report',
  builder: (y) =>
    y
      .option('config', configOption("JSON config ('-' = stdin), e.g. configs/quickstart.json", true))
      .option(
        'out',
        outOption(
          'output folder (default: config out); gets input/, sparse/, pruned/, finetuned/, exported/, run.json, report.html',
          false,
        ),
      )
      .option('backend', backendOption('compute backend'))
      .option('seed', seedOption('seed for weights, shuffling and dropout'))
      .option('ratio', { type: 'number', describe: 'prune ratio (replaces the config prune.ratio/threshold/maxAccuracyDrop)' })
      .option('max-drop', {
        type: 'number',
        describe:
          'accuracy budget in points (config prune.maxAccuracyDrop): prune the largest ratio whose briefly fine-tuned val accuracy stays within it',
      })
      .options(
        speedBudgetOptions(
          'prune the candidate ratio with the smallest accuracy loss whose measured speed-up is at least this; with --max-drop both must hold',
        ),
      )
      .option('passes', passesOption())
      .conflicts('ratio', 'max-drop')
      .conflicts('ratio', 'min-speedup')
      .option('train-epochs', { type: 'number', describe: 'sparsity-training epochs' })
      .option('finetune-epochs', { type: 'number', describe: 'fine-tuning epochs' })
      .option('train-limit', { type: 'number', describe: 'use only this many training images' })
      .option('replicas', replicasOption())
      .option('replica-split', replicaSplitOption())
      .option('overwrite', overwriteOption('replace output folders even if they hold other files'))
      .option('resume', {
        ...resumeOption,
        describe: 'continue an interrupted run: skip the stages it completed, resume the one it stopped in',
      })
      .option('executor', {
        choices: ['local', 'slurm'] as const,
        describe: 'with an accuracy budget: run its candidates through --plan DIR, here (local) or as a Slurm job array (slurm)',
      })
      .option('plan', { type: 'string', describe: 'with --executor: the plan folder of the budget candidates (shared by every node)' })
      .option('sbatch-args', { type: 'string', describe: 'extra sbatch options for --executor slurm, e.g. "--partition=gpu"' })
      .option('max-parallel', { type: 'number', describe: 'with --executor slurm: at most this many candidates running at once' }),
  handler: async (argv) => {
    const out = outputFor(argv);
    const config = await loadConfig(argv.config, [
      ...runtimeOverrides(argv),
      ...pruneAmountOverrides(argv),
      ...speedBudgetOverrides(argv),
      { path: ['train', 'epochs'], value: argv['train-epochs'], flag: '--train-epochs' },
      { path: ['finetune', 'epochs'], value: argv['finetune-epochs'], flag: '--finetune-epochs' },
      { path: ['data', 'trainLimit'], value: argv['train-limit'], flag: '--train-limit' },
      { path: ['out'], value: argv.out, flag: '--out' },
      { path: ['passes'], value: argv.passes, flag: '--passes' },
    ]);
    if (config.out === undefined) throw new InputError('run: give --out (or "out" in the config)');
    const executor = await executorOf(argv, config.prune.maxAccuracyDrop !== undefined);
    const { runPipeline } = await import('../pipeline/run.js');
    const interrupt = interruptOnSignals();
    try {
      const summary = await runPipeline(config, config.out, { overwrite: argv.overwrite }, out, {
        resume: argv.resume,
        signal: interrupt.signal,
        ...(executor !== undefined ? { executor } : {}),
      });
      if (argv.json) out.json(summary);
      else out.data(summary.models.finetuned);
    } finally {
      interrupt.dispose();
    }
  },
};

/** --executor and its flags, checked before any training: only a budget has candidates to place. */
async function executorOf(argv: RunFlags, budget: boolean): Promise<BudgetExecutor | undefined> {
  if (argv.executor === undefined) {
    for (const flag of ['plan', 'sbatch-args', 'max-parallel'] as const)
      if (argv[flag] !== undefined) throw new InputError(`--${flag}: needs --executor local|slurm`);
    return undefined;
  }
  if (!budget)
    throw new InputError(
      `--executor ${argv.executor}: only an accuracy budget's candidates run on an executor (give --max-drop or prune.maxAccuracyDrop)`,
    );
  if (argv.plan === undefined) throw new InputError(`--executor ${argv.executor}: needs --plan DIR (a folder every node sees)`);
  const maxParallel = argv['max-parallel'];
  if (maxParallel !== undefined && !(Number.isInteger(maxParallel) && maxParallel >= 1))
    throw new InputError(`--max-parallel ${maxParallel}: expected a whole number >= 1`);
  if (argv.executor === 'slurm') await (await import('../executors/slurm.js')).checkSlurm(); // before minutes of training
  return { kind: argv.executor, plan: argv.plan, sbatchArgs: argv['sbatch-args'], maxParallel };
}
