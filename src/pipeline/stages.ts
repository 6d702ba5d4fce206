/**
 * The jobs behind `slim train`, `slim finetune` and `slim run`. Each stage's model is written
 * only after the stage succeeded, atomically, so a failed or diverged run leaves no half model.
 */
import path from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { InputError } from '../errors.js';
import { fromLayersModel, toLayersModel } from '../model/convert.js';
import { writeModel } from '../model/io.js';
import { writeFileAtomic } from '../io/files.js';
import { renderReport, type Report } from '../report/render.js';
import type { Config } from '../config/schema.js';
import type { Output } from '../io/output.js';
import type { PrunePlan } from '../prune/plan.js';
import { startBackend } from './backend.js';
import { describeExport, exportModel } from './export.js';
import { prepareData } from './data.js';
import { checkOutputs, modelFromConfig, saveLayersModel } from './model.js';
import { describeFolds, describePlan, pruneModel } from './prune.js';
import { reportOfTopologies } from './report.js';
import { addScalesForSparsity } from './missing-scale.js';
import { runTrainingStage, testAccuracy } from './train.js';
import type { EpochRecord } from '../train/loop.js';

export interface TrainJobResult {
  model: string;
  backend: string;
  testAccuracy: number;
  seconds: number;
  epochs: EpochRecord[];
}

/** `slim train` (sparsity training) and `slim finetune` (no sparsity term). */
export async function trainCommandJob(
  config: Config,
  stage: 'train' | 'finetune',
  outDir: string,
  write: { overwrite: boolean },
  out: Output,
): Promise<TrainJobResult> {
  const hp = config[stage];
  if (hp.epochs < 1) throw new InputError(`config: ${stage}.epochs: must be at least 1 for slim ${stage}`);
  await checkOutputs([outDir], write, config.model?.type === 'file' ? config.model.path : undefined);
  const backend = await startBackend(config.backend, out);
  const data = await prepareData(config.data, config.seed);
  out.info(`data: ${data.summary}`);
  const loaded = (await modelFromConfig(config.model, data, config.seed)).model;
  const model = stage === 'train' ? await addScalesForSparsity(loaded, config.train, out) : loaded; // BN without γ
  try {
    const lambda = stage === 'train' ? config.train.sparsity : 0;
    const result = await runTrainingStage(model, data, { ...hp, replicas: config.replicas }, lambda, config.seed, out, stage === 'train' ? 'sparsity train' : 'fine-tune', hp.trainable);
    const logName = stage === 'train' ? 'train-log.jsonl' : 'finetune-log.jsonl';
    const written = await saveLayersModel(model, outDir, { overwrite: write.overwrite, sidecars: { [logName]: result.log } });
    return { model: written, backend: backend.detail, testAccuracy: result.testAccuracy, seconds: result.seconds, epochs: result.epochs };
  } finally {
    model.dispose();
  }
}

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

/** `slim run`: (train or load) → sparsity train → prune → fine-tune → report, every model under `outDir`. */
export async function runPipeline(config: Config, outDir: string, write: { overwrite: boolean }, out: Output): Promise<RunSummary> {
  if (config.prune.ratio === undefined && config.prune.threshold === undefined) {
    throw new InputError('config: prune: give prune.ratio or prune.threshold (or --ratio)');
  }
  const started = Date.now();
  const seconds: Record<string, number> = {};
  const dir = (name: string) => path.join(outDir, name);
  const writeOptions = { overwrite: write.overwrite };

  const stageDirs = [
    'input',
    'sparse',
    'pruned',
    'finetuned',
    ...(config.pretrain.epochs > 0 ? ['pretrained'] : []),
    ...(config.export.foldBatchNorm ? ['exported'] : []),
  ].map(dir);
  await checkOutputs(stageDirs, write, config.model?.type === 'file' ? config.model.path : undefined);
  const backend = await startBackend(config.backend, out);
  const data = await prepareData(config.data, config.seed);
  out.info(`data: ${data.summary}`);
  const built = await modelFromConfig(config.model, data, config.seed);
  let model = built.model;
  let trained = built.trained;
  let modelDisposed = false;
  let pruned: tf.LayersModel | undefined;
  try {
    const input = await fromLayersModel(model);
    const models: Partial<RunSummary['models']> = {};
    const accuracy: Partial<RunSummary['accuracy']> = {};
    models.input = await writeModel(dir('input'), input, writeOptions);
    if (trained) accuracy.baseline = await testAccuracy(model, data, config.train.batchSize);
    if (trained) out.info(`input model: test accuracy ${(accuracy.baseline! * 100).toFixed(2)}%`);
    model = await addScalesForSparsity(model, config.train, out); // BN without γ gets one (same function)

    if (config.pretrain.epochs > 0) {
      const r = await runTrainingStage(model, data, { ...config.pretrain, replicas: config.replicas }, 0, config.seed, out, 'pretrain');
      models.pretrained = await saveLayersModel(model, dir('pretrained'), { ...writeOptions, sidecars: { 'train-log.jsonl': r.log } });
      accuracy.baseline = r.testAccuracy;
      seconds.pretrain = r.seconds;
      trained = true;
    }

    if (config.train.epochs > 0) {
      const r = await runTrainingStage(model, data, { ...config.train, replicas: config.replicas }, config.train.sparsity, config.seed, out, 'sparsity train', config.train.trainable);
      models.sparse = await saveLayersModel(model, dir('sparse'), { ...writeOptions, sidecars: { 'train-log.jsonl': r.log } });
      accuracy.sparse = r.testAccuracy;
      seconds.train = r.seconds;
    } else {
      if (!trained) out.warn('train.epochs is 0 and the model is untrained: pruning its initial gamma values');
      models.sparse = await saveLayersModel(model, dir('sparse'), writeOptions);
      accuracy.sparse = await testAccuracy(model, data, config.train.batchSize);
    }

    const pruneStarted = Date.now();
    const outcome = pruneModel(await fromLayersModel(model), config.prune);
    for (const line of describePlan(outcome.plan)) out.info(line);
    for (const line of describeFolds(outcome.foldSummary, outcome.unfolded)) out.info(line);
    model.dispose();
    modelDisposed = true;
    pruned = await toLayersModel(outcome.artifacts);
    models.pruned = await writeModel(dir('pruned'), outcome.artifacts, {
      ...writeOptions,
      sidecars: { 'prune-plan.json': `${JSON.stringify(outcome.plan, null, 2)}\n` },
    });
    accuracy.pruned = await testAccuracy(pruned, data, config.finetune.batchSize);
    seconds.prune = (Date.now() - pruneStarted) / 1000;
    out.info(`pruned model: test accuracy ${(accuracy.pruned * 100).toFixed(2)}% before fine-tuning`);

    if (config.finetune.epochs > 0) {
      const r = await runTrainingStage(pruned, data, { ...config.finetune, replicas: config.replicas }, 0, config.seed, out, 'fine-tune', config.finetune.trainable);
      models.finetuned = await saveLayersModel(pruned, dir('finetuned'), { ...writeOptions, sidecars: { 'finetune-log.jsonl': r.log } });
      accuracy.finetuned = r.testAccuracy;
      seconds.finetune = r.seconds;
    } else {
      models.finetuned = await saveLayersModel(pruned, dir('finetuned'), writeOptions);
      accuracy.finetuned = accuracy.pruned;
    }

    const finalArtifacts = await fromLayersModel(pruned);
    if (config.export.foldBatchNorm) {
      // The deployable model: BN costs inference time that the MACs count does not show.
      const exported = await exportModel(finalArtifacts);
      for (const line of describeExport(exported)) out.info(line);
      models.exported = await writeModel(dir('exported'), exported.artifacts, writeOptions);
    }
    const finalTopology = finalArtifacts.modelTopology;
    const report = reportOfTopologies({ path: models.finetuned, topology: finalTopology }, { path: models.input, topology: input.modelTopology });
    out.info('');
    out.info(renderReport(report));
    seconds.total = (Date.now() - started) / 1000;
    const summary: RunSummary = {
      backend: { name: backend.name, gpu: backend.gpu, detail: backend.detail },
      data: data.summary,
      out: path.resolve(outDir),
      models: models as RunSummary['models'],
      accuracy: accuracy as RunSummary['accuracy'],
      prune: {
        threshold: outcome.plan.threshold,
        ratio: outcome.plan.ratio,
        candidateChannels: outcome.plan.candidateChannels,
        prunedChannels: outcome.plan.prunedChannels,
        walls: outcome.plan.walls,
        foldedChannels: outcome.foldSummary.foldedChannels,
      },
      report,
      seconds,
    };
    await writeFileAtomic(path.join(outDir, 'run.json'), `${JSON.stringify(summary, null, 2)}\n`);
    const pct = (x: number | undefined) => (x === undefined ? '-' : `${(x * 100).toFixed(2)}%`);
    out.info(
      `accuracy: ${accuracy.baseline !== undefined ? `baseline ${pct(accuracy.baseline)}, ` : ''}sparse ${pct(accuracy.sparse)}, ` +
        `pruned ${pct(accuracy.pruned)}, fine-tuned ${pct(accuracy.finetuned)}; total ${seconds.total.toFixed(0)} s`,
    );
    return summary;
  } finally {
    if (!modelDisposed) model.dispose();
    pruned?.dispose();
  }
}
