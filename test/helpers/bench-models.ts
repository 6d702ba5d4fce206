/**
 * Two small VGG-style models for timing tests, written as tfjs layers folders: a wide "baseline"
 * and a narrow "slim" one (a quarter of the MACs or less), both exported (BatchNorm folded) as a
 * run's exported/ model is. Tiny on purpose: browser tests must stay cheap.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { buildVgg, type VggItem } from '../../src/model/architectures.js';
import { fromLayersModel } from '../../src/model/convert.js';
import { writeModel } from '../../src/model/io.js';
import type { ModelArtifacts } from '../../src/model/topology.js';
import { exportModel } from '../../src/pipeline/export.js';

tf.env().set('PROD', true); // no "install tfjs-node" banner in test output

export interface BenchModels {
  dir: string;
  baseline: string;
  slim: string;
}

async function writeVgg(dir: string, cfg: VggItem[], inputShape: [number, number, number]): Promise<string> {
  const model = buildVgg({ cfg, inputShape, numClasses: 10, head: 'gap', hidden: [], dropout: 0, seed: 1 });
  try {
    const exported = await exportModel(await fromLayersModel(model));
    return await writeModel(dir, exported.artifacts);
  } finally {
    model.dispose();
  }
}

export async function writeBenchModels(inputShape: [number, number, number] = [16, 16, 1]): Promise<BenchModels> {
  if (tf.getBackend() === undefined) await tf.setBackend('cpu');
  const dir = await mkdtemp(path.join(tmpdir(), 'slim-bench-models-'));
  const baseline = await writeVgg(path.join(dir, 'baseline'), [16, 'M', 32], inputShape);
  const slim = await writeVgg(path.join(dir, 'slim'), [8, 'M', 16], inputShape);
  return { dir, baseline, slim };
}

/**
 * Two one-conv models as artifacts, the second doing 32× the MACs of the first (4 vs 128 filters on
 * a 16×16×3 input): which of two models did more work is a CPU-time check with no timing threshold.
 */
export async function narrowAndWideConvs(): Promise<ModelArtifacts[]> {
  const build = (filters: number) =>
    tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [16, 16, 3], filters, kernelSize: 3 }),
        tf.layers.globalAveragePooling2d({}),
        tf.layers.dense({ units: 2 }),
      ],
    });
  const built = [build(4), build(128)];
  try {
    return await Promise.all(built.map((m) => fromLayersModel(m)));
  } finally {
    for (const m of built) m.dispose();
  }
}
