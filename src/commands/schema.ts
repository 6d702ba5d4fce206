import type { CommandModule } from 'yargs';
import { InputError } from '../errors.js';
import { OUTPUT_NAMES, outputJsonSchema, type OutputName } from '../config/outputs.js';
import { configJsonSchema } from '../config/schema.js';
import { outputFor, type GlobalFlags } from './common.js';

interface SchemaFlags extends GlobalFlags {
  output?: string;
}

export const schemaCommand: CommandModule<GlobalFlags, SchemaFlags> = {
  command: 'schema',
  describe: 'print the JSON Schema of the config file (for editors: "$schema"), or with --output of a document slim writes',
  builder: (y) =>
    y.option('output', {
      type: 'string',
      describe: `the JSON Schema of a written document instead: ${OUTPUT_NAMES.join(', ')} (each carries schemaVersion)`,
    }),
  handler: (argv) => {
    const out = outputFor(argv);
    if (argv.output === undefined) return out.json(configJsonSchema());
    if (!(OUTPUT_NAMES as string[]).includes(argv.output)) {
      throw new InputError(`--output ${argv.output}: not a document slim writes; one of ${OUTPUT_NAMES.join(', ')}`);
    }
    out.json(outputJsonSchema(argv.output as OutputName));
  },
};
