/**
 * prune.roundMode 'nearest': each group's kept count goes to the nearest multiple of roundTo (down
 * too), so kept widths fill SIMD tiles at about the MACs of roundTo 1. Known γ decide which
 * channels rounding removes or adds back; a pruned model equals the original with the removed
 * channels' γ zeroed; the config and the CLI flag reach the plan.
 */
import { strict as assert } from 'node:assert';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { applyPrune, planPrune as planPruneApi } from '../src/api/node.js';
import { parseConfig } from '../src/config/load.js';
import { InputError } from '../src/errors.js';
import { fromLayersModel, toLayersModel } from '../src/model/convert.js';
import { writeModel } from '../src/model/io.js';
import type { ModelArtifacts } from '../src/model/topology.js';
import { describeShortfall } from '../src/pipeline/prune.js';
import { applyPlan } from '../src/prune/apply.js';
import { planPrune } from '../src/prune/plan.js';
import { countModel } from '../src/report/count.js';
import { assertRefusedInProcess, outputInProcess } from './helpers/cli-in-process.js';

const init = (seed: number) => tf.initializers.glorotNormal({ seed });

/**
 * conv-BN-ReLU per entry of `gammas` (its length = the width), then GAP and dense(2). The convs
 * after the first are 1×1 (valid), so a removed channel's constant output folds exactly into the
 * next bias and pruning equals zeroing that channel's γ.
 */
async function knownGammaNet(gammas: number[][], seed = 1): Promise<ModelArtifacts> {
  const layers: tf.layers.Layer[] = [];
  gammas.forEach((g, i) => {
    layers.push(
      tf.layers.conv2d({
        name: `c${i}`,
        ...(i === 0 ? { inputShape: [5, 5, 3] } : {}),
        filters: g.length,
        kernelSize: i === 0 ? 3 : 1,
        kernelInitializer: init(seed + i),
      }),
      tf.layers.batchNormalization({ name: `bn${i}` }),
      tf.layers.reLU({ name: `r${i}` }),
    );
  });
  layers.push(
    tf.layers.globalAveragePooling2d({ name: 'gap' }),
    tf.layers.dense({ name: 'out', units: 2, kernelInitializer: init(seed + 99) }),
  );
  const model = tf.sequential({ layers });
  const artifacts = await fromLayersModel(model);
  model.dispose();
  gammas.forEach((g, i) => {
    artifacts.weights.get(`bn${i}/gamma`)!.data.set(g);
    // Non-zero β and statistics: removed channels then leave a constant that must be folded.
    const beta = artifacts.weights.get(`bn${i}/beta`)!.data;
    const mean = artifacts.weights.get(`bn${i}/moving_mean`)!.data;
    for (let c = 0; c < g.length; c++) {
      beta[c] = 0.1 + 0.01 * c;
      mean[c] = 0.05 * ((c % 5) - 2);
    }
  });
  return artifacts;
}

/** 1..n scaled: distinct importances, channel c's |γ| = (c + 1) / 100 unless listed. */
const ramp = (n: number, offset = 0) => Array.from({ length: n }, (_, c) => (c + 1 + offset) / 100);

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

describe('roundMode nearest on known γ', () => {
  // Two groups of 16. Ratio 0.25 prunes the 8 smallest |γ| overall: channels 0–4 of group A
  // (0.01–0.05) and 0–2 of group B (0.015–0.035), so A keeps 11 and B keeps 13.
  const groupA = ramp(16);
  const groupB = ramp(16).map((v, c) => (c < 3 ? v + 0.005 : v + 0.5));
  let net: ModelArtifacts;
  before(async () => {
    net = await knownGammaNet([groupA, groupB]);
  });

  it('11 of 16 rounds down to 8, dropping the least important kept; 13 rounds up to 16, adding back the most important pruned', () => {
    const plan = planPrune(net, { ratio: 0.25, roundTo: 8, roundMode: 'nearest' });
    assert.equal(plan.requestedChannels, 8);
    assert.deepEqual(plan.groups[0].keep, range(8, 16), 'A: channels 5, 6, 7 (the smallest kept |γ|) removed too');
    assert.deepEqual(plan.groups[1].keep, range(0, 16), 'B: its 3 pruned channels added back');
    assert.equal(plan.prunedChannels, 8);
    assert.deepEqual(plan.rounding, { roundTo: 8, mode: 'nearest', moreChannels: 3, moreGroups: 1, fewerChannels: 3, fewerGroups: 1 });
    assert.deepEqual(plan.shortfall, ['round-to 8 (nearest) keeps 3 more channels in 1 group, 3 fewer in 1 group']);
    assert.match(
      describeShortfall(plan)!,
      /removed 25\.0% of channels \(8 of 32\), the requested 25% \(round-to 8 \(nearest\) keeps 3 more/,
    );
  });

  it("'up' (the default) is unchanged: both groups rounded up, no rounding field", () => {
    const up = planPrune(net, { ratio: 0.25, roundTo: 8 });
    assert.deepEqual(up, planPrune(net, { ratio: 0.25, roundTo: 8, roundMode: 'up' }));
    assert.deepEqual(
      up.groups.map((g) => g.keep.length),
      [16, 16],
    );
    assert.equal(up.rounding, undefined);
    assert.deepEqual(up.shortfall, ['round-to 8 keeps 8 more channels in 2 groups']);
  });

  it('a tie (12 of 16) goes against what rounding added before: up when even, then down', async () => {
    // Threshold 0.045 prunes A's channels 0–3 (12 kept: a tie → 16) and none of B: nothing to round down.
    const tie = planPrune(net, { threshold: 0.045, roundTo: 8, roundMode: 'nearest' });
    assert.deepEqual(
      tie.groups.map((g) => g.keep.length),
      [16, 16],
    );
    // Two equal groups, both at 12 of 16: the first rounds up (+4), so the second rounds down (−4),
    // dropping its least important kept channels 4–7; the total stays what the threshold asked.
    const twin = await knownGammaNet([ramp(16), ramp(16)]);
    const twins = planPrune(twin, { threshold: 0.045, roundTo: 8, roundMode: 'nearest' });
    assert.deepEqual(
      twins.groups.map((g) => g.keep),
      [range(0, 16), range(8, 16)],
    );
    assert.equal(twins.prunedChannels, twins.requestedChannels);
  });

  it('rounding only down removes more than requested and says so', () => {
    // Threshold 0.055 prunes A's 0–4 and B's 0–2 (0.015–0.035 < 0.055): A 11 → 8, B 13 → 16; with
    // roundTo 4 instead: A 11 → 12, B 13 → 12, dropping B's least important kept channel (3).
    const four = planPrune(net, { threshold: 0.055, roundTo: 4, roundMode: 'nearest' });
    assert.deepEqual(four.groups[0].keep, [4, ...range(5, 16)]);
    assert.deepEqual(four.groups[1].keep, range(4, 16));
    // Threshold 0.075 prunes A's 0–6 (9 kept → 8) and B's 0–2 (13 kept → 12 at roundTo 4): only down.
    const down = planPrune(net, { threshold: 0.075, roundTo: 4, roundMode: 'nearest' });
    assert.deepEqual(
      down.groups.map((g) => g.keep.length),
      [8, 12],
    );
    assert.equal(down.requestedChannels, 10);
    assert.equal(down.prunedChannels, 12);
    assert.equal(down.shortfall, undefined, 'nothing added back: no shortfall');
    assert.deepEqual(down.rounding, { roundTo: 4, mode: 'nearest', moreChannels: 0, moreGroups: 0, fewerChannels: 2, fewerGroups: 2 });
    assert.equal(
      describeShortfall(down),
      'prune: removed 37.5% of channels (12 of 32), more than the requested 10 channels (threshold 0.075) (round-to 4 (nearest) removes 2 more in 2 groups; ' +
        '2 channels behind walls are kept whole and not counted)',
    );
  });
});

describe('roundMode nearest with a floor', () => {
  it('the summary names both the floor that added channels and the rounding that removed some', async () => {
    const net = await knownGammaNet([ramp(16), ramp(16).map((v, c) => (c < 3 ? v + 0.005 : v + 0.5))]);
    // Threshold 0.115 prunes A's 0–10 (5 kept → floor 8, a multiple of 4) and B's 0–2 (13 kept → 12).
    const plan = planPrune(net, { threshold: 0.115, minChannels: 8, roundTo: 4, roundMode: 'nearest' });
    assert.deepEqual(
      plan.groups.map((g) => g.keep.length),
      [8, 12],
    );
    assert.deepEqual(plan.rounding, { roundTo: 4, mode: 'nearest', moreChannels: 0, moreGroups: 0, fewerChannels: 1, fewerGroups: 1 });
    assert.equal(
      describeShortfall(plan),
      'prune: removed 37.5% of channels (12 of 32), not the requested 14 channels (threshold 0.115) (min-channels 8 keeps 1 group at ' +
        'their floor (+3 channels); round-to 4 (nearest) removes 1 more in 1 group; 2 channels behind walls are kept whole and not counted)',
    );
  });
});

describe('roundMode nearest: floors and widths', () => {
  it('never below max(minChannels, 1) rounded up to roundTo, never above the width, never zero', async () => {
    // Widths 16, 6, 20; group 1 (width 6) all but dead; the others mostly dead.
    const net = await knownGammaNet([
      [...ramp(2, 50), ...Array<number>(14).fill(0)],
      [0.9, 0, 0, 0, 0, 0],
      [...ramp(19, 50), 0],
    ]);
    const plan = planPrune(net, { threshold: 0.01, roundTo: 8, roundMode: 'nearest' });
    // 2 of 16 → nearest 0 → floor 1 rounded up: 8. 1 of 6 → 0 → 8 capped at the width: 6. 19 of 20 → 16.
    assert.deepEqual(
      plan.groups.map((g) => g.keep.length),
      [8, 6, 16],
    );
    assert.deepEqual(plan.groups[0].keep, range(0, 8), 'the 2 live channels and the 6 lowest-index dead ones (ties)');
    assert.deepEqual(plan.groups[2].keep, range(3, 19), 'the least important live channels 0–2 go, the dead 19 too');
    const floor = planPrune(net, { threshold: 0.01, roundTo: 8, roundMode: 'nearest', minChannels: 9 });
    assert.deepEqual(
      floor.groups.map((g) => g.keep.length),
      [16, 6, 16],
      'minChannels 9 → 16 (capped at each width); 19 of 20 still rounds to 16 (≥ the floor)',
    );
    const allDead = await knownGammaNet([Array<number>(16).fill(0), Array<number>(4).fill(0)]);
    const dead = planPrune(allDead, { threshold: 0.5, roundTo: 8, roundMode: 'nearest' });
    assert.deepEqual(
      dead.groups.map((g) => g.keep.length),
      [8, 4],
    );
  });

  it('a bad roundMode is refused by planPrune', async () => {
    const net = await knownGammaNet([ramp(4)]);
    assert.throws(() => planPrune(net, { ratio: 0.5, roundMode: 'down' as 'up' }), InputError);
  });
});

describe('applyPrune of a nearest plan', () => {
  // Seeded random |γ| over widths 12, 20, 24, 40: the ratio leaves odd counts everywhere.
  const widths = [12, 20, 24, 40];
  let net: ModelArtifacts;
  before(async () => {
    let state = 12345;
    const random = () => (state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    net = await knownGammaNet(widths.map((w) => Array.from({ length: w }, () => 0.01 + random())));
  });

  it('kept widths are multiples of 8 where the width allows; the model equals the original with removed γ zeroed', async () => {
    const plan = await planPruneApi(net, { ratio: 0.5, roundTo: 8, roundMode: 'nearest' });
    const kept = plan.groups.map((g) => g.keep.length);
    plan.groups.forEach((g, i) => assert.ok(kept[i] % 8 === 0 || kept[i] === g.channels, `group ${i}: ${kept[i]} of ${g.channels}`));
    assert.ok(plan.rounding!.fewerChannels > 0, `rounded down somewhere: ${JSON.stringify(plan.rounding)}`);
    const { model: pruned, after } = await applyPrune(net, plan);
    const conv = (a: ModelArtifacts, i: number) => a.weights.get(`c${i}/kernel`)!.shape[3];
    assert.deepEqual(
      widths.map((_, i) => conv(pruned, i)),
      kept,
    );

    const masked: ModelArtifacts = { ...net, weights: new Map([...net.weights].map(([k, w]) => [k, { ...w, data: w.data.slice() }])) };
    plan.groups.forEach((g, i) => {
      const gamma = masked.weights.get(`bn${i}/gamma`)!.data;
      for (let c = 0; c < g.channels; c++) if (!g.keep.includes(c)) gamma[c] = 0;
    });
    const x = tf.randomNormal([4, 5, 5, 3], 0, 1, 'float32', 3);
    const [mPruned, mMasked] = [await toLayersModel(pruned), await toLayersModel(masked)];
    const [yPruned, yMasked] = [mPruned.predict(x) as tf.Tensor, mMasked.predict(x) as tf.Tensor];
    const diff = (await tf.max(tf.abs(tf.sub(yPruned, yMasked))).data())[0];
    assert.ok(diff <= 1e-4, `max |pruned - masked| ${diff}`);
    tf.dispose([x, yPruned, yMasked]);
    mPruned.dispose();
    mMasked.dispose();

    // Fewer MACs than rounding up, and within one tile per group of roundTo 1's.
    const macs = (options: Parameters<typeof planPrune>[1]) => countModel(applyPlan(net, planPrune(net, options)).modelTopology).macs;
    assert.equal(after.macs, macs({ ratio: 0.5, roundTo: 8, roundMode: 'nearest' }));
    const [up, one] = [macs({ ratio: 0.5, roundTo: 8 }), macs({ ratio: 0.5 })];
    assert.ok(after.macs < up, `nearest ${after.macs} < up ${up}`);
    assert.ok(Math.abs(after.macs - one) < up - one, `nearest ${after.macs} nearer roundTo 1's ${one} than up's ${up}`);
  });
});

describe('prune.roundMode in the config and on the command line', () => {
  let dir: string;
  let modelPath: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'slim-round-mode-'));
    modelPath = await writeModel(
      path.join(dir, 'model'),
      await knownGammaNet([ramp(16), ramp(16).map((v, c) => (c < 3 ? v + 0.005 : v + 0.5))]),
    );
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('a bad value names prune.roundMode; absent, the parsed config is as before', () => {
    assert.throws(
      () => parseConfig('{"prune": {"roundMode": "down"}}', 'c.json'),
      (error: Error) => error instanceof InputError && /prune\.roundMode/.test(error.message),
    );
    assert.equal(parseConfig('{"prune": {"roundMode": "nearest"}}', 'c.json').prune.roundMode, 'nearest');
    assert.equal('roundMode' in parseConfig('{}', 'c.json').prune, false);
  });

  it('--round-mode nearest reaches the plan; a bad value is one error line, exit 2', async () => {
    const argv = ['prune', '--model', modelPath, '--ratio', '0.25', '--round-to', '8', '--dry-run', '--json'];
    const nearest = await outputInProcess([...argv, '--round-mode', 'nearest']);
    const plan = JSON.parse(nearest.stdout);
    assert.deepEqual(
      plan.groups.map((g: { keep: number[] }) => g.keep.length),
      [8, 16],
    );
    assert.equal(plan.rounding.mode, 'nearest');
    assert.match(nearest.stderr, /round-to 8 \(nearest\) keeps 3 more channels in 1 group, 3 fewer in 1 group/);
    const up = JSON.parse((await outputInProcess(argv)).stdout);
    assert.deepEqual(
      up.groups.map((g: { keep: number[] }) => g.keep.length),
      [16, 16],
    );
    await assertRefusedInProcess([...argv, '--round-mode', 'down'], /^error: .*round-mode.*down/);
  });
});
