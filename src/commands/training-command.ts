/** What `slim train` and `slim finetune` do once their config is loaded (one stage; they differ in flags only). */
import type { Config } from '../config/schema.js';
import type { Output } from '../io/output.js';
import { trainFromConfig } from '../pipeline/stages/train.js';
import { interruptOnSignals } from './common.js';

/** One training stage, interruptible (SIGINT/SIGTERM → checkpoint, exit 130); the model path (or --json) on stdout. */
export async function runTrainingCommand(
  kind: 'train' | 'finetune',
  config: Config,
  flags: { out: string; overwrite: boolean; resume: boolean; json: boolean },
  out: Output,
): Promise<void> {
  const interrupt = interruptOnSignals();
  try {
    const result = await trainFromConfig(kind, config, flags.out, { overwrite: flags.overwrite }, out, {
      resume: flags.resume,
      signal: interrupt.signal,
    });
    if (flags.json) out.json(result);
    else out.data(result.model);
  } finally {
    interrupt.dispose();
  }
}
