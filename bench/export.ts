/**
 * What `slim export` gives a deployed model: download bytes per option and predict speed per format.
 * For the quickstart net (configs/quickstart.json), vgg-small and the zoo's MobileNetV2-style net at
 * 224×224, each unpruned and pruned (seeded random |γ|, global ratio --ratio), both exported:
 *   - weight bytes raw and gzip for float32, uint8, uint16, float16 (and the graph form's float32);
 *   - median predict ms on node:wasm at each --batch for the layers and the graph form, the four
 *     models interleaved run by run (load drift hits all alike), the load average beside each row;
 *     realised speed-up (unpruned ms / pruned ms) ÷ MACs reduction per format.
 *
 *   node dist/bench/export.js [--arch quickstart,vgg-small,mobilenetv2] [--batch 1,32] [--runs 10] [--ratio 0.5]
 */
import { gzipSync } from 'node:zlib';
import * as os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/select.js';
import { pruneSchema } from '../src/config/schema.js';
import { graphModelJson, graphQuantization, toGraphModel } from '../src/export/graph-model.js';
import { buildVgg } from '../src/model/architectures.js';
import { fromLayersModel, toLayersModel } from '../src/model/convert.js';
import type { ModelArtifacts } from '../src/model/topology.js';
import { bytes, exportModel } from '../src/pipeline/export.js';
import { pruneModel } from '../src/pipeline/prune.js';
import { countModel } from '../src/report/count.js';
import { findBnGammas } from '../src/train/sparsity.js';
import { benchMobileNetV2, benchVgg } from '../test/fixtures/zoo/index.js';

function option(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 && process.argv[at + 1] !== undefined ? process.argv[at + 1] : fallback;
}

const ARCHS: Record<string, { build: () => tf.LayersModel; input: number[] }> = {
  quickstart: {
    build: () => buildVgg({ cfg: [16, 'M', 32, 'M', 64], inputShape: [28, 28, 1], numClasses: 10, head: 'flatten', seed: 42 }),
    input: [28, 28, 1],
  },
  'vgg-small': { build: () => benchVgg([32, 32, 'M', 64, 64, 'M', 128, 128, 'M'], [32, 32, 3], 1), input: [32, 32, 3] },
  mobilenetv2: { build: () => benchMobileNetV2([224, 224, 3], 1), input: [224, 224, 3] },
};

const load = (): string => os.loadavg()[0].toFixed(1);

async function withRandomGammas(model: tf.LayersModel, seed: number): Promise<ModelArtifacts> {
  findBnGammas(model).forEach(({ variable }, i) => {
    const size = variable.shape.reduce((a, b) => (a ?? 1) * (b ?? 1), 1) ?? 1;
    variable.write(tf.tidy(() => tf.randomUniform([size], 0, 1, 'float32', seed * 100 + i)));
  });
  const artifacts = await fromLayersModel(model);
  model.dispose();
  return artifacts;
}

async function graphOf(exported: ModelArtifacts): Promise<{ model: tf.GraphModel; raw: number; gzip: number }> {
  const parts = toGraphModel(exported);
  const g = graphModelJson(parts, graphQuantization(parts, exported.weights, undefined), 'weights.bin');
  const model = await tf.loadGraphModel(
    tf.io.fromMemory({
      modelTopology: g.modelJson.modelTopology as tf.io.ModelJSON['modelTopology'],
      weightSpecs: g.specs,
      weightData: g.data.slice().buffer,
      format: 'graph-model',
    }),
  );
  return { model, raw: g.data.byteLength, gzip: gzipSync(g.data).byteLength };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const archs = option('arch', 'quickstart,vgg-small,mobilenetv2').split(',');
  const batches = option('batch', '1,32').split(',').map(Number);
  const runs = Number(option('runs', '10'));
  const ratio = Number(option('ratio', '0.5'));
  const backend = await selectBackend('wasm');
  console.log(`backend ${backend.detail}; ${os.cpus().length} cores; ratio ${ratio}; runs ${runs}\n`);

  for (const arch of archs) {
    const spec = ARCHS[arch];
    const original = await withRandomGammas(spec.build(), 1);
    const pruned = pruneModel(original, pruneSchema.parse({ ratio, minChannels: 1 })).artifacts;
    const macs = { unpruned: countModel(original.modelTopology).macs, pruned: countModel(pruned.modelTopology).macs };
    console.log(
      `## ${arch} (${spec.input.join('×')}): MACs ${(macs.unpruned / 1e6).toFixed(1)}M unpruned, ${(macs.pruned / 1e6).toFixed(1)}M pruned (${(macs.unpruned / macs.pruned).toFixed(2)}×)\n`,
    );
    console.log('| model | option | weights raw | weights gzip | load avg |');
    console.log('|---|---|---|---|---|');
    const exports: Record<string, ModelArtifacts> = {};
    for (const [label, artifacts] of [
      ['unpruned', original],
      ['pruned', pruned],
    ] as const) {
      const float = await exportModel(artifacts);
      exports[label] = float.artifacts;
      console.log(
        `| ${label} | input (BN unfolded), float32 | ${bytes(float.weightBytes.before.raw)} | ${bytes(float.weightBytes.before.gzip)} | ${load()} |`,
      );
      console.log(
        `| ${label} | export float32 | ${bytes(float.weightBytes.after.raw)} | ${bytes(float.weightBytes.after.gzip)} | ${load()} |`,
      );
      for (const dtype of ['uint16', 'float16', 'uint8'] as const) {
        const q = await exportModel(artifacts, { quantize: [{ dtype, pattern: '*' }] });
        console.log(
          `| ${label} | export ${dtype} | ${bytes(q.weightBytes.after.raw)} | ${bytes(q.weightBytes.after.gzip)} | ${load()} | ` +
            `(output drift ${(q.quantized!.check.maxAbsDiff / Math.max(1, q.quantized!.check.maxAbsOutput)).toExponential(1)} rel.)`,
        );
      }
    }

    console.log('\n| batch | format | unpruned ms | pruned ms | speed-up | ÷ MACs reduction | load avg |');
    console.log('|---|---|---|---|---|---|---|');
    const layers = { unpruned: await toLayersModel(exports.unpruned), pruned: await toLayersModel(exports.pruned) };
    const graphs = { unpruned: (await graphOf(exports.unpruned)).model, pruned: (await graphOf(exports.pruned)).model };
    const runners: [string, (x: tf.Tensor) => tf.Tensor][] = [
      ['layers/unpruned', (x) => layers.unpruned.predict(x) as tf.Tensor],
      ['layers/pruned', (x) => layers.pruned.predict(x) as tf.Tensor],
      ['graph/unpruned', (x) => graphs.unpruned.predict(x) as tf.Tensor],
      ['graph/pruned', (x) => graphs.pruned.predict(x) as tf.Tensor],
    ];
    for (const batch of batches) {
      const x = tf.randomNormal([batch, ...spec.input]);
      const times = new Map<string, number[]>(runners.map(([name]) => [name, []]));
      const batchRuns = batch >= 32 && arch === 'mobilenetv2' ? Math.max(3, Math.floor(runs / 3)) : runs;
      for (let r = -1; r < batchRuns; r++) {
        for (const [name, run] of runners) {
          const start = performance.now();
          const y = run(x);
          await y.data();
          y.dispose();
          if (r >= 0) times.get(name)!.push(performance.now() - start); // r = -1 is the warm-up
        }
      }
      for (const format of ['layers', 'graph']) {
        const u = median(times.get(`${format}/unpruned`)!);
        const p = median(times.get(`${format}/pruned`)!);
        const speedup = u / p;
        console.log(
          `| ${batch} | ${format} | ${u.toFixed(2)} | ${p.toFixed(2)} | ${speedup.toFixed(2)}× | ${(speedup / (macs.unpruned / macs.pruned)).toFixed(2)} | ${load()} |`,
        );
      }
      const lu = median(times.get('layers/unpruned')!);
      const gu = median(times.get('graph/unpruned')!);
      const lp = median(times.get('layers/pruned')!);
      const gp = median(times.get('graph/pruned')!);
      console.log(
        `| ${batch} | graph vs layers | ${(lu / gu).toFixed(2)}× | ${(lp / gp).toFixed(2)}× | (layers ms ÷ graph ms) | | ${load()} |`,
      );
      x.dispose();
    }
    console.log('');
    for (const m of [...Object.values(layers), ...Object.values(graphs)]) m.dispose();
  }
}

await main();
