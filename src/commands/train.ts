import type { CommandModule } from 'yargs';
import { loadConfig } from '../config/load.js';
import { outputFor, resumeOption, type GlobalFlags } from './common.js';
import {
  datasetOverride,
  keptModelFormatOption,
  modelOption,
  outOption,
  trainingOverrides,
  withTrainingFlags,
  type KeptModelFormat,
  type TrainingFlags,
} from './options.js';

interface TrainFlags extends GlobalFlags, TrainingFlags {
  model?: string;
  out: string;
  format?: KeptModelFormat;
  resume: boolean;
  lambda?: number;
}

export const trainCommand: CommandModule<GlobalFlags, TrainFlags> = {
  command: 'train',
  describe: 'sparsity training: task loss + lambda * sum|gamma| over every BatchNorm scale',
  builder: (y) =>
    withTrainingFlags(y)
      .option('model', modelOption("model.json to train (default: the config's model)", false))
      .option('resume', resumeOption)
      .option('out', outOption('where to write the trained model: a folder (+ train-log.jsonl), or a .keras / .h5 file (BatchNorm kept)'))
      .option('format', keptModelFormatOption())
      .option('lambda', { type: 'number', describe: 'sparsity lambda (config train.sparsity; 0 = plain training)' }),
  handler: async (argv) => {
    const out = outputFor(argv);
    const config = await loadConfig(argv.config, [
      ...trainingOverrides(argv, 'train'),
      ...datasetOverride(argv),
      { path: ['train', 'sparsity'], value: argv.lambda, flag: '--lambda' },
      ...(argv.model !== undefined ? [{ path: ['model'], value: { type: 'file', path: argv.model }, flag: '--model' }] : []),
    ]);
    const { runTrainingCommand } = await import('./training-command.js');
    await runTrainingCommand('train', config, argv, out);
  },
};
