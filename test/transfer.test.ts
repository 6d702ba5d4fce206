/**
 * Transfer-learning models come out working: BatchNorm statistics re-estimated after training
 * (src/train/bn-statistics.ts), the chance-level verdict (src/train/chance.ts), λ sized from the γ
 * scale (src/train/lambda.ts) and Teachable Machine's metadata.json (src/model/companion.ts,
 * src/pipeline/model-metadata.ts), on a Teachable-Machine-shaped model (nested Sequentials, BN
 * momentum 0.999) trained on two real MNIST digit classes written as PNG files.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/index.js';
import { configSchema, type Config } from '../src/config/schema.js';
import { Dataset } from '../src/data/dataset.js';
import { InputError } from '../src/errors.js';
import { readModel, writeModel } from '../src/model/io.js';
import { toLayersModel } from '../src/model/convert.js';
import { loadTrainingInputs } from '../src/pipeline/inputs.js';
import { resolvePreprocess, TEACHABLE_MACHINE_IMAGE_PREPROCESS } from '../src/pipeline/model-metadata.js';
import { loadLayersModel } from '../src/pipeline/model.js';
import { trainingStage } from '../src/pipeline/stages/train.js';
import { DEFAULT_PREPROCESS } from '../src/data/formats/shared-fields.js';
import { bnGammaMagnitudes } from '../src/report/sparkline.js';
import { batchNormLayers, overrideBatchNormMomentum, recalibrateBatchNorm } from '../src/train/bn-statistics.js';
import { chanceVerdict } from '../src/train/chance.js';
import { evaluateSource } from '../src/train/evaluate.js';
import { autoLambda, lambdaFit, median, shrinkPerLambda } from '../src/train/lambda.js';
import { findBnGammas } from '../src/train/sparsity.js';
import { teachableMachineMetadata, writeDigitFolder, writeTeachableMachineModel } from './helpers/transfer.js';
import { capturingOutput } from './helpers/capture-output.js';

let dir: string;
let digits: Awaited<ReturnType<typeof writeDigitFolder>>;
let tmModel: string;

before(async () => {
  await selectBackend('wasm');
  dir = await mkdtemp(join(tmpdir(), 'slim-transfer-'));
  digits = await writeDigitFolder(join(dir, 'data'), [3, 5], 150, 100);
  tmModel = join(dir, 'tm-model');
  await writeTeachableMachineModel(tmModel, digits.labels);
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function tmConfig(own: Record<string, unknown> = {}): Config {
  return configSchema.parse({
    backend: 'wasm',
    replicas: 1,
    model: { type: 'file', path: tmModel, trained: false },
    data: { dataset: 'folder', trainDir: digits.trainDir, testDir: digits.testDir, validationSplit: 0 },
    train: { epochs: 2, batchSize: 16, lr: 0.1 },
    ...own,
  });
}

async function testScore(model: tf.LayersModel, data: Awaited<ReturnType<typeof loadTrainingInputs>>['data']) {
  const r = await evaluateSource(model, data.test, { batchSize: 100, preprocess: data.preprocess, confusion: true });
  return { accuracy: r.accuracy, chance: chanceVerdict(r.confusion) };
}

describe('BatchNorm statistics that match the weights', () => {
  test('a TM-shaped model (momentum 0.999) collapses to one class with its stored statistics; recalibration recovers it', async () => {
    const { out, lines } = capturingOutput();
    const config = tmConfig({ bnRecalibration: { batches: 0 } }); // off: the stage leaves the stored statistics
    const { data, model } = await loadTrainingInputs(config, out);
    try {
      await trainingStage('train', model, data, config, undefined, out);
      assert.ok(!lines.some((l) => l.includes('recalibrated')), 'batches 0 switches recalibration off');
      const stale = await testScore(model, data);
      assert.ok(stale.chance.atChance, `stored statistics: ${stale.accuracy} should be at chance level`);
      assert.ok(
        lines.some((l) => l.startsWith('warning: sparsity train: test accuracy') && l.includes('at chance level')),
        'the stage warned',
      );
      const r = await recalibrateBatchNorm(model, data.train, { batches: 8, batchSize: 16, preprocess: data.preprocess, seed: 1 });
      assert.deepEqual(r, { layers: 10, batches: 8, examples: 128 });
      const fixed = await testScore(model, data);
      assert.ok(fixed.accuracy >= 0.75 && !fixed.chance.atChance, `recalibrated accuracy ${fixed.accuracy} well above chance`);
    } finally {
      model.dispose();
    }
  });

  test('the training stage recalibrates by default and says so; bnMomentum is used in training and the file keeps its own', async () => {
    const { out, lines } = capturingOutput();
    const config = tmConfig({ train: { epochs: 2, batchSize: 16, lr: 0.1, bnMomentum: 0.9 } });
    const { data, model } = await loadTrainingInputs(config, out);
    try {
      const r = await trainingStage('train', model, data, config, undefined, out);
      assert.ok(
        lines.some((l) => l === "sparsity train: BatchNorm momentum 0.9 (config train.bnMomentum; the model's: 0.999)"),
        lines.join('\n'),
      );
      assert.ok(
        lines.some((l) =>
          /sparsity train: BatchNorm statistics recalibrated \(10 layer\(s\), average of 8 training batch\(es\), 128 images\)/.test(l),
        ),
      );
      assert.ok(r.testAccuracy >= 0.75 && !r.atChance, `test accuracy ${r.testAccuracy}`);
      assert.deepEqual(
        [...new Set(batchNormLayers(model).map((l) => (l.getConfig() as { momentum: number }).momentum))],
        [0.999],
        'the model keeps the momentum it was saved with',
      );
    } finally {
      model.dispose();
    }
  });

  test('recalibration sets each moving mean/variance to the exact average of the batch statistics', async () => {
    const input = tf.input({ shape: [2, 2, 3] });
    const bn = tf.layers.batchNormalization({ momentum: 0.999 });
    const model = tf.model({ inputs: input, outputs: bn.apply(input) as tf.SymbolicTensor });
    const images = new Uint8Array(4 * 2 * 2 * 3).map((_, i) => (i * 37) % 256);
    const data = new Dataset({ images: { data: images, count: 4, height: 2, width: 2, channels: 3 }, labels: new Uint8Array(4) });
    const preprocess = { scale: 1, mean: [0], std: [1] };
    await recalibrateBatchNorm(model, data, { batches: 2, batchSize: 2, preprocess, seed: 0 });
    // Expected: the mean over the two batches (any order) of each batch's per-channel mean and biased variance.
    const perBatch = [0, 1].map(() => ({ mean: [0, 0, 0], variance: [0, 0, 0] }));
    // Which rows form each batch depends on the shuffle: recompute it from the batches the source yields.
    const batches: number[][] = [];
    for (const b of data.batches({ batchSize: 2, preprocess, shuffleSeed: 0 })) {
      batches.push(Array.from(b.x.dataSync()));
      tf.dispose([b.x, b.y]);
    }
    batches.forEach((values, k) => {
      for (let c = 0; c < 3; c++) {
        const ch = values.filter((_, i) => i % 3 === c);
        const m = ch.reduce((a, b) => a + b, 0) / ch.length;
        perBatch[k].mean[c] = m;
        perBatch[k].variance[c] = ch.reduce((a, b) => a + (b - m) ** 2, 0) / ch.length;
      }
    });
    const [movingMean, movingVariance] = [bn.getWeights()[2], bn.getWeights()[3]].map((t) => Array.from(t.dataSync()));
    for (let c = 0; c < 3; c++) {
      assert.ok(Math.abs(movingMean[c] - (perBatch[0].mean[c] + perBatch[1].mean[c]) / 2) < 1e-3, `mean of channel ${c}`);
      assert.ok(Math.abs(movingVariance[c] - (perBatch[0].variance[c] + perBatch[1].variance[c]) / 2) < 1e-2, `variance of channel ${c}`);
    }
    assert.equal((bn.getConfig() as { momentum: number }).momentum, 0.999, 'momentum restored');
    const restore = overrideBatchNormMomentum(model, 0.5);
    assert.equal((bn.getConfig() as { momentum: number }).momentum, 0.5);
    restore();
    assert.equal((bn.getConfig() as { momentum: number }).momentum, 0.999);
    model.dispose();
  });
});

describe('chance level', () => {
  test('one predicted class, or accuracy within a few points of the chance rate, is chance level', () => {
    assert.deepEqual(
      chanceVerdict([
        [30, 0],
        [30, 0],
      ]),
      { atChance: true, reason: 'every example predicted as class 0' },
    );
    assert.equal(
      chanceVerdict([
        [16, 14],
        [15, 15],
      ]).atChance,
      true,
    ); // 51.7 % of 2 balanced classes
    assert.equal(
      chanceVerdict([
        [85, 5],
        [5, 5],
      ]).atChance,
      true,
    ); // 90 % = the majority share
    assert.equal(
      chanceVerdict([
        [27, 3],
        [4, 26],
      ]).atChance,
      false,
    );
    assert.equal(chanceVerdict([[1]]).atChance, false, 'one class: nothing to guess');
  });
});

describe('lambda that fits the model', () => {
  const plan = { epochs: 2, stepsPerEpoch: 10, lr: 0.1, momentum: 0.9, milestones: [0.5], gamma: 0.1 };

  test('shrink per unit of lambda follows the schedule; "auto" scales with the gamma scale', () => {
    assert.ok(Math.abs(shrinkPerLambda(plan) - (10 * 0.1 + 10 * 0.01) / 0.1) < 1e-9);
    const small = [0.1, 0.2, 0.3];
    const large = small.map((g) => g * 10);
    assert.equal(autoLambda(large, plan), 10 * autoLambda(small, plan));
    assert.equal(autoLambda(small, plan), Number((0.2 / 11).toPrecision(2)));
    const fit = lambdaFit(1e-4, large, plan);
    assert.ok(fit.tooSmall && fit.suggested === autoLambda(large, plan));
    assert.equal(lambdaFit(autoLambda(large, plan), large, plan).tooSmall, false);
  });

  for (const scale of [1, 5]) {
    test(`sparsity "auto" sparsifies the TM-shaped model with gamma around ${scale}`, async () => {
      const { out, lines } = capturingOutput();
      const config = tmConfig({ train: { epochs: 1, batchSize: 16, lr: 0.1, sparsity: 'auto' } });
      const { data, model } = await loadTrainingInputs(config, out);
      try {
        for (const { variable } of findBnGammas(model)) variable.write(tf.mul(variable.read(), scale));
        const before = median(bnGammaMagnitudes(model));
        await trainingStage('train', model, data, config, undefined, out);
        const after = median(bnGammaMagnitudes(model));
        assert.ok(
          lines.some((l) => l.startsWith('sparsity lambda auto → ')),
          lines.join('\n'),
        );
        assert.ok(after < 0.6 * before, `median |gamma| ${before} -> ${after}`);
        assert.ok(!lines.some((l) => l.includes('barely moved')));
      } finally {
        model.dispose();
      }
    });
  }

  test('the paper lambda on this model warns before training and says |gamma| barely moved after', async () => {
    const { out, lines } = capturingOutput();
    const config = tmConfig({ train: { epochs: 1, batchSize: 16, lr: 0.1, sparsity: 1e-4 } });
    const { data, model } = await loadTrainingInputs(config, out);
    try {
      await trainingStage('train', model, data, config, undefined, out);
      assert.ok(
        lines.some((l) =>
          /^warning: sparsity lambda 0.0001 can shrink \|gamma\| by at most .* try train.sparsity [0-9.e-]+ \(or "auto"\)/.test(l),
        ),
      );
      assert.ok(lines.some((l) => l.startsWith('warning: sparsity train: |gamma| barely moved')));
    } finally {
      model.dispose();
    }
  });
});

describe("the model's own preprocessing: Teachable Machine metadata.json", () => {
  test('metadata.json beside the model gives [-1, 1] when the config says nothing, and stderr says so; an explicit config wins', async () => {
    const { model } = await loadLayersModel(tmModel);
    try {
      const { out, lines } = capturingOutput();
      assert.deepEqual(resolvePreprocess({ ...DEFAULT_PREPROCESS, mean: [0], std: [1] }, model, out), TEACHABLE_MACHINE_IMAGE_PREPROCESS);
      assert.match(
        lines.join('\n'),
        /preprocess: scale 0.00784313725490196, mean \[1\], std \[1\], from Teachable Machine's \[-1, 1\] input convention/,
      );
      const own = { scale: 1 / 255, mean: [0.5], std: [0.5] };
      assert.deepEqual(resolvePreprocess(own, model, out), own);
      assert.match(lines.at(-1)!, /^warning: config data.preprocess .* differs from Teachable Machine's/);
    } finally {
      model.dispose();
    }
  });

  test('every model written from it carries metadata.json: same labels, a slim note; model.json and the file agree', async () => {
    const artifacts = await readModel(tmModel);
    const model = await toLayersModel(artifacts);
    const { out } = capturingOutput();
    const preprocess = resolvePreprocess({ scale: 1 / 255, mean: [0], std: [1] }, model, out);
    model.setUserDefinedMetadata({ ...model.getUserDefinedMetadata(), slim: { preprocess } });
    const written = join(dir, 'written');
    await writeModel(written, { ...artifacts, userDefinedMetadata: model.getUserDefinedMetadata() });
    model.dispose();
    const meta = JSON.parse(await readFile(join(written, 'metadata.json'), 'utf8'));
    assert.deepEqual(meta.labels, digits.labels);
    assert.equal(meta.imageSize, 28);
    assert.equal(meta.packageName, '@teachablemachine/image');
    assert.deepEqual(meta.slim.preprocess, preprocess);
    const modelJson = JSON.parse(await readFile(join(written, 'model.json'), 'utf8'));
    assert.deepEqual(modelJson.userDefinedMetadata.slim.preprocess, meta.slim.preprocess);
  });

  const badMetadata: [string, Record<string, unknown>, RegExp][] = [
    ['imageSize', { imageSize: 224 }, /metadata\.json: imageSize 224 contradicts the model's input 28x28$/],
    ['label count', { labels: ['a', 'b', 'c'] }, /metadata\.json: 3 labels, the model outputs 2 values per example$/],
  ];
  for (const [what, change, message] of badMetadata) {
    test(`metadata.json that contradicts the model (${what}) is bad input, in one line`, async () => {
      const folder = join(dir, `bad-${what.replace(' ', '-')}`);
      await writeTeachableMachineModel(folder, digits.labels, { metadata: false });
      await writeFile(join(folder, 'metadata.json'), JSON.stringify({ ...teachableMachineMetadata(digits.labels), ...change }));
      await assert.rejects(loadLayersModel(folder), (e: unknown) => e instanceof InputError && message.test(e.message));
    });
  }
});

describe('bad input', () => {
  test('bnMomentum outside (0, 1) names the config path', () => {
    for (const value of [0, 1, 1.5]) {
      const r = configSchema.safeParse({ train: { bnMomentum: value } });
      assert.ok(!r.success && r.error.issues[0].path.join('.') === 'train.bnMomentum', `bnMomentum ${value}`);
    }
    assert.ok(!configSchema.safeParse({ finetune: { bnMomentum: 1 } }).success);
  });

  test('sparsity "auto" on a model with no gamma', async () => {
    const { out } = capturingOutput();
    const config = tmConfig({ train: { epochs: 1, batchSize: 16, lr: 0.1, sparsity: 'auto' } });
    const { data, model } = await loadTrainingInputs(config, out);
    try {
      const noGamma = tf.sequential({
        layers: [tf.layers.flatten({ inputShape: [28, 28, 1] }), tf.layers.dense({ units: 2, activation: 'softmax' })],
      });
      await assert.rejects(
        trainingStage('train', noGamma, data, config, undefined, out),
        (e: unknown) =>
          e instanceof InputError &&
          e.message === 'config: train.sparsity: "auto" sizes lambda from BatchNorm gamma, and the model has none',
      );
      noGamma.dispose();
    } finally {
      model.dispose();
    }
  });

  test('more recalibration batches than the training split holds', async () => {
    const { out } = capturingOutput();
    await assert.rejects(
      loadTrainingInputs(tmConfig({ bnRecalibration: { batches: 100 } }), out),
      (e: unknown) =>
        e instanceof InputError &&
        /^config: bnRecalibration.batches: 100 batches of 16 is more than the training split holds \(19; 300 images\)$/.test(e.message),
    );
  });
});
