import type { CommandModule } from 'yargs';
import { versioned } from '../config/outputs.js';
import { loadConfig } from '../config/load.js';
import { InputError } from '../errors.js';
import { outputFormat, type ModelFormat } from '../io/output-format.js';
import { outputFor, type GlobalFlags } from './common.js';
import { configOption, keptModelFormatOption, modelOption, outOption, overwriteOption, pruneAmountOverrides } from './options.js';

interface PruneFlags extends GlobalFlags {
  model: string;
  out?: string;
  config?: string;
  ratio?: number;
  threshold?: number;
  'min-channels'?: number;
  'round-to'?: number;
  'round-mode'?: string;
  importance?: string;
  'dry-run': boolean;
  overwrite: boolean;
  format?: ModelFormat;
}

export const pruneCommand: CommandModule<GlobalFlags, PruneFlags> = {
  command: 'prune',
  describe: 'remove the BatchNorm channels with the smallest |gamma| (one global threshold) and rebuild a smaller model',
  builder: (y) =>
    y
      .option('model', modelOption('sparsity-trained model.json (or its folder)'))
      .option(
        'out',
        outOption('where to write the pruned model (required unless --dry-run): a folder, or a .keras / .h5 file (BatchNorm kept)', false),
      )
      .option('format', keptModelFormatOption())
      .option('config', configOption("JSON config ('-' = stdin); its prune section gives defaults"))
      .option('ratio', { type: 'number', describe: 'fraction of all BN channels to remove, e.g. 0.5' })
      .option('threshold', { type: 'number', describe: 'remove channels whose |gamma| importance is below this' })
      .option('min-channels', { type: 'number', describe: 'floor per layer (default 1: no layer ever loses all channels)' })
      .option('round-to', { type: 'number', describe: 'round kept widths up to a multiple of this (e.g. 8 for SIMD)' })
      .option('round-mode', {
        choices: ['up', 'nearest'],
        describe: '--round-to rounds up (default) or to the nearest multiple (full SIMD tiles at about the same MACs)',
      })
      .option('importance', { choices: ['sum', 'mean', 'max'], describe: 'combine |gamma| of several BNs in one group' })
      .option('dry-run', { type: 'boolean', default: false, describe: 'print the plan (stdout) and write nothing' })
      .option('overwrite', overwriteOption())
      .conflicts('ratio', 'threshold'),
  handler: async (argv) => {
    const out = outputFor(argv);
    const config = await loadConfig(argv.config, [
      ...pruneAmountOverrides(argv),
      { path: ['prune', 'minChannels'], value: argv['min-channels'], flag: '--min-channels' },
      { path: ['prune', 'roundTo'], value: argv['round-to'], flag: '--round-to' },
      { path: ['prune', 'roundMode'], value: argv['round-mode'], flag: '--round-mode' },
      { path: ['prune', 'importance'], value: argv.importance, flag: '--importance' },
    ]);
    const { readModel } = await import('../model/io.js');
    const model = await readModel(argv.model);
    // Loaded once the model is read: a refused model is refused without them (start-up time).
    const [
      { checkModelOutput },
      { describePlan, describeSeparation, describeShortfall, NO_PRUNE_AMOUNT },
      { applyPrune, planPrune },
      { describeReduction, pruneReport, pruneStage },
    ] = await Promise.all([
      import('../pipeline/model.js'),
      import('../pipeline/prune.js'),
      import('../api/node.js'),
      import('../pipeline/stages/prune.js'),
    ]);
    if (config.prune.ratio === undefined && config.prune.threshold === undefined) throw new InputError(NO_PRUNE_AMOUNT);
    const { ratio, threshold, minChannels, roundTo, roundMode, importance } = config.prune;
    const makePlan = () =>
      planPrune(model, { ...(ratio !== undefined ? { ratio } : { threshold }), minChannels, roundTo, roundMode, importance });

    if (argv['dry-run']) {
      const plan = await makePlan();
      const shortfall = describeShortfall(plan);
      if (shortfall !== undefined) out.info(shortfall);
      const separation = describeSeparation(plan);
      if (separation !== undefined) out.warn(separation);
      if (argv.json) out.json(plan);
      else out.data(describePlan(plan).join('\n'));
      return;
    }
    if (argv.out === undefined) throw new InputError('prune: --out is required (or use --dry-run)');

    const write = { overwrite: argv.overwrite };
    const format = outputFormat(argv.out, argv.format);
    await checkModelOutput(argv.out, format, write, model.path);
    const { model: artifacts, ...applied } = await applyPrune(model, await makePlan());
    const result = await pruneStage(model, config.prune, { dir: argv.out, write, format }, out, { ...applied, artifacts });
    const written = result.written!;
    const report = pruneReport(result, written, model.path);
    out.info(describeReduction(result, report));
    if (argv.json) {
      out.json(
        versioned('prune', {
          model: written,
          plan: result.plan,
          folds: result.folds,
          foldSummary: result.foldSummary,
          unfolded: result.unfolded,
          report,
        }),
      );
    } else {
      out.data(written);
    }
  },
};
