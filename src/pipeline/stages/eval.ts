/**
 * The eval stage: a model's accuracy (and on request top-k and confusion counts) on the test split,
 * with an optional accuracy line on stderr.
 * Ownership: the caller owns `model` and `data`; the stage only reads them, so it can evaluate many
 * models (pruned at several ratios, say) against one loaded test split.
 */
import type * as tf from '#tfjs';
import { InputError } from '../../errors.js';
import type { Config } from '../../config/schema.js';
import type { Output } from '../../io/output.js';
import { evaluateSource, type DetailedEvaluateResult } from '../../train/evaluate.js';
import { startBackend } from '../backend.js';
import { prepareTestData, type PreparedTestData } from '../data.js';
import { inputMismatch, loadLayersModel, shapeHintsOf } from '../model.js';
import { resolvePreprocess } from '../model-metadata.js';
import { warnImplausibleScale } from '../in-model-preprocess.js';
import { dataClasses, describeLoss } from '../../train/loss.js';
import { EVAL_BATCH, percent } from './common.js';
import { CHANCE_CAUSES, chanceVerdict, type ChanceVerdict } from '../../train/chance.js';

export interface EvalStageOptions {
  batchSize: number;
  /** Also count top-k hits. */
  topK?: number;
  confusion?: boolean;
  /** Log `<model>: test accuracy x%<note>`; without it the stage is silent. */
  line?: { model: string; note?: string };
}

export async function evalStage(
  model: tf.LayersModel,
  data: PreparedTestData,
  options: EvalStageOptions,
  out: Output,
): Promise<DetailedEvaluateResult & { chance: ChanceVerdict }> {
  const result = await evaluateSource(model, data.test, {
    batchSize: options.batchSize,
    preprocess: data.preprocess,
    topK: options.topK,
    confusion: true,
  });
  const chance = chanceVerdict(result.confusion);
  if (options.line) out.info(`${options.line.model}: test accuracy ${percent(result.accuracy)}${options.line.note ?? ''}`);
  warnIfAtChance(options.line?.model ?? 'model', result.accuracy, chance, out);
  return { ...result, chance };
}

/** The one warning line of a stage whose accuracy is at chance level, with the causes slim can check. */
export function warnIfAtChance(what: string, accuracy: number, chance: ChanceVerdict, out: Output): void {
  if (chance.atChance)
    out.warn(`${what.trim()}: test accuracy ${percent(accuracy)} is at chance level (${chance.reason}); ${CHANCE_CAUSES}`);
}

export interface EvalSummary {
  model: string;
  backend: string;
  data: string;
  count: number;
  /** Fractions 0..1. */
  top1: number;
  /** Only when the model has more than 5 classes. */
  top5?: number;
  /** Mean cross-entropy per example. */
  loss: number;
  numClasses: number;
  classNames?: string[];
  /** confusion[true class][predicted class] = count. */
  confusion: number[][];
  seconds: number;
}

/** `slim eval`: load the model, then the test split shaped by the model's input, then the eval stage. */
export async function evalFromConfig(config: Config, modelPath: string, out: Output): Promise<EvalSummary> {
  const started = Date.now();
  const backend = await startBackend(config.backend, out);
  const { model, path } = await loadLayersModel(modelPath);
  try {
    const data = await testDataFor(model, path, config, out);
    const result = await evalStage(model, data, { batchSize: EVAL_BATCH, topK: data.numClasses > 5 ? 5 : undefined, confusion: true }, out);
    return {
      model: path,
      backend: backend.detail,
      data: data.summary,
      count: result.count,
      top1: result.accuracy,
      ...(result.topKAccuracy !== undefined ? { top5: result.topKAccuracy } : {}),
      loss: result.loss,
      numClasses: data.numClasses,
      ...(data.classNames ? { classNames: data.classNames } : {}),
      confusion: result.confusion ?? [],
      seconds: (Date.now() - started) / 1000,
    };
  } finally {
    model.dispose();
  }
}

/** The config's test split; the model's input fills in what the config leaves open (resize, channels, class count). */
export async function testDataFor(model: tf.LayersModel, path: string, config: Config, out: Output): Promise<PreparedTestData> {
  const input = model.inputs[0]?.shape ?? [];
  const output = model.outputs[0]?.shape ?? [];
  const modelClasses = dataClasses(model);
  if (input.length !== 4) throw new InputError(`${path}: model input shape [${input.join(', ')}] is not an image batch [n, h, w, c]`);
  const data = await prepareTestData(config.data, config.seed, shapeHintsOf(model));
  out.info(`data: ${data.summary}`);
  const [h, w, c] = data.imageShape;
  if ((input[1] !== null && input[1] !== h) || (input[2] !== null && input[2] !== w) || input[3] !== c) {
    throw new InputError(`${path}: ${inputMismatch(input, data.imageShape)}`);
  }
  if (modelClasses !== data.numClasses) {
    throw new InputError(`${path}: model outputs ${output[output.length - 1]} values per example, the data has ${data.numClasses} classes`);
  }
  out.info(describeLoss(model));
  const preprocess = resolvePreprocess(data.preprocess, model, out);
  warnImplausibleScale(preprocess, data.floatRange, out);
  return { ...data, preprocess };
}

/** The short stdout table of `slim eval` (without --json). */
export function renderEval(summary: EvalSummary): string {
  const rows: [string, string][] = [
    ['examples', String(summary.count)],
    ['top-1 accuracy', percent(summary.top1)],
    ...(summary.top5 !== undefined ? ([['top-5 accuracy', percent(summary.top5)]] as [string, string][]) : []),
    ['loss', summary.loss.toFixed(4)],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n');
}
