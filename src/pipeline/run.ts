/**
 * `slim run`: (train or load) → sparsity train → prune → fine-tune → export → report, composed of
 * the same stage functions the single commands call. Every stage's model lands in its own folder
 * under `outDir`, written only after the stage succeeded (atomically), so a failed or diverged run
 * leaves no half model.
 */
import path from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { InputError } from '../errors.js';
import { fromLayersModel, toLayersModel } from '../model/convert.js';
import { writeModel } from '../model/io.js';
import type { ModelArtifacts } from '../model/topology.js';
import { writeFileAtomic } from '../io/files.js';
import { writeRunHtmlReport } from '../report/html/index.js';
import type { Report } from '../report/render.js';
import type { Config } from '../config/schema.js';
import type { Output } from '../io/output.js';
import type { PrunePlan } from '../prune/plan.js';
import type { PreparedData } from './data.js';
import { inputModelPath, loadTrainingInputs } from './inputs.js';
import { addScalesForSparsity } from './missing-scale.js';
import { checkOutputs, saveLayersModel } from './model.js';
import { evalBatchAfterTraining, percent, type WriteOptions } from './stages/common.js';
import { evalStage } from './stages/eval.js';
import { exportStage } from './stages/export.js';
import { pruneStage, type PruneStageResult } from './stages/prune.js';
import { reportStage } from './stages/report.js';
import { trainingStage } from './stages/train.js';

export interface RunSummary {
  backend: { name: string; gpu: boolean; detail: string };
  data: string;
  out: string;
  /** `exported`: the fine-tuned model with BatchNorm folded (config export.foldBatchNorm). */
  models: { input: string; pretrained?: string; sparse: string; pruned: string; finetuned: string; exported?: string };
  /** Test-set accuracy (fractions 0..1) after each stage; `baseline` only for a trained input model. */
  accuracy: { baseline?: number; sparse: number; pruned: number; finetuned: number };
  prune: Pick<PrunePlan, 'threshold' | 'ratio' | 'candidateChannels' | 'prunedChannels' | 'walls'> & { foldedChannels: number };
  report: Report;
  seconds: Record<string, number>;
}

/** What the stages of one run have produced so far. */
interface RunRecord {
  models: Partial<RunSummary['models']>;
  accuracy: Partial<RunSummary['accuracy']>;
  seconds: Record<string, number>;
}

/** The model folders of a run, in the order they are checked. */
type RunFolders = Record<'input' | 'sparse' | 'pruned' | 'finetuned', string> & { pretrained?: string; exported?: string };

function runFolders(config: Config, outDir: string): RunFolders {
  const dir = (name: string) => path.join(outDir, name);
  return {
    input: dir('input'),
    sparse: dir('sparse'),
    pruned: dir('pruned'),
    finetuned: dir('finetuned'),
    ...(config.pretrain.epochs > 0 ? { pretrained: dir('pretrained') } : {}),
    ...(config.export.foldBatchNorm ? { exported: dir('exported') } : {}),
  };
}

export async function runPipeline(config: Config, outDir: string, write: WriteOptions, out: Output): Promise<RunSummary> {
  if (config.prune.ratio === undefined && config.prune.threshold === undefined) {
    throw new InputError('config: prune: give prune.ratio or prune.threshold (or --ratio)');
  }
  const started = Date.now();
  const folders = runFolders(config, outDir);
  await checkOutputs(Object.values(folders) as string[], write, inputModelPath(config));
  const { backend, data, model, trained } = await loadTrainingInputs(config, out);
  const run: RunRecord = { models: {}, accuracy: {}, seconds: {} };
  // Ownership: this function owns both models; the sparse one is disposed as soon as it is pruned.
  let sparse: tf.LayersModel | undefined = model;
  let pruned: tf.LayersModel | undefined;
  try {
    const input = await fromLayersModel(sparse);
    run.models.input = await writeModel(folders.input, input, write);
    // BatchNorm saved without γ gets one of ones (the same function) so sparsity training can prune it.
    sparse = await addScalesForSparsity(sparse, config.train, out);
    await trainToSparse(sparse, trained, data, config, folders, write, run, out);

    const pruneStarted = Date.now();
    const prune = await pruneStage(await fromLayersModel(sparse), config.prune, { dir: folders.pruned, write }, out);
    sparse.dispose();
    sparse = undefined;
    pruned = await toLayersModel(prune.artifacts);
    run.models.pruned = prune.written;
    const prunedLine = { model: 'pruned model', note: ' before fine-tuning' };
    run.accuracy.pruned = (
      await evalStage(pruned, data, { batchSize: evalBatchAfterTraining(config.finetune.batchSize), line: prunedLine }, out)
    ).accuracy;
    run.seconds.prune = (Date.now() - pruneStarted) / 1000;

    await finetunePruned(pruned, data, config, folders, write, run, out);
    const report = await exportAndReport(await fromLayersModel(pruned), input, folders, write, run, out);
    run.seconds.total = (Date.now() - started) / 1000;
    const summary: RunSummary = {
      backend: { name: backend.name, gpu: backend.gpu, detail: backend.detail },
      data: data.summary,
      out: path.resolve(outDir),
      models: run.models as RunSummary['models'],
      accuracy: run.accuracy as RunSummary['accuracy'],
      prune: pruneSummary(prune),
      report,
      seconds: run.seconds,
    };
    await writeFileAtomic(path.join(outDir, 'run.json'), `${JSON.stringify(summary, null, 2)}\n`);
    out.info(`report: ${await writeRunHtmlReport(outDir, summary)}`);
    out.info(describeAccuracies(run));
    return summary;
  } finally {
    sparse?.dispose();
    pruned?.dispose();
  }
}

/** Baseline accuracy of a trained input, optional pretraining, then sparsity training (or the model as is, when train.epochs is 0). */
async function trainToSparse(
  model: tf.LayersModel,
  trained: boolean,
  data: PreparedData,
  config: Config,
  folders: RunFolders,
  write: WriteOptions,
  run: RunRecord,
  out: Output,
): Promise<void> {
  const evalBatch = evalBatchAfterTraining(config.train.batchSize);
  if (trained)
    run.accuracy.baseline = (await evalStage(model, data, { batchSize: evalBatch, line: { model: 'input model' } }, out)).accuracy;
  if (folders.pretrained !== undefined) {
    const r = await trainingStage('pretrain', model, data, config, { dir: folders.pretrained, write }, out);
    run.models.pretrained = r.written;
    run.accuracy.baseline = r.testAccuracy;
    run.seconds.pretrain = r.seconds;
    trained = true;
  }
  if (config.train.epochs > 0) {
    const r = await trainingStage('train', model, data, config, { dir: folders.sparse, write }, out);
    run.models.sparse = r.written;
    run.accuracy.sparse = r.testAccuracy;
    run.seconds.train = r.seconds;
  } else {
    if (!trained) out.warn('train.epochs is 0 and the model is untrained: pruning its initial gamma values');
    run.models.sparse = await saveLayersModel(model, folders.sparse, write);
    run.accuracy.sparse = (await evalStage(model, data, { batchSize: evalBatch }, out)).accuracy;
  }
}

/** Fine-tuning of the pruned model, or the pruned model as is when finetune.epochs is 0. */
async function finetunePruned(
  model: tf.LayersModel,
  data: PreparedData,
  config: Config,
  folders: RunFolders,
  write: WriteOptions,
  run: RunRecord,
  out: Output,
): Promise<void> {
  if (config.finetune.epochs > 0) {
    const r = await trainingStage('finetune', model, data, config, { dir: folders.finetuned, write }, out);
    run.models.finetuned = r.written;
    run.accuracy.finetuned = r.testAccuracy;
    run.seconds.finetune = r.seconds;
  } else {
    run.models.finetuned = await saveLayersModel(model, folders.finetuned, write);
    run.accuracy.finetuned = run.accuracy.pruned;
  }
}

/** The deployable model (BN folded: it costs inference time the MACs count does not show), then the report against the input. */
async function exportAndReport(
  final: ModelArtifacts,
  input: ModelArtifacts,
  folders: RunFolders,
  write: WriteOptions,
  run: RunRecord,
  out: Output,
): Promise<Report> {
  if (folders.exported !== undefined) {
    run.models.exported = (await exportStage(final, { dir: folders.exported, write }, out)).written;
  }
  return reportStage(
    { path: run.models.finetuned!, topology: final.modelTopology },
    { path: run.models.input!, topology: input.modelTopology },
    out,
  );
}

function pruneSummary(prune: PruneStageResult): RunSummary['prune'] {
  const { threshold, ratio, candidateChannels, prunedChannels, walls } = prune.plan;
  return { threshold, ratio, candidateChannels, prunedChannels, walls, foldedChannels: prune.foldSummary.foldedChannels };
}

function describeAccuracies({ accuracy, seconds }: RunRecord): string {
  return (
    `accuracy: ${accuracy.baseline !== undefined ? `baseline ${percent(accuracy.baseline)}, ` : ''}sparse ${percent(accuracy.sparse)}, ` +
    `pruned ${percent(accuracy.pruned)}, fine-tuned ${percent(accuracy.finetuned)}; total ${seconds.total.toFixed(0)} s`
  );
}
