import type { CommandModule } from 'yargs';
import type { Backend } from '../config/schema.js';
import { readModel, writeModel } from '../model/io.js';
import { writeKerasFile, type KerasFormat } from '../model/keras/write.js';
import { startBackend } from '../pipeline/backend.js';
import { describeExport, exportModel } from '../pipeline/export.js';
import { checkOutputs } from '../pipeline/model.js';
import { human } from '../report/render.js';
import { outputFor, type GlobalFlags } from './common.js';

interface ExportFlags extends GlobalFlags {
  model: string;
  out: string;
  backend?: string;
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
      .option('model', { type: 'string', demandOption: true, describe: 'model.json (or its folder)' })
      .option('out', { type: 'string', demandOption: true, describe: 'folder to write the inference model to' })
      .option('backend', { choices: ['auto', 'tensorflow', 'wasm', 'cpu'], default: 'auto', describe: 'backend of the output check' })
      .option('overwrite', { type: 'boolean', default: false, describe: 'replace --out even if it holds other files' })
      .option('format', { choices: ['layers', 'keras', 'h5'] as const, default: 'layers' as const, describe: 'tfjs layers folder, Keras 3 .keras file, or Keras 2 .h5 file' }),
  handler: async (argv) => {
    const out = outputFor(argv);
    const model = await readModel(argv.model);
    if (argv.format === 'layers') await checkOutputs([argv.out], { overwrite: argv.overwrite }, model.path);
    await startBackend((argv.backend ?? 'auto') as Backend, out);
    const outcome = await exportModel(model);
    for (const line of describeExport(outcome)) out.info(line);
    const written =
      argv.format === 'layers'
        ? await writeModel(argv.out, outcome.artifacts, { overwrite: argv.overwrite })
        : await writeKerasFile(argv.out, outcome.artifacts, argv.format, { overwrite: argv.overwrite });
    out.info(`params ${human(outcome.before.params.total)} -> ${human(outcome.after.params.total)}`);
    if (argv.json) {
      out.json({
        model: written,
        folded: outcome.folded,
        skipped: outcome.skipped,
        check: outcome.check,
        params: { before: outcome.before.params.total, after: outcome.after.params.total },
      });
    } else {
      out.data(written);
    }
  },
};
