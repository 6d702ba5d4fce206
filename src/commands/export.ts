import type { CommandModule } from 'yargs';
import type { Backend } from '../config/schema.js';
import { checkOutPath } from '../io/out-path.js';
import { readModel } from '../model/io.js';
import { outputFormat, type ModelFormat } from '../io/output-format.js';
import { startBackend } from '../pipeline/backend.js';
import { checkOutputs } from '../pipeline/model.js';
import { describeExportParams, exportStage, writeModelAs } from '../pipeline/stages/export.js';
import { outputFor, type GlobalFlags } from './common.js';
import { backendOption, modelOption, outOption, overwriteOption } from './options.js';

interface ExportFlags extends GlobalFlags {
  model: string;
  out: string;
  backend: Backend;
  overwrite: boolean;
  format?: ModelFormat;
  fold: boolean;
}

export const exportCommand: CommandModule<GlobalFlags, ExportFlags> = {
  command: 'export',
  describe:
    'write an inference model: every BatchNormalization right after a linear Conv/Dense is folded into it ' +
    '(outputs checked against the original on a random batch)',
  builder: (y) =>
    y
      .option('model', modelOption('model.json (or its folder)'))
      .option('out', outOption('where to write: a folder (tfjs layers; a trailing slash always means one), or a .keras / .h5 file'))
      .option('backend', { ...backendOption('backend of the output check'), default: 'auto' as const })
      .option('overwrite', overwriteOption())
      .option('format', {
        choices: ['layers', 'keras', 'h5'] as const,
        describe: 'tfjs layers folder, Keras 3 .keras file, or Keras 2 .h5 file (default: from the --out name; layers otherwise)',
      })
      .option('fold', {
        type: 'boolean',
        default: true,
        describe: 'fold BatchNorm into the layer before it; --no-fold writes the model as it is, BatchNorm kept (trainable in Keras)',
      }),
  handler: async (argv) => {
    const out = outputFor(argv);
    const write = { overwrite: argv.overwrite };
    const format = outputFormat(argv.out, argv.format);
    const model = await readModel(argv.model);
    // A Keras file is one file, checked by its writer; a layers model is a folder.
    if (format === 'layers') await checkOutputs([argv.out], write, model.path);
    else await checkOutPath(argv.out, 'file');
    await startBackend(argv.backend, out);
    if (!argv.fold) {
      out.info('BatchNormalization kept (--no-fold): the model is written as it is, trainable');
      const written = await writeModelAs(model, { dir: argv.out, write, format });
      if (argv.json) out.json({ model: written, folded: [], skipped: [] });
      else out.data(written);
      return;
    }
    const outcome = await exportStage(model, { dir: argv.out, write, format }, out);
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
