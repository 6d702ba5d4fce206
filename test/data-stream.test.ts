/**
 * Augmentation (random crop from zero padding + horizontal flip): exact semantics, reproducible
 * by (seed, epoch, index), seed-sensitive, training batches only. Streaming image folders: the
 * same batches as the in-memory dataset of the same folder, a bounded decode-ahead queue, and the
 * training loop consuming either source to the same weights.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { parseConfig } from '../src/config/load.js';
import { augmentDraw, type Augment, type BatchOptions, type BatchSource } from '../src/data/batch-source.js';
import { Dataset, mulberry32 } from '../src/data/dataset.js';
import { ImageFolderSource } from '../src/data/folder.js';
import { buildVgg } from '../src/model/architectures.js';
import { evaluateSource } from '../src/train/evaluate.js';
import { train } from '../src/train/loop.js';
import { prepareData } from '../src/pipeline/data.js';
import { testAccuracy } from '../src/pipeline/train.js';

const IDENTITY = { scale: 1, mean: [0], std: [1] };

/** Every batch's x and labels as plain arrays (tensors disposed). */
async function collect(source: BatchSource, options: BatchOptions): Promise<{ x: number[][]; y: number[][] }> {
  const x: number[][] = [];
  const y: number[][] = [];
  for await (const b of source.batches(options)) {
    x.push(Array.from(b.x.dataSync()));
    const labels = tf.argMax(b.y, 1);
    y.push(Array.from(labels.dataSync()));
    tf.dispose([b.x, b.y, labels]);
  }
  return { x, y };
}

function randomDataset(count: number, h: number, w: number, c: number, augment?: Augment): Dataset {
  const rand = mulberry32(7);
  const data = Uint8Array.from({ length: count * h * w * c }, () => 1 + Math.floor(rand() * 255)); // no zeros: padding is visible
  const labels = Int32Array.from({ length: count }, (_, i) => i % 3);
  return new Dataset({ images: { count, height: h, width: w, channels: c, data }, labels, numClasses: 3, augment });
}

// The CPU backend, set explicitly: importing slim's pipeline registers wasm, which would otherwise be
// the (uninitialised) default.
before(async () => {
  await tf.setBackend('cpu');
});

describe('augmentation', () => {
  const aug: Augment = { pad: 2, flip: true, seed: 11 };
  const ds = randomDataset(24, 6, 5, 2, aug);
  const opts = (over: Partial<BatchOptions> = {}): BatchOptions => ({
    batchSize: 8,
    preprocess: IDENTITY,
    shuffleSeed: 3,
    epoch: 0,
    train: true,
    ...over,
  });

  test('each example is the crop (offset dy, dx; zeros outside) of its image, mirrored when drawn', async () => {
    const { x } = await collect(ds, opts({ shuffleSeed: undefined, epoch: 4 }));
    const [h, w, c] = ds.imageShape;
    let flips = 0;
    let shifted = 0;
    for (let i = 0; i < ds.count; i++) {
      const d = augmentDraw(aug, 4, i);
      flips += d.flip ? 1 : 0;
      shifted += d.dy !== 0 || d.dx !== 0 ? 1 : 0;
      assert.ok(Math.abs(d.dy) <= 2 && Math.abs(d.dx) <= 2);
      const out = x[Math.floor(i / 8)].slice((i % 8) * h * w * c, ((i % 8) + 1) * h * w * c);
      for (let yy = 0; yy < h; yy++)
        for (let xx = 0; xx < w; xx++)
          for (let ch = 0; ch < c; ch++) {
            const sy = yy + d.dy;
            const sx = (d.flip ? w - 1 - xx : xx) + d.dx;
            const expected = sy >= 0 && sy < h && sx >= 0 && sx < w ? ds.images[i * h * w * c + (sy * w + sx) * c + ch] : 0;
            assert.equal(out[(yy * w + xx) * c + ch], expected);
          }
    }
    assert.ok(flips > 4 && flips < 20, `flips ${flips}/24`);
    assert.ok(shifted > 12, `shifted ${shifted}/24`);
  });

  test('reproducible for the same (seed, epoch); changes with the seed and with the epoch; batch size does not matter', async () => {
    const a = await collect(ds, opts());
    assert.deepEqual(await collect(ds, opts()), a);
    assert.notDeepEqual(await collect(ds.withAugment({ ...aug, seed: 12 }), opts()), a);
    // Same shuffle order across epochs to isolate the augmentation: no shuffle.
    const e0 = await collect(ds, opts({ shuffleSeed: undefined, epoch: 0 }));
    const e1 = await collect(ds, opts({ shuffleSeed: undefined, epoch: 1 }));
    assert.notDeepEqual(e1.x, e0.x);
    const whole = await collect(ds, opts({ shuffleSeed: undefined, epoch: 0, batchSize: 24 }));
    assert.deepEqual(whole.x[0], e0.x.flat());
  });

  test('off unless train: true (evaluation), and prepareData augments only the training split', async () => {
    const plain = await collect(ds.withAugment(undefined), opts());
    assert.deepEqual(await collect(ds, opts({ train: false })), plain);
    assert.deepEqual(await collect(ds, opts({ train: undefined })), plain);
    assert.notDeepEqual(await collect(ds, opts()), plain);

    const data = parseConfig(
      JSON.stringify({ data: { dataset: 'mnist', trainLimit: 40, testLimit: 10, validationSplit: 0.25, augment: { pad: 4, flip: true } } }),
      'c.json',
    ).data;
    const prepared = await prepareData(data, 5);
    assert.deepEqual((prepared.train as Dataset).augment, { pad: 4, flip: true, seed: 5 });
    assert.equal((prepared.val as Dataset).augment, undefined);
    assert.equal((prepared.test as Dataset).augment, undefined);
    assert.match(prepared.summary, /augment: pad-crop 4 \+ flip/);
  });
});

// ---------- streaming ----------

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slim-data-stream-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** root/<class>/<n>.png with random 8x8 RGB pixels; returns root. */
async function makeFolder(name: string, perClass: number, classes: string[]): Promise<string> {
  const root = join(dir, name);
  const rand = mulberry32(99);
  for (const cls of classes) {
    await mkdir(join(root, cls), { recursive: true });
    for (let n = 0; n < perClass; n++) {
      const raw = Buffer.from(Uint8Array.from({ length: 8 * 8 * 3 }, () => Math.floor(rand() * 256)));
      await sharp(raw, { raw: { width: 8, height: 8, channels: 3 } })
        .png()
        .toFile(join(root, cls, `${String(n).padStart(3, '0')}.png`));
    }
  }
  return root;
}

function folderConfig(root: string, extra: Record<string, unknown>) {
  return parseConfig(
    JSON.stringify({ data: { dataset: 'folder', trainDir: root, testDir: root, validationSplit: 0.2, ...extra } }),
    'c.json',
  ).data;
}

describe('streaming image folder', () => {
  test('yields exactly the in-memory batches (same seed, epochs, augmentation), holding at most `prefetch` batches', async () => {
    const root = await makeFolder('stream', 14, ['a', 'b', 'c']);
    const streamed = await prepareData(folderConfig(root, { stream: true, prefetch: 2, augment: { pad: 2, flip: true } }), 3);
    const inMemory = await prepareData(folderConfig(root, { augment: { pad: 2, flip: true } }), 3);
    assert.ok(streamed.train instanceof ImageFolderSource);
    assert.ok(inMemory.train instanceof Dataset);
    assert.ok(streamed.val instanceof ImageFolderSource);
    assert.equal(streamed.train.count, inMemory.train.count);
    assert.match(streamed.summary, /streaming, 2 batch\(es\) decoded ahead/);
    const source = streamed.train;
    for (const epoch of [0, 1]) {
      const o: BatchOptions = {
        batchSize: 5,
        preprocess: { scale: 1 / 255, mean: [0.5], std: [0.25] },
        shuffleSeed: 3,
        epoch,
        train: true,
      };
      assert.deepEqual(await collect(source, o), await collect(inMemory.train, o), `epoch ${epoch}`);
    }
    assert.deepEqual(
      await collect(streamed.val, { batchSize: 4, preprocess: IDENTITY }),
      await collect(inMemory.val!, { batchSize: 4, preprocess: IDENTITY }),
    );
    assert.ok(source.stats.peakBuffered >= 1 && source.stats.peakBuffered <= 2, `peak ${source.stats.peakBuffered}`);
  });

  test('a slow consumer: the queue fills to `prefetch` and never beyond; an abandoned stream leaves no error behind', async () => {
    const root = join(dir, 'stream');
    const listing = (await prepareData(folderConfig(root, { stream: true, validationSplit: 0 }), 1)).train as ImageFolderSource;
    for (const prefetch of [1, 3]) {
      const source = new ImageFolderSource({
        name: 'q',
        files: [...listing.files],
        labels: Int32Array.from({ length: listing.count }, (_, i) => i % 3),
        numClasses: 3,
        classNames: ['a', 'b', 'c'],
        target: { height: 8, width: 8, channels: 3 },
        resize: false,
        prefetch,
      });
      let batches = 0;
      for await (const b of source.batches({ batchSize: 4, preprocess: IDENTITY, shuffleSeed: 1 })) {
        tf.dispose([b.x, b.y]);
        batches++;
        await new Promise((r) => setTimeout(r, 15)); // the decoder gets ahead while we "train"
      }
      assert.equal(batches, source.batchCount(4));
      assert.equal(source.stats.peakBuffered, prefetch, `prefetch ${prefetch}`);
      // Leaving early (a diverged run) must stop cleanly.
      for await (const b of source.batches({ batchSize: 4, preprocess: IDENTITY })) {
        tf.dispose([b.x, b.y]);
        break;
      }
    }
  });

  test('the training loop and evaluateSource consume a streaming source like the in-memory one (same weights, same accuracy)', async () => {
    const root = join(dir, 'stream');
    const streamed = await prepareData(folderConfig(root, { stream: true, augment: { pad: 1, flip: true } }), 2);
    const inMemory = await prepareData(folderConfig(root, { augment: { pad: 1, flip: true } }), 2);
    const run = async (data: typeof streamed) => {
      const model = buildVgg({
        cfg: [4, 'M'],
        inputShape: data.imageShape,
        numClasses: data.numClasses,
        head: 'gap',
        hidden: [],
        dropout: 0,
        seed: 4,
      });
      const options = {
        epochs: 2,
        batchSize: 8,
        lr: 0.05,
        momentum: 0.9,
        nesterov: false,
        weightDecay: 1e-4,
        milestones: [0.5],
        gamma: 0.1,
        sparsityLambda: 1e-4,
        seed: 2,
        preprocess: { scale: 1 / 255, mean: [0.5], std: [0.25] },
      };
      const result = await train(model, { train: data.train, val: data.val }, options);
      const evaluated = await evaluateSource(model, data.train, { batchSize: 16, preprocess: options.preprocess, confusion: true });
      const weights = model.getWeights().map((w) => Array.from(w.dataSync()));
      model.dispose();
      return { records: result.epochs.map((r) => [r.loss, r.trainAccuracy, r.valAccuracy, r.valLoss]), evaluated, weights };
    };
    const before = tf.memory().numTensors;
    const a = await run(streamed);
    const b = await run(inMemory);
    assert.deepEqual(a.records, b.records);
    assert.deepEqual(a.weights, b.weights);
    assert.deepEqual(a.evaluated, b.evaluated);
    assert.equal(
      a.evaluated.confusion!.flat().reduce((s, v) => s + v, 0),
      streamed.train.count,
    );
    assert.equal(tf.memory().numTensors, before, 'no tensors leak');
  });

  test('with stream: true the test split streams too, and testAccuracy reads it like the in-memory one', async () => {
    const root = join(dir, 'stream');
    const streamed = await prepareData(folderConfig(root, { stream: true }), 2);
    const inMemory = await prepareData(folderConfig(root, {}), 2);
    assert.ok(streamed.test instanceof ImageFolderSource, 'streamed test split');
    assert.ok(inMemory.test instanceof Dataset, 'in-memory test split');
    const model = buildVgg({
      cfg: [4, 'M'],
      inputShape: streamed.imageShape,
      numClasses: streamed.numClasses,
      head: 'gap',
      hidden: [],
      dropout: 0,
      seed: 4,
    });
    try {
      const a = await testAccuracy(model, streamed, 8);
      assert.equal(a, await testAccuracy(model, inMemory, 8));
      assert.ok(a >= 0 && a <= 1);
    } finally {
      model.dispose();
    }
  });
});
