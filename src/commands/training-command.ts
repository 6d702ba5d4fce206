/** What `slim train` and `slim finetune` do once their config is loaded (one stage; they differ in flags only). */
import { versioned } from '../config/outputs.js';
import type { Config } from '../config/schema.js';
import type { Output } from '../io/output.js';
import { trainFromConfig } from '../pipeline/stages/train.js';
import { InputError } from '../errors.js';
import { interruptOnSignals } from './common.js';
import { requireDataSection, type KeptModelFormat } from './options.js';
import { outputFormat } from '../io/output-format.js';

/** One training stage, interruptible (SIGINT/SIGTERM → checkpoint, exit 130); the model path (or --json) on stdout. */
export async function runTrainingCommand(
  kind: 'train' | 'finetune',
  config: Config,
  flags: { out: string; overwrite: boolean; resume: boolean; json: boolean; epochs?: number; config?: string; format?: KeptModelFormat },
  out: Output,
): Promise<void> {
  // The stage checks these too; here they name what the user gave: the flag, or the config's key.
  if (flags.epochs !== undefined && flags.epochs < 1) throw new InputError(`--epochs ${flags.epochs}: must be at least 1 for slim ${kind}`);
  if (config[kind].epochs < 1) throw new InputError(`config: ${kind}.epochs: must be at least 1 for slim ${kind}`);
  requireDataSection(config, flags.config);
  const format = outputFormat(flags.out, flags.format);
  const interrupt = interruptOnSignals();
  try {
    const result = await trainFromConfig(kind, config, flags.out, { overwrite: flags.overwrite }, out, {
      resume: flags.resume,
      signal: interrupt.signal,
      format,
    });
    if (flags.json) out.json(versioned('train', result));
    else out.data(result.model);
  } finally {
    interrupt.dispose();
  }
}
