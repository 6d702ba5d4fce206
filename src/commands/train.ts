import type { CommandModule } from 'yargs';
import { loadConfig } from '../config/load.js';
import { outputFor, resumeOption, type GlobalFlags } from './common.js';
import { runTrainingCommand } from './training-command.js';
import { datasetOverride, modelOption, outOption, trainingOverrides, withTrainingFlags, type TrainingFlags } from './options.js';

interface TrainFlags extends GlobalFlags, TrainingFlags {
  model?: string;
  out: string;
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
      .option('out', outOption('folder for the trained model (+ train-log.jsonl)'))
      .option('lambda', { type: 'number', describe: 'sparsity lambda (config train.sparsity; 0 = plain training)' }),
  handler: async (argv) => {
    const out = outputFor(argv);
    const config = await loadConfig(argv.config, [
      ...trainingOverrides(argv, 'train'),
      ...datasetOverride(argv),
      { path: ['train', 'sparsity'], value: argv.lambda, flag: '--lambda' },
      ...(argv.model !== undefined ? [{ path: ['model'], value: { type: 'file', path: argv.model }, flag: '--model' }] : []),
    ]);
    await runTrainingCommand('train', config, argv, out);
  },
};
