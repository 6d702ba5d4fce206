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

interface FinetuneFlags extends GlobalFlags, TrainingFlags {
  model: string;
  out: string;
  format?: KeptModelFormat;
  resume: boolean;
}

export const finetuneCommand: CommandModule<GlobalFlags, FinetuneFlags> = {
  command: 'finetune',
  describe: 'fine-tune a pruned model (the training loop without the sparsity term)',
  builder: (y) =>
    withTrainingFlags(y)
      .option('model', modelOption('pruned model.json (or its folder)'))
      .option('resume', resumeOption)
      .option(
        'out',
        outOption('where to write the fine-tuned model: a folder (+ finetune-log.jsonl), or a .keras / .h5 file (BatchNorm kept)'),
      )
      .option('format', keptModelFormatOption()),
  handler: async (argv) => {
    const out = outputFor(argv);
    const config = await loadConfig(argv.config, [
      ...trainingOverrides(argv, 'finetune'),
      ...datasetOverride(argv),
      { path: ['model'], value: { type: 'file', path: argv.model }, flag: '--model' },
    ]);
    const { runTrainingCommand } = await import('./training-command.js');
    await runTrainingCommand('finetune', config, argv, out);
  },
};
