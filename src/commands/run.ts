import type { CommandModule } from 'yargs';
import { loadConfig } from '../config/load.js';
import { InputError } from '../errors.js';
import { runPipeline } from '../pipeline/stages.js';
import { outputFor, type GlobalFlags } from './common.js';
import { replicasOverride } from './options.js';

interface RunFlags extends GlobalFlags {
  config: string;
  out?: string;
  backend?: string;
  seed?: number;
  ratio?: number;
  'train-epochs'?: number;
  replicas?: string;
  'finetune-epochs'?: number;
  'train-limit'?: number;
  overwrite: boolean;
}

export const runCommand: CommandModule<GlobalFlags, RunFlags> = {
  command: 'run',
  describe: 'the whole pipeline from one config: (train or load) -> sparsity train -> prune -> fine-tune -> report',
  builder: (y) =>
    y
      .option('config', { type: 'string', demandOption: true, describe: "JSON config ('-' = stdin), e.g. configs/quickstart.json" })
      .option('out', { type: 'string', describe: 'output folder (default: config out); gets input/, sparse/, pruned/, finetuned/, exported/, run.json, report.html' })
      .option('backend', { choices: ['auto', 'tensorflow', 'wasm', 'cpu'], describe: 'compute backend' })
      .option('seed', { type: 'number', describe: 'seed for weights, shuffling and dropout' })
      .option('ratio', { type: 'number', describe: 'prune ratio (replaces the config prune.ratio/threshold)' })
      .option('train-epochs', { type: 'number', describe: 'sparsity-training epochs' })
      .option('finetune-epochs', { type: 'number', describe: 'fine-tuning epochs' })
      .option('train-limit', { type: 'number', describe: 'use only this many training images' })
      .option('replicas', { type: 'string', describe: "training replicas in worker threads (a number or 'auto'; wasm/cpu only)" })
      .option('overwrite', { type: 'boolean', default: false, describe: 'replace output folders even if they hold other files' }),
  handler: async (argv) => {
    const out = outputFor(argv);
    const config = await loadConfig(argv.config, [
      { path: ['backend'], value: argv.backend, flag: '--backend' },
      { path: ['seed'], value: argv.seed, flag: '--seed' },
      replicasOverride(argv.replicas),
      { path: ['prune', 'ratio'], value: argv.ratio, flag: '--ratio' },
      ...(argv.ratio !== undefined ? [{ path: ['prune', 'threshold'], value: null, flag: '--ratio' }] : []),
      { path: ['train', 'epochs'], value: argv['train-epochs'], flag: '--train-epochs' },
      { path: ['finetune', 'epochs'], value: argv['finetune-epochs'], flag: '--finetune-epochs' },
      { path: ['data', 'trainLimit'], value: argv['train-limit'], flag: '--train-limit' },
      { path: ['out'], value: argv.out, flag: '--out' },
    ]);
    if (config.out === undefined) throw new InputError('run: give --out (or "out" in the config)');
    const summary = await runPipeline(config, config.out, { overwrite: argv.overwrite }, out);
    if (argv.json) out.json(summary);
    else out.data(summary.models.finetuned);
  },
};
