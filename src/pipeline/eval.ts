/** `slim eval`: a model's top-1 (and top-5) accuracy and confusion counts on the config's test split. */
import { InputError } from '../errors.js';
import type { Config } from '../config/schema.js';
import type { Output } from '../io/output.js';
import { evaluateSource } from '../train/evaluate.js';
import { startBackend } from './backend.js';
import { prepareTestData } from './data.js';
import { loadLayersModel } from './model.js';

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

/** Batch size of evaluation: no gradients are kept, so larger than training batches. */
const EVAL_BATCH = 256;

export async function evalJob(config: Config, modelPath: string, out: Output): Promise<EvalSummary> {
  const started = Date.now();
  const backend = await startBackend(config.backend, out);
  const { model, path } = await loadLayersModel(modelPath);
  try {
    const input = model.inputs[0]?.shape ?? [];
    const output = model.outputs[0]?.shape ?? [];
    const modelClasses = output[output.length - 1];
    if (input.length !== 4) throw new InputError(`${path}: model input shape [${input.join(', ')}] is not an image batch [n, h, w, c]`);
    // The model's input fills in what the config leaves open (resize, channels, class count).
    const data = await prepareTestData(config.data, config.seed, {
      height: input[1] ?? undefined,
      width: input[2] ?? undefined,
      channels: input[3] ?? undefined,
      numClasses: modelClasses ?? undefined,
    });
    out.info(`data: ${data.summary}`);
    const [h, w, c] = data.imageShape;
    if ((input[1] !== null && input[1] !== h) || (input[2] !== null && input[2] !== w) || input[3] !== c) {
      throw new InputError(`${path}: model input shape [${input.map((d) => d ?? 'null').join(', ')}] does not take the data's ${h}x${w}x${c} images`);
    }
    if (modelClasses !== data.numClasses) {
      throw new InputError(`${path}: model outputs ${modelClasses} values per example, the data has ${data.numClasses} classes`);
    }
    const result = await evaluateSource(model, data.test, {
      batchSize: EVAL_BATCH,
      preprocess: data.preprocess,
      topK: data.numClasses > 5 ? 5 : undefined,
      confusion: true,
    });
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
      confusion: result.confusion!,
      seconds: (Date.now() - started) / 1000,
    };
  } finally {
    model.dispose();
  }
}

/** The short stdout table of `slim eval` (without --json). */
export function renderEval(summary: EvalSummary): string {
  const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
  const rows: [string, string][] = [
    ['examples', String(summary.count)],
    ['top-1 accuracy', pct(summary.top1)],
    ...(summary.top5 !== undefined ? ([['top-5 accuracy', pct(summary.top5)]] as [string, string][]) : []),
    ['loss', summary.loss.toFixed(4)],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n');
}
