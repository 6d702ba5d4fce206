/** Flags shared by the commands that train, and how they map onto config paths. */
import type { Argv } from 'yargs';
import type { Override } from '../config/load.js';

export interface TrainingFlags {
  config?: string;
  backend?: string;
  dataset?: string;
  epochs?: number;
  lr?: number;
  'batch-size'?: number;
  seed?: number;
  replicas?: string;
  overwrite: boolean;
}

export function withTrainingFlags<T>(y: Argv<T>): Argv<T & TrainingFlags> {
  return y
    .option('config', { type: 'string', describe: "JSON config file ('-' = stdin); flags override its values" })
    .option('backend', { choices: ['auto', 'tensorflow', 'wasm', 'cpu'], describe: 'compute backend (default auto: tfjs-node-gpu, tfjs-node, wasm, cpu)' })
    .option('dataset', { choices: ['mnist', 'fashion-mnist'], describe: 'shortcut for config data.dataset' })
    .option('epochs', { type: 'number', describe: 'epochs of this stage' })
    .option('lr', { type: 'number', describe: 'initial learning rate of this stage' })
    .option('batch-size', { type: 'number', describe: 'batch size of this stage' })
    .option('seed', { type: 'number', describe: 'seed for initial weights, shuffling and dropout' })
    .option('replicas', { type: 'string', describe: "training replicas in worker threads (a number or 'auto'; wasm/cpu only)" })
    .option('overwrite', { type: 'boolean', default: false, describe: 'replace --out even if it holds other files' }) as Argv<T & TrainingFlags>;
}

/** Overrides for the stage's section (train, finetune) plus the global ones. */
export function trainingOverrides(argv: TrainingFlags, section: 'train' | 'finetune'): Override[] {
  return [
    { path: ['backend'], value: argv.backend, flag: '--backend' },
    { path: ['seed'], value: argv.seed, flag: '--seed' },
    replicasOverride(argv.replicas),
    { path: [section, 'epochs'], value: argv.epochs, flag: '--epochs' },
    { path: [section, 'lr'], value: argv.lr, flag: '--lr' },
    { path: [section, 'batchSize'], value: argv['batch-size'], flag: '--batch-size' },
  ];
}

/** `--replicas 2` / `--replicas auto`: numbers are passed as numbers so the schema checks them. */
export function replicasOverride(value: string | undefined): Override {
  const asNumber = Number(value);
  return { path: ['replicas'], value: value === undefined || value === 'auto' || value.trim() === '' || !Number.isFinite(asNumber) ? value : asNumber, flag: '--replicas' };
}

/** `--dataset` sets data.dataset, keeping the rest of the config's data section. */
export function datasetOverride(argv: TrainingFlags): Override[] {
  return [{ path: ['data', 'dataset'], value: argv.dataset, flag: '--dataset' }];
}
