/**
 * A Teachable-Machine-shaped transfer model on disk (nested Sequentials, BatchNorm momentum 0.999 as
 * Keras applications save it, metadata.json beside model.json as Teachable Machine exports it) and a
 * small real image folder for it: two MNIST digit classes written as PNG files with sharp.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { dataSchema } from '../../src/config/schema.js';
import { Dataset } from '../../src/data/dataset.js';
import { fromLayersModel } from '../../src/model/convert.js';
import { writeModel } from '../../src/model/io.js';
import { prepareData } from '../../src/pipeline/data.js';
import { teachableMachineLike } from '../fixtures/zoo/nested.js';
import { batchNormLayers } from '../../src/train/bn-statistics.js';

/** The momentum Keras applications (MobileNet, the Teachable Machine body) save in every BatchNorm. */
export const KERAS_APPLICATIONS_BN_MOMENTUM = 0.999;

/** Teachable Machine image metadata.json (fields of a real export; imageSize the fixture's 28). */
export function teachableMachineMetadata(labels: string[], imageSize = 28): Record<string, unknown> {
  return {
    tfjsVersion: '1.3.1',
    tmVersion: '2.4.7',
    packageVersion: '0.8.4-alpha2',
    packageName: '@teachablemachine/image',
    timeStamp: '2026-01-01T00:00:00.000Z',
    userMetadata: {},
    modelName: 'tm-my-image-model',
    labels,
    imageSize,
  };
}

/**
 * Runs `build` with Math.random replaced by a seeded generator (mulberry32): tfjs's initializers
 * without a seed draw theirs from Math.random, so the fixture starts from the same weights in every
 * run (an unlucky draw once made the collapse/recovery tests fail).
 */
function withSeededRandom<T>(seed: number, build: () => T): T {
  const original = Math.random;
  let state = seed >>> 0;
  Math.random = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  try {
    return build();
  } finally {
    Math.random = original;
  }
}

/** teachableMachineLike(classes) with every BN at `momentum`, written to `dir` with its metadata.json. */
export async function writeTeachableMachineModel(
  dir: string,
  labels: string[],
  { momentum = KERAS_APPLICATIONS_BN_MOMENTUM, metadata = true }: { momentum?: number; metadata?: boolean } = {},
): Promise<string> {
  const model = withSeededRandom(7, () => teachableMachineLike(labels.length));
  for (const layer of batchNormLayers(model)) (layer as unknown as { momentum: number }).momentum = momentum;
  try {
    const path = await writeModel(dir, await fromLayersModel(model));
    if (metadata) await writeFile(join(dir, 'metadata.json'), JSON.stringify(teachableMachineMetadata(labels)));
    return path;
  } finally {
    model.dispose();
  }
}

/** MNIST digits `digits` as 28x28 gray PNGs in root/{train,test}/<digit name>/: `perClass` training and `testPerClass` test images each. */
export async function writeDigitFolder(
  root: string,
  digits: number[],
  perClass: number,
  testPerClass: number,
): Promise<{ trainDir: string; testDir: string; labels: string[] }> {
  const names = digits.map((d) => `digit-${d}`);
  const { train, test } = await prepareData(
    dataSchema.parse({ dataset: 'mnist', validationSplit: 0, trainLimit: 4000, testLimit: 2000 }),
    0,
  );
  if (!(train instanceof Dataset) || !(test instanceof Dataset)) throw new Error('mnist loads into memory');
  for (const [split, data, count] of [
    ['train', train, perClass],
    ['test', test, testPerClass],
  ] as const) {
    for (const [k, digit] of digits.entries()) {
      const dir = join(root, split, names[k]);
      await mkdir(dir, { recursive: true });
      let written = 0;
      for (let i = 0; i < data.count && written < count; i++) {
        if (data.labels[i] !== digit) continue;
        const pixels = Buffer.from(data.images.subarray(i * 784, (i + 1) * 784));
        await sharp(pixels, { raw: { width: 28, height: 28, channels: 1 } })
          .toColourspace('b-w')
          .png()
          .toFile(join(dir, `${String(i).padStart(5, '0')}.png`));
        written++;
      }
    }
  }
  return { trainDir: join(root, 'train'), testDir: join(root, 'test'), labels: names };
}
