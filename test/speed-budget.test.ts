/**
 * The speed budget (prune.minSpeedup) in-process: a small VGG sparsity-trained on real MNIST, every
 * candidate ratio exported and timed on node:wasm against the exported input model, the fast-enough
 * ones scored on the validation split. The factors are far from any measured speed-up (0.01× is met
 * by every candidate, 1e6× by none), so what is tested is the choice, not the machine's speed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/index.js';
import { parseConfig } from '../src/config/load.js';
import { configSchema, type Config } from '../src/config/schema.js';
import { InputError, ProblemError } from '../src/errors.js';
import { fromLayersModel } from '../src/model/convert.js';
import type { ModelArtifacts } from '../src/model/topology.js';
import { BRACKET_RATIOS } from '../src/pipeline/budget.js';
import type { PreparedData } from '../src/pipeline/data.js';
import { loadTrainingInputs } from '../src/pipeline/inputs.js';
import { sweepRatios } from '../src/pipeline/sweep.js';
import {
  checkSpeedRuntime,
  chooseFromSweep,
  pickCandidate,
  searchRatioWithinSpeedBudget,
  whyNone,
  type MinSpeedup,
  type SpeedBudgetSearch,
  type SpeedCandidate,
} from '../src/pipeline/speed-budget.js';
import { trainingStage } from '../src/pipeline/stages/train.js';
import { capturingOutput } from './helpers/capture-output.js';

let config: Config;
let data: PreparedData;
let sparse: tf.LayersModel;
let input: ModelArtifacts;

before(async () => {
  await selectBackend('wasm');
  config = configSchema.parse({
    seed: 1,
    backend: 'wasm',
    replicas: 1,
    model: { type: 'vgg', cfg: [8, 'M', 16], head: 'flatten' },
    data: { dataset: 'mnist', trainLimit: 1000, testLimit: 200, validationSplit: 0.2, preprocess: { mean: [0.1307], std: [0.3081] } },
    train: { epochs: 1, batchSize: 32, lr: 0.05, sparsity: 3e-3 },
    prune: { searchEpochs: 0 },
    bench: { runs: 5, warmup: 1 },
  });
  const { out } = capturingOutput();
  const loaded = await loadTrainingInputs(config, out);
  data = loaded.data;
  sparse = loaded.model;
  input = await fromLayersModel(sparse);
  await trainingStage('train', sparse, data, config, undefined, out);
});
after(() => {
  sparse?.dispose();
});

let allFast: Promise<SpeedBudgetSearch> | undefined;
/** The search every candidate passes on speed, run once for the tests that read it. */
function searchAllFast(): Promise<SpeedBudgetSearch> {
  allFast ??= search({ factor: 0.01, on: 'node:wasm', batch: 1 }).done;
  return allFast;
}

function search(minSpeedup: MinSpeedup, maxAccuracyDrop?: number) {
  const { out, lines } = capturingOutput();
  const prune = { ...config.prune, minSpeedup, ...(maxAccuracyDrop !== undefined ? { maxAccuracyDrop } : {}) };
  return { lines, done: searchRatioWithinSpeedBudget(sparse, input, prune, config.bench, config.seed, data, config, out) };
}

describe('speed budget search', () => {
  test('every candidate is timed and recorded; of those fast enough, the one with the smallest accuracy loss wins', async () => {
    const result = await searchAllFast();
    assert.deepEqual(
      result.candidates.map((c) => c.ratio),
      BRACKET_RATIOS,
    );
    assert.equal(result.split, 'val');
    assert.equal(result.searchEpochs, 0);
    for (const c of result.candidates) {
      assert.ok(c.ms > 0 && c.baselineMs > 0 && c.speedup > 0, `ratio ${c.ratio} timed`);
      assert.equal(c.meetsSpeed, true);
      assert.equal(typeof c.judged, 'number', `ratio ${c.ratio} scored`);
      assert.ok(Math.abs(c.drop! - (result.reference.accuracy - c.judged!) * 100) < 1e-4);
    }
    // Pruning more never keeps more channels or MACs.
    for (let i = 1; i < result.candidates.length; i++) {
      assert.ok(result.candidates[i].channels.removed >= result.candidates[i - 1].channels.removed);
      assert.ok(result.candidates[i].macs <= result.candidates[i - 1].macs);
    }
    const eligible = result.candidates.filter((c) => c.eligible);
    const chosen = result.candidates.find((c) => c.ratio === result.ratio)!;
    assert.ok(chosen.eligible);
    assert.equal(chosen.drop, Math.min(...eligible.map((c) => c.drop!)));
    assert.match(result.reason, new RegExp(`^ratio ${result.ratio} is [\\d.]+× faster on node:wasm`));
  });

  test('with maxAccuracyDrop both budgets must hold; none meeting them is a ProblemError naming the best speed-up', async () => {
    const first = await searchAllFast();
    const drops = first.candidates.map((c) => c.drop!).sort((a, b) => a - b);
    // A budget between the smallest and the largest drop: the candidates over it are refused.
    const budget = (drops[0] + drops.at(-1)!) / 2;
    assert.ok(drops.at(-1)! > drops[0], `drops ${drops.join(', ')} differ`);
    const combined = await search({ factor: 0.01, on: 'node:wasm', batch: 1 }, budget).done;
    assert.equal(combined.maxAccuracyDrop, budget);
    for (const c of combined.candidates) assert.equal(c.eligible, c.drop! <= budget + 1e-9 && c.atChance !== true, `ratio ${c.ratio}`);
    assert.ok(combined.candidates.some((c) => !c.eligible));
    assert.ok(combined.candidates.find((c) => c.ratio === combined.ratio)!.drop! <= budget);

    const tooFast = search({ factor: 1e6, on: 'node:wasm', batch: 1 });
    await assert.rejects(tooFast.done, (e: unknown) => {
      assert.ok(e instanceof ProblemError);
      assert.match(
        e.message,
        /^speed budget: no candidate ratio \(0\.1 \.\.\. 0\.9\) reaches 1000000× on node:wasm at batch 1: the best speed-up reached is [\d.]+× \(ratio 0\.\d\)$/,
      );
      return true;
    });
    // Too slow candidates are not fine-tuned nor scored.
    assert.ok(!tooFast.lines.some((l) => /accuracy .*drop/.test(l)));
  });

  test('a runtime that cannot run here is bad input naming prune.minSpeedup.on', async () => {
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      await assert.rejects(checkSpeedRuntime({ factor: 2, on: 'chromium:wasm', batch: 1 }, input), (e: unknown) => {
        assert.ok(e instanceof InputError);
        assert.match(
          e.message,
          /^prune\.minSpeedup\.on chromium:wasm: not available here: no Chromium or Chrome found on PATH; fix: install Chromium/,
        );
        return true;
      });
    } finally {
      process.env.PATH = path;
    }
    await checkSpeedRuntime({ factor: 2, on: 'node:wasm', batch: 1 }, input);
  });
});

describe('a sweep under a speed budget', () => {
  test('of the swept rows, each timed, the one with the smallest accuracy loss reaching the factor; none is a ProblemError', async () => {
    const { out } = capturingOutput();
    const latency = { runtime: 'node:wasm' as const, batch: 1, runs: 3, seed: 1 };
    const curve = await sweepRatios(sparse, [0.3, 0.6], config.prune, data, { finetuneEpochs: 0, training: config, latency }, out);
    const drops = curve.rows.map((r) => (curve.baseline.accuracy - r.accuracy) * 100);
    const choice = chooseFromSweep(curve, { factor: 0.01, on: 'node:wasm', batch: 1 });
    assert.equal(choice.ratio, curve.rows[drops.indexOf(Math.min(...drops))].ratio);
    assert.match(choice.reason, new RegExp(`^ratio ${choice.ratio} is [\\d.]+× faster on node:wasm \\(batch 1, budget 0.01×\\)`));
    assert.throws(
      () => chooseFromSweep(curve, { factor: 1e6, on: 'node:wasm', batch: 1 }),
      (e: unknown) => e instanceof ProblemError && /no candidate ratio \(0\.3 \.\.\. 0\.6\) reaches 1000000×/.test(e.message),
    );
  });
});

describe('choosing among measured candidates', () => {
  const candidate = (ratio: number, speedup: number, drop: number | undefined, eligible: boolean): SpeedCandidate => ({
    ratio,
    channels: { kept: 10, removed: Math.round(ratio * 10) },
    params: 1,
    macs: 1,
    ms: 1 / speedup,
    baselineMs: 1,
    speedup,
    meetsSpeed: drop !== undefined,
    ...(drop !== undefined ? { judged: 0.9, drop } : {}),
    eligible,
  });

  test('smallest drop among the eligible; a tie goes to the faster; none eligible is undefined', () => {
    const cs = [
      candidate(0.1, 1.1, undefined, false),
      candidate(0.3, 1.6, 0.8, true),
      candidate(0.5, 2.4, 0.5, true),
      candidate(0.7, 3, 0.5, true),
    ];
    assert.equal(pickCandidate(cs)?.ratio, 0.7);
    assert.equal(pickCandidate([candidate(0.3, 2, 0.1, false)]), undefined);
  });

  test('the reason names the best speed-up reached, and the accuracy loss when speed was met', () => {
    const minSpeedup: MinSpeedup = { factor: 2, on: 'chromium:wasm', batch: 32 };
    assert.equal(
      whyNone([candidate(0.1, 1.2, undefined, false), candidate(0.2, 1.7, undefined, false)], minSpeedup, undefined),
      'no candidate ratio (0.1 ... 0.2) reaches 2× on chromium:wasm at batch 32: the best speed-up reached is 1.70× (ratio 0.2)',
    );
    assert.equal(
      whyNone([candidate(0.1, 1.2, undefined, false), candidate(0.5, 2.5, 3, false), candidate(0.7, 3.1, 6, false)], minSpeedup, 1),
      'no candidate both reaches 2× on chromium:wasm at batch 32 and stays within the accuracy budget: the least accuracy loss among them is 3.00 points (ratio 0.5), over the budget of 1; the best speed-up reached is 3.10× (ratio 0.7)',
    );
  });
});

describe('prune.minSpeedup in the config', () => {
  test('factor > 0, a known runtime, batch 1 by default; not with ratio or threshold; with maxAccuracyDrop', () => {
    const ok = parseConfig('{"prune": {"minSpeedup": {"factor": 1.5, "on": "node:wasm"}, "maxAccuracyDrop": 1}}', 'c.json');
    assert.deepEqual(ok.prune.minSpeedup, { factor: 1.5, on: 'node:wasm', batch: 1 });
    const refused = (text: string, why: RegExp) =>
      assert.throws(
        () => parseConfig(text, 'c.json'),
        (e: unknown) => e instanceof InputError && why.test(e.message),
      );
    refused('{"prune": {"minSpeedup": {"factor": 0, "on": "node:wasm"}}}', /^c\.json: prune\.minSpeedup\.factor: /);
    refused('{"prune": {"minSpeedup": {"factor": 2, "on": "node:gpu"}}}', /^c\.json: prune\.minSpeedup\.on: /);
    refused('{"prune": {"minSpeedup": {"factor": 2}}}', /^c\.json: prune\.minSpeedup\.on: /);
    refused(
      '{"prune": {"minSpeedup": {"factor": 2, "on": "node:wasm"}, "ratio": 0.5}}',
      /^c\.json: prune\.minSpeedup: .*not with ratio or threshold/,
    );
  });
});
