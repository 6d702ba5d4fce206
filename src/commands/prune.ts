import type { CommandModule } from 'yargs';
import { loadConfig, type Override } from '../config/load.js';
import { InputError } from '../errors.js';
import { readModel, writeModel } from '../model/io.js';
import { checkOutputs } from '../pipeline/model.js';
import { wallsOf } from '../pipeline/report.js';
import { describeFolds, describePlan, makePlan, pruneModel } from '../pipeline/prune.js';
import { buildReport, human } from '../report/render.js';
import { outputFor, type GlobalFlags } from './common.js';

interface PruneFlags extends GlobalFlags {
  model: string;
  out?: string;
  config?: string;
  ratio?: number;
  threshold?: number;
  'min-channels'?: number;
  'round-to'?: number;
  importance?: string;
  'dry-run': boolean;
  overwrite: boolean;
}

export const pruneCommand: CommandModule<GlobalFlags, PruneFlags> = {
  command: 'prune',
  describe: 'remove the BatchNorm channels with the smallest |gamma| (one global threshold) and rebuild a smaller model',
  builder: (y) =>
    y
      .option('model', { type: 'string', demandOption: true, describe: 'sparsity-trained model.json (or its folder)' })
      .option('out', { type: 'string', describe: 'folder to write the pruned model to (required unless --dry-run)' })
      .option('config', { type: 'string', describe: "JSON config ('-' = stdin); its prune section gives defaults" })
      .option('ratio', { type: 'number', describe: 'fraction of all BN channels to remove, e.g. 0.5' })
      .option('threshold', { type: 'number', describe: 'remove channels whose |gamma| importance is below this' })
      .option('min-channels', { type: 'number', describe: 'floor per layer (default 1: no layer ever loses all channels)' })
      .option('round-to', { type: 'number', describe: 'round kept widths up to a multiple of this (e.g. 8 for SIMD)' })
      .option('importance', { choices: ['sum', 'mean', 'max'], describe: 'combine |gamma| of several BNs in one group' })
      .option('dry-run', { type: 'boolean', default: false, describe: 'print the plan (stdout) and write nothing' })
      .option('overwrite', { type: 'boolean', default: false, describe: 'replace --out even if it holds other files' })
      .conflicts('ratio', 'threshold'),
  handler: async (argv) => {
    const out = outputFor(argv);
    const overrides: Override[] = [
      { path: ['prune', 'ratio'], value: argv.ratio, flag: '--ratio' },
      { path: ['prune', 'threshold'], value: argv.threshold, flag: '--threshold' },
      { path: ['prune', 'minChannels'], value: argv['min-channels'], flag: '--min-channels' },
      { path: ['prune', 'roundTo'], value: argv['round-to'], flag: '--round-to' },
      { path: ['prune', 'importance'], value: argv.importance, flag: '--importance' },
    ];
    // A flag replaces the config's choice of ratio vs threshold rather than conflicting with it.
    if (argv.ratio !== undefined) overrides.push({ path: ['prune', 'threshold'], value: null, flag: '--ratio' });
    if (argv.threshold !== undefined) overrides.push({ path: ['prune', 'ratio'], value: null, flag: '--threshold' });
    const config = await loadConfig(argv.config, overrides);
    const model = await readModel(argv.model);

    if (argv['dry-run']) {
      const plan = makePlan(model, config.prune);
      if (argv.json) out.json(plan);
      else out.data(describePlan(plan).join('\n'));
      return;
    }
    if (argv.out === undefined) throw new InputError('prune: --out is required (or use --dry-run)');

    await checkOutputs([argv.out], { overwrite: argv.overwrite }, model.path);
    const result = pruneModel(model, config.prune);
    for (const line of describePlan(result.plan)) out.info(line);
    for (const line of describeFolds(result.foldSummary, result.unfolded)) out.info(line);
    const written = await writeModel(argv.out, result.artifacts, {
      overwrite: argv.overwrite,
      sidecars: { 'prune-plan.json': `${JSON.stringify(result.plan, null, 2)}\n` },
    });
    const report = buildReport(written, result.after, { path: model.path, count: result.before }, wallsOf(result.artifacts.modelTopology));
    out.info(
      `params ${human(result.before.params.total)} -> ${human(result.after.params.total)} (-${(report.reduction!.params * 100).toFixed(1)}%), ` +
        `MACs ${human(result.before.macs)} -> ${human(result.after.macs)} (-${(report.reduction!.macs * 100).toFixed(1)}%)`,
    );
    if (argv.json) {
      out.json({ model: written, plan: result.plan, folds: result.folds, foldSummary: result.foldSummary, unfolded: result.unfolded, report });
    } else {
      out.data(written);
    }
  },
};
