/**
 * Realised speed-up of a pruned-and-exported net against its exported original, on the runtimes
 * `slim bench` drives (node:wasm, chromium:wasm, chromium:webgl), through the same stage:
 * quickstart, vgg-small and a MobileNetV2-style net at 224×224 from the test zoo, with seeded
 * random BN γ (so the global threshold cuts layers unevenly, as after sparsity training), pruned
 * at --ratio and both exported (BN folded). Plus the fixed cost of one predict at batch 1: a
 * one-Dense model's median per runtime. Every figure carries the 1-min load average.
 *
 *   node dist/bench/runtimes.js [--runs 5] [--warmup 1] [--ratio 0.5] [--batch 1,32]
 *        [--runtime node:wasm,chromium:wasm,chromium:webgl] [--arch quickstart,vgg-small,mobilenetv2-224]
 */
import * as tf from '@tensorflow/tfjs';
import { isRuntimeName, type RuntimeName } from '../src/bench/runtime.js';
import { Output } from '../src/io/output.js';
import { fromLayersModel } from '../src/model/convert.js';
import type { ModelArtifacts } from '../src/model/topology.js';
import { exportModel } from '../src/pipeline/export.js';
import { pruneModel } from '../src/pipeline/prune.js';
import { benchStage } from '../src/pipeline/stages/bench.js';
import { findBnGammas } from '../src/train/sparsity.js';
import { benchMobileNetV2 } from '../test/fixtures/zoo/mobilenet.js';
import { benchVgg } from '../test/fixtures/zoo/vgg.js';

function option(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 && process.argv[at + 1] !== undefined ? process.argv[at + 1] : fallback;
}
const list = (name: string, fallback: string) => option(name, fallback).split(',');

const ARCHS: Record<string, (seed: number) => tf.LayersModel> = {
  quickstart: (seed) => benchVgg([32, 'M', 64, 'M', 128], [28, 28, 1], seed),
  'vgg-small': (seed) => benchVgg([32, 32, 'M', 64, 64, 'M', 128, 128, 'M'], [32, 32, 3], seed),
  'mobilenetv2-224': (seed) => benchMobileNetV2([224, 224, 3], seed),
};

async function withRandomGammas(model: tf.LayersModel, seed: number): Promise<ModelArtifacts> {
  findBnGammas(model).forEach(({ variable }, i) => {
    const size = variable.shape.reduce((a, b) => (a ?? 1) * (b ?? 1), 1) ?? 1;
    variable.write(tf.tidy(() => tf.randomUniform([size], 0, 1, 'float32', seed * 100 + i)));
  });
  return fromLayersModel(model);
}

async function main(): Promise<void> {
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
  const runs = Number(option('runs', '5'));
  const warmup = Number(option('warmup', '1'));
  const ratio = Number(option('ratio', '0.5'));
  const batches = list('batch', '1,32').map(Number);
  const runtimes = list('runtime', 'node:wasm,chromium:wasm,chromium:webgl').filter((n): n is RuntimeName => isRuntimeName(n));
  const archs = list('arch', 'quickstart,vgg-small,mobilenetv2-224');
  const out = new Output({ progress: false });
  const common = { runtimes, explicit: true, runs, warmup, seed: 1, timeoutMs: 1_800_000 };

  console.log(`| net | runtime | batch | original ms | slim ms | speed-up (p10–p90) | MACs × | realised ÷ MACs | load |`);
  console.log(`|---|---|---|---|---|---|---|---|---|`);
  for (const arch of archs) {
    const original = ARCHS[arch](1);
    const artifacts = await withRandomGammas(original, 1);
    original.dispose();
    const pruned = pruneModel(artifacts, { ratio, minChannels: 1, roundTo: 1, importance: 'sum' });
    const baseline = (await exportModel(artifacts)).artifacts;
    const slim = (await exportModel(pruned.artifacts)).artifacts;
    const report = await benchStage(
      { path: `${arch} pruned`, artifacts: slim },
      { path: arch, artifacts: baseline },
      { ...common, batches },
      out,
    );
    for (const r of report.rows) {
      console.log(
        `| ${arch} | ${r.runtime}${r.software ? ' (software)' : ''} | ${r.batch} | ${r.baselineMs!.toFixed(2)} | ${r.modelMs.toFixed(2)} | ` +
          `${r.speedup!.toFixed(2)}× (${r.speedupP10!.toFixed(2)}–${r.speedupP90!.toFixed(2)}) | ${r.macsSpeedup!.toFixed(2)} | ${r.realisedOverMacs!.toFixed(2)} | ${r.loadAverage.toFixed(1)} |`,
      );
    }
  }
  // The fixed cost of one predict: a model that does almost nothing.
  const tiny = tf.sequential({ layers: [tf.layers.dense({ units: 1, inputShape: [1] })] });
  const tinyArtifacts = await fromLayersModel(tiny);
  const overhead = await benchStage(
    { path: 'one Dense(1)', artifacts: tinyArtifacts },
    undefined,
    { ...common, batches: [1], runs: 30, warmup: 5 },
    out,
  );
  console.log('\n| runtime | fixed cost of one predict at batch 1 (one Dense(1), median, p10–p90 ms) | load |');
  console.log('|---|---|---|');
  for (const r of overhead.rows) {
    console.log(
      `| ${r.runtime} | ${r.modelMs.toFixed(3)} (${r.model.p10Ms.toFixed(3)}–${r.model.p90Ms.toFixed(3)}) | ${r.loadAverage.toFixed(1)} |`,
    );
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
