/**
 * Pruning core on real tfjs models (cpu backend): dead channels (γ = 0) removed by
 * planPrune + applyPlan must leave the model's predictions unchanged.
 */
import { strict as assert } from 'node:assert';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { fromLayersModel, toLayersModel } from '../src/model/convert.js';
import type { ModelArtifacts, Weight } from '../src/model/topology.js';
import { applyPlan, applyPlanDetailed } from '../src/prune/apply.js';
import { planPrune, type PrunePlan } from '../src/prune/plan.js';
import { InputError } from '../src/errors.js';
import { mulberry32 as rng } from '../src/data/dataset.js';

const init = (seed: number) => tf.initializers.glorotNormal({ seed });

function weightOf(a: ModelArtifacts, layer: string, role: string): Weight {
  const w = a.weights.get(`${layer}/${role}`);
  assert.ok(w, `missing weight ${layer}/${role}`);
  return w;
}

/** Random BN stats and γ; γ (and β unless keepBeta) of `dead` channels set to 0. */
function setBN(a: ModelArtifacts, layer: string, dead: number[], random: () => number, keepBeta = false): void {
  const gamma = weightOf(a, layer, 'gamma').data;
  const beta = weightOf(a, layer, 'beta').data;
  const mean = weightOf(a, layer, 'moving_mean').data;
  const variance = weightOf(a, layer, 'moving_variance').data;
  for (let c = 0; c < gamma.length; c++) {
    gamma[c] = (random() < 0.5 ? -1 : 1) * (0.5 + random());
    beta[c] = random() - 0.3;
    mean[c] = random() - 0.5;
    variance[c] = 0.5 + random();
  }
  for (const c of dead) {
    gamma[c] = 0;
    if (!keepBeta) beta[c] = 0;
  }
}

async function maxDiff(a: ModelArtifacts, b: ModelArtifacts, inputShape: number[]): Promise<number> {
  const ma = await toLayersModel(a);
  const mb = await toLayersModel(b);
  const x = tf.randomNormal([4, ...inputShape], 0, 1, 'float32', 7);
  const ya = ma.predict(x) as tf.Tensor;
  const yb = mb.predict(x) as tf.Tensor;
  const diff = (await tf.max(tf.abs(tf.sub(ya, yb))).data())[0];
  tf.dispose([x, ya, yb]);
  ma.dispose();
  mb.dispose();
  return diff;
}

function layerConfig(a: ModelArtifacts, name: string): Record<string, unknown> {
  const layers = a.modelTopology.config.layers as { config: Record<string, unknown> }[];
  const found = layers.find((l) => l.config.name === name);
  assert.ok(found, `layer ${name} not in topology`);
  return found.config;
}

function sequentialChain(): tf.Sequential {
  return tf.sequential({
    layers: [
      tf.layers.conv2d({ name: 'c1', inputShape: [8, 8, 3], filters: 8, kernelSize: 3, padding: 'same', kernelInitializer: init(1) }),
      tf.layers.batchNormalization({ name: 'bn1' }),
      tf.layers.reLU({ name: 'r1' }),
      tf.layers.maxPooling2d({ name: 'p1', poolSize: 2 }),
      tf.layers.conv2d({ name: 'c2', filters: 6, kernelSize: 3, padding: 'valid', kernelInitializer: init(2), biasInitializer: 'ones' }),
      tf.layers.batchNormalization({ name: 'bn2' }),
      tf.layers.reLU({ name: 'r2' }),
      tf.layers.flatten({ name: 'f' }),
      tf.layers.dense({ name: 'd1', units: 10, kernelInitializer: init(3) }),
      tf.layers.batchNormalization({ name: 'bn3' }),
      tf.layers.reLU({ name: 'r3' }),
      tf.layers.dense({ name: 'd2', units: 4, kernelInitializer: init(4) }),
    ],
  });
}

before(async () => {
  await tf.setBackend('cpu');
});

describe('planPrune + applyPlan keep outputs when the removed channels are dead', () => {
  for (const keepBeta of [false, true]) {
    it(`Sequential conv-BN-ReLU-pool-conv-BN-ReLU-flatten-dense-BN-ReLU-dense${keepBeta ? ' (β kept: folded into the next bias)' : ''}`, async () => {
      const model = sequentialChain();
      const original = await fromLayersModel(model);
      model.dispose();
      const random = rng(11);
      setBN(original, 'bn1', [1, 3, 4], random, keepBeta);
      setBN(original, 'bn2', [0, 1, 2, 3, 4], random, keepBeta); // all but one
      setBN(original, 'bn3', [0, 2, 4, 6, 8, 9], random, keepBeta);

      const plan = planPrune(original, { threshold: 0.1 });
      assert.deepEqual(plan.walls, []);
      assert.equal(plan.groups.length, 3);
      assert.deepEqual(
        plan.groups.map((g) => g.keep),
        [[0, 2, 5, 6, 7], [5], [1, 3, 5, 7]],
      );
      assert.deepEqual(plan.groups[0].layers, ['c1', 'bn1', 'r1', 'p1', 'c2']);
      assert.deepEqual(plan.groups[1].layers, ['c2', 'bn2', 'r2', 'f', 'd1']);
      assert.deepEqual(plan.groups[2].bn, ['bn3']);
      assert.equal(plan.candidateChannels, 24);
      assert.equal(plan.prunedChannels, 14);
      assert.deepEqual(JSON.parse(JSON.stringify(plan)), plan, 'plan is plain JSON data');

      const { artifacts: pruned, folds, unfolded } = applyPlanDetailed(original, plan);
      assert.equal(layerConfig(pruned, 'c1').filters, 5);
      assert.equal(layerConfig(pruned, 'c2').filters, 1);
      assert.equal(layerConfig(pruned, 'd1').units, 4);
      assert.deepEqual(weightOf(pruned, 'c1', 'kernel').shape, [3, 3, 3, 5]);
      assert.deepEqual(weightOf(pruned, 'bn1', 'moving_variance').shape, [5]);
      assert.deepEqual(weightOf(pruned, 'c2', 'kernel').shape, [3, 3, 5, 1]);
      assert.deepEqual(weightOf(pruned, 'd1', 'kernel').shape, [4, 4]); // 2×2 positions × 1 channel
      assert.deepEqual(weightOf(pruned, 'd2', 'kernel').shape, [4, 4]);
      assert.deepEqual(weightOf(original, 'c1', 'kernel').shape, [3, 3, 3, 8], 'input artifacts untouched');
      if (keepBeta) {
        assert.deepEqual(
          folds.map((f) => f.layer),
          ['c2', 'd1', 'd2'],
        );
        assert.deepEqual(unfolded, []);
      }
      const diff = await maxDiff(original, pruned, [8, 8, 3]);
      assert.ok(diff <= 1e-5, `max abs diff ${diff}`);
    });
  }

  it('functional chain with ZeroPadding2D + valid conv and GlobalAveragePooling2D', async () => {
    const input = tf.input({ shape: [9, 9, 3], name: 'img' });
    let x = tf.layers
      .conv2d({ name: 'c1', filters: 6, kernelSize: 3, padding: 'same', kernelInitializer: init(5) })
      .apply(input) as tf.SymbolicTensor;
    x = tf.layers.batchNormalization({ name: 'bn1' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.reLU({ name: 'relu6', maxValue: 6 }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.zeroPadding2d({ name: 'pad', padding: 1 }).apply(x) as tf.SymbolicTensor;
    x = tf.layers
      .conv2d({ name: 'c2', filters: 5, kernelSize: 3, padding: 'valid', strides: 2, kernelInitializer: init(6) })
      .apply(x) as tf.SymbolicTensor;
    x = tf.layers.batchNormalization({ name: 'bn2' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.activation({ name: 'act', activation: 'elu' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.dropout({ name: 'drop', rate: 0.5 }).apply(x) as tf.SymbolicTensor;
    const out = tf.layers.dense({ name: 'head', units: 3, kernelInitializer: init(7) }).apply(x) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: out });
    const original = await fromLayersModel(model);
    model.dispose();
    const random = rng(5);
    setBN(original, 'bn1', [0, 2, 3], random);
    setBN(original, 'bn2', [1, 2, 3, 4], random);

    const plan = planPrune(original, { threshold: 0.1 });
    assert.deepEqual(
      plan.groups.map((g) => g.keep),
      [[1, 4, 5], [0]],
    );
    assert.deepEqual(plan.groups[0].layers, ['c1', 'bn1', 'relu6', 'pad', 'c2']);
    const pruned = applyPlan(original, plan);
    assert.equal(layerConfig(pruned, 'c1').filters, 3);
    assert.equal(layerConfig(pruned, 'c2').filters, 1);
    assert.deepEqual(weightOf(pruned, 'c2', 'kernel').shape, [3, 3, 3, 1]);
    assert.deepEqual(weightOf(pruned, 'head', 'kernel').shape, [1, 3]);
    const diff = await maxDiff(original, pruned, [9, 9, 3]);
    assert.ok(diff <= 1e-5, `max abs diff ${diff}`);
  });
});

/**
 * conv 3×3 'same' → bn1 → ReLU6 → 1×1 conv without bias → bn2 → ReLU → GAP → Dense, the shape of
 * a MobileNetV2 block's tail: bn1's removed β can only be folded into bn2's moving mean.
 */
async function projectionTail(): Promise<ModelArtifacts> {
  const input = tf.input({ shape: [6, 6, 3], name: 'img' });
  let x = tf.layers
    .conv2d({ name: 'c1', filters: 8, kernelSize: 3, padding: 'same', kernelInitializer: init(8) })
    .apply(input) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ name: 'bn1' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU({ name: 'relu6', maxValue: 6 }).apply(x) as tf.SymbolicTensor;
  x = tf.layers
    .conv2d({ name: 'project', filters: 6, kernelSize: 1, useBias: false, kernelInitializer: init(9) })
    .apply(x) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ name: 'bn2' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU({ name: 'relu' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as tf.SymbolicTensor;
  const out = tf.layers.dense({ name: 'head', units: 4, kernelInitializer: init(10) }).apply(x) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: out });
  const artifacts = await fromLayersModel(model);
  model.dispose();
  return artifacts;
}

/** What sparsity training leaves: |γ| = 1e-6 (never exactly 0) and β well away from 0 at `tiny`. */
function setTinyGammas(a: ModelArtifacts, layer: string, tiny: number[], random: () => number): void {
  setBN(a, layer, [], random);
  const gamma = weightOf(a, layer, 'gamma').data;
  const beta = weightOf(a, layer, 'beta').data;
  for (const c of tiny) {
    gamma[c] = (random() < 0.5 ? -1 : 1) * 1e-6;
    beta[c] = 0.3 + random();
  }
}

describe('removed channels with tiny γ ≠ 0: their mean output β is folded', () => {
  it('outputs match the original within 1e-4 (dropping β would shift them by ~0.1–1)', async () => {
    const original = await projectionTail();
    const random = rng(21);
    setTinyGammas(original, 'bn1', [1, 3, 4, 6], random);
    setTinyGammas(original, 'bn2', [0, 2, 5], random);
    const plan = planPrune(original, { threshold: 1e-3 });
    assert.deepEqual(
      plan.groups.map((g) => g.keep),
      [
        [0, 2, 5, 7],
        [1, 3, 4],
      ],
    );
    const { artifacts: pruned, folds, unfolded, summary } = applyPlanDetailed(original, plan);
    assert.deepEqual(unfolded, []);
    assert.deepEqual(
      folds.map((f) => [f.layer, f.into, f.channels]),
      [
        ['project', 'bn2/moving_mean', 4],
        ['head', 'head/bias', 3],
      ],
    );
    assert.equal(summary.foldedChannels, 7);
    const diff = await maxDiff(original, pruned, [6, 6, 3]);
    assert.ok(diff <= 1e-4, `max abs diff ${diff}`);
  });

  it('a kept channel with tiny γ is not folded: only the removed channels change the next layer', async () => {
    const original = await projectionTail();
    const random = rng(22);
    setTinyGammas(original, 'bn1', [1, 3, 4, 6], random);
    setBN(original, 'bn2', [], random);
    const plan = planPrune(original, { threshold: 1e-3 });
    // Keep channel 6 although its γ is 1e-6 (as minChannels or roundTo may).
    plan.groups[0].keep = [0, 2, 5, 6, 7];
    const { artifacts: pruned, folds } = applyPlanDetailed(original, plan);
    assert.deepEqual(
      folds.map((f) => [f.layer, f.channels]),
      [['project', 3]],
    );
    // bn2's moving mean moves by exactly Σ over removed channels of kernel·ReLU6(β), channel 6 not among them.
    const kernel = weightOf(original, 'project', 'kernel').data; // [1, 1, 8, 6]
    const beta1 = weightOf(original, 'bn1', 'beta').data;
    const meanBefore = weightOf(original, 'bn2', 'moving_mean').data;
    const meanAfter = weightOf(pruned, 'bn2', 'moving_mean').data;
    for (let j = 0; j < 6; j++) {
      let shift = 0;
      for (const c of [1, 3, 4]) shift += kernel[c * 6 + j] * Math.min(6, Math.max(0, beta1[c]));
      assert.ok(
        Math.abs(meanAfter[j] - (meanBefore[j] - shift)) <= 1e-6,
        `bn2 moving_mean[${j}]: ${meanAfter[j]} vs ${meanBefore[j] - shift}`,
      );
    }
    // The kept channel's own weights travel unchanged.
    for (const role of ['gamma', 'beta', 'moving_mean', 'moving_variance']) {
      assert.equal(weightOf(pruned, 'bn1', role).data[3], weightOf(original, 'bn1', role).data[6], `bn1/${role} of channel 6`);
    }
    const diff = await maxDiff(original, pruned, [6, 6, 3]);
    assert.ok(diff <= 1e-4, `max abs diff ${diff}`);
  });
});

/** conv(4)-BN-ReLU-conv(6)-BN-ReLU-GAP-dense(2) with chosen γ. */
async function knownGammaModel(g1: number[], g2: number[]): Promise<ModelArtifacts> {
  const model = tf.sequential({
    layers: [
      tf.layers.conv2d({ name: 'c1', inputShape: [6, 6, 2], filters: 4, kernelSize: 3, padding: 'same', kernelInitializer: init(8) }),
      tf.layers.batchNormalization({ name: 'bn1' }),
      tf.layers.reLU({ name: 'r1' }),
      tf.layers.conv2d({ name: 'c2', filters: 6, kernelSize: 1, kernelInitializer: init(9) }),
      tf.layers.batchNormalization({ name: 'bn2' }),
      tf.layers.reLU({ name: 'r2' }),
      tf.layers.globalAveragePooling2d({ name: 'gap' }),
      tf.layers.dense({ name: 'out', units: 2, kernelInitializer: init(10) }),
    ],
  });
  const a = await fromLayersModel(model);
  model.dispose();
  weightOf(a, 'bn1', 'gamma').data.set(g1);
  weightOf(a, 'bn2', 'gamma').data.set(g2);
  return a;
}

describe('ratio, minChannels, roundTo', () => {
  const g1 = [0.1, -0.9, 0.2, 0.8];
  const g2 = [0.05, 0.6, -0.3, 0.7, 0.4, 0.0];

  it('ratio 0.5 prunes the globally least important half', async () => {
    const a = await knownGammaModel(g1, g2);
    const plan = planPrune(a, { ratio: 0.5 });
    assert.equal(plan.ratio, 0.5);
    assert.ok(Math.abs(plan.threshold - 0.4) < 1e-6, `threshold ${plan.threshold}`);
    assert.deepEqual(
      plan.groups.map((g) => g.keep),
      [
        [1, 3],
        [1, 3, 4],
      ],
    );
    assert.equal(plan.prunedChannels, 5);
    const pruned = applyPlan(a, plan);
    const m = await toLayersModel(pruned);
    const y = m.predict(tf.ones([1, 6, 6, 2])) as tf.Tensor;
    assert.deepEqual(y.shape, [1, 2]);
    assert.ok(Number.isFinite((await y.data())[0]));
    m.dispose();
  });

  it('minChannels and roundTo add back the most important pruned channels', async () => {
    const a = await knownGammaModel(g1, g2);
    const plan = planPrune(a, { ratio: 0.5, minChannels: 3, roundTo: 2 });
    // g1: [1,3] → floor 3 → +c2 (0.2) → 3 → round to 4 (= width).  g2: [1,3,4] → round to 4 → +c2 (0.3).
    assert.deepEqual(
      plan.groups.map((g) => g.keep),
      [
        [0, 1, 2, 3],
        [1, 2, 3, 4],
      ],
    );
  });

  it('a group whose γ are all zero keeps minChannels; importance aggregates are selectable', async () => {
    const a = await knownGammaModel(g1, [0, 0, 0, 0, 0, 0]);
    const plan = planPrune(a, { threshold: 0.01, minChannels: 2, importance: 'max' });
    assert.equal(plan.importance, 'max');
    assert.deepEqual(plan.groups[1].keep, [0, 1]);
    const one = planPrune(a, { threshold: 0.01 });
    assert.deepEqual(one.groups[1].keep, [0]);
    const pruned = applyPlan(a, one);
    const m = await toLayersModel(pruned);
    const y = m.predict(tf.ones([2, 6, 6, 2])) as tf.Tensor;
    assert.deepEqual(y.shape, [2, 2]);
    m.dispose();
  });

  it('the default mean scores a residual group (two BNs) on the scale of a one-BN group; sum cuts the one-BN group', async () => {
    // c1 and c2 meet at an Add: one group scored by bn1 and bn2 (two |γ| rows per channel); c3 has bn3 alone.
    const input = tf.input({ shape: [6, 6, 3], name: 'in' });
    const conv = (name: string, kernelSize: number, seed: number) =>
      tf.layers.conv2d({ name, filters: 4, kernelSize, padding: 'same', kernelInitializer: init(seed) });
    let r1 = conv('c1', 3, 21).apply(input) as tf.SymbolicTensor;
    r1 = tf.layers.batchNormalization({ name: 'bn1' }).apply(r1) as tf.SymbolicTensor;
    r1 = tf.layers.reLU({ name: 'r1' }).apply(r1) as tf.SymbolicTensor;
    let b2 = conv('c2', 3, 22).apply(r1) as tf.SymbolicTensor;
    b2 = tf.layers.batchNormalization({ name: 'bn2' }).apply(b2) as tf.SymbolicTensor;
    let x = tf.layers.add({ name: 'res' }).apply([r1, b2]) as tf.SymbolicTensor;
    x = conv('c3', 1, 23).apply(x) as tf.SymbolicTensor;
    x = tf.layers.batchNormalization({ name: 'bn3' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.reLU({ name: 'r3' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: tf.layers.dense({ name: 'out', units: 2 }).apply(x) as tf.SymbolicTensor });
    const a = await fromLayersModel(model);
    model.dispose();
    weightOf(a, 'bn1', 'gamma').data.set([0.4, 0.9, 0.45, 1.0]);
    weightOf(a, 'bn2', 'gamma').data.set([0.4, 0.9, 0.45, 1.0]);
    weightOf(a, 'bn3', 'gamma').data.set([0.5, 0.65, 0.1, 0.7]);
    const keepOf = (plan: PrunePlan) => ({
      residual: plan.groups.find((g) => g.bn.includes('bn1'))?.keep,
      single: plan.groups.find((g) => g.bn.includes('bn3'))?.keep,
    });

    // mean: residual scores [0.4, 0.9, 0.45, 1.0] against [0.5, 0.65, 0.1, 0.7]; the 4 lowest are spread over both.
    const byDefault = planPrune(a, { ratio: 0.5 });
    assert.equal(byDefault.importance, 'mean');
    assert.deepEqual(keepOf(byDefault), { residual: [1, 3], single: [1, 3] });
    // sum: residual scores double ([0.8, 1.8, 0.9, 2.0]), so every channel of bn3 falls below them.
    const bySum = planPrune(a, { ratio: 0.5, importance: 'sum' });
    assert.deepEqual(keepOf(bySum), { residual: [0, 1, 2, 3], single: [3] });
  });

  it('rejects bad options', async () => {
    const a = await knownGammaModel(g1, g2);
    assert.throws(() => planPrune(a, {}), InputError);
    assert.throws(() => planPrune(a, { ratio: 0.5, threshold: 0.1 }), InputError);
    assert.throws(() => planPrune(a, { ratio: 1 }), InputError);
    assert.throws(() => planPrune(a, { threshold: 0.1, roundTo: 0 }), InputError);
  });

  it('applyPlan validates the plan against the model', async () => {
    const a = await knownGammaModel(g1, g2);
    const plan = planPrune(a, { ratio: 0.5 });
    const edit = (f: (p: PrunePlan) => void): PrunePlan => {
      const p = structuredClone(plan);
      f(p);
      return p;
    };
    assert.throws(
      () =>
        applyPlan(
          a,
          edit((p) => (p.groups[0].keep = [])),
        ),
      /keep is empty/,
    );
    assert.throws(
      () =>
        applyPlan(
          a,
          edit((p) => (p.groups[0].keep = [1, 9])),
        ),
      /out of range/,
    );
    assert.throws(
      () =>
        applyPlan(
          a,
          edit((p) => (p.groups[0].layers[0] = 'nope')),
        ),
      /layer 'nope' is not in the model/,
    );
    assert.throws(
      () =>
        applyPlan(
          a,
          edit((p) => (p.groups[0].id = 99)),
        ),
      InputError,
    );
  });
});

describe('walls', () => {
  it('channels touching a Softmax over channels stay whole, the wall is listed, the result is valid', async () => {
    const input = tf.input({ shape: [6, 6, 3], name: 'in' });
    let a = tf.layers
      .conv2d({ name: 'ca', filters: 4, kernelSize: 3, padding: 'same', kernelInitializer: init(11) })
      .apply(input) as tf.SymbolicTensor;
    a = tf.layers.batchNormalization({ name: 'bna' }).apply(a) as tf.SymbolicTensor;
    a = tf.layers.reLU({ name: 'ra' }).apply(a) as tf.SymbolicTensor;
    let b = tf.layers
      .conv2d({ name: 'cb', filters: 4, kernelSize: 3, padding: 'same', kernelInitializer: init(12) })
      .apply(a) as tf.SymbolicTensor;
    b = tf.layers.batchNormalization({ name: 'bnb' }).apply(b) as tf.SymbolicTensor;
    let x = tf.layers.add({ name: 'sum' }).apply([a, b]) as tf.SymbolicTensor;
    x = tf.layers.softmax({ name: 'sm', axis: -1 }).apply(x) as tf.SymbolicTensor; // normalises over channels: a wall
    x = tf.layers.conv2d({ name: 'cc', filters: 5, kernelSize: 1, kernelInitializer: init(13) }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.batchNormalization({ name: 'bnc' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.reLU({ name: 'rc' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as tf.SymbolicTensor;
    const out = tf.layers.dense({ name: 'out', units: 2, kernelInitializer: init(14) }).apply(x) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: out });
    const original = await fromLayersModel(model);
    model.dispose();
    const random = rng(3);
    setBN(original, 'bna', [0, 1], random);
    setBN(original, 'bnb', [2], random);
    setBN(original, 'bnc', [1, 4], random);

    const plan = planPrune(original, { threshold: 0.1 });
    assert.deepEqual(plan.walls, [{ layer: 'sm', className: 'Softmax', reason: 'no pruning handler for Softmax' }]);
    assert.equal(plan.groups.length, 1);
    assert.deepEqual(plan.groups[0].layers, ['cc', 'bnc', 'rc', 'gap', 'out']);
    const pruned = applyPlan(original, plan);
    assert.deepEqual(weightOf(pruned, 'ca', 'kernel').shape, [3, 3, 3, 4]);
    assert.deepEqual(weightOf(pruned, 'bnb', 'gamma').shape, [4]);
    assert.deepEqual(weightOf(pruned, 'cc', 'kernel').shape, [1, 1, 4, 3]);
    const diff = await maxDiff(original, pruned, [6, 6, 3]);
    assert.ok(diff <= 1e-5, `max abs diff ${diff}`);
  });
});
