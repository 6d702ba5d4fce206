/**
 * Dataset cases: every format slim reads (.npy, .npz, IDX, CIFAR binary, image folders) broken in
 * the ways files break: truncated, wrong magic, wrong dtype or rank, labels out of range, counts
 * that disagree, empty or stray classes, corrupt images. Faults of the training split go through
 * `slim train` (which must refuse before training); faults of the test split also through `slim eval`.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Base, Corpus } from './corpus.js';
import { cifarRecords, idx, imageFolder, images8, int32Bytes, labels, npy, png, zip } from './fixtures.js';

const TRAIN_N = 40;
const TEST_N = 20;

/** The four .npy files of a valid 8×8 gray, 10-class dataset (40 train, 20 test). */
function npyFiles(): Record<string, Buffer> {
  return {
    'x_train.npy': npy('|u1', [TRAIN_N, 8, 8], images8(TRAIN_N)),
    'y_train.npy': npy('|u1', [TRAIN_N], labels(TRAIN_N)),
    'x_test.npy': npy('|u1', [TEST_N, 8, 8], images8(TEST_N)),
    'y_test.npy': npy('|u1', [TEST_N], labels(TEST_N)),
  };
}

export async function writeNpyDataset(dir: string, replace: Record<string, Buffer> = {}): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [name, bytes] of Object.entries({ ...npyFiles(), ...replace })) await writeFile(path.join(dir, name), bytes);
}

/** The `data` config of the npy dataset writeNpyDataset wrote into `dir`. */
export function npyDataConfig(dir: string): Record<string, string> {
  const file = (stem: string): string => path.join(dir, `${stem}.npy`);
  return {
    dataset: 'npy',
    trainImages: file('x_train'),
    trainLabels: file('y_train'),
    testImages: file('x_test'),
    testLabels: file('y_test'),
  };
}

/** npy variants: which file is replaced, and which split the fault is in. */
const NPY_FAULTS: Record<string, { file: string; bytes: () => Buffer; testSplit?: boolean }> = {
  'images-truncated': { file: 'x_train.npy', bytes: () => npyFiles()['x_train.npy'].subarray(0, 300) },
  'images-wrong-magic': {
    file: 'x_train.npy',
    bytes: () => Buffer.concat([Buffer.from('NOTNPY'), npyFiles()['x_train.npy'].subarray(6)]),
  },
  'images-version-9': { file: 'x_train.npy', bytes: () => npy('|u1', [TRAIN_N, 8, 8], images8(TRAIN_N), { major: 9 }) },
  'images-fortran-order': { file: 'x_train.npy', bytes: () => npy('|u1', [TRAIN_N, 8, 8], images8(TRAIN_N), { fortran: true }) },
  'images-float16': { file: 'x_train.npy', bytes: () => npy('<f2', [TRAIN_N, 8, 8], new Uint8Array(TRAIN_N * 128)) },
  'images-big-endian': { file: 'x_train.npy', bytes: () => npy('>f4', [TRAIN_N, 8, 8], new Uint8Array(TRAIN_N * 256)) },
  'images-int64': { file: 'x_train.npy', bytes: () => npy('<i8', [TRAIN_N, 8, 8], new Uint8Array(TRAIN_N * 512)) },
  'images-rank-2': { file: 'x_train.npy', bytes: () => npy('|u1', [TRAIN_N, 64], images8(TRAIN_N)) },
  'images-rank-5': { file: 'x_train.npy', bytes: () => npy('|u1', [TRAIN_N, 2, 8, 8, 1], images8(TRAIN_N * 2)) },
  'images-5-channels': { file: 'x_train.npy', bytes: () => npy('|u1', [TRAIN_N, 8, 8, 5], images8(TRAIN_N * 5)) },
  'images-nchw': { file: 'x_train.npy', bytes: () => npy('|u1', [TRAIN_N, 3, 8, 8], images8(TRAIN_N * 3)) },
  'images-zero-height': { file: 'x_train.npy', bytes: () => npy('|u1', [TRAIN_N, 0, 8], new Uint8Array(0)) },
  'images-zero-count': { file: 'x_train.npy', bytes: () => npy('|u1', [0, 8, 8], new Uint8Array(0)) },
  'header-not-a-dict': { file: 'x_train.npy', bytes: () => npy('|u1', [TRAIN_N, 8, 8], images8(TRAIN_N), { header: 'shape=(40, 8, 8)' }) },
  'header-shape-negative': { file: 'x_train.npy', bytes: () => npy('|u1', [TRAIN_N, -8, 8], images8(TRAIN_N)) },
  'images-empty-file': { file: 'x_train.npy', bytes: () => Buffer.alloc(0) },
  'labels-float': { file: 'y_train.npy', bytes: () => npy('<f4', [TRAIN_N], new Uint8Array(new Float32Array(TRAIN_N).buffer)) },
  'labels-negative': {
    file: 'y_train.npy',
    bytes: () => npy('<i4', [TRAIN_N], int32Bytes(Array.from({ length: TRAIN_N }, (_, i) => (i === 3 ? -1 : i % 10)))),
  },
  'labels-1e9': {
    file: 'y_train.npy',
    bytes: () => npy('<i4', [TRAIN_N], int32Bytes(Array.from({ length: TRAIN_N }, (_, i) => (i === 5 ? 1e9 : i % 10)))),
  },
  'labels-int64-huge': {
    file: 'y_train.npy',
    bytes: () =>
      npy(
        '<i8',
        [TRAIN_N],
        new Uint8Array(BigInt64Array.from({ length: TRAIN_N }, (_, i) => (i === 0 ? 2n ** 40n : BigInt(i % 10))).buffer),
      ),
  },
  'labels-2-columns': { file: 'y_train.npy', bytes: () => npy('|u1', [TRAIN_N / 2, 2], labels(TRAIN_N)) },
  'labels-count-mismatch': { file: 'y_train.npy', bytes: () => npy('|u1', [TRAIN_N - 1], labels(TRAIN_N - 1)) },
  'test-label-stray': {
    file: 'y_test.npy',
    testSplit: true,
    bytes: () =>
      npy(
        '|u1',
        [TEST_N],
        Uint8Array.from(labels(TEST_N), (l, i) => (i === 4 ? 13 : l)),
      ),
  },
  // Not through eval: eval resizes the test split to the model's input, as documented.
  'test-images-other-size': { file: 'x_test.npy', bytes: () => npy('|u1', [TEST_N, 10, 10], new Uint8Array(TEST_N * 100)) },
  'test-labels-count-mismatch': { file: 'y_test.npy', testSplit: true, bytes: () => npy('|u1', [TEST_N + 3], labels(TEST_N + 3)) },
  'test-images-truncated': { file: 'x_test.npy', testSplit: true, bytes: () => npyFiles()['x_test.npy'].subarray(0, 200) },
};

/** A data section → a config file beside the good one. */
async function dataConfig(
  corpus: Corpus,
  base: Base,
  name: string,
  data: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): Promise<string> {
  const file = corpus.fixture('configs', `data-${name}.json`);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, JSON.stringify({ ...base.goodConfigJson, data: { validationSplit: 0.25, ...data }, ...extra }));
  return file;
}

/** `slim train` on the config (must refuse before training); with `evalToo`, also `slim eval` of the good model. */
async function addDataset(corpus: Corpus, base: Base, name: string, config: string, evalToo: boolean): Promise<void> {
  await corpus.add(`dataset/${name}/train`, 'dataset', 2, (cwd) => ['train', '--config', config, '--out', path.join(cwd, 'out')]);
  if (evalToo) await corpus.add(`dataset/${name}/eval`, 'dataset', 2, () => ['eval', '--model', base.goodModel, '--config', config]);
}

async function addNpyCases(corpus: Corpus, base: Base): Promise<void> {
  for (const [name, fault] of Object.entries(NPY_FAULTS)) {
    const dir = corpus.fixture('data', `npy-${name}`);
    await writeNpyDataset(dir, { [fault.file]: fault.bytes() });
    const config = await dataConfig(corpus, base, `npy-${name}`, npyDataConfig(dir));
    await addDataset(corpus, base, `npy-${name}`, config, fault.testSplit === true);
  }
  // The same arrays through missing files and folders in place of files.
  const good = base.npyDir;
  const missing = await dataConfig(corpus, base, 'npy-missing-file', {
    dataset: 'npy',
    trainImages: path.join(good, 'nope.npy'),
    trainLabels: path.join(good, 'y_train.npy'),
    testImages: path.join(good, 'x_test.npy'),
    testLabels: path.join(good, 'y_test.npy'),
  });
  await addDataset(corpus, base, 'npy-missing-file', missing, false);
  const folder = await dataConfig(corpus, base, 'npy-folder-as-file', {
    dataset: 'npy',
    trainImages: good,
    trainLabels: path.join(good, 'y_train.npy'),
    testImages: path.join(good, 'x_test.npy'),
    testLabels: path.join(good, 'y_test.npy'),
  });
  await addDataset(corpus, base, 'npy-folder-as-file', folder, false);
  const missingTest = await dataConfig(corpus, base, 'npy-missing-test', {
    dataset: 'npy',
    trainImages: path.join(good, 'x_train.npy'),
    trainLabels: path.join(good, 'y_train.npy'),
    testImages: path.join(good, 'none.npy'),
    testLabels: path.join(good, 'y_test.npy'),
  });
  await addDataset(corpus, base, 'npy-missing-test', missingTest, true);
}

async function addNpzCases(corpus: Corpus, base: Base): Promise<void> {
  const arrays = (): Record<string, Uint8Array> => {
    const f = npyFiles();
    return {
      'x_train.npy': f['x_train.npy'],
      'y_train.npy': f['y_train.npy'],
      'x_test.npy': f['x_test.npy'],
      'y_test.npy': f['y_test.npy'],
    };
  };
  const good = zip(arrays());
  const corrupt = Buffer.from(good);
  for (let i = 40; i < 120; i++) corrupt[i] = corrupt[i] ^ 0x5a;
  const { 'y_test.npy': _dropped, ...withoutTestLabels } = arrays();
  const faults: Record<string, Buffer> = {
    'not-a-zip': Buffer.from('definitely not a zip archive'),
    empty: Buffer.alloc(0),
    truncated: good.subarray(0, good.length - 30),
    'corrupt-deflate': corrupt,
    'missing-key': zip(withoutTestLabels),
    'member-not-npy': zip({ ...arrays(), 'x_train.npy': Buffer.from('plain text, not an array') }),
    'labels-1e9': zip({
      ...arrays(),
      'y_train.npy': npy('<i4', [TRAIN_N], int32Bytes(Array.from({ length: TRAIN_N }, (_, i) => (i === 1 ? 1e9 : i % 10)))),
    }),
  };
  for (const [name, bytes] of Object.entries(faults)) {
    const file = corpus.fixture('data', `npz-${name}.npz`);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, bytes);
    const config = await dataConfig(corpus, base, `npz-${name}`, { dataset: 'npz', file });
    // eval reads only the test arrays: a broken training member or label is not its business.
    await addDataset(corpus, base, `npz-${name}`, config, !['labels-1e9', 'corrupt-deflate', 'member-not-npy'].includes(name));
  }
  const goodFile = corpus.fixture('data', 'npz-good.npz');
  await writeFile(goodFile, good);
  const badKeys = await dataConfig(corpus, base, 'npz-unknown-key-name', {
    dataset: 'npz',
    file: goodFile,
    keys: { trainImages: 'images' },
  });
  await addDataset(corpus, base, 'npz-unknown-key-name', badKeys, false);
}

async function addIdxCases(corpus: Corpus, base: Base): Promise<void> {
  const good = {
    trainImages: idx([TRAIN_N, 8, 8], images8(TRAIN_N)),
    trainLabels: idx([TRAIN_N], labels(TRAIN_N)),
    testImages: idx([TEST_N, 8, 8], images8(TEST_N)),
    testLabels: idx([TEST_N], labels(TEST_N)),
  };
  const faults: Record<string, Partial<typeof good>> = {
    'wrong-magic': { trainImages: Buffer.concat([Buffer.from([1, 2, 8, 3]), good.trainImages.subarray(4)]) },
    'float-type': { trainImages: idx([TRAIN_N, 8, 8], new Uint8Array(TRAIN_N * 256), 0x0d) },
    'zero-dims': { trainImages: Buffer.from([0, 0, 8, 0]) },
    'truncated-header': { trainImages: good.trainImages.subarray(0, 9) },
    'truncated-data': { trainImages: good.trainImages.subarray(0, 500) },
    'empty-file': { trainLabels: Buffer.alloc(0) },
    'labels-rank-2': { trainLabels: idx([TRAIN_N / 2, 2], labels(TRAIN_N)) },
    'count-mismatch': { trainLabels: idx([TRAIN_N - 2], labels(TRAIN_N - 2)) },
    'gzip-corrupt': { trainImages: Buffer.concat([gzipSync(good.trainImages).subarray(0, 40), Buffer.alloc(40, 7)]) },
    'images-rank-2': { trainImages: idx([TRAIN_N, 64], images8(TRAIN_N)) },
    'test-label-out-of-model-range': {
      testLabels: idx(
        [TEST_N],
        Uint8Array.from(labels(TEST_N), (l, i) => (i === 2 ? 200 : l)),
      ),
    },
  };
  for (const [name, replace] of Object.entries(faults)) {
    const dir = corpus.fixture('data', `idx-${name}`);
    await mkdir(dir, { recursive: true });
    const files: Record<string, string> = {};
    for (const [key, bytes] of Object.entries({ ...good, ...replace })) {
      files[key] = path.join(dir, `${key}.idx`);
      await writeFile(files[key], bytes);
    }
    const config = await dataConfig(corpus, base, `idx-${name}`, { dataset: 'idx', ...files });
    await addDataset(corpus, base, `idx-${name}`, config, name.startsWith('test-'));
  }
}

async function addCifarCases(corpus: Corpus, base: Base): Promise<void> {
  const batch = (labelOf: (n: number) => number, n = 4): Buffer => cifarRecords(Array.from({ length: n }, (_, i) => [labelOf(i)]));
  const layouts: Record<string, { variant: string; files: Record<string, Buffer>; extra?: Record<string, unknown> }> = {
    'missing-files': { variant: 'cifar10', files: {} },
    'short-batch': { variant: 'cifar10', files: { 'train.bin': batch((i) => i % 10).subarray(0, 5000), 'test.bin': batch((i) => i % 10) } },
    'python-pickle': {
      variant: 'cifar10',
      files: { 'train.bin': Buffer.concat([Buffer.from([0x80, 0x02, 0x7d, 0x71]), Buffer.alloc(3069)]), 'test.bin': batch((i) => i % 10) },
    },
    'label-10': { variant: 'cifar10', files: { 'train.bin': batch((i) => (i === 2 ? 10 : i)), 'test.bin': batch((i) => i % 10) } },
    'test-missing': { variant: 'cifar10', files: { 'train.bin': batch((i) => i % 10) } },
    'empty-batches': { variant: 'cifar10', files: { 'train.bin': Buffer.alloc(0), 'test.bin': Buffer.alloc(0) } },
    'cifar100-coarse-label-25': {
      variant: 'cifar100',
      files: {
        'train.bin': cifarRecords([
          [25, 1],
          [3, 2],
          [4, 5],
          [6, 7],
        ]),
        'test.bin': cifarRecords([
          [1, 1],
          [2, 2],
        ]),
      },
      extra: { labels: 'coarse' },
    },
  };
  for (const [name, layout] of Object.entries(layouts)) {
    const dir = corpus.fixture('data', `cifar-${name}`);
    await mkdir(dir, { recursive: true });
    for (const [file, bytes] of Object.entries(layout.files)) await writeFile(path.join(dir, file), bytes);
    const config = await dataConfig(corpus, base, `cifar-${name}`, { dataset: layout.variant, dir, ...layout.extra });
    await addDataset(corpus, base, `cifar-${name}`, config, name === 'test-missing');
  }
}

async function addFolderCases(corpus: Corpus, base: Base): Promise<void> {
  const classes = ['c0', 'c1', 'c2'];
  type Layout = {
    train: (root: string) => Promise<void>;
    test?: (root: string) => Promise<void>;
    extra?: Record<string, unknown>;
    testSplit?: boolean;
  };
  const goodTest = (root: string) => imageFolder(root, classes, 2);
  const layouts: Record<string, Layout> = {
    'train-empty': { train: async (root) => void (await mkdir(root, { recursive: true })) },
    'train-missing': { train: async () => {} },
    'train-is-a-file': {
      train: async (root) => {
        await mkdir(path.dirname(root), { recursive: true });
        await writeFile(root, 'not a folder');
      },
    },
    'empty-class-folder': {
      train: async (root) => {
        await imageFolder(root, classes, 3);
        await mkdir(path.join(root, 'c3-empty'), { recursive: true });
      },
    },
    'stray-test-class': {
      testSplit: true,
      train: (root) => imageFolder(root, classes, 3),
      test: (root) => imageFolder(root, [...classes, 'c9'], 2),
    },
    'corrupt-png': {
      train: async (root) => {
        await imageFolder(root, classes, 3);
        await writeFile(path.join(root, 'c1', 'broken.png'), (await png()).subarray(0, 30));
      },
    },
    'zero-byte-png': {
      train: async (root) => {
        await imageFolder(root, classes, 3);
        await writeFile(path.join(root, 'c2', 'empty.png'), Buffer.alloc(0));
      },
    },
    'text-as-png': {
      train: async (root) => {
        await imageFolder(root, classes, 3);
        await writeFile(path.join(root, 'c0', 'notes.png'), 'hello');
      },
    },
    'no-images': {
      train: async (root) => {
        for (const c of classes) {
          await mkdir(path.join(root, c), { recursive: true });
          await writeFile(path.join(root, c, 'readme.txt'), 'no images here');
        }
      },
    },
    'mixed-sizes': {
      train: async (root) => {
        await imageFolder(root, classes, 3);
        await writeFile(path.join(root, 'c0', 'big.png'), await png(12));
      },
    },
    'test-corrupt-png': {
      testSplit: true,
      train: (root) => imageFolder(root, classes, 3),
      test: async (root) => {
        await imageFolder(root, classes, 2);
        await writeFile(path.join(root, 'c0', 'broken.png'), Buffer.from('89504e470d0a1a0a', 'hex'));
      },
    },
    'huge-resize': { train: (root) => imageFolder(root, classes, 3), extra: { resize: [100000, 100000] } },
  };
  for (const [name, layout] of Object.entries(layouts)) {
    const root = corpus.fixture('data', `folder-${name}`);
    const trainDir = path.join(root, 'train');
    const testDir = path.join(root, 'test');
    await layout.train(trainDir);
    await (layout.test ?? goodTest)(testDir);
    const config = await dataConfig(corpus, base, `folder-${name}`, { dataset: 'folder', trainDir, testDir, ...layout.extra });
    await addDataset(corpus, base, `folder-${name}`, config, layout.testSplit === true);
  }
}

export async function addDataCases(corpus: Corpus, base: Base): Promise<void> {
  await addNpyCases(corpus, base);
  await addNpzCases(corpus, base);
  await addIdxCases(corpus, base);
  await addCifarCases(corpus, base);
  await addFolderCases(corpus, base);
}
