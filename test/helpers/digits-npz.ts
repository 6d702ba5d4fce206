/**
 * Real MNIST digits written as a `.npz` archive (x_train/y_train/x_test/y_test, uint8 pixels,
 * float32 labels), for tests of label forms and heads: scalar 0/1 labels, one-hot or soft rows.
 */
import { writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { zipSync } from 'fflate';
import { npy } from '../fuzz/fixtures.js';
import { loadMnist } from './mnist.js';

/** Examples of digits < `digits` from `count` MNIST images: pixels (uint8) and digit. */
function digitsSubset(images: Uint8Array | Float32Array, labels: ArrayLike<number>, digits: number, count: number) {
  const pixels: number[] = [];
  const kept: number[] = [];
  for (let i = 0; i < labels.length && kept.length < count; i++) {
    if (labels[i] >= digits) continue;
    kept.push(labels[i]);
    for (let p = 0; p < 784; p++) pixels.push(images[i * 784 + p]);
  }
  return { pixels: Uint8Array.from(pixels), digits: kept };
}

const f4 = (values: number[]) => new Uint8Array(Float32Array.from(values).buffer);

/**
 * Writes `dir/name.npz` from the first 600 train and 300 test images of digits < `digits`;
 * `label` maps a digit to its label row (one value: a scalar label). Returns the path.
 */
export async function writeDigitsNpz(dir: string, name: string, digits: number, label: (digit: number) => number[]): Promise<string> {
  const { train, test } = await loadMnist();
  const members: Record<string, Uint8Array> = {};
  for (const [split, data, count] of [
    ['train', train, 600],
    ['test', test, 300],
  ] as const) {
    const { pixels, digits: kept } = digitsSubset(data.images, data.labels, digits, count);
    const rows = kept.map(label);
    const width = rows[0].length;
    members[`x_${split}.npy`] = npy('|u1', [kept.length, 28, 28], pixels);
    members[`y_${split}.npy`] =
      width === 1 ? npy('<f4', [kept.length], f4(rows.flat())) : npy('<f4', [kept.length, width], f4(rows.flat()));
  }
  const file = path.join(dir, `${name}.npz`);
  await writeFile(file, zipSync(members));
  return file;
}
