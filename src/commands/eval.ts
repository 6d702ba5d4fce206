import type { CommandModule } from 'yargs';
import { versioned } from '../config/outputs.js';
import { loadConfig } from '../config/load.js';
import { outputFor, type GlobalFlags } from './common.js';
import { backendOption, configOption, modelOption, requireDataSection } from './options.js';

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
      .option('model', modelOption('model.json (or its folder)'))
      .option('config', configOption("JSON config ('-' = stdin); its data section names the test split", true))
      .option('backend', backendOption('compute backend')),
  handler: async (argv) => {
    const out = outputFor(argv);
    const config = await loadConfig(argv.config, [{ path: ['backend'], value: argv.backend, flag: '--backend' }]);
    requireDataSection(config, argv.config);
    const { evalFromConfig, renderEval } = await import('../pipeline/stages/eval.js');
    const summary = await evalFromConfig(config, argv.model, out);
    if (argv.json) out.json(versioned('eval', summary));
    else out.data(renderEval(summary));
  },
};
