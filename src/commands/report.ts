import type { CommandModule } from 'yargs';
import { versioned } from '../config/outputs.js';
import { renderReport } from '../report/render.js';
import { InputError } from '../errors.js';
import { htmlTarget, outputFor, type GlobalFlags } from './common.js';
import { modelOption } from './options.js';
import { runtimesOf } from './bench.js';
import { benchSchema, type BenchReport } from '../config/schema.js';
import type { RuntimeName } from '../bench/runtime.js';
import { renderBenchTable } from '../bench/table.js';
import type { Output } from '../io/output.js';

/** `--bench`: the model against its baseline on the named runtimes, with the config's defaults. */
async function measure(model: string, baseline: string | undefined, runtimes: RuntimeName[], out: Output): Promise<BenchReport> {
  const [{ readModel }, { benchModelsOf }, { benchStage }] = await Promise.all([
    import('../model/io.js'),
    import('../pipeline/bench.js'),
    import('../pipeline/stages/bench.js'),
  ]);
  const defaults = benchSchema.parse({});
  const models = await benchModelsOf(model, baseline, readModel);
  return benchStage(models.model, models.baseline, { ...defaults, runtimes, explicit: true, seed: 42, timeoutMs: 300_000 }, out);
}

interface ReportFlags extends GlobalFlags {
  model: string;
  baseline?: string;
  html?: string;
  log?: string[];
  bench?: string[];
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
      })
      .option('bench', {
        type: 'string',
        array: true,
        describe:
          'also time the model against --baseline on these runtimes (as slim bench; a run folder: exported against its input, exported)',
      }),
  handler: async (argv) => {
    const out = outputFor(argv);
    const [{ resolveReportInputs, writeReportHtml }, { modelFiles, readModel }] = await Promise.all([
      import('../report/html/index.js'),
      import('../model/io.js'),
    ]);
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
    // Counting needs the topologies only: the weight files are not read.
    const model = await readModel(inputs.model, { weights: false });
    const baseline = inputs.baseline !== undefined ? await readModel(inputs.baseline, { weights: false }) : undefined;
    // Loaded once the models are read: a refused model is refused without it (start-up time).
    const { count } = await import('../api/node.js');
    const report = await count(model, baseline, { name: model.path, ...(baseline !== undefined ? { baselineName: baseline.path } : {}) });
    const bench = argv.bench !== undefined ? await measure(argv.model, argv.baseline, runtimesOf(argv.bench), out) : undefined;
    if (html !== undefined) {
      await writeReportHtml(html, report, inputs, logs, bench);
      if (typeof html === 'string') out.info(`wrote ${html}`);
    }
    if (argv.json) out.json(versioned('report', bench !== undefined ? { ...report, bench } : report));
    else if (argv.html !== '-') out.data(renderReport(report) + (bench !== undefined ? `\n\n${renderBenchTable(bench)}` : ''));
  },
};
