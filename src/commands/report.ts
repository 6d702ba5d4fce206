import type { CommandModule } from 'yargs';
import { reportFor } from '../pipeline/report.js';
import { renderReport } from '../report/render.js';
import { resolveReportInputs, writeReportHtml } from '../report/html/index.js';
import { InputError } from '../errors.js';
import { modelFiles } from '../model/io.js';
import { htmlTarget, outputFor, type GlobalFlags } from './common.js';
import { modelOption } from './options.js';

interface ReportFlags extends GlobalFlags {
  model: string;
  baseline?: string;
  html?: string;
  log?: string[];
}

export const reportCommand: CommandModule<GlobalFlags, ReportFlags> = {
  command: 'report',
  describe: 'params, MACs and FLOPs (= 2 x MACs) per layer and in total; with --baseline, before/after and reductions',
  builder: (y) =>
    y
      .option('model', modelOption('model.json (or its folder, or a slim run folder); weight files are not needed'))
      .option('baseline', { type: 'string', describe: 'the model to compare against (e.g. the unpruned one)' })
      .option('html', {
        type: 'string',
        describe: "also write a self-contained HTML report (charts) to this file ('-' = stdout, instead of the table)",
      })
      .option('log', {
        type: 'string',
        array: true,
        describe: 'train-log.jsonl / finetune-log.jsonl to draw as training curves in --html',
      }),
  handler: async (argv) => {
    const out = outputFor(argv);
    // --model may be a run folder: its fine-tuned model against its input model.
    const inputs = await resolveReportInputs(argv.model, argv.baseline);
    const logs = argv.log ?? [];
    if (logs.length > 0 && argv.html === undefined)
      throw new InputError('--log: the curves are drawn in the HTML report; give --html FILE too');
    const inputFiles = [
      ...(await modelFiles(inputs.model)),
      ...(inputs.baseline !== undefined ? await modelFiles(inputs.baseline) : []),
      ...logs,
    ];
    const html = await htmlTarget(argv.html, argv.json, inputFiles, out);
    const report = await reportFor(inputs.model, inputs.baseline);
    if (html !== undefined) {
      await writeReportHtml(html, report, inputs, logs);
      if (typeof html === 'string') out.info(`wrote ${html}`);
    }
    if (argv.json) out.json(report);
    else if (argv.html !== '-') out.data(renderReport(report));
  },
};
