/**
 * `slim run`: (train or load) → sparsity train → prune → fine-tune → export → report, composed of
 * the same stage functions the single commands call. Every stage's model lands in its own folder
 * under `outDir`, written only after the stage succeeded (atomically), so a failed or diverged run
 * leaves no half model.
 */
import { versioned, type SCHEMA_VERSION } from '../config/outputs.js';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '#tfjs';
import { InputError } from '../errors.js';
import { fromLayersModel, toLayersModel } from '../model/convert.js';
import { writeModel } from '../model/io.js';
import type { ModelArtifacts } from '../model/topology.js';
import { writeFileAtomic } from '../io/files.js';
import type { SweepPoint } from '../report/html/data.js';
import { checkOutPath } from '../io/out-path.js';
import { RUN_REPORT_FILE, writeRunHtmlReport } from '../report/html/index.js';
import { human, type Report } from '../report/render.js';
import type { BenchReport, Config } from '../config/schema.js';
import type { Output } from '../io/output.js';
import type { PrunePlan } from '../prune/plan.js';
import { searchRatioWithinBudget, type BudgetSearch } from './budget.js';
import { searchBudgetOnExecutor, type BudgetExecutor } from '../executors/budget-rounds.js';
import { checkSpeedRuntime, searchRatioWithinSpeedBudget, type SpeedBudgetSearch } from './speed-budget.js';
import type { PreparedData } from './data.js';
import { sweepPoints } from './sweep.js';
import { inputModelPath, loadTrainingInputs } from './inputs.js';
import { addScalesForSparsity, scalesWillBeAdded } from './missing-scale.js';
import { checkOutputs, saveLayersModel, topologyOf } from './model.js';
import { requireSomethingToSlim } from '../prune/slimmable.js';
import { checkStockLoadable } from './verify.js';
import { recalibrateForEvaluation } from './bn-statistics.js';
import { evalBatchAfterTraining, percent, type WriteOptions } from './stages/common.js';
import { evalStage } from './stages/eval.js';
import { exportStage } from './stages/export.js';
import { benchStage } from './stages/bench.js';
import { exportModel } from './export.js';
import { pruneStage, writePrunedModel, type PruneStageResult } from './stages/prune.js';
import { reportStage } from './stages/report.js';
import { trainingStage, type TrainingKind } from './stages/train.js';
import { loadWeightsInto } from './checkpoint.js';
import { RunProgress, type CompletedStage } from './run-state.js';

export interface RunSummary {
  schemaVersion: typeof SCHEMA_VERSION;
  backend: { name: string; gpu: boolean; detail: string };
  data: string;
  out: string;
  /**
   * sparse/pruned/finetuned: the last pass's (each pass's are in `passes`). `exported`: the final
   * model with BatchNorm folded (config export.foldBatchNorm).
   */
  models: { input: string; pretrained?: string; sparse: string; pruned: string; finetuned: string; exported?: string };
  /** Test-set accuracy (fractions 0..1) after each stage of the last pass; `baseline` only for a trained input model. */
  accuracy: { baseline?: number; sparse: number; pruned: number; finetuned: number };
  /** Stages (of the last pass) whose test accuracy is at chance level: each also got a warning line (src/train/chance.ts). */
  chanceLevel: ('baseline' | 'sparse' | 'pruned' | 'finetuned')[];
  /** The last pass's plan. */
  /** `keptWhole`: the channel groups the plan leaves whole and why (as prune-plan.json lists them). */
  prune: Pick<PrunePlan, 'threshold' | 'ratio' | 'candidateChannels' | 'prunedChannels' | 'walls' | 'keptWhole'> & {
    foldedChannels: number;
  };
  /** One entry per pass (config passes), in order. */
  passes: PassSummary[];
  /** With prune.maxAccuracyDrop: the (last) budget search's candidates, as the report's sweep curve. */
  sweep?: SweepPoint[];
  sweepSplit?: 'val' | 'test';
  report: Report;
  /** The exported slim model timed against the exported input model (config bench); absent when bench.runtimes is []. */
  bench?: BenchReport;
  seconds: Record<string, number>;
}

/** One sparsity train -> prune -> fine-tune pass. */
export interface PassSummary {
  pass: number;
  ratio: number | null;
  threshold: number;
  /** Prunable BatchNorm channels before and after this pass's pruning. */
  channels: { before: number; after: number };
  /** Kept width of each channel group after the pass. */
  widths: number[];
  params: number;
  macs: number;
  /** Test-set accuracy (fractions 0..1). */
  accuracy: { sparse: number; pruned: number; finetuned: number };
  models: { sparse: string; pruned: string; finetuned: string };
  /** With prune.maxAccuracyDrop: every candidate ratio tried and why the winner won. */
  budget?: BudgetSearch;
  /** With prune.minSpeedup: every candidate ratio with its measured speed-up (and accuracy when fast enough), and why the winner won. */
  speedBudget?: SpeedBudgetSearch;
}

/** What the stages of one run have produced so far. */
interface RunRecord {
  models: Partial<RunSummary['models']>;
  accuracy: Partial<RunSummary['accuracy']>;
  /** Stages at chance level, by accuracy key. */
  atChance: Partial<Record<keyof RunSummary['accuracy'], boolean>>;
  seconds: Record<string, number>;
}

/** The model folders of one pass. */
type PassFolders = Record<'sparse' | 'pruned' | 'finetuned', string>;

/** The model folders of a run: pass 1 at the top (as a one-pass run), pass k in pass-k/. */
interface RunFolders {
  input: string;
  pretrained?: string;
  exported?: string;
  passes: PassFolders[];
}

function runFolders(config: Config, outDir: string): RunFolders {
  const dir = (...names: string[]) => path.join(outDir, ...names);
  const passFolders = (pass: number): PassFolders => {
    const base = pass === 1 ? [] : [`pass-${pass}`];
    return { sparse: dir(...base, 'sparse'), pruned: dir(...base, 'pruned'), finetuned: dir(...base, 'finetuned') };
  };
  return {
    input: dir('input'),
    ...(config.pretrain.epochs > 0 ? { pretrained: dir('pretrained') } : {}),
    ...(config.export.foldBatchNorm ? { exported: dir('exported') } : {}),
    passes: Array.from({ length: config.passes }, (_, i) => passFolders(i + 1)),
  };
}

function allFolders(folders: RunFolders): string[] {
  return [
    folders.input,
    ...(folders.pretrained ? [folders.pretrained] : []),
    ...folders.passes.flatMap((p) => [p.sparse, p.pruned, p.finetuned]),
    ...(folders.exported ? [folders.exported] : []),
  ];
}

/** Everything a run writes into its folder; a folder holding only these (and staging copies of them) is a re-run's to reuse. */
const RUN_ENTRIES: readonly string[] = [
  'input',
  'pretrained',
  'sparse',
  'pruned',
  'finetuned',
  'exported',
  'checkpoints',
  'run.json',
  RUN_REPORT_FILE,
];
/** Later passes of a multi-pass run write pass-<k>/. */
const PASS_FOLDER = /^pass-\d+$/;
const STAGING_NAME = /^\.(.+)\.slim-(tmp|old)-/;

/**
 * The run folder follows the rule of every other output: it may be new, or hold only a previous
 * run's output (each model folder is then checked by checkOutputs); anything else needs --overwrite.
 */
async function checkRunOutDir(outDir: string, write: WriteOptions): Promise<void> {
  await checkOutPath(outDir, 'folder');
  let names: string[];
  try {
    names = await readdir(outDir);
  } catch {
    return; // missing: created by the first write
  }
  const isRunEntry = (name: string) => RUN_ENTRIES.includes(name) || PASS_FOLDER.test(name);
  const foreign = names.find((name) => !isRunEntry(name) && !isRunEntry(STAGING_NAME.exec(name)?.[1] ?? ''));
  if (foreign !== undefined && !write.overwrite) {
    throw new InputError(
      `${outDir}: folder holds files other than a slim run's output (e.g. ${foreign}); --overwrite writes into it anyway`,
    );
  }
}

/** Interrupt and resume: `signal` stops the training stage under way (checkpointed); `resume` continues a stopped run. */
export interface RunControl {
  resume?: boolean;
  signal?: AbortSignal;
  /** Where the accuracy budget's candidates run (slim run --executor): a plan folder's rounds instead of this process. */
  executor?: BudgetExecutor;
}

export async function runPipeline(
  config: Config,
  outDir: string,
  write: WriteOptions,
  out: Output,
  control: RunControl = {},
): Promise<RunSummary> {
  const { ratio, threshold, maxAccuracyDrop, minSpeedup } = config.prune;
  if (ratio === undefined && threshold === undefined && maxAccuracyDrop === undefined && minSpeedup === undefined) {
    throw new InputError(
      'config: prune: give prune.ratio, prune.threshold, prune.maxAccuracyDrop or prune.minSpeedup (or --ratio / --max-drop / --min-speedup)',
    );
  }
  const started = Date.now();
  const folders = runFolders(config, outDir);
  // The speed budget times candidates on this machine's runtime: its search does not run on an executor.
  if (minSpeedup !== undefined && control.executor !== undefined)
    throw new InputError(
      '--executor: runs the accuracy budget (--max-drop) only; a speed budget (--min-speedup) is timed here, run it without --executor',
    );
  await checkRunOutDir(outDir, write);
  await checkOutputs(allFolders(folders), write, inputModelPath(config));
  // The run ends in a prune: refuse before any data or training when there is nothing to slim.
  // (BatchNorm saved without γ counts when sparsity training is about to give it one.)
  const slimmable = (m: tf.LayersModel) => requireSomethingToSlim(topologyOf(m), 'run', scalesWillBeAdded(config.train));
  const { backend, data, model, trained } = await loadTrainingInputs(config, out, slimmable);
  const run: RunRecord = { models: {}, accuracy: {}, atChance: {}, seconds: {} };
  // Ownership: this function owns the current model; each pass replaces it by its pruned model.
  let current: tf.LayersModel = model;
  try {
    const input = await fromLayersModel(current);
    // A speed budget on a runtime missing here is bad input: said before anything is written or trained.
    if (minSpeedup !== undefined) await checkSpeedRuntime(minSpeedup, input);
    await checkStockLoadable(input, folders.input);
    run.models.input = await writeModel(folders.input, input, write);
    const progress = await RunProgress.open(outDir, config, current, control);
    const passes: PassSummary[] = [];
    let prune: PruneStageResult | undefined;
    for (let pass = 1; pass <= config.passes; pass++) {
      if (config.passes > 1) out.info(out.strong(`pass ${pass}/${config.passes}`));
      const firstPass = pass === 1;
      // BatchNorm saved without γ gets one of ones (the same function) so sparsity training can prune it.
      if (firstPass) current = await addScalesForSparsity(current, config.train, out);
      const stages: RunStages = {
        data,
        config,
        input,
        folders,
        passFolders: folders.passes[pass - 1],
        pass,
        write,
        run,
        progress,
        out,
        executor: control.executor,
      };
      await trainToSparse(current, firstPass && trained, firstPass, stages);
      const result = await prunePass(current, stages);
      current.dispose();
      current = result.pruned;
      prune = result.prune;
      await finetunePruned(current, stages);
      passes.push(passSummary(pass, result, run));
      out.info(describePass(passes.at(-1)!, config.passes));
    }
    const final = await fromLayersModel(current);
    const report = await exportAndReport(final, input, folders, write, run, out);
    const bench = await measureSpeed(final, input, config, run, out);
    run.seconds.total = (Date.now() - started) / 1000;
    const summary: RunSummary = versioned('run', {
      backend: { name: backend.name, gpu: backend.gpu, detail: backend.detail },
      data: data.summary,
      out: path.resolve(outDir),
      models: run.models as RunSummary['models'],
      accuracy: run.accuracy as RunSummary['accuracy'],
      chanceLevel: (['baseline', 'sparse', 'pruned', 'finetuned'] as const).filter((k) => run.atChance[k] === true),
      prune: pruneSummary(prune!),
      passes,
      ...budgetCurve(passes),
      report,
      ...(bench !== undefined ? { bench } : {}),
      seconds: run.seconds,
    });
    await writeFileAtomic(path.join(outDir, 'run.json'), `${JSON.stringify(summary, null, 2)}\n`);
    out.info(`report: ${await writeRunHtmlReport(outDir, summary)}`);
    out.info(describeAccuracies(run));
    await progress.finish();
    return summary;
  } finally {
    current.dispose();
  }
}

/** What the stages of one pass of a run share. */
interface RunStages {
  data: PreparedData;
  config: Config;
  /** The run's input model (what a speed budget measures against). */
  input: ModelArtifacts;
  folders: RunFolders;
  passFolders: PassFolders;
  /** 1-based pass number. */
  pass: number;
  write: WriteOptions;
  run: RunRecord;
  progress: RunProgress;
  out: Output;
  executor?: BudgetExecutor;
}

/** The run-state key of a stage: its kind in pass 1 (as a one-pass run), `<kind>-pass<k>` after. */
function stageKey(kind: TrainingKind | 'prune', pass: number): string {
  return pass === 1 ? kind : `${kind}-pass${pass}`;
}

/**
 * A training stage of the run: skipped (its model loaded into `model`) when a resumed run finds it
 * complete, resumed from its checkpoint when it was the one interrupted, otherwise run from the start.
 */
async function trainingStep(kind: TrainingKind, model: tf.LayersModel, dir: string, stages: RunStages): Promise<CompletedStage> {
  const { progress, out } = stages;
  const key = stageKey(kind, stages.pass);
  const done = await progress.completed(key);
  if (done !== undefined) {
    await loadWeightsInto(model, dir);
    out.info(`${kind}: already complete in ${dir} (--resume)`);
    return done;
  }
  const r = await trainingStage(kind, model, stages.data, stages.config, { dir, write: stages.write }, out, await progress.control(key));
  return progress.record(key, { model: r.written!, accuracy: r.testAccuracy, seconds: r.seconds, atChance: r.atChance });
}

interface PrunedPass {
  prune: PruneStageResult;
  pruned: tf.LayersModel;
  budget?: BudgetSearch;
  speedBudget?: SpeedBudgetSearch;
}

/**
 * The prune step of a pass: the ratio (or threshold) of the config, or the one the accuracy budget
 * search picks on the sparse model; then the pruned model, written and evaluated. The caller owns
 * `sparse` and the returned `pruned` model.
 */
async function prunePass(sparse: tf.LayersModel, stages: RunStages): Promise<PrunedPass> {
  const { data, config, passFolders: folders, write, run, progress, out } = stages;
  const key = stageKey('prune', stages.pass);
  // A resumed run re-derives a completed prune in memory (deterministic, seconds) instead of reading
  // its plan back; the ratio a budget search chose is taken from the record, not searched again.
  const done = await progress.completed(key);
  const { maxAccuracyDrop, minSpeedup } = config.prune;
  let budget: BudgetSearch | undefined;
  let speedBudget: SpeedBudgetSearch | undefined;
  let pruneConfig = config.prune;
  const doneRatio = (done?.prune as { ratio?: number | null } | undefined)?.ratio;
  if (done !== undefined && (maxAccuracyDrop !== undefined || minSpeedup !== undefined) && typeof doneRatio === 'number') {
    pruneConfig = { ...config.prune, maxAccuracyDrop: undefined, minSpeedup: undefined, ratio: doneRatio };
  } else if (minSpeedup !== undefined) {
    // The speed budget (with maxAccuracyDrop too, when given: both must hold).
    const searchStarted = Date.now();
    speedBudget = await searchRatioWithinSpeedBudget(
      sparse,
      stages.input,
      { ...config.prune, minSpeedup },
      config.bench,
      config.seed,
      data,
      config,
      out,
    );
    pruneConfig = { ...config.prune, maxAccuracyDrop: undefined, minSpeedup: undefined, ratio: speedBudget.ratio };
    addSeconds(run, 'search', (Date.now() - searchStarted) / 1000);
  } else if (maxAccuracyDrop !== undefined) {
    const searchStarted = Date.now();
    budget =
      stages.executor === undefined
        ? await searchRatioWithinBudget(sparse, { ...config.prune, maxAccuracyDrop }, data, config, out)
        : await searchBudgetOnExecutor(
            sparse,
            run.models.sparse!,
            { ...config.prune, maxAccuracyDrop },
            data,
            config,
            { executor: stages.executor, pass: stages.pass },
            out,
          );
    pruneConfig = { ...config.prune, maxAccuracyDrop: undefined, ratio: budget.ratio };
    addSeconds(run, 'search', (Date.now() - searchStarted) / 1000);
  }
  const pruneStarted = Date.now();
  const planned = await pruneStage(await fromLayersModel(sparse), pruneConfig, undefined, out);
  const pruned = await toLayersModel(planned.artifacts);
  // Pruning changed what every BN after a pruned layer sees: statistics to match before measuring,
  // and before writing, so pruned/ holds the model measured and fine-tuned (seeded: a resume
  // re-derives the same model, which the fine-tune checkpoint's fingerprint checks).
  await recalibrateForEvaluation(pruned, data, config, config.finetune.batchSize, 'pruned model', out, done !== undefined);
  if (done !== undefined) {
    out.info(`prune: already complete in ${folders.pruned} (--resume)`);
    run.models.pruned = done.model;
    run.accuracy.pruned = done.accuracy;
    run.atChance.pruned = done.atChance;
    addSeconds(run, 'prune', done.seconds);
    return { prune: { ...planned, written: done.model }, pruned, budget, speedBudget };
  }
  const prune = { ...planned, written: await writePrunedModel(await fromLayersModel(pruned), planned, { dir: folders.pruned, write }) };
  run.models.pruned = prune.written;
  const prunedLine = { model: 'pruned model', note: ' before fine-tuning' };
  const prunedScore = await evalStage(
    pruned,
    data,
    { batchSize: evalBatchAfterTraining(config.finetune.batchSize), line: prunedLine },
    out,
  );
  run.accuracy.pruned = prunedScore.accuracy;
  run.atChance.pruned = prunedScore.chance.atChance;
  const seconds = (Date.now() - pruneStarted) / 1000;
  addSeconds(run, 'prune', seconds);
  await progress.record(key, {
    model: prune.written,
    accuracy: run.accuracy.pruned,
    seconds,
    atChance: run.atChance.pruned,
    prune: pruneSummary(prune),
  });
  return { prune, pruned, budget, speedBudget };
}

/** Stage seconds add up over passes. */
function addSeconds(run: RunRecord, stage: string, seconds: number): void {
  run.seconds[stage] = (run.seconds[stage] ?? 0) + seconds;
}

function passSummary(pass: number, { prune, budget, speedBudget }: PrunedPass, run: RunRecord): PassSummary {
  const { plan } = prune;
  return {
    pass,
    ratio: plan.ratio,
    threshold: plan.threshold,
    channels: { before: plan.candidateChannels, after: plan.candidateChannels - plan.prunedChannels },
    widths: plan.groups.map((g) => g.keep.length),
    params: prune.after.params.total,
    macs: prune.after.macs,
    accuracy: { sparse: run.accuracy.sparse!, pruned: run.accuracy.pruned!, finetuned: run.accuracy.finetuned! },
    models: { sparse: run.models.sparse!, pruned: run.models.pruned!, finetuned: run.models.finetuned! },
    ...(budget ? { budget } : {}),
    ...(speedBudget ? { speedBudget } : {}),
  };
}

function budgetCurve(passes: readonly PassSummary[]): Pick<RunSummary, 'sweep' | 'sweepSplit'> {
  const search = [...passes].reverse().find((p) => p.budget !== undefined)?.budget;
  return search ? { sweep: sweepPoints(search.candidates), sweepSplit: search.split } : {};
}

function describePass(p: PassSummary, passes: number): string {
  return (
    `pass ${p.pass}/${passes}: ${p.ratio !== null ? `ratio ${p.ratio}` : `threshold ${p.threshold.toPrecision(4)}`}, channels ${p.channels.before} -> ${p.channels.after}, ` +
    `params ${human(p.params)}, MACs ${human(p.macs)}; test accuracy sparse ${percent(p.accuracy.sparse)}, pruned ${percent(p.accuracy.pruned)}, fine-tuned ${percent(p.accuracy.finetuned)}`
  );
}

/** Baseline accuracy of a trained input, optional pretraining, then sparsity training (or the model as is, when train.epochs is 0). */
async function trainToSparse(model: tf.LayersModel, trained: boolean, firstPass: boolean, stages: RunStages): Promise<void> {
  const { data, config, folders, passFolders, write, run, out } = stages;
  const evalBatch = evalBatchAfterTraining(config.train.batchSize);
  if (trained) {
    const baseline = await evalStage(model, data, { batchSize: evalBatch, line: { model: 'input model' } }, out);
    run.accuracy.baseline = baseline.accuracy;
    run.atChance.baseline = baseline.chance.atChance;
  }
  if (firstPass && folders.pretrained !== undefined) {
    const r = await trainingStep('pretrain', model, folders.pretrained, stages);
    run.models.pretrained = r.model;
    run.accuracy.baseline = r.accuracy;
    run.atChance.baseline = r.atChance;
    run.seconds.pretrain = r.seconds;
    trained = true;
  }
  if (config.train.epochs > 0) {
    const r = await trainingStep('train', model, passFolders.sparse, stages);
    run.models.sparse = r.model;
    run.accuracy.sparse = r.accuracy;
    run.atChance.sparse = r.atChance;
    addSeconds(run, 'train', r.seconds);
  } else {
    // A later pass starts from the previous pass's fine-tuned model: trained.
    if (firstPass && !trained) out.warn('train.epochs is 0 and the model is untrained: pruning its initial gamma values');
    run.models.sparse = await saveLayersModel(model, passFolders.sparse, write);
    const sparse = await evalStage(model, data, { batchSize: evalBatch }, out);
    run.accuracy.sparse = sparse.accuracy;
    run.atChance.sparse = sparse.chance.atChance;
  }
}

/** Fine-tuning of the pruned model, or the pruned model as is when finetune.epochs is 0. */
async function finetunePruned(model: tf.LayersModel, stages: RunStages): Promise<void> {
  const { config, passFolders: folders, write, run } = stages;
  if (config.finetune.epochs > 0) {
    const r = await trainingStep('finetune', model, folders.finetuned, stages);
    run.models.finetuned = r.model;
    run.accuracy.finetuned = r.accuracy;
    run.atChance.finetuned = r.atChance;
    addSeconds(run, 'finetune', r.seconds);
  } else {
    run.models.finetuned = await saveLayersModel(model, folders.finetuned, write);
    run.accuracy.finetuned = run.accuracy.pruned;
    run.atChance.finetuned = run.atChance.pruned;
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

/**
 * The realised speed-up: the exported slim model against the input exported the same way (BN
 * folded in both, so the figure is the pruning's), on config bench.runtimes; a runtime that cannot
 * run here is skipped with its line, not a failed run.
 */
async function measureSpeed(
  final: ModelArtifacts,
  input: ModelArtifacts,
  config: Config,
  run: RunRecord,
  out: Output,
): Promise<BenchReport | undefined> {
  if (config.bench.runtimes.length === 0) return undefined;
  const started = Date.now();
  const active = tf.getBackend();
  try {
    const slim = (await exportModel(final)).artifacts;
    const baseline = (await exportModel(input)).artifacts;
    const report = await benchStage(
      { path: run.models.exported ?? run.models.finetuned!, artifacts: slim },
      { path: `${run.models.input!} (exported in memory)`, artifacts: baseline },
      { ...config.bench, explicit: false, seed: config.seed, timeoutMs: 120_000 },
      out,
    );
    for (const row of report.rows) {
      out.info(
        `realised speed-up on ${row.runtime}, batch ${row.batch}: ${row.speedup!.toFixed(2)}× (MACs ${row.macsSpeedup!.toFixed(2)}×)`,
      );
    }
    return report;
  } finally {
    if (tf.getBackend() !== active) await tf.setBackend(active);
    addSeconds(run, 'bench', (Date.now() - started) / 1000);
  }
}

function pruneSummary(prune: PruneStageResult): RunSummary['prune'] {
  const { threshold, ratio, candidateChannels, prunedChannels, walls, keptWhole } = prune.plan;
  return {
    threshold,
    ratio,
    candidateChannels,
    prunedChannels,
    walls,
    keptWhole: keptWhole ?? [],
    foldedChannels: prune.foldSummary.foldedChannels,
  };
}

function describeAccuracies({ accuracy, seconds }: RunRecord): string {
  return (
    `accuracy: ${accuracy.baseline !== undefined ? `baseline ${percent(accuracy.baseline)}, ` : ''}sparse ${percent(accuracy.sparse)}, ` +
    `pruned ${percent(accuracy.pruned)}, fine-tuned ${percent(accuracy.finetuned)}; total ${seconds.total.toFixed(0)} s`
  );
}
