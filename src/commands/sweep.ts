import type { CommandModule } from 'yargs';
import { loadConfig } from '../config/load.js';
import { InputError } from '../errors.js';
import { parseRatios, renderSweep, sweepFromConfig, SWEEP_LATENCY_RUNS, writeSweepHtml } from '../pipeline/sweep.js';
import { runtimesOf } from './bench.js';
import { outputFor, type GlobalFlags } from './common.js';
import { backendOption, configOption, modelOption, runtimeOverrides } from './options.js';

interface SweepFlags extends GlobalFlags {
  model: string;
  config: string;
  ratios: string;
  'finetune-epochs': number;
  backend?: string;
  seed?: number;
  'min-channels'?: number;
  'round-to'?: number;
  html?: string;
  latency?: string;
  'latency-batch': number;
  browser?: string;
}

export const sweepCommand: CommandModule<GlobalFlags, SweepFlags> = {
  command: 'sweep',
  describe: 'prune a sparsity-trained model at several ratios and score each on the validation split: channels, params, MACs, accuracy',
  builder: (y) =>
    y
      .option('model', modelOption('sparsity-trained model.json (or its folder)'))
      .option('config', configOption("JSON config ('-' = stdin): data (validation split), prune options, finetune settings", true))
      .option('ratios', {
        type: 'string',
        default: '0.1:0.9:0.1',
        describe: 'a list 0.1,0.3,0.5 or a range start:stop:step (stop included)',
      })
      .option('finetune-epochs', {
        type: 'number',
        default: 0,
        describe: 'briefly fine-tune each candidate (config finetune settings) for a truer curve',
      })
      .option('min-channels', { type: 'number', describe: 'floor per layer (config prune.minChannels)' })
      .option('round-to', { type: 'number', describe: 'round kept widths up to a multiple of this (config prune.roundTo)' })
      .option('html', {
        type: 'string',
        describe: 'also write an HTML report (the model, its |gamma|, accuracy vs ratio and vs MACs) to this file',
      })
      .option('latency', {
        type: 'string',
        describe:
          'also time each candidate, exported, against the unpruned model on this runtime (node:wasm, chromium:wasm, ...; see slim bench)',
      })
      .option('latency-batch', { type: 'number', default: 1, describe: 'batch size of --latency' })
      .option('browser', { type: 'string', describe: 'Chromium or Chrome for a chromium:* --latency (default: found on PATH)' })
      .option('backend', backendOption('compute backend'))
      .option('seed', { type: 'number', describe: 'seed of the validation split and the fine-tunes' }),
  handler: async (argv) => {
    const out = outputFor(argv);
    const ratios = parseRatios(argv.ratios);
    const epochs = argv['finetune-epochs'];
    if (!Number.isInteger(epochs) || epochs < 0) throw new InputError(`--finetune-epochs ${epochs}: expected a whole number >= 0`);
    const config = await loadConfig(argv.config, [
      ...runtimeOverrides({ backend: argv.backend, seed: argv.seed }),
      { path: ['prune', 'minChannels'], value: argv['min-channels'], flag: '--min-channels' },
      { path: ['prune', 'roundTo'], value: argv['round-to'], flag: '--round-to' },
    ]);
    const latencyBatch = argv['latency-batch'];
    if (!(Number.isInteger(latencyBatch) && latencyBatch > 0))
      throw new InputError(`--latency-batch ${latencyBatch}: expected a positive integer`);
    const latency =
      argv.latency !== undefined
        ? {
            runtime: runtimesOf([argv.latency])[0],
            batch: latencyBatch,
            runs: SWEEP_LATENCY_RUNS,
            seed: config.seed,
            browser: argv.browser,
          }
        : undefined;
    const result = await sweepFromConfig(config, argv.model, ratios, epochs, out, latency);
    if (argv.html !== undefined) {
      await writeSweepHtml(argv.html, result);
      out.info(`wrote ${argv.html}`);
    }
    if (argv.json) out.json(result);
    else out.data(renderSweep(result));
  },
};
