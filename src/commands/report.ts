import type { CommandModule } from 'yargs';
import { reportFor } from '../pipeline/report.js';
import { renderReport } from '../report/render.js';
import { outputFor, type GlobalFlags } from './common.js';
import { modelOption } from './options.js';

interface ReportFlags extends GlobalFlags {
  model: string;
  baseline?: string;
}

export const reportCommand: CommandModule<GlobalFlags, ReportFlags> = {
  command: 'report',
  describe: 'params, MACs and FLOPs (= 2 x MACs) per layer and in total; with --baseline, before/after and reductions',
  builder: (y) =>
    y
      .option('model', modelOption('model.json (or its folder); weight files are not needed'))
      .option('baseline', { type: 'string', describe: 'the model to compare against (e.g. the unpruned one)' }),
  handler: async (argv) => {
    const out = outputFor(argv);
    const report = await reportFor(argv.model, argv.baseline);
    if (argv.json) out.json(report);
    else out.data(renderReport(report));
  },
};
