import type { CommandModule } from 'yargs';
import { configJsonSchema } from '../config/schema.js';
import { outputFor, type GlobalFlags } from './common.js';

export const schemaCommand: CommandModule<GlobalFlags, GlobalFlags> = {
  command: 'schema',
  describe: 'print the JSON Schema of the config file (for editors: "$schema")',
  handler: (argv) => {
    outputFor(argv).json(configJsonSchema());
  },
};
