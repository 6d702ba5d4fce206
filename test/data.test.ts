import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import * as tf from '@tensorflow/tfjs';
import { parseConfig } from '../src/config/load.js';
import { Dataset, type Preprocess } from '../src/data/dataset.js';
import { FASHION_MNIST_DIR } from '../src/data/formats/fashion-mnist.js';
import type { IdxFiles } from '../src/data/formats/idx.js';
import { mnistFiles } from '../src/data/formats/mnist.js';
import { readIdx, readIdxPair } from '../src/data/idx.js';
import { InputError } from '../src/errors.js';
import { prepareData } from '../src/pipeline/data.js';
import { idxBytes } from './helpers/idx.js';

let tmp: string;
let mnist: IdxFiles;

before(async () => {
  await tf.setBackend('cpu');
  tmp = await mkdtemp(join(tmpdir(), 'slim-data-'));
  mnist = mnistFiles();
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function expectInputError(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof InputError, `expected InputError, got ${String(err)}`);
    assert.match(err.message, pattern);
    assert.ok(!err.message.includes('\n'), 'error is one line');
    return true;
  });
}

describe('IDX reader', () => {
  test('reads real MNIST: shapes, counts, known first labels', async () => {
    const { images, labels } = await readIdxPair(mnist.trainImages, mnist.trainLabels);
    assert.deepEqual([images.count, images.height, images.width, images.channels], [60000, 28, 28, 1]);
    assert.equal(labels.length, 60000);
    assert.deepEqual([...labels.subarray(0, 5)], [5, 0, 4, 1, 9]);
    const test = await readIdxPair(mnist.testImages, mnist.testLabels);
    assert.equal(test.images.count, 10000);
    assert.equal(test.labels[0], 7);
    // Pixels are uint8 with real content (a digit, not blank).
    const first = images.data.subarray(0, 784);
    assert.ok(first.some((v) => v === 255 || v > 200));
  });

  test('gzipped copy gives identical arrays', async () => {
    const gz = join(tmp, 'labels.gz');
    const raw = await readFile(mnist.testLabels);
    await writeFile(gz, gzipSync(raw));
    const a = await readIdx(mnist.testLabels);
    const b = await readIdx(gz);
    assert.deepEqual(b.dims, a.dims);
    assert.deepEqual(Buffer.from(b.data), Buffer.from(a.data));
  });

  test('wrong magic, wrong dtype, truncated, corrupt gzip, rank and count errors', async () => {
    const write = async (name: string, bytes: Uint8Array): Promise<string> => {
      const p = join(tmp, name);
      await writeFile(p, bytes);
      return p;
    };
    const bad = await write('magic.idx', new Uint8Array([1, 2, 8, 1, 0, 0, 0, 1, 7]));
    await expectInputError(readIdx(bad), /magic\.idx: not an IDX file \(magic bytes 01 02 08 01/);
    const float = await write('float.idx', idxBytes(0x0d, [1], new Uint8Array(4)));
    await expectInputError(readIdx(float), /float\.idx: IDX data type is float; only ubyte/);
    const full = idxBytes(0x08, [10, 2, 2], new Uint8Array(40));
    const truncated = await write('trunc.idx', full.subarray(0, full.length - 3));
    await expectInputError(readIdx(truncated), /trunc\.idx: dims \[10, 2, 2\] need 40 data bytes but the file has 37 \(truncated\?\)/);
    const shortHeader = await write('hdr.idx', full.subarray(0, 9));
    await expectInputError(readIdx(shortHeader), /hdr\.idx: truncated header/);
    const gz = gzipSync(full);
    const corrupt = await write('corrupt.gz', gz.subarray(0, gz.length - 10));
    await expectInputError(readIdx(corrupt), /corrupt\.gz: gzip data is corrupt/);
    await expectInputError(readIdx(join(tmp, 'missing.idx')), /missing\.idx: cannot read IDX file \(ENOENT\)/);

    const images = await write('img.idx', full);
    const rank2 = await write('rank2.idx', idxBytes(0x08, [10, 4], new Uint8Array(40)));
    const labels9 = await write('lab9.idx', idxBytes(0x08, [9], new Uint8Array(9)));
    const labels10 = await write('lab10.idx', idxBytes(0x08, [10], new Uint8Array(10)));
    await expectInputError(readIdxPair(rank2, labels10), /rank2\.idx: images must have rank 3 \(n,h,w\) or 4/);
    await expectInputError(readIdxPair(images, rank2), /rank2\.idx: labels must have rank 1/);
    await expectInputError(readIdxPair(images, labels9), /lab9\.idx: has 9 labels but img\.idx has 10 images/);
    const ok = await readIdxPair(images, labels10);
    assert.equal(ok.images.count, 10);
  });
});

/** A data config as a config file gives it (all of the training set, no validation split). */
function dataConfig(data: Record<string, unknown>) {
  return parseConfig(JSON.stringify({ data: { validationSplit: 0, ...data } }), 'test.json').data;
}

describe('IDX presets, loaded as a run loads them (prepareData)', () => {
  test('mnist preset loads train and test with 10 classes', async () => {
    const { train, test } = await prepareData(dataConfig({ dataset: 'mnist' }), 1);
    assert.equal(train.count, 60000);
    assert.equal(test.count, 10000);
    assert.equal(train.numClasses, 10);
    assert.deepEqual(train.imageShape, [28, 28, 1]);
  });

  test('missing fashion-mnist directory names the apt package', async () => {
    await assert.rejects(
      prepareData(dataConfig({ dataset: 'fashion-mnist', dir: join(tmp, 'nowhere') }), 1),
      (err: unknown) => err instanceof InputError && /apt-get install dataset-fashion-mnist/.test(err.message),
    );
  });

  test('fashion-mnist preset (gzipped IDX from the Debian package) when installed', async (t) => {
    if (!existsSync(FASHION_MNIST_DIR)) {
      t.skip('dataset-fashion-mnist not installed');
      return;
    }
    const { train, test } = await prepareData(dataConfig({ dataset: 'fashion-mnist' }), 1);
    assert.equal(train.count, 60000);
    assert.equal(test.count, 10000);
    assert.ok(train instanceof Dataset);
    assert.equal(train.labels[0], 9); // the first Fashion-MNIST training item is an ankle boot
  });

  test('idx preset with explicit (gzipped) paths', async () => {
    const imgs = join(tmp, 'i.gz');
    const labs = join(tmp, 'l.gz');
    const pixels = new Uint8Array(3 * 2 * 2 * 3).map((_, i) => i);
    await writeFile(imgs, gzipSync(idxBytes(0x08, [3, 2, 2, 3], pixels)));
    await writeFile(labs, gzipSync(idxBytes(0x08, [3], new Uint8Array([2, 0, 1]))));
    // No test split without test files: the config asks for them.
    assert.throws(
      () => dataConfig({ dataset: 'idx', trainImages: imgs, trainLabels: labs }),
      /data\.testImages: required when dataset is "idx"/,
    );
    const files = { trainImages: imgs, trainLabels: labs, testImages: imgs, testLabels: labs };
    const { train, test } = await prepareData(dataConfig({ dataset: 'idx', ...files }), 1);
    assert.equal(test.count, 3);
    assert.deepEqual(train.imageShape, [2, 2, 3]);
    assert.equal(train.numClasses, 3);
    await assert.rejects(
      prepareData(dataConfig({ dataset: 'idx', ...files, trainLabels: join(tmp, 'nope') }), 1),
      /file not found: .*nope/,
    );
  });
});

describe('Dataset', () => {
  /** n images of 2×2×2 whose pixel values encode the example index; label = index % 3. */
  function synthetic(n: number): Dataset {
    const data = new Uint8Array(n * 8);
    for (let i = 0; i < n; i++) for (let p = 0; p < 8; p++) data[i * 8 + p] = (i * 8 + p) % 256;
    const labels = new Int32Array(n).map((_, i) => i % 3);
    return new Dataset({ images: { count: n, height: 2, width: 2, channels: 2, data }, labels });
  }
  const identity: Preprocess = { scale: 1, mean: [0], std: [1] };

  /** Example ids in batch order, recovered from the first pixel (i*8 when n*8 <= 256). */
  function orderOf(ds: Dataset, seed: number | undefined, epoch: number, batchSize = 7): number[] {
    const ids: number[] = [];
    for (const b of ds.batches({ batchSize, preprocess: identity, shuffleSeed: seed, epoch })) {
      const x = b.x.dataSync();
      for (let k = 0; k < b.size; k++) ids.push(x[k * 8] / 8);
      tf.dispose([b.x, b.y]);
    }
    return ids;
  }

  test('limit takes the first k, split sizes are exact and disjoint', () => {
    const ds = synthetic(30);
    assert.equal(ds.limit(10).count, 10);
    assert.deepEqual(orderOf(ds.limit(10), undefined, 0), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.equal(ds.limit(100), ds);
    const { train, val } = ds.split(0.2, 42);
    assert.equal(val.count, 6);
    assert.equal(train.count, 24);
    const all = [...orderOf(train, undefined, 0), ...orderOf(val, undefined, 0)].sort((a, b) => a - b);
    assert.deepEqual(all, [...Array(30).keys()]);
    // Same seed → same split; another seed → another split.
    assert.deepEqual(orderOf(ds.split(0.2, 42).val, undefined, 0), orderOf(val, undefined, 0));
    assert.notDeepEqual(orderOf(ds.split(0.2, 43).val, undefined, 0), orderOf(val, undefined, 0));
    assert.throws(() => ds.split(1, 1), InputError);
  });

  test('seeded shuffle: reproducible, seed- and epoch-sensitive, a permutation', () => {
    const ds = synthetic(30);
    const a = orderOf(ds, 7, 0);
    assert.deepEqual(orderOf(ds, 7, 0), a);
    assert.notDeepEqual(orderOf(ds, 8, 0), a);
    assert.notDeepEqual(orderOf(ds, 7, 1), a);
    assert.deepEqual(
      [...a].sort((x, y) => x - y),
      [...Array(30).keys()],
    );
    assert.notDeepEqual(a, [...Array(30).keys()]);
  });

  test('batch shapes, one-hot labels, per-channel preprocessing', () => {
    const ds = synthetic(10);
    const pre: Preprocess = { scale: 0.5, mean: [1, 2], std: [2, 4] };
    const batches = [...ds.batches({ batchSize: 4, preprocess: pre })];
    assert.deepEqual(
      batches.map((b) => b.size),
      [4, 4, 2],
    );
    assert.deepEqual(batches[0].x.shape, [4, 2, 2, 2]);
    assert.deepEqual(batches[2].y.shape, [2, 3]);
    assert.equal(batches[0].y.dtype, 'float32');
    const x = batches[1].x.dataSync();
    const y = batches[1].y.arraySync();
    // Example 4: pixels 32..39; channel alternates 0,1.
    for (let p = 0; p < 8; p++) {
      const c = p % 2;
      const expected = ((32 + p) * 0.5 - pre.mean[c]) / pre.std[c];
      assert.ok(Math.abs(x[p] - expected) < 1e-5, `pixel ${p}: ${x[p]} vs ${expected}`);
    }
    assert.deepEqual(y, [
      [0, 1, 0],
      [0, 0, 1],
      [1, 0, 0],
      [0, 1, 0],
    ]);
    tf.dispose(batches.flatMap((b) => [b.x, b.y]));
    assert.equal(
      [...ds.batches({ batchSize: 4, preprocess: pre, dropRemainder: true })].map((b) => {
        tf.dispose([b.x, b.y]);
        return b.size;
      }).length,
      2,
    );
    assert.throws(
      () => [...ds.batches({ batchSize: 4, preprocess: { scale: 1, mean: [0, 0, 0], std: [1] } })],
      /preprocess\.mean has 3 values/,
    );
  });

  test('labels beyond numClasses are rejected', () => {
    assert.throws(
      () =>
        new Dataset({
          images: { count: 1, height: 1, width: 1, channels: 1, data: new Uint8Array(1) },
          labels: new Int32Array([5]),
          numClasses: 3,
          name: 'tiny',
        }),
      /tiny: label 5 does not fit numClasses 3/,
    );
  });
});
