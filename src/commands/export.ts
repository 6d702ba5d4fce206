import type { CommandModule } from 'yargs';
import type { Backend } from '../config/schema.js';
import { checkOutPath } from '../io/out-path.js';
import { modelFiles, readModel } from '../model/io.js';
import { checkKerasTarget, type KerasFormat } from '../model/keras/write.js';
import { startBackend } from '../pipeline/backend.js';
import { checkOutputs } from '../pipeline/model.js';
import { describeExportParams, exportStage } from '../pipeline/stages/export.js';
import { outputFor, type GlobalFlags } from './common.js';
import { backendOption, modelOption, outOption, overwriteOption } from './options.js';

interface ExportFlags extends GlobalFlags {
  model: string;
  out: string;
  backend: Backend;
  overwrite: boolean;
  format: 'layers' | KerasFormat;
}

export const exportCommand: CommandModule<GlobalFlags, ExportFlags> = {
  command: 'export',
  describe:
    'write an inference model: every BatchNormalization right after a linear Conv/Dense is folded into it ' +
    '(outputs checked against the original on a random batch)',
  builder: (y) =>
    y
      .option('model', modelOption('model.json (or its folder)'))
      .option('out', outOption('folder to write the inference model to'))
      .option('backend', { ...backendOption('backend of the output check'), default: 'auto' as const })
      .option('overwrite', overwriteOption())
      .option('format', {
        choices: ['layers', 'keras', 'h5'] as const,
        default: 'layers' as const,
        describe: 'tfjs layers folder, Keras 3 .keras file, or Keras 2 .h5 file',
      }),
  handler: async (argv) => {
    const out = outputFor(argv);
    const write = { overwrite: argv.overwrite };
    const model = await readModel(argv.model);
    // A layers model is a folder, a Keras file one file: either is checked whole before any work.
    if (argv.format === 'layers') await checkOutputs([argv.out], write, model.path);
    else {
      await checkOutPath(argv.out, 'file', { inputs: await modelFiles(argv.model) });
      await checkKerasTarget(argv.out, argv.format, write);
    }
    await startBackend(argv.backend, out);
    const outcome = await exportStage(model, { dir: argv.out, write, format: argv.format }, out);
    out.info(describeExportParams(outcome));
    if (argv.json) {
      out.json({
        model: outcome.written,
        folded: outcome.folded,
        skipped: outcome.skipped,
        check: outcome.check,
        params: { before: outcome.before.params.total, after: outcome.after.params.total },
      });
    } else {
      out.data(outcome.written!);
    }
  },
};
