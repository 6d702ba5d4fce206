/**
 * CIFAR-10 / CIFAR-100 "binary version" readers. A record is the label byte(s) then 3072 pixel
 * bytes stored planar (1024 R, 1024 G, 1024 B, each 32×32 row-major); slim keeps NHWC, so the
 * planes are interleaved on load. CIFAR-10: <label> (0..9); CIFAR-100: <coarse 0..19><fine 0..99>.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '../errors.js';
import type { ImageArray } from './dataset.js';

const CIFAR_SIDE = 32;
const PLANE = CIFAR_SIDE * CIFAR_SIDE;
const PIXELS = 3 * PLANE;

export type CifarVariant = 'cifar10' | 'cifar100';
export type Cifar100Labels = 'fine' | 'coarse';

export interface CifarLayout {
  /** Label bytes before the pixels of each record. */
  labelBytes: number;
  /** Which label byte is used. */
  labelIndex: number;
  numClasses: number;
}

export function cifarLayout(variant: CifarVariant, labels: Cifar100Labels = 'fine'): CifarLayout {
  if (variant === 'cifar10') return { labelBytes: 1, labelIndex: 0, numClasses: 10 };
  return labels === 'coarse' ? { labelBytes: 2, labelIndex: 0, numClasses: 20 } : { labelBytes: 2, labelIndex: 1, numClasses: 100 };
}

/** Parses one binary batch file's bytes; `file` names it in errors. */
function parseCifar(bytes: Uint8Array, file: string, layout: CifarLayout): { images: ImageArray; labels: Uint8Array } {
  const record = layout.labelBytes + PIXELS;
  // The python version of the data set is a pickle (protocol 2+ starts with 0x80): say so.
  if (bytes.length > 0 && bytes[0] === 0x80) {
    throw new InputError(`${file}: looks like a Python pickle (the "python version" of CIFAR); slim reads the binary version (*.bin)`);
  }
  if (bytes.length === 0 || bytes.length % record !== 0) {
    throw new InputError(
      `${file}: ${bytes.length} bytes is not a whole number of ${record}-byte CIFAR records (truncated, or not a CIFAR binary batch?)`,
    );
  }
  const count = bytes.length / record;
  const data = new Uint8Array(count * PIXELS);
  const labels = new Uint8Array(count);
  for (let n = 0; n < count; n++) {
    const at = n * record;
    const label = bytes[at + layout.labelIndex];
    if (label >= layout.numClasses) {
      throw new InputError(
        `${file}: record ${n} has label ${label}, outside 0..${layout.numClasses - 1} (wrong CIFAR variant or not a CIFAR file?)`,
      );
    }
    labels[n] = label;
    const src = at + layout.labelBytes;
    const dst = n * PIXELS;
    for (let p = 0; p < PLANE; p++) {
      data[dst + 3 * p] = bytes[src + p]!;
      data[dst + 3 * p + 1] = bytes[src + PLANE + p]!;
      data[dst + 3 * p + 2] = bytes[src + 2 * PLANE + p]!;
    }
  }
  return { images: { count, height: CIFAR_SIDE, width: CIFAR_SIDE, channels: 3, data }, labels };
}

/** The files of a split, in `dir` or its standard subfolder (cifar-10-batches-bin / cifar-100-binary). */
function cifarFiles(variant: CifarVariant, dir: string, split: 'train' | 'test'): string[] {
  const sub = variant === 'cifar10' ? 'cifar-10-batches-bin' : 'cifar-100-binary';
  const names =
    variant === 'cifar10'
      ? split === 'train'
        ? [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`)
        : ['test_batch.bin']
      : [split === 'train' ? 'train.bin' : 'test.bin'];
  const base = !existsSync(join(dir, names[0])) && existsSync(join(dir, sub, names[0])) ? join(dir, sub) : dir;
  const files = names.map((n) => join(base, n));
  for (const f of files) {
    if (!existsSync(f))
      throw new InputError(`dataset ${variant}: file not found: ${f} (data.dir must hold the binary version's ${names.join(', ')})`);
  }
  return files;
}

/** Reads and concatenates the files of one split. */
async function readCifar(files: string[], layout: CifarLayout): Promise<{ images: ImageArray; labels: Uint8Array }> {
  const parts = [];
  for (const file of files) {
    let bytes: Uint8Array;
    try {
      bytes = await readFile(file);
    } catch (err) {
      throw new InputError(`${file}: cannot read CIFAR file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, {
        cause: err,
      });
    }
    parts.push(parseCifar(bytes, file, layout));
  }
  if (parts.length === 1) return parts[0];
  const count = parts.reduce((s, p) => s + p.images.count, 0);
  const data = new Uint8Array(count * PIXELS);
  const labels = new Uint8Array(count);
  let at = 0;
  for (const p of parts) {
    data.set(p.images.data, at * PIXELS);
    labels.set(p.labels, at);
    at += p.images.count;
  }
  return { images: { count, height: CIFAR_SIDE, width: CIFAR_SIDE, channels: 3, data }, labels };
}

/** One split of `dir`, read and concatenated; errors about its labels name its files. */
export async function readCifarSplit(
  variant: CifarVariant,
  dir: string,
  split: 'train' | 'test',
  layout: CifarLayout,
): Promise<{ images: ImageArray; labels: Uint8Array; file: string }> {
  const files = cifarFiles(variant, dir, split);
  const { images, labels } = await readCifar(files, layout);
  return { images, labels, file: files.join(', ') };
}
