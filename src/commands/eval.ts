import type { CommandModule } from 'yargs';
import { loadConfig } from '../config/load.js';
import { evalJob, renderEval } from '../pipeline/eval.js';
import { outputFor, type GlobalFlags } from './common.js';

interface EvalFlags extends GlobalFlags {
  model: string;
  config: string;
  backend?: string;
}

export const evalCommand: CommandModule<GlobalFlags, EvalFlags> = {
  command: 'eval',
  describe: 'top-1 (and top-5 when > 5 classes) accuracy on the test split; --json adds the confusion counts',
  builder: (y) =>
    y
      .option('model', { type: 'string', demandOption: true, describe: 'model.json (or its folder)' })
      .option('config', { type: 'string', demandOption: true, describe: "JSON config ('-' = stdin); its data section names the test split" })
      .option('backend', { choices: ['auto', 'tensorflow', 'wasm', 'cpu'], describe: 'compute backend' }),
  handler: async (argv) => {
    const out = outputFor(argv);
    const config = await loadConfig(argv.config, [{ path: ['backend'], value: argv.backend, flag: '--backend' }]);
    const summary = await evalJob(config, argv.model, out);
    if (argv.json) out.json(summary);
    else out.data(renderEval(summary));
  },
};
