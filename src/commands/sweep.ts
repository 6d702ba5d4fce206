import type { CommandModule } from 'yargs';
import { versioned } from '../config/outputs.js';
import { loadConfig } from '../config/load.js';
import { InputError } from '../errors.js';
import { parseRatios, renderSweep, sweepFromConfig, SWEEP_LATENCY_RUNS, writeSweepHtml, type SweepResult } from '../pipeline/sweep.js';
import { runtimesOf } from './bench.js';
import { parseShard, runShard, shardFromEnv } from '../executors/local.js';
import { emitManifest } from '../executors/manifests.js';
import { gatherPlan, planPaths, readPlan, writePlan } from '../executors/plan.js';
import { checkSlurm, runOnSlurm } from '../executors/slurm.js';
import { modelFiles } from '../model/io.js';
import { htmlTarget, interruptOnSignals, outputFor, type GlobalFlags } from './common.js';
import { backendOption, configOption, modelOption, runtimeOverrides, requireDataSection } from './options.js';

interface SweepFlags extends GlobalFlags {
  model?: string;
  config?: string;
  ratios: string;
  'finetune-epochs': number;
  backend?: string;
  seed?: number;
  'min-channels'?: number;
  'round-to'?: number;
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
        default: '0.1:0.9:0.1',
        describe: 'a list 0.1,0.3,0.5 or a range start:stop:step (stop included)',
      })
      .option('finetune-epochs', {
        type: 'number',
        default: 0,
        describe: 'briefly fine-tune each candidate (config finetune settings) for a truer curve',
      })
      .option('min-channels', { type: 'number', describe: 'floor per layer (config prune.minChannels)' })
      .option('round-to', { type: 'number', describe: 'round kept widths up to a multiple of this (config prune.roundTo)' })
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
    const inputFiles = [
      ...(argv.model !== undefined ? await modelFiles(argv.model) : []),
      ...(argv.config !== undefined && argv.config !== '-' ? [argv.config] : []),
    ];
    // Checked before any work: where the page goes, and whether it takes stdout's place of the table.
    const html = await htmlTarget(argv.html, argv.json, inputFiles, out);
    const print = async (result: SweepResult) => {
      if (html !== undefined) {
        await writeSweepHtml(html, result);
        if (typeof html === 'string') out.info(`wrote ${html}`);
      }
      if (argv.json) out.json(versioned('sweep', result));
      else if (argv.html !== '-') out.data(renderSweep(result));
    };
    if (argv.gather !== undefined) return print(await gatherPlan(argv.gather));
    if (argv.plan === undefined) {
      for (const flag of ['shard', 'executor', 'emit'] as const)
        if (argv[flag] !== undefined) throw new InputError(`--${flag}: needs --plan DIR`);
    }
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
    const ratios = parseRatios(argv.ratios);
    const epochs = argv['finetune-epochs'];
    if (!Number.isInteger(epochs) || epochs < 0) throw new InputError(`--finetune-epochs ${epochs}: expected a whole number >= 0`);
    const config = async () => {
      if (argv.model === undefined || argv.config === undefined) throw new InputError('slim sweep: --model and --config are required');
      const loaded = await loadConfig(argv.config, [
        ...runtimeOverrides({ backend: argv.backend, seed: argv.seed }),
        { path: ['prune', 'minChannels'], value: argv['min-channels'], flag: '--min-channels' },
        { path: ['prune', 'roundTo'], value: argv['round-to'], flag: '--round-to' },
      ]);
      requireDataSection(loaded, argv.config);
      return loaded;
    };
    const latencyBatch = argv['latency-batch'];
    if (!(Number.isInteger(latencyBatch) && latencyBatch > 0))
      throw new InputError(`--latency-batch ${latencyBatch}: expected a positive integer`);
    if (argv.plan === undefined) {
      const loaded = await config();
      const latency =
        argv.latency !== undefined
          ? {
              runtime: runtimesOf([argv.latency])[0],
              batch: latencyBatch,
              runs: SWEEP_LATENCY_RUNS,
              seed: loaded.seed,
              browser: argv.browser,
            }
          : undefined;
      return print(await sweepFromConfig(loaded, argv.model!, ratios, epochs, out, latency));
    }
    // Latency is measured where the candidates run, on one machine's runtime: not part of a plan.
    if (argv.latency !== undefined) throw new InputError('--latency: not with --plan (time the chosen candidates with slim bench)');
    const dir = argv.plan;
    // Without --model the folder's plan is used as it is (re-submitting a plan, emitting manifests for it).
    if (argv.executor === 'slurm') await checkSlurm(); // before minutes of planning
    const plan =
      argv.model === undefined && argv.config === undefined
        ? await readPlan(dir)
        : await writePlan(dir, await config(), argv.model!, ratios, epochs, out);
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
    if (argv.executor === 'slurm') return print(await runOnSlurm(dir, plan, { sbatchArgs: argv['sbatch-args'], maxParallel }, out));
    if (argv.executor === 'local') {
      await runShard(dir, { index: 0, count: 1 }, out);
      return print(await gatherPlan(dir));
    }
    out.data(planPaths(dir).plan);
  },
};
