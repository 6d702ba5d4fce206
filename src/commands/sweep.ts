import type { CommandModule } from 'yargs';
import { versioned } from '../config/outputs.js';
import { loadConfig } from '../config/load.js';
import { InputError, ProblemError } from '../errors.js';
import type { SweepSpeedChoice } from '../pipeline/speed-budget.js';
import type { SweepResult } from '../pipeline/sweep.js';
import { runtimesOf } from './bench.js';
import type { SweepPlan } from '../executors/plan.js';
import type { Output } from '../io/output.js';
import { htmlTarget, interruptOnSignals, outputFor, type GlobalFlags } from './common.js';
import {
  backendOption,
  configOption,
  modelOption,
  pruneAmountOverrides,
  runtimeOverrides,
  requireDataSection,
  speedBudgetOptions,
  speedBudgetOverrides,
} from './options.js';

interface SweepFlags extends GlobalFlags {
  model?: string;
  config?: string;
  ratios?: string;
  'finetune-epochs'?: number;
  'max-drop'?: number;
  backend?: string;
  seed?: number;
  'min-channels'?: number;
  'round-to'?: number;
  'round-mode'?: string;
  html?: string;
  plan?: string;
  shard?: string;
  gather?: string;
  executor?: 'local' | 'slurm';
  'sbatch-args'?: string;
  'max-parallel'?: number;
  emit?: 'k8s' | 'slurm' | 'github';
  image?: string;
  'claim-name'?: string;
  command?: string;
  latency?: string;
  'latency-batch': number;
  'min-speedup'?: number;
  on?: string;
  browser?: string;
}

export const sweepCommand: CommandModule<GlobalFlags, SweepFlags> = {
  command: 'sweep',
  describe: 'prune a sparsity-trained model at several ratios and score each on the validation split: channels, params, MACs, accuracy',
  builder: (y) =>
    y
      .option('model', modelOption('sparsity-trained model.json (or its folder)', false))
      .option('config', configOption("JSON config ('-' = stdin): data (validation split), prune options, finetune settings"))
      .option('ratios', {
        type: 'string',
        describe: 'a list 0.1,0.3,0.5 or a range start:stop:step (stop included); default 0.1:0.9:0.1',
      })
      .option('finetune-epochs', {
        type: 'number',
        describe: 'briefly fine-tune each candidate (config finetune settings) for a truer curve; default 0',
      })
      .option('max-drop', {
        type: 'number',
        describe:
          "with --plan: plan the accuracy budget's search (config prune.maxAccuracyDrop, in points); --gather chooses the ratio as slim run does",
      })
      .conflicts('max-drop', ['ratios', 'finetune-epochs'])
      .option('min-channels', { type: 'number', describe: 'floor per layer (config prune.minChannels)' })
      .option('round-to', { type: 'number', describe: 'round kept widths up to a multiple of this (config prune.roundTo)' })
      .option('round-mode', {
        choices: ['up', 'nearest'],
        describe: 'round kept widths up or to the nearest multiple (config prune.roundMode)',
      })
      .option('html', {
        type: 'string',
        describe:
          "also write an HTML report (the model, its |gamma|, accuracy vs ratio and vs MACs) to this file ('-' = stdout, instead of the table)",
      })
      .option('latency', {
        type: 'string',
        describe:
          'also time each candidate, exported, against the unpruned model on this runtime (node:wasm, chromium:wasm, ...; see slim bench)',
      })
      .option('latency-batch', { type: 'number', default: 1, describe: 'batch size of --latency' })
      .options(
        speedBudgetOptions(
          'time every candidate on that runtime and pick the one with the smallest accuracy loss whose speed-up is at least this (exit 1 when none)',
        ),
      )
      .option('browser', { type: 'string', describe: 'Chromium or Chrome for a chromium:* --latency (default: found on PATH)' })
      .option('backend', backendOption('compute backend'))
      .option('seed', { type: 'number', describe: 'seed of the validation split and the fine-tunes' })
      .option('plan', { type: 'string', describe: 'write a sweep plan to this folder (shared by every node), or run/submit the one there' })
      .option('shard', {
        type: 'string',
        describe: "run shard I/N of --plan's candidates ('env': from SLIM_SHARD, SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX)",
      })
      .option('gather', { type: 'string', describe: 'print the sweep of a plan folder whose candidates ran elsewhere' })
      .option('executor', {
        choices: ['local', 'slurm'] as const,
        describe: "run --plan's candidates here (local) or as a Slurm job array (slurm)",
      })
      .option('sbatch-args', {
        type: 'string',
        describe: 'extra sbatch options for --executor slurm, e.g. "--partition=gpu --time=2:00:00"',
      })
      .option('max-parallel', {
        type: 'number',
        describe: 'at most this many candidates running at once (Slurm %K, Kubernetes parallelism, matrix max-parallel)',
      })
      .option('emit', {
        choices: ['k8s', 'slurm', 'github'] as const,
        describe: "print a Kubernetes Indexed Job, a Slurm batch script or a GitHub Actions workflow for --plan's candidates",
      })
      .option('image', { type: 'string', default: 'slim:latest', describe: '--emit k8s: the container image with slim' })
      .option('claim-name', {
        type: 'string',
        default: 'slim-plan',
        describe: '--emit k8s: the PersistentVolumeClaim holding the plan folder',
      })
      .option('command', { type: 'string', default: 'slim', describe: '--emit k8s|github: how the job starts slim' }),
  handler: async (argv) => {
    const out = outputFor(argv);
    const [
      { modelFiles },
      { chooseFromSweep },
      { parseRatios, renderSweep, sweepFromConfig, SWEEP_LATENCY_RUNS, writeSweepHtml },
      { parseShard, runShard, shardFromEnv },
      { emitManifest },
      { runBudgetRounds, BUDGET_BRACKET },
      { gatherPlan, measureGathered, planPaths, readPlan, writePlan },
      { DEFAULT_SEARCH_EPOCHS },
      { checkSlurm, runOnSlurm },
    ] = await Promise.all([
      import('../model/io.js'),
      import('../pipeline/speed-budget.js'),
      import('../pipeline/sweep.js'),
      import('../executors/local.js'),
      import('../executors/manifests.js'),
      import('../executors/budget-rounds.js'),
      import('../executors/plan.js'),
      import('../pipeline/budget.js'),
      import('../executors/slurm.js'),
    ]);
    const inputFiles = [
      ...(argv.model !== undefined ? await modelFiles(argv.model) : []),
      ...(argv.config !== undefined && argv.config !== '-' ? [argv.config] : []),
    ];
    // Checked before any work: where the page goes, and whether it takes stdout's place of the table.
    const html = await htmlTarget(argv.html, argv.json, inputFiles, out);
    const print = async (result: SweepResult & { speedBudget?: SweepSpeedChoice }) => {
      if (html !== undefined) {
        await writeSweepHtml(html, result);
        if (typeof html === 'string') out.info(`wrote ${html}`);
      }
      if (argv.json) out.json(versioned('sweep', result));
      else if (argv.html !== '-') out.data(renderSweep(result));
    };
    const latencyBatch = argv['latency-batch'];
    if (!(Number.isInteger(latencyBatch) && latencyBatch > 0))
      throw new InputError(`--latency-batch ${latencyBatch}: expected a positive integer`);
    const latency =
      argv.latency !== undefined
        ? { runtime: runtimesOf([argv.latency])[0], batch: latencyBatch, runs: SWEEP_LATENCY_RUNS, browser: argv.browser }
        : undefined;
    // A plan's latency column is measured where it is gathered: one machine times every candidate.
    const gathered = async (dir: string, result: SweepResult) => print(latency ? await measureGathered(dir, result, latency, out) : result);
    if (argv.gather !== undefined) return gathered(argv.gather, await gatherAny(argv.gather, out));
    if (argv.plan === undefined) {
      for (const flag of ['shard', 'executor', 'emit', 'max-drop'] as const)
        if (argv[flag] !== undefined) throw new InputError(`--${flag}: needs --plan DIR`);
    }
    if (argv.plan !== undefined && argv.latency !== undefined && (argv.executor === undefined || argv.emit !== undefined))
      throw new InputError(
        '--latency: measured where a plan is gathered (--gather DIR, or --plan DIR --executor ...), not in a shard or when only writing a plan',
      );
    if (argv.plan !== undefined && argv.shard !== undefined) {
      const shard = argv.shard === 'env' ? shardFromEnv() : parseShard(argv.shard);
      const interrupt = interruptOnSignals();
      try {
        const outcome = await runShard(argv.plan, shard, out, interrupt.signal);
        if (argv.json) out.json(versioned('sweep-shard', outcome));
      } finally {
        interrupt.dispose();
      }
      return;
    }
    const maxParallel = argv['max-parallel'];
    if (maxParallel !== undefined && !(Number.isInteger(maxParallel) && maxParallel >= 1))
      throw new InputError(`--max-parallel ${maxParallel}: expected a whole number >= 1`);
    const maxDrop = argv['max-drop'];
    const ratios = maxDrop !== undefined ? BUDGET_BRACKET : parseRatios(argv.ratios ?? '0.1:0.9:0.1');
    let epochs = argv['finetune-epochs'] ?? 0;
    if (!Number.isInteger(epochs) || epochs < 0) throw new InputError(`--finetune-epochs ${epochs}: expected a whole number >= 0`);
    const config = async () => {
      if (argv.model === undefined || argv.config === undefined) throw new InputError('slim sweep: --model and --config are required');
      const loaded = await loadConfig(argv.config, [
        ...runtimeOverrides({ backend: argv.backend, seed: argv.seed }),
        { path: ['prune', 'minChannels'], value: argv['min-channels'], flag: '--min-channels' },
        { path: ['prune', 'roundTo'], value: argv['round-to'], flag: '--round-to' },
        { path: ['prune', 'roundMode'], value: argv['round-mode'], flag: '--round-mode' },
        ...(maxDrop !== undefined ? pruneAmountOverrides({ 'max-drop': maxDrop }) : []),
        ...speedBudgetOverrides({ 'min-speedup': argv['min-speedup'], on: argv.on }),
      ]);
      requireDataSection(loaded, argv.config);
      return loaded;
    };
    if (argv.plan === undefined) {
      const loaded = await config();
      // A speed budget (flags or config prune.minSpeedup) times every candidate on its runtime and batch.
      const budget = loaded.prune.minSpeedup;
      if (budget !== undefined && argv.latency !== undefined && argv.latency !== budget.on)
        throw new InputError(`--latency ${argv.latency}: the speed budget is measured on ${budget.on}; give one runtime`);
      const timing = budget !== undefined ? { runtime: budget.on, batch: budget.batch } : undefined;
      const timed =
        timing !== undefined || latency !== undefined
          ? {
              runtime: timing?.runtime ?? latency!.runtime,
              batch: timing?.batch ?? latencyBatch,
              runs: SWEEP_LATENCY_RUNS,
              seed: loaded.seed,
              browser: argv.browser,
            }
          : undefined;
      const result = await sweepFromConfig(loaded, argv.model!, ratios, epochs, out, timed);
      if (budget === undefined) return print(result);
      // The table is data either way; no candidate meeting the budget is then exit 1.
      let choice: SweepSpeedChoice | undefined;
      let unmet: ProblemError | undefined;
      try {
        choice = chooseFromSweep(result, budget);
      } catch (error) {
        if (!(error instanceof ProblemError)) throw error;
        unmet = error;
      }
      await print(choice !== undefined ? { ...result, speedBudget: choice } : result);
      if (unmet !== undefined) throw unmet;
      out.info(`speed budget: chose ${choice!.reason}`);
      return;
    }
    if (argv['min-speedup'] !== undefined)
      throw new InputError('--min-speedup: not with --plan (its candidates are timed where they run; sweep without --plan)');
    const dir = argv.plan;
    // Without --model the folder's plan is used as it is (re-submitting a plan, emitting manifests for it).
    if (argv.executor === 'slurm') await checkSlurm(); // before minutes of planning
    let plan: SweepPlan;
    if (argv.model === undefined && argv.config === undefined) {
      if (maxDrop !== undefined)
        throw new InputError('--max-drop: with --model and --config, when writing the plan (a plan keeps its budget)');
      plan = await readPlan(dir);
    } else {
      const loaded = await config();
      // A budget plan's candidates are fine-tuned as the budget search's are: prune.searchEpochs.
      const budget =
        maxDrop !== undefined ? { maxAccuracyDrop: maxDrop, searchEpochs: loaded.prune.searchEpochs ?? DEFAULT_SEARCH_EPOCHS } : undefined;
      if (budget !== undefined) epochs = budget.searchEpochs;
      plan = await writePlan(dir, loaded, argv.model!, ratios, epochs, out, budget);
    }
    if (argv.emit !== undefined) {
      return out.data(
        emitManifest(argv.emit, dir, plan, {
          maxParallel,
          sbatchArgs: argv['sbatch-args'],
          image: argv.image!,
          claimName: argv['claim-name']!,
          command: argv.command!,
        }),
      );
    }
    const slurm = { sbatchArgs: argv['sbatch-args'], maxParallel };
    const runRound = (current: SweepPlan) =>
      argv.executor === 'slurm' ? runOnSlurm(dir, current, slurm, out) : runShard(dir, { index: 0, count: 1 }, out);
    if (argv.executor !== undefined) {
      // A budget plan runs round after round (bracket, then bisection) until the search has chosen.
      if (plan.budget !== undefined) return gathered(dir, await runBudgetRounds(dir, plan, runRound, out));
      await runRound(plan);
      return gathered(dir, await gatherPlan(dir));
    }
    out.data(planPaths(dir).plan);
  },
};

/** `--gather DIR`: a sweep plan's rows, or a budget plan's rows with its choice (exit 1 when it planned another round). */
async function gatherAny(dir: string, out: Output): Promise<SweepResult> {
  const [{ gatherBudget, roundPlanned }, { gatherPlan, readPlan }] = await Promise.all([
    import('../executors/budget-rounds.js'),
    import('../executors/plan.js'),
  ]);
  const plan = await readPlan(dir, '--gather');
  if (plan.budget === undefined) return gatherPlan(dir);
  const gathered = await gatherBudget(dir, out);
  if ('done' in gathered) return gathered.done;
  throw roundPlanned(dir, gathered);
}
