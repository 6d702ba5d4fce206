/**
 * Pruning real architectures (cpu backend, small widths): residual Add, Concatenate, depthwise
 * convolutions, nested models and shared layers.
 *
 * Equivalence: the γ of chosen channels is set to 0 in EVERY BatchNormalization over them (a
 * channel is only removable when it is dead everywhere), β is left non-zero wherever the
 * constant the dead channel outputs can be folded exactly (the next layer is a Dense, a 1×1 /
 * 'valid' conv, or a bias-free conv feeding a BN), and set to 0 where it reaches a 'same'-padded
 * k>1 convolution (whose zero border would see the constant differently) — each spec below says
 * which. After planPrune + applyPlan the outputs must match within 1e-4 relative.
 * Ratio 0.5 (random γ, and after a 1-epoch sparsity run of src/train/loop.ts on 32 random images):
 * the pruned model is written with writeModel and loaded by stock tfjs.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { fromLayersModel, toLayersModel } from '../src/model/convert.js';
import { writeModel } from '../src/model/io.js';
import type { ModelArtifacts, Weight } from '../src/model/topology.js';
import { applyPlanDetailed } from '../src/prune/apply.js';
import { planPrune } from '../src/prune/plan.js';
import { Dataset } from '../src/data/dataset.js';
import { train } from '../src/train/loop.js';
import { loadWithStockTfjs } from './helpers/stock-load.js';
import { mulberry32 as rng } from '../src/data/dataset.js';
import {
  SMALL_INPUT_SHAPE,
  smallDenseNet,
  smallInception,
  smallMobileNetV1,
  smallMobileNetV2,
  smallNestedSequential,
  smallResNetBasic,
  smallResNetBottleneck,
  smallSharedLayer,
  smallVgg,
} from './fixtures/zoo/index.js';

const INPUT = SMALL_INPUT_SHAPE;

/** γ = 0 at `rows` of `bn`; β zeroed too when `beta` is 'zero' (the spec says why). */
interface Dead {
  bn: string;
  rows: number[];
  beta: 'keep' | 'zero';
}
interface Arch {
  name: string;
  build: () => tf.LayersModel;
  dead: Dead[];
  /** Channels the plan should remove (distinct per group). */
  removed: number;
}

const ARCHS: Arch[] = [
  {
    name: 'VGG-style',
    build: smallVgg,
    dead: [
      { bn: 'bn1', rows: [1, 4], beta: 'zero' }, // → c2, 'same' 3×3
      { bn: 'bn2', rows: [0, 2, 5], beta: 'zero' }, // → pool → c3, 'same' 3×3
      { bn: 'bn3', rows: [1, 2, 3, 6], beta: 'keep' }, // → pool → flatten → Dense: folded
      { bn: 'bn4', rows: [0, 7], beta: 'keep' }, // → Dense: folded
    ],
    removed: 11,
  },
  {
    name: 'ResNet basic block with projection shortcut',
    build: smallResNetBasic,
    dead: [
      { bn: 'bn0', rows: [1], beta: 'zero' }, // → ca, 'same' 3×3 (and cs, 1×1)
      { bn: 'bna', rows: [0, 3], beta: 'zero' }, // → cb, 'same' 3×3
      { bn: 'bnb', rows: [2, 4], beta: 'keep' }, // residual stream: Add → ReLU → GAP → Dense: folded
      { bn: 'bns', rows: [2, 4], beta: 'keep' },
    ],
    removed: 5,
  },
  {
    name: 'ResNet bottleneck blocks (projection + identity), bias-free convs',
    build: smallResNetBottleneck,
    dead: [
      { bn: 'bn0', rows: [2, 5], beta: 'keep' }, // → c1 and cs, 1×1 without bias: folded into bn1/bns moving mean
      { bn: 'bn1', rows: [1], beta: 'zero' }, // → c2, 'same' 3×3
      { bn: 'bn2', rows: [0], beta: 'keep' }, // → c3 1×1 → bn3 moving mean
      { bn: 'bn3', rows: [3, 7, 11], beta: 'keep' }, // stream through two Adds → c4 (1×1) and GAP → Dense
      { bn: 'bns', rows: [3, 7, 11], beta: 'keep' },
      { bn: 'bn6', rows: [3, 7, 11], beta: 'keep' },
      { bn: 'bn4', rows: [2], beta: 'zero' }, // → c5, 'same' 3×3
      { bn: 'bn5', rows: [3], beta: 'keep' }, // → c6 1×1 → bn6 moving mean
    ],
    removed: 9,
  },
  {
    name: 'MobileNetV1 (depthwise, depth_multiplier 2)',
    build: smallMobileNetV1,
    dead: [
      // bn0's β reaches dw1 ('same' 3×3) and is lost there, but bnd1 (γ = 0) outputs its own β: exact.
      { bn: 'bn0', rows: [1, 6], beta: 'keep' },
      { bn: 'bnd1', rows: [1, 6], beta: 'keep' }, // → pw1 1×1 without bias → bnp1 moving mean
      { bn: 'bnp1', rows: [0, 9, 15], beta: 'keep' },
      { bn: 'bnd2', rows: [0, 1, 18, 19, 30, 31], beta: 'keep' }, // channel c holds rows 2c, 2c+1 after the multiplier
      { bn: 'bnp2', rows: [4], beta: 'keep' }, // → GAP → Dense
    ],
    removed: 6,
  },
  {
    name: 'MobileNetV2 inverted residuals (Add, linear bottleneck)',
    build: smallMobileNetV2,
    dead: [
      { bn: 'bn0', rows: [5], beta: 'keep' },
      { bn: 'bnd0', rows: [5], beta: 'keep' },
      { bn: 'bnpw0', rows: [1, 4], beta: 'keep' }, // the residual stream: → e2, e3, last (1×1)
      { bn: 'bnp2', rows: [1, 4], beta: 'keep' },
      { bn: 'bnp3', rows: [1, 4], beta: 'keep' },
      { bn: 'bne2', rows: [3, 7], beta: 'keep' },
      { bn: 'bnd2', rows: [3, 7], beta: 'keep' },
      { bn: 'bne3', rows: [0], beta: 'keep' },
      { bn: 'bnd3', rows: [0], beta: 'keep' },
      { bn: 'bnl', rows: [2, 9], beta: 'keep' },
    ],
    removed: 8,
  },
  {
    name: 'DenseNet block (Concatenate, BN after concat)',
    build: smallDenseNet,
    dead: [
      // c0's channels 1 and 4 sit at rows 1, 4 of every BN after it.
      { bn: 'bn1', rows: [1, 4], beta: 'zero' }, // → conv1, 'same' 3×3
      { bn: 'bn2', rows: [1, 4, 6 + 2], beta: 'keep' }, // → conv2 1×1; f1 channel 2 at row 6+2
      { bn: 'bn3', rows: [1, 4, 6 + 2, 10 + 0, 10 + 3], beta: 'keep' }, // → conv3 1×1; f2 channels 0, 3 at 10+
      { bn: 'bn4', rows: [5], beta: 'keep' }, // → GAP → Dense
    ],
    removed: 6,
  },
  {
    name: 'Inception-style block (parallel branches concatenated)',
    build: smallInception,
    dead: [
      { bn: 'bn0', rows: [0, 3], beta: 'keep' }, // → 1×1 convs and a max pool → 1×1 conv
      { bn: 'bnb1', rows: [1], beta: 'keep' }, // → concat → proj 1×1
      { bn: 'bnb2a', rows: [2], beta: 'zero' }, // → b2b, 'same' 3×3
      { bn: 'bnb2b', rows: [0, 3], beta: 'keep' },
      { bn: 'bnb3', rows: [1], beta: 'keep' },
      { bn: 'bnproj', rows: [6], beta: 'keep' },
    ],
    removed: 8,
  },
  {
    name: 'nested Sequential inside a functional model',
    build: smallNestedSequential,
    dead: [
      { bn: 'bn0', rows: [0, 5], beta: 'keep' }, // → inner/ic1 1×1: folded; inner input shape rewritten
      { bn: 'ibn1', rows: [2], beta: 'zero' }, // → ic2, 'same' 3×3
      { bn: 'ibn2', rows: [1, 3], beta: 'keep' }, // → outer GAP → Dense
    ],
    removed: 5,
  },
  {
    name: 'shared layer called twice',
    build: smallSharedLayer,
    dead: [
      // c0 and both calls of 'shared' write one channel space; a shared consumer never folds.
      { bn: 'bn0', rows: [1], beta: 'zero' },
      { bn: 'bn1', rows: [1], beta: 'zero' },
      { bn: 'bn2', rows: [1], beta: 'keep' }, // → GAP → Dense: folded
    ],
    removed: 1,
  },
];

function bnWeights(a: ModelArtifacts, layer: string): Record<'gamma' | 'beta' | 'moving_mean' | 'moving_variance', Weight> {
  const get = (role: string): Weight => {
    const w = a.weights.get(`${layer}/${role}`);
    assert.ok(w, `missing ${layer}/${role}`);
    return w;
  };
  return { gamma: get('gamma'), beta: get('beta'), moving_mean: get('moving_mean'), moving_variance: get('moving_variance') };
}

/** Random non-trivial BN statistics everywhere: |γ| in [0.5, 1.5), β, mean, variance. */
function randomizeBNs(a: ModelArtifacts, random: () => number): void {
  for (const [name, w] of a.weights) {
    const role = name.split('/').pop();
    for (let i = 0; i < w.data.length; i++) {
      if (role === 'gamma') w.data[i] = (random() < 0.5 ? -1 : 1) * (0.5 + random());
      if (role === 'beta') w.data[i] = random() - 0.3;
      if (role === 'moving_mean') w.data[i] = random() - 0.5;
      if (role === 'moving_variance') w.data[i] = 0.5 + random();
    }
  }
}

function killChannels(a: ModelArtifacts, dead: Dead[]): void {
  for (const d of dead) {
    const w = bnWeights(a, d.bn);
    for (const r of d.rows) {
      w.gamma.data[r] = 0;
      if (d.beta === 'zero') w.beta.data[r] = 0;
    }
  }
}

async function predict(a: ModelArtifacts, x: tf.Tensor): Promise<Float32Array> {
  const m = await toLayersModel(a);
  const y = m.predict(x) as tf.Tensor;
  const data = (await y.data()) as Float32Array;
  y.dispose();
  m.dispose();
  return data;
}

async function artifactsOf(arch: Arch): Promise<ModelArtifacts> {
  const model = arch.build();
  const a = await fromLayersModel(model);
  model.dispose();
  return a;
}

let tmp = '';
before(async () => {
  await tf.setBackend('cpu');
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'slim-prune-arch-'));
});
after(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

describe('dead channels removed: outputs unchanged (1e-4 relative)', () => {
  for (const arch of ARCHS) {
    it(arch.name, async () => {
      const original = await artifactsOf(arch);
      randomizeBNs(original, rng(42));
      killChannels(original, arch.dead);
      const plan = planPrune(original, { threshold: 0.1 });
      assert.deepEqual(plan.walls, [], 'no walls');
      assert.equal(plan.prunedChannels, arch.removed);
      const { artifacts: pruned, folds, unfolded, summary } = applyPlanDetailed(original, plan);
      assert.deepEqual(unfolded, [], 'every removed constant folded exactly');
      if (arch.dead.some((d) => d.beta === 'keep')) assert.ok(folds.length > 0 && summary.sumAbsBiasChange > 0, 'β folded');
      assert.equal(summary.foldedLayers, folds.length);

      const x = tf.randomNormal([3, ...INPUT], 0, 1, 'float32', 9);
      const ya = await predict(original, x);
      const yb = await predict(pruned, x);
      x.dispose();
      let diff = 0;
      let scale = 1;
      ya.forEach((v, i) => {
        diff = Math.max(diff, Math.abs(v - yb[i]));
        scale = Math.max(scale, Math.abs(v));
      });
      assert.ok(diff <= 1e-4 * scale, `max abs diff ${diff} (scale ${scale})`);

      let paramsBefore = 0;
      let paramsAfter = 0;
      for (const w of original.weights.values()) paramsBefore += w.data.length;
      for (const w of pruned.weights.values()) paramsAfter += w.data.length;
      assert.ok(paramsAfter < paramsBefore, 'the model got smaller');
    });
  }

  it('nested model: the inner input shape follows the pruned outer channels', async () => {
    const arch = ARCHS.find((a) => a.name.startsWith('nested'))!;
    const original = await artifactsOf(arch);
    randomizeBNs(original, rng(1));
    killChannels(original, arch.dead);
    const plan = planPrune(original, { threshold: 0.1 });
    assert.ok(plan.groups.some((g) => g.layers.includes('inner/ic1') && g.layers.includes('c0')));
    const pruned = applyPlanDetailed(original, plan).artifacts;
    const inner = (
      pruned.modelTopology.config.layers as { class_name: string; config: { layers: { config: Record<string, unknown> }[] } }[]
    ).find((l) => l.class_name === 'Sequential')!;
    assert.deepEqual(inner.config.layers[0].config.batch_input_shape, [null, 8, 8, 4]);
    assert.equal(inner.config.layers[0].config.filters, 5 - 1);
    assert.deepEqual(pruned.weights.get('ic1/kernel')!.shape, [1, 1, 4, 4]);
  });
});

describe('ratio 0.5 on random γ: the result loads in stock tfjs and runs', () => {
  for (const arch of ARCHS) {
    it(arch.name, async () => {
      const original = await artifactsOf(arch);
      randomizeBNs(original, rng(7));
      const plan = planPrune(original, { ratio: 0.5 });
      assert.ok(plan.prunedChannels > 0);
      for (const g of plan.groups) assert.ok(g.keep.length >= 1, 'no zero-width layer');
      const { artifacts: pruned } = applyPlanDetailed(original, plan);
      const dir = path.join(tmp, arch.name.replace(/[^a-z0-9]+/gi, '-'));
      const modelJson = await writeModel(dir, pruned);
      const model = await loadWithStockTfjs(modelJson);
      const y = model.predict(tf.randomNormal([2, ...INPUT], 0, 1, 'float32', 3)) as tf.Tensor;
      assert.deepEqual(y.shape, [2, 3]);
      assert.ok((await y.data()).every((v) => Number.isFinite(v)));
      y.dispose();
      model.dispose();
    });
  }
});

/** 32 random 8×8×3 images, 3 classes (labels follow the mean of the red channel, so there is signal). */
function randomImages(): Dataset {
  const random = rng(99);
  const count = 32;
  const data = new Uint8Array(count * 8 * 8 * 3);
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(random() * 256);
  const labels = new Uint8Array(count);
  for (let n = 0; n < count; n++) {
    let red = 0;
    for (let p = 0; p < 64; p++) red += data[n * 192 + p * 3];
    labels[n] = Math.min(2, Math.floor((red / 64 / 256) * 3));
  }
  return new Dataset({ images: { count, height: 8, width: 8, channels: 3, data }, labels, numClasses: 3, name: 'random' });
}

describe('1-epoch sparsity training, then ratio 0.5: the result loads in stock tfjs and runs', () => {
  for (const arch of ARCHS) {
    it(arch.name, async () => {
      const model = arch.build();
      await train(
        model,
        { train: randomImages() },
        {
          epochs: 1,
          batchSize: 16, // two steps: enough for the sparsity term to move γ before the plan
          lr: 0.05,
          momentum: 0.9,
          nesterov: false,
          weightDecay: 1e-4,
          milestones: [],
          gamma: 0.1,
          sparsityLambda: 1e-3,
          seed: 1,
          preprocess: { scale: 1 / 255, mean: [0.5], std: [0.25] },
        },
      );
      const trained = await fromLayersModel(model);
      model.dispose();
      const plan = planPrune(trained, { ratio: 0.5 });
      assert.ok(plan.prunedChannels > 0);
      const { artifacts: pruned } = applyPlanDetailed(trained, plan);
      const modelJson = await writeModel(path.join(tmp, `trained-${arch.name.replace(/[^a-z0-9]+/gi, '-')}`), pruned);
      const loaded = await loadWithStockTfjs(modelJson);
      const y = loaded.predict(tf.randomNormal([2, ...INPUT], 0, 1, 'float32', 4)) as tf.Tensor;
      assert.deepEqual(y.shape, [2, 3]);
      assert.ok((await y.data()).every((v) => Number.isFinite(v)));
      y.dispose();
      loaded.dispose();
    });
  }
});
