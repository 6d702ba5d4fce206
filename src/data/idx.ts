/**
 * IDX file reader (the MNIST container format): raw or gzipped, ubyte data only.
 * Layout: magic [0x00, 0x00, type, ndims], then ndims big-endian uint32 dims, then the data.
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { InputError } from '../errors.js';

/** IDX type codes (third magic byte); only ubyte is supported by slim. */
const IDX_TYPES: Record<number, string> = {
  0x08: 'ubyte',
  0x09: 'sbyte',
  0x0b: 'short',
  0x0c: 'int',
  0x0d: 'float',
  0x0e: 'double',
};

export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

/** Images as stored: count × height × width × channels, uint8, row-major (NHWC). */
export interface IdxImages {
  count: number;
  height: number;
  width: number;
  channels: number;
  data: Uint8Array;
}

function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Parses an IDX buffer (gunzipping first if needed). `file` only names the file in errors. */
function parseIdx(raw: Uint8Array, file: string): IdxArray {
  let bytes = raw;
  if (isGzip(raw)) {
    try {
      bytes = gunzipSync(raw);
    } catch (err) {
      throw new InputError(`${file}: gzip data is corrupt (${(err as Error).message})`, { cause: err });
    }
  }
  if (bytes.length < 4) throw new InputError(`${file}: too short to be an IDX file (${bytes.length} bytes)`);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    const magic = [...bytes.subarray(0, 4)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new InputError(`${file}: not an IDX file (magic bytes ${magic}, expected 00 00 <type> <ndims>)`);
  }
  const type = bytes[2];
  const ndims = bytes[3];
  if (type !== 0x08) {
    const name = IDX_TYPES[type] ?? `unknown type 0x${type.toString(16)}`;
    throw new InputError(`${file}: IDX data type is ${name}; only ubyte (0x08) is supported`);
  }
  if (ndims === 0) throw new InputError(`${file}: IDX header declares 0 dimensions`);
  const headerBytes = 4 + 4 * ndims;
  if (bytes.length < headerBytes) {
    throw new InputError(`${file}: truncated header (${bytes.length} bytes, header needs ${headerBytes})`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  for (let i = 0; i < ndims; i++) dims.push(view.getUint32(4 + 4 * i, false));
  const expected = dims.reduce((a, b) => a * b, 1);
  const actual = bytes.length - headerBytes;
  if (actual !== expected) {
    throw new InputError(
      `${file}: dims [${dims.join(', ')}] need ${expected} data bytes but the file has ${actual}` +
        (actual < expected ? ' (truncated?)' : ''),
    );
  }
  return { dims, data: bytes.subarray(headerBytes) };
}

async function readBytes(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new InputError(`${path}: cannot read IDX file (${code ?? (err as Error).message})`, { cause: err });
  }
}

/** Reads any ubyte IDX file. */
export async function readIdx(path: string): Promise<IdxArray> {
  return parseIdx(await readBytes(path), path);
}

/** Checks an IDX array holds images: rank 3 (n,h,w) or rank 4 (n,h,w,c). */
function asImages(arr: IdxArray, file: string): IdxImages {
  const { dims, data } = arr;
  if (dims.length !== 3 && dims.length !== 4) {
    throw new InputError(`${file}: images must have rank 3 (n,h,w) or 4 (n,h,w,c), got rank ${dims.length} [${dims.join(', ')}]`);
  }
  const [count, height, width] = dims as [number, number, number];
  const channels = dims.length === 4 ? dims[3] : 1;
  if (height === 0 || width === 0 || channels === 0) {
    throw new InputError(`${file}: image dims [${dims.join(', ')}] contain a zero`);
  }
  return { count, height, width, channels, data };
}

/** Checks an IDX array holds labels: rank 1. */
function asLabels(arr: IdxArray, file: string): Uint8Array {
  if (arr.dims.length !== 1) {
    throw new InputError(`${file}: labels must have rank 1, got rank ${arr.dims.length} [${arr.dims.join(', ')}]`);
  }
  return arr.data;
}

/** Reads an images file and its labels file and checks the counts agree. */
export async function readIdxPair(imagesPath: string, labelsPath: string): Promise<{ images: IdxImages; labels: Uint8Array }> {
  const [imagesArr, labelsArr] = await Promise.all([readIdx(imagesPath), readIdx(labelsPath)]);
  const images = asImages(imagesArr, imagesPath);
  const labels = asLabels(labelsArr, labelsPath);
  if (labels.length !== images.count) {
    throw new InputError(`${basename(labelsPath)}: has ${labels.length} labels but ${basename(imagesPath)} has ${images.count} images`);
  }
  return { images, labels };
}
