/**
 * The option builders every command uses (so one flag reads and checks the same everywhere) and how
 * flags map onto config paths. Choice lists come from the zod schema, the one source of truth.
 */
import type { Argv, Options } from 'yargs';
import type { Override } from '../config/load.js';
import { backendSchema, type Config } from '../config/schema.js';
import { InputError } from '../errors.js';
import { DATASET_NAMES } from '../data/formats/index.js';
import { REPLICA_SPLITS } from '../train/replica-split.js';
import { RUNTIMES } from '../bench/runtime.js';

/** `--backend` choices: the config's backend enum. */
export const BACKEND_CHOICES = backendSchema.options;
/** `--dataset` choices: the registered data formats (the schema names any keys a dataset still needs). */
export const DATASET_CHOICES = DATASET_NAMES;

export const OVERWRITE_DESCRIPTION = 'replace --out even if it holds other files';

/** A string flag; `demandOption: true` as a literal type is what makes yargs type it as always present. */
type RequiredString = { type: 'string'; demandOption: true; describe: string };
type OptionalString = { type: 'string'; describe: string };

function stringOption(describe: string, required: boolean): RequiredString | OptionalString {
  return required ? { type: 'string', demandOption: true, describe } : { type: 'string', describe };
}

/** `--model`: a model.json or its folder (required unless `required` is false). */
export function modelOption(describe: string): RequiredString;
export function modelOption(describe: string, required: false): OptionalString;
export function modelOption(describe: string, required = true): RequiredString | OptionalString {
  return stringOption(describe, required);
}

/** `--out`: the folder a command writes its model (or run its folders) to. */
export function outOption(describe: string): RequiredString;
export function outOption(describe: string, required: false): OptionalString;
export function outOption(describe: string, required = true): RequiredString | OptionalString {
  return stringOption(describe, required);
}

/** `--config`: a JSON config file, '-' for stdin (optional unless `required` is true). */
export function configOption(describe: string): OptionalString;
export function configOption(describe: string, required: true): RequiredString;
export function configOption(describe: string, required = false): RequiredString | OptionalString {
  return stringOption(describe, required);
}

export function overwriteOption(describe: string = OVERWRITE_DESCRIPTION) {
  return { type: 'boolean', default: false, describe } as const satisfies Options;
}

/** What `--format` of prune, train and finetune may name. */
export type KeptModelFormat = 'layers' | 'keras' | 'h5';

/** `--format` of the commands that write a model as it is, BatchNorm kept (prune, train, finetune). */
export function keptModelFormatOption() {
  return {
    choices: ['layers', 'keras', 'h5'] as const,
    describe:
      'tfjs layers folder, Keras 3 .keras file or Keras 2 .h5 file, BatchNorm kept (trainable in Keras); default: from the --out name, layers otherwise',
  } satisfies Options;
}

export function backendOption(describe: string) {
  return { choices: BACKEND_CHOICES, describe } as const satisfies Options;
}

export function seedOption(describe: string) {
  return { type: 'number', describe } as const satisfies Options;
}

export function replicasOption() {
  return { type: 'string', describe: "training replicas in worker threads (a number or 'auto'; wasm/cpu only)" } as const satisfies Options;
}

export function replicaSplitOption() {
  return {
    choices: REPLICA_SPLITS,
    describe: "how a batch's rows are split over the replicas: equal (bit-reproducible) or speed (by each core's measured speed)",
  } as const satisfies Options;
}

export function datasetOption() {
  return { choices: DATASET_CHOICES, describe: 'shortcut for config data.dataset' } as const satisfies Options;
}

/** Flags shared by the commands that train (`slim train`, `slim finetune`). */
export interface TrainingFlags {
  config?: string;
  backend?: string;
  dataset?: string;
  epochs?: number;
  lr?: number;
  'batch-size'?: number;
  seed?: number;
  replicas?: string;
  'replica-split'?: string;
  overwrite: boolean;
}

export function withTrainingFlags<T>(y: Argv<T>): Argv<T & TrainingFlags> {
  return y
    .option('config', configOption("JSON config file ('-' = stdin); flags override its values"))
    .option('backend', backendOption('compute backend (default auto: tfjs-node-gpu, tfjs-node, wasm, cpu)'))
    .option('dataset', datasetOption())
    .option('epochs', { type: 'number', describe: 'epochs of this stage' })
    .option('lr', { type: 'number', describe: 'initial learning rate of this stage' })
    .option('batch-size', { type: 'number', describe: 'batch size of this stage' })
    .option('seed', seedOption('seed for initial weights, shuffling and dropout'))
    .option('replicas', replicasOption())
    .option('replica-split', replicaSplitOption())
    .option('overwrite', overwriteOption());
}

/** Overrides of the config's top level that several commands share: backend, seed, replicas and their split. */
export function runtimeOverrides(argv: { backend?: string; seed?: number; replicas?: string; 'replica-split'?: string }): Override[] {
  return [
    { path: ['backend'], value: argv.backend, flag: '--backend' },
    { path: ['seed'], value: argv.seed, flag: '--seed' },
    replicasOverride(argv.replicas),
    { path: ['replicaSplit'], value: argv['replica-split'], flag: '--replica-split' },
  ];
}

/** Overrides for the stage's section (train, finetune) plus the global ones. */
export function trainingOverrides(argv: TrainingFlags, section: 'train' | 'finetune'): Override[] {
  return [
    ...runtimeOverrides(argv),
    { path: [section, 'epochs'], value: argv.epochs, flag: '--epochs' },
    { path: [section, 'lr'], value: argv.lr, flag: '--lr' },
    { path: [section, 'batchSize'], value: argv['batch-size'], flag: '--batch-size' },
  ];
}

/** `--replicas 2` / `--replicas auto`: numbers are passed as numbers so the schema checks them. */
export function replicasOverride(value: string | undefined): Override {
  const asNumber = Number(value);
  return {
    path: ['replicas'],
    value: value === undefined || value === 'auto' || value.trim() === '' || !Number.isFinite(asNumber) ? value : asNumber,
    flag: '--replicas',
  };
}

/** `--dataset` sets data.dataset; the config's other data keys must be ones that dataset takes. */
export function datasetOverride(argv: TrainingFlags): Override[] {
  return [{ path: ['data', 'dataset'], value: argv.dataset, flag: '--dataset' }];
}

/**
 * `--ratio` / `--threshold` / `--max-drop` replace the config's choice among ratio, threshold and
 * accuracy budget (prune.maxAccuracyDrop) rather than conflicting with it.
 */
export function pruneAmountOverrides(argv: { ratio?: number; threshold?: number; 'max-drop'?: number }): Override[] {
  const amounts = [
    { key: 'ratio', value: argv.ratio, flag: '--ratio' },
    { key: 'threshold', value: argv.threshold, flag: '--threshold' },
    { key: 'maxAccuracyDrop', value: argv['max-drop'], flag: '--max-drop' },
  ];
  return amounts.flatMap(({ key, value, flag }) => [
    { path: ['prune', key], value, flag },
    ...(value !== undefined
      ? amounts.filter((other) => other.key !== key).map((other) => ({ path: ['prune', other.key], value: null, flag }))
      : []),
  ]);
}

/** `--passes N` on run: config passes. */
export function passesOption() {
  return { type: 'number', describe: 'repeat sparsity train -> prune -> fine-tune N times (config passes)' } as const satisfies Options;
}

/**
 * A command that reads data needs the config's data section: refused before the backend starts,
 * naming the config the user gave (the file, stdin, or the flags when there is no --config).
 */
export function requireDataSection(config: Config, configFlag: string | undefined): void {
  if (config.data !== undefined) return;
  const source = configFlag === undefined ? 'flags' : configFlag === '-' ? 'stdin' : configFlag;
  throw new InputError(`${source}: data: required for training and evaluation (e.g. {"dataset": "mnist"}, or pass --dataset)`);
}

/** `--min-speedup X --on RUNTIME` (run, sweep): the speed budget, config prune.minSpeedup. */
export function speedBudgetOptions(what: string) {
  return {
    'min-speedup': { type: 'number', describe: `speed budget (config prune.minSpeedup), with --on: ${what}` },
    on: { type: 'string', describe: `the runtime --min-speedup is measured on: ${RUNTIMES.join(', ')}` },
  } as const satisfies Record<string, Options>;
}

/**
 * `--min-speedup X --on RUNTIME` into prune.minSpeedup (validated there, so errors name the config
 * path); it replaces a config ratio or threshold, and `--ratio` replaces a config speed budget.
 */
export function speedBudgetOverrides(argv: { ratio?: number; 'min-speedup'?: number; on?: string }): Override[] {
  const factor = argv['min-speedup'];
  if (factor === undefined) {
    if (argv.on !== undefined) throw new InputError(`--on ${argv.on}: only with --min-speedup X`);
    return argv.ratio !== undefined ? [{ path: ['prune', 'minSpeedup'], value: null, flag: '--ratio' }] : [];
  }
  if (argv.on === undefined) throw new InputError(`--min-speedup ${factor}: needs --on RUNTIME (${RUNTIMES.join(', ')})`);
  return [
    { path: ['prune', 'minSpeedup', 'factor'], value: factor, flag: '--min-speedup' },
    { path: ['prune', 'minSpeedup', 'on'], value: argv.on, flag: '--on' },
    { path: ['prune', 'ratio'], value: null, flag: '--min-speedup' },
    { path: ['prune', 'threshold'], value: null, flag: '--min-speedup' },
  ];
}
