/**
 * BatchNorm recalibration on a Teachable-Machine-shaped model (test/fixtures/zoo/nested.ts, BN
 * momentum 0.999 as Keras applications save it, metadata.json beside it) trained on two real MNIST
 * digit classes written as PNG folders (test/helpers/transfer.ts):
 *
 *   node dist/bench/transfer-bn.js [--seed 1] [--epochs 3] [--per-class 150]
 *
 * 1. Test accuracy of each stage (sparsity train, prune at 0.3, fine-tune 1 epoch) with the stored
 *    BN statistics (bnRecalibration.batches 0) and with them re-estimated (the default, 8 batches).
 * 2. A sweep over ratios 0.1..0.7 of the sparsity-trained model (λ "auto"): candidates scored
 *    before fine-tuning (stored statistics, and recalibrated) and after a 1-epoch fine-tune; the
 *    Spearman rank correlation of each pre-fine-tune ranking with the fine-tuned one.
 * Markdown on stdout, with the load average beside the timings; wasm backend, about a minute.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/index.js';
import { configSchema, type Config } from '../src/config/schema.js';
import { Output } from '../src/io/output.js';
import { fromLayersModel, toLayersModel } from '../src/model/convert.js';
import { recalibrateForEvaluation } from '../src/pipeline/bn-statistics.js';
import { loadTrainingInputs } from '../src/pipeline/inputs.js';
import { pruneModel } from '../src/pipeline/prune.js';
import { trainingStage } from '../src/pipeline/stages/train.js';
import { scoreCandidate } from '../src/pipeline/sweep.js';
import { evaluateSource } from '../src/train/evaluate.js';
import type { PreparedData } from '../src/pipeline/data.js';
import { writeDigitFolder, writeTeachableMachineModel } from '../test/helpers/transfer.js';

const { values: args } = parseArgs({
  options: {
    seed: { type: 'string', default: '1' },
    epochs: { type: 'string', default: '3' },
    'per-class': { type: 'string', default: '150' },
  },
});
const quiet = new Output({ quiet: true, progress: false });

function load(): string {
  return os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' / ');
}

async function accuracy(model: tf.LayersModel, data: PreparedData): Promise<number> {
  return (await evaluateSource(model, data.test, { batchSize: 100, preprocess: data.preprocess })).accuracy;
}

/** Spearman's rank correlation (average ranks for ties). */
export function spearman(a: readonly number[], b: readonly number[]): number {
  const ranks = (v: readonly number[]) => {
    const order = v.map((x, i) => [x, i] as const).sort((p, q) => p[0] - q[0]);
    const r = new Array<number>(v.length);
    for (let i = 0; i < order.length;) {
      let j = i;
      while (j + 1 < order.length && order[j + 1][0] === order[i][0]) j++;
      for (let k = i; k <= j; k++) r[order[k][1]] = (i + j) / 2 + 1;
      i = j + 1;
    }
    return r;
  };
  const [ra, rb] = [ranks(a), ranks(b)];
  const mean = (v: number[]) => v.reduce((s, x) => s + x, 0) / v.length;
  const [ma, mb] = [mean(ra), mean(rb)];
  let num = 0;
  let da = 0;
  let db = 0;
  for (let i = 0; i < ra.length; i++) {
    num += (ra[i] - ma) * (rb[i] - mb);
    da += (ra[i] - ma) ** 2;
    db += (rb[i] - mb) ** 2;
  }
  return da === 0 || db === 0 ? 0 : num / Math.sqrt(da * db);
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

async function main(): Promise<void> {
  await selectBackend('wasm'); // before the fixture model is built
  const dir = await mkdtemp(path.join(os.tmpdir(), 'slim-bench-transfer-bn-'));
  try {
    const digits = await writeDigitFolder(path.join(dir, 'data'), [3, 5], Number(args['per-class']), 100);
    const modelDir = path.join(dir, 'tm-model');
    await writeTeachableMachineModel(modelDir, digits.labels);
    const configFor = (own: Record<string, unknown>): Config =>
      configSchema.parse({
        backend: 'wasm',
        replicas: 1,
        seed: Number(args.seed),
        model: { type: 'file', path: modelDir, trained: false },
        data: { dataset: 'folder', trainDir: digits.trainDir, testDir: digits.testDir, validationSplit: 0.1 },
        train: { epochs: Number(args.epochs), batchSize: 16, lr: 0.1, sparsity: 1e-4 },
        finetune: { epochs: 1, batchSize: 16, lr: 0.02 },
        ...own,
      });

    // 1. Stage accuracies, stored vs recalibrated statistics.
    console.log(
      `### Stage accuracy (test, 200 images), seed ${args.seed}, ${args.epochs} sparsity epochs (λ 1e-4), ratio 0.3, 1 fine-tune epoch\n`,
    );
    console.log('| statistics | sparsity trained | pruned | fine-tuned | seconds | load avg (1/5/15 min) |');
    console.log('|---|---|---|---|---|---|');
    for (const batches of [0, 8]) {
      const started = Date.now();
      const config = configFor({ bnRecalibration: { batches } });
      const { data, model } = await loadTrainingInputs(config, quiet);
      const sparse = await trainingStage('train', model, data, config, undefined, quiet);
      const outcome = pruneModel(await fromLayersModel(model), { ...config.prune, ratio: 0.3 });
      model.dispose();
      const pruned = await toLayersModel(outcome.artifacts);
      await recalibrateForEvaluation(pruned, data, config, 16, 'pruned', quiet);
      const prunedAccuracy = await accuracy(pruned, data);
      const finetuned = await trainingStage('finetune', pruned, data, config, undefined, quiet);
      pruned.dispose();
      const label = batches === 0 ? 'stored (momentum 0.999)' : `recalibrated (${batches} batches)`;
      console.log(
        `| ${label} | ${pct(sparse.testAccuracy)} | ${pct(prunedAccuracy)} | ${pct(finetuned.testAccuracy)} | ${((Date.now() - started) / 1000).toFixed(0)} | ${load()} |`,
      );
    }

    // 2. Sweep ranking before vs after fine-tuning, on a model sparsity-trained with λ "auto".
    const config = configFor({ train: { epochs: Number(args.epochs), batchSize: 16, lr: 0.1, sparsity: 'auto' } });
    const { data, model } = await loadTrainingInputs(config, quiet);
    await trainingStage('train', model, data, config, undefined, quiet);
    const artifacts = await fromLayersModel(model);
    model.dispose();
    const ratios = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7];
    const stale: number[] = [];
    const recal: number[] = [];
    const tuned: number[] = [];
    const started = Date.now();
    for (const ratio of ratios) {
      const off = await scoreCandidate(
        artifacts,
        ratio,
        config.prune,
        data,
        { finetuneEpochs: 0, training: { ...config, bnRecalibration: { batches: 0 } } },
        quiet,
      );
      const on = await scoreCandidate(artifacts, ratio, config.prune, data, { finetuneEpochs: 1, training: config }, quiet);
      stale.push(off.accuracy);
      recal.push(on.accuracy);
      tuned.push(on.finetuned!.accuracy);
    }
    console.log(
      `\n### Sweep (val split, ${data.val?.count ?? 0} images; λ "auto"), ${((Date.now() - started) / 1000).toFixed(0)} s, load avg ${load()}\n`,
    );
    console.log(`| ratio | ${ratios.join(' | ')} |`);
    console.log(`|---|${ratios.map(() => '---').join('|')}|`);
    console.log(`| before fine-tune, stored statistics | ${stale.map(pct).join(' | ')} |`);
    console.log(`| before fine-tune, recalibrated | ${recal.map(pct).join(' | ')} |`);
    console.log(`| after a 1-epoch fine-tune | ${tuned.map(pct).join(' | ')} |`);
    console.log(
      `\nSpearman rank correlation with the fine-tuned ranking: stored statistics ${spearman(stale, tuned).toFixed(2)}, recalibrated ${spearman(recal, tuned).toFixed(2)}`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
