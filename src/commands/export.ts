import type { CommandModule } from 'yargs';
import { versioned } from '../config/outputs.js';
import { loadConfig } from '../config/load.js';
import { InputError } from '../errors.js';
import type { Backend } from '../config/schema.js';
import { QUANTIZE_DTYPES, type QuantizeRule } from '../export/quantize.js';
import type { QuantizationDType } from '../model/io-manifest.js';
import { outputFormat, type ModelFormat } from '../io/output-format.js';
import { startBackend } from '../pipeline/backend.js';
import { outputFor, type GlobalFlags } from './common.js';
import { backendOption, configOption, modelOption, outOption, overwriteOption } from './options.js';
import { QUANTIZED_RELATIVE_TOLERANCE } from '../pipeline/export.js';

interface ExportFlags extends GlobalFlags {
  model: string;
  out: string;
  backend: Backend;
  overwrite: boolean;
  format?: ModelFormat;
  fold: boolean;
  quantize?: QuantizationDType;
  'quantize-uint8'?: string[];
  'quantize-uint16'?: string[];
  'quantize-float16'?: string[];
  'max-output-drift': number;
  fuse: boolean;
  'dense-as-conv': boolean;
  config?: string;
  'max-drop'?: number;
}

/** Per-weight patterns first (the first matching rule wins), then `--quantize DTYPE` for every other weight. */
function quantizeRules(argv: ExportFlags): QuantizeRule[] {
  const rules: QuantizeRule[] = [];
  for (const dtype of QUANTIZE_DTYPES) {
    for (const pattern of argv[`quantize-${dtype}`] ?? []) rules.push({ dtype, pattern });
  }
  if (argv.quantize !== undefined) rules.push({ dtype: argv.quantize, pattern: '*' });
  return rules;
}

export const exportCommand: CommandModule<GlobalFlags, ExportFlags> = {
  command: 'export',
  describe:
    'write an inference model: BatchNorm folded into the Conv/Dense before it, activations fused into it, inference no-ops dropped, ' +
    'weights optionally quantized (outputs checked against the original on a random batch before writing)',
  builder: (y) =>
    y
      .option('model', modelOption('model.json (or its folder)'))
      .option('out', outOption('where to write: a folder (tfjs layers; a trailing slash always means one), or a .keras / .h5 file'))
      .option('backend', { ...backendOption('backend of the output check'), default: 'auto' as const })
      .option('overwrite', overwriteOption())
      .option('format', {
        choices: ['layers', 'graph', 'keras', 'h5'] as const,
        describe:
          'tfjs layers folder, tfjs graph-model folder (tf.loadGraphModel; fused ops), Keras 3 .keras file, or Keras 2 .h5 file (default: from the --out name; layers otherwise)',
      })
      .option('fold', {
        type: 'boolean',
        default: true,
        describe: 'fold BatchNorm into the layer before it; --no-fold writes the model as it is, BatchNorm kept (trainable in Keras)',
      })
      .option('quantize', {
        choices: QUANTIZE_DTYPES,
        describe: "store every float weight as uint8, uint16 or float16 (tfjs's quantized weight format; stock tfjs dequantizes on load)",
      })
      .option('quantize-uint8', {
        type: 'string',
        array: true,
        describe: "store the weights whose names match these patterns ('conv*', '*/kernel') as uint8",
      })
      .option('quantize-uint16', { type: 'string', array: true, describe: 'same, as uint16' })
      .option('quantize-float16', { type: 'string', array: true, describe: 'same, as float16' })
      .option('max-output-drift', {
        type: 'number',
        default: QUANTIZED_RELATIVE_TOLERANCE,
        describe: 'largest output change quantization may cause on the random check batch, relative to max(1, max |output|)',
      })
      .option('fuse', {
        type: 'boolean',
        default: true,
        describe: 'fuse activation layers into the Conv/Dense before them (--no-fuse keeps them)',
      })
      .option('dense-as-conv', {
        type: 'boolean',
        default: true,
        describe:
          'run a Flatten -> Dense head (graph format: also a global average pool -> Dense head) as Conv2D layers plus one Reshape (same outputs, fewer tfjs kernels per predict; --no-dense-as-conv keeps the Dense layers)',
      })
      .option('config', configOption('JSON config whose data section gives the test split: accuracy before and after is measured'))
      .option('max-drop', {
        type: 'number',
        describe: 'with --config: refuse to write when test accuracy drops by more than this many points (default: report only)',
      })
      .check((argv) => {
        const drift = argv['max-output-drift'];
        if (!(Number.isFinite(drift) && drift > 0)) throw new InputError(`--max-output-drift: must be a positive number, got ${drift}`);
        const drop = argv['max-drop'];
        if (drop !== undefined && !(Number.isFinite(drop) && drop >= 0))
          throw new InputError(`--max-drop: must be a number of points >= 0, got ${drop}`);
        if (drop !== undefined && argv.config === undefined)
          throw new InputError('--max-drop needs --config (its test split measures the accuracy)');
        return true;
      }),
  handler: async (argv) => {
    const out = outputFor(argv);
    const write = { overwrite: argv.overwrite };
    const format = outputFormat(argv.out, argv.format);
    const quantize = quantizeRules(argv);
    if (!argv.fold && (format === 'graph' || quantize.length > 0)) {
      throw new InputError(
        `--no-fold writes the model as it is (layers or Keras); it does not go with ${format === 'graph' ? '--format graph' : '--quantize'}`,
      );
    }
    const config = argv.config !== undefined ? await loadConfig(argv.config) : undefined;
    const { readModel } = await import('../model/io.js');
    const model = await readModel(argv.model);
    // Loaded once the model is read: a refused model is refused without them (start-up time).
    const [
      { checkModelOutput },
      { checkExportDestination, denseAsConvApplies, describeExportParams, exportStage, writeModelAs },
      { exportForInference },
    ] = await Promise.all([import('../pipeline/model.js'), import('../pipeline/stages/export.js'), import('../api/node.js')]);
    await checkModelOutput(argv.out, format, write, model.path);
    await startBackend(argv.backend, out);
    if (!argv.fold) {
      out.info('BatchNormalization kept (--no-fold): the model is written as it is, trainable');
      const written = await writeModelAs(model, { dir: argv.out, write, format });
      if (argv.json) out.json(versioned('export', { model: written, folded: [], skipped: [] }));
      else out.data(written);
      return;
    }
    checkExportDestination({ dir: argv.out, write, format }, quantize);
    const { model: artifacts, ...exported } = await exportForInference(model, {
      quantize,
      maxOutputDrift: argv['max-output-drift'],
      fuse: argv.fuse,
      denseAsConv: argv['dense-as-conv'] && denseAsConvApplies(format),
    });
    const outcome = await exportStage(model, { dir: argv.out, write, format }, out, {
      exported: { ...exported, artifacts },
      fuse: argv.fuse,
      denseAsConv: argv['dense-as-conv'],
      ...(config !== undefined ? { accuracy: { config, maxDropPoints: argv['max-drop'] } } : {}),
    });
    out.info(describeExportParams(outcome));
    if (argv.json) {
      out.json(
        versioned('export', {
          model: outcome.written!,
          folded: outcome.folded,
          skipped: outcome.skipped,
          rewrites: outcome.rewrites,
          check: outcome.check,
          ...(outcome.quantized !== undefined
            ? {
                quantization: {
                  weights: Object.fromEntries(outcome.quantized.quantization),
                  maxWeightError: outcome.quantized.maxWeightError,
                  check: outcome.quantized.check,
                },
              }
            : {}),
          ...(outcome.inputQuantized !== undefined ? { inputQuantized: outcome.inputQuantized } : {}),
          weightBytes: outcome.weightBytes,
          ...(outcome.accuracy !== undefined ? { accuracy: outcome.accuracy } : {}),
          ...(outcome.graph !== undefined ? { graph: outcome.graph } : {}),
          params: { before: outcome.before.params.total, after: outcome.after.params.total },
        }),
      );
    } else {
      out.data(outcome.written!);
    }
  },
};
