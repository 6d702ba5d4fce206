/**
 * A stray label (255 among MNIST's digits 0-9) must not silently size a 256-class head: when the
 * training labels leave most of 0..max unused, the data is refused with one line naming the label,
 * its file and index, and data.classes; data.classes says the classes are meant. A small subset
 * that misses a few classes, and a genuine many-class set with few examples, stay fine.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { parseConfig } from '../src/config/load.js';
import { mnistFiles } from '../src/data/formats/mnist.js';
import { readIdxPair } from '../src/data/idx.js';
import { InputError } from '../src/errors.js';
import { prepareData } from '../src/pipeline/data.js';
import { idxBytes } from './helpers/idx.js';

const TRAIN_N = 600;
const TEST_N = 100;

let tmp: string;
let trainImages: Uint8Array;
let trainLabels: Uint8Array;
let testImages: Uint8Array;
let testLabels: Uint8Array;

before(async () => {
  await tf.setBackend('cpu');
  tmp = await mkdtemp(join(tmpdir(), 'slim-stray-'));
  const mnist = mnistFiles();
  const train = await readIdxPair(mnist.trainImages, mnist.trainLabels);
  const testSplit = await readIdxPair(mnist.testImages, mnist.testLabels);
  trainImages = train.images.data.slice(0, TRAIN_N * 784);
  trainLabels = Uint8Array.from(train.labels.subarray(0, TRAIN_N));
  testImages = testSplit.images.data.slice(0, TEST_N * 784);
  testLabels = Uint8Array.from(testSplit.labels.subarray(0, TEST_N));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** An IDX dataset of real MNIST digits whose training labels are `labels`; returns its files. */
async function idxDataset(name: string, labels: Uint8Array, images = trainImages): Promise<Record<string, string>> {
  const dir = join(tmp, name);
  await mkdir(dir);
  const files = {
    trainImages: join(dir, 'train-images'),
    trainLabels: join(dir, 'train-labels'),
    testImages: join(dir, 'test-images'),
    testLabels: join(dir, 'test-labels'),
  };
  await writeFile(files.trainImages, idxBytes(0x08, [labels.length, 28, 28], images.subarray(0, labels.length * 784)));
  await writeFile(files.trainLabels, idxBytes(0x08, [labels.length], labels));
  await writeFile(files.testImages, idxBytes(0x08, [TEST_N, 28, 28], testImages));
  await writeFile(files.testLabels, idxBytes(0x08, [TEST_N], testLabels));
  return files;
}

function dataConfig(data: Record<string, unknown>) {
  return parseConfig(JSON.stringify({ data: { dataset: 'idx', validationSplit: 0, ...data } }), 'test.json').data;
}

async function refused(data: Record<string, unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(prepareData(dataConfig(data), 1), (error: unknown) => {
    assert.ok(error instanceof InputError, `expected InputError, got ${String(error)}`);
    assert.match(error.message, pattern);
    assert.ok(!error.message.includes('\n'), 'one line');
    return true;
  });
}

/** MNIST's labels with `value` at `index`. */
function withLabel(index: number, value: number): Uint8Array {
  const labels = Uint8Array.from(trainLabels);
  labels[index] = value;
  return labels;
}

describe('a stray label among the training labels', () => {
  test('255 among digits 0-9 is refused, naming the label, its file and index, and data.classes', async () => {
    const files = await idxDataset('stray', withLabel(17, 255));
    await refused(
      files,
      new RegExp(
        `^${files.trainLabels}: label 17 is 255 and the other labels lie in 0\\.\\.9: only 11 of the 256 classes 0\\.\\.255 occur in ${TRAIN_N} examples \\(a stray label\\?\\); set data\\.classes to 256 if those classes are meant$`,
      ),
    );
  });

  test('data.classes: 256 says the classes are meant: 256 classes', async () => {
    const files = await idxDataset('meant', withLabel(17, 255));
    const data = await prepareData(dataConfig({ ...files, classes: 256 }), 1);
    assert.equal(data.numClasses, 256);
    assert.match(data.summary, /256 classes/);
  });

  test('data.classes: 10 keeps the digits and names the stray label as outside 0..9', async () => {
    const files = await idxDataset('ten', withLabel(17, 255));
    await refused({ ...files, classes: 10 }, /train-labels: label 17 is 255, outside 0\.\.9$/);
    const clean = await idxDataset('ten-clean', trainLabels);
    assert.equal((await prepareData(dataConfig({ ...clean, classes: 10 }), 1)).numClasses, 10);
  });

  test('only two digits used up to 9 in 600 examples is refused too (most of 0..9 unused)', async () => {
    const labels = trainLabels.map((l) => (l < 5 ? 0 : 9));
    const files = await idxDataset('two', labels);
    await refused(files, /label \d+ is 9 and the other labels lie in 0\.\.0: only 2 of the 10 classes 0\.\.9 occur in 600 examples/);
  });
});

describe('labels that are fine as they are', () => {
  test('all of MNIST 0-9: 10 classes', async () => {
    const files = await idxDataset('clean', trainLabels);
    assert.equal((await prepareData(dataConfig(files), 1)).numClasses, 10);
  });

  test('a small subset that misses a few classes: 6 examples, 10 classes', async () => {
    // MNIST's first training labels are 5 0 4 1 9 2: six of the ten digits, max 9.
    const labels = trainLabels.slice(0, 6);
    assert.deepEqual([...labels], [5, 0, 4, 1, 9, 2]);
    const files = await idxDataset('subset', labels);
    assert.equal((await prepareData(dataConfig(files), 1)).numClasses, 10);
  });

  test('a genuine 100-class set with 60 examples (many classes unseen by chance): 100 classes', async () => {
    // Labels drawn from 0..99 by a fixed LCG; the largest is pinned to 99.
    let state = 7;
    const labels = Uint8Array.from({ length: 60 }, () => (state = (state * 1103515245 + 12345) % 2 ** 31) % 100);
    labels[0] = 99;
    const files = await idxDataset('hundred', labels);
    assert.equal((await prepareData(dataConfig(files), 1)).numClasses, 100);
  });

  test("data.classes must agree with a model's output width", async () => {
    const files = await idxDataset('width', trainLabels);
    await assert.rejects(
      prepareData(dataConfig({ ...files, classes: 12 }), 1, { numClasses: 10 }),
      /^InputError: data\.classes: 12, but the model's output has 10 classes$/,
    );
  });
});
