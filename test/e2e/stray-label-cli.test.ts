/**
 * The stray-label refusal through the binary: `slim train` on IDX files whose training labels are
 * 0-9 but for one 255 exits 2 with one error line (no stack, nothing trained, nothing on stdout).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { describeRun, runSlim, STACK_FRAME, stderrLines } from '../helpers/cli.js';
import { idxBytes } from '../helpers/idx.js';

const N = 100;
let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'slim-stray-cli-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('slim train refuses one stray label 255 among labels 0-9 with one error line naming it and data.classes', async () => {
  const pixels = Uint8Array.from({ length: N * 64 }, (_, i) => (i * 37) % 256);
  const labels = Uint8Array.from({ length: N }, (_, i) => i % 10);
  labels[42] = 255;
  const files = {
    trainImages: path.join(dir, 'train-images'),
    trainLabels: path.join(dir, 'train-labels'),
    testImages: path.join(dir, 'test-images'),
    testLabels: path.join(dir, 'test-labels'),
  };
  await writeFile(files.trainImages, idxBytes(0x08, [N, 8, 8], pixels));
  await writeFile(files.trainLabels, idxBytes(0x08, [N], labels));
  await writeFile(files.testImages, idxBytes(0x08, [N, 8, 8], pixels));
  await writeFile(
    files.testLabels,
    idxBytes(
      0x08,
      [N],
      labels.map((l) => l % 10),
    ),
  );
  const config = path.join(dir, 'config.json');
  await writeFile(
    config,
    JSON.stringify({ seed: 1, backend: 'cpu', model: { type: 'vgg', cfg: [2] }, data: { dataset: 'idx', ...files }, train: { epochs: 1 } }),
  );
  const out = path.join(dir, 'out');
  const result = await runSlim(['train', '--config', config, '--out', out]);
  assert.equal(result.code, 2, describeRun(result));
  assert.equal(result.stdout, '');
  assert.doesNotMatch(result.stderr, STACK_FRAME);
  const errors = stderrLines(result).filter((line) => line.startsWith('error:'));
  assert.deepEqual(errors, [
    `error: ${files.trainLabels}: label 42 is 255 and the other labels lie in 0..9: only 11 of the 256 classes 0..255 occur in ${N} examples (a stray label?); set data.classes to 256 if those classes are meant`,
  ]);
  assert.equal(existsSync(out), false, 'nothing written');
});
