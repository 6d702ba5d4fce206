/**
 * NumPy .npy (format versions 1–3) and .npz (a zip of .npy files, stored or deflated, zip64
 * aware) readers. Images: uint8 or float32, NHW or NHWC, C order. Labels: any little-endian
 * integer type, rank 1 (or N×1).
 */
import { readFile } from 'node:fs/promises';
import { inflateRawSync } from 'node:zlib';
import { InputError } from '../errors.js';
import type { ImageArray } from './dataset.js';

const NPY_MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

export type NpyData =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array;

export interface NpyArray {
  /** numpy descr without the byte-order mark, e.g. 'u1', 'f4', 'i8'. */
  dtype: string;
  shape: number[];
  data: NpyData;
}

/** Element constructors by dtype (little-endian or byte-order-free only). */
const TYPED: Record<string, { bytes: number; make: (buf: ArrayBuffer) => NpyData }> = {
  u1: { bytes: 1, make: (b) => new Uint8Array(b) },
  b1: { bytes: 1, make: (b) => new Uint8Array(b) },
  i1: { bytes: 1, make: (b) => new Int8Array(b) },
  u2: { bytes: 2, make: (b) => new Uint16Array(b) },
  i2: { bytes: 2, make: (b) => new Int16Array(b) },
  u4: { bytes: 4, make: (b) => new Uint32Array(b) },
  i4: { bytes: 4, make: (b) => new Int32Array(b) },
  u8: { bytes: 8, make: (b) => new BigUint64Array(b) },
  i8: { bytes: 8, make: (b) => new BigInt64Array(b) },
  f4: { bytes: 4, make: (b) => new Float32Array(b) },
  f8: { bytes: 8, make: (b) => new Float64Array(b) },
};

/** Parses .npy bytes; `file` names the file (or npz member) in errors. */
function parseNpy(bytes: Uint8Array, file: string): NpyArray {
  if (bytes.length < 10 || !NPY_MAGIC.every((b, i) => bytes[i] === b)) {
    const magic = [...bytes.subarray(0, 6)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new InputError(`${file}: not a .npy file (magic bytes ${magic}, expected 93 4e 55 4d 50 59 "\\x93NUMPY")`);
  }
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLength: number;
  let headerStart: number;
  if (major === 1) {
    headerLength = view.getUint16(8, true);
    headerStart = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw new InputError(`${file}: truncated .npy header`);
    headerLength = view.getUint32(8, true);
    headerStart = 12;
  } else {
    throw new InputError(`${file}: .npy format version ${major} is not supported (1, 2 or 3)`);
  }
  const dataStart = headerStart + headerLength;
  if (bytes.length < dataStart) throw new InputError(`${file}: truncated .npy header (${bytes.length} bytes, header ends at ${dataStart})`);
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(headerStart, dataStart));
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new InputError(`${file}: .npy header is not a numpy header dict: ${header.trim()}`);
  }
  if (fortran === 'True') throw new InputError(`${file}: Fortran-order arrays are not supported; save with np.ascontiguousarray`);
  const order = descr[0];
  const dtype = descr.slice(1);
  const kind = TYPED[dtype];
  if (kind === undefined || !['<', '|', '='].includes(order)) {
    throw new InputError(`${file}: unsupported dtype '${descr}' (slim reads little-endian u1/i1/u2/i2/u4/i4/u8/i8/f4/f8)`);
  }
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map(Number);
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) throw new InputError(`${file}: bad shape (${shapeText}) in .npy header`);
  const count = shape.reduce((a, b) => a * b, 1);
  const need = count * kind.bytes;
  const have = bytes.length - dataStart;
  if (have < need)
    throw new InputError(`${file}: truncated: shape (${shape.join(', ')}) ${descr} needs ${need} data bytes, the file has ${have}`);
  if (have > need)
    throw new InputError(`${file}: ${have - need} bytes after the array data (shape (${shape.join(', ')}) ${descr}); not a .npy file?`);
  // Copy into a fresh, aligned ArrayBuffer (typed arrays need element alignment; Buffer.slice would not copy).
  const copy = new Uint8Array(need);
  copy.set(bytes.subarray(dataStart, dataStart + need));
  const data = kind.make(copy.buffer);
  return { dtype, shape, data };
}

export async function readNpy(path: string): Promise<NpyArray> {
  return parseNpy(await readBytes(path, '.npy'), path);
}

async function readBytes(path: string, what: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new InputError(`${path}: cannot read ${what} file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, {
      cause: err,
    });
  }
}

/** The members of a zip archive (name → uncompressed bytes), read via its central directory. */
function unzip(bytes: Uint8Array, file: string): Map<string, () => Uint8Array> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // End of central directory record: search back over a comment of up to 64 KiB.
  let eocd = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 0xffff); i--) {
    if (view.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) {
    const magic = [...bytes.subarray(0, 4)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new InputError(`${file}: not a .npz (zip) file or truncated: no end-of-archive record (first bytes ${magic})`);
  }
  let entries = view.getUint16(eocd + 10, true);
  let cdOffset = view.getUint32(eocd + 16, true);
  if (cdOffset === 0xffffffff || entries === 0xffff) {
    const locator = eocd - 20;
    if (locator < 0 || view.getUint32(locator, true) !== 0x07064b50)
      throw new InputError(`${file}: zip64 archive without its locator (corrupt)`);
    const z64 = Number(view.getBigUint64(locator + 8, true));
    if (z64 + 56 > bytes.length || view.getUint32(z64, true) !== 0x06064b50) throw new InputError(`${file}: corrupt zip64 end record`);
    entries = Number(view.getBigUint64(z64 + 32, true));
    cdOffset = Number(view.getBigUint64(z64 + 48, true));
  }
  const members = new Map<string, () => Uint8Array>();
  let at = cdOffset;
  for (let e = 0; e < entries; e++) {
    if (at + 46 > bytes.length || view.getUint32(at, true) !== 0x02014b50)
      throw new InputError(`${file}: corrupt zip central directory (entry ${e})`);
    const method = view.getUint16(at + 10, true);
    let compressed = view.getUint32(at + 20, true);
    let size = view.getUint32(at + 24, true);
    const nameLength = view.getUint16(at + 28, true);
    const extraLength = view.getUint16(at + 30, true);
    const commentLength = view.getUint16(at + 32, true);
    let local = view.getUint32(at + 42, true);
    const name = new TextDecoder().decode(bytes.subarray(at + 46, at + 46 + nameLength));
    // Zip64 extra field: 64-bit values for exactly those fields that hold 0xffffffff.
    for (let x = at + 46 + nameLength; x + 4 <= at + 46 + nameLength + extraLength;) {
      const id = view.getUint16(x, true);
      const len = view.getUint16(x + 2, true);
      if (id === 0x0001) {
        let f = x + 4;
        if (size === 0xffffffff) {
          size = Number(view.getBigUint64(f, true));
          f += 8;
        }
        if (compressed === 0xffffffff) {
          compressed = Number(view.getBigUint64(f, true));
          f += 8;
        }
        if (local === 0xffffffff) local = Number(view.getBigUint64(f, true));
      }
      x += 4 + len;
    }
    at += 46 + nameLength + extraLength + commentLength;
    const member = `${file}:${name}`;
    members.set(name, () => {
      if (local + 30 > bytes.length || view.getUint32(local, true) !== 0x04034b50)
        throw new InputError(`${member}: corrupt zip local header`);
      const start = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
      if (start + compressed > bytes.length)
        throw new InputError(`${member}: truncated (${compressed} compressed bytes, the archive ends first)`);
      const raw = bytes.subarray(start, start + compressed);
      if (method === 0) return raw;
      if (method !== 8) throw new InputError(`${member}: zip compression method ${method} is not supported (stored or deflate)`);
      let out: Uint8Array;
      try {
        out = inflateRawSync(raw);
      } catch (err) {
        throw new InputError(`${member}: corrupt deflate data (${(err as Error).message})`, { cause: err });
      }
      if (out.length !== size) throw new InputError(`${member}: inflated to ${out.length} bytes, the directory says ${size}`);
      return out;
    });
  }
  return members;
}

/** Reads the named arrays of an .npz (keys without the .npy suffix), in the order of `keys`. */
export async function readNpz(path: string, keys: string[]): Promise<NpyArray[]> {
  const members = unzip(await readBytes(path, '.npz'), path);
  return keys.map((key) => {
    const read = members.get(`${key}.npy`) ?? members.get(key);
    if (read === undefined) {
      const have = [...members.keys()].map((n) => n.replace(/\.npy$/, '')).join(', ');
      throw new InputError(`${path}: has no array '${key}' (it has: ${have || 'nothing'})`);
    }
    return parseNpy(read(), `${path}:${key}`);
  });
}

/** Checks an array holds images: uint8/float32, rank 3 (n,h,w) or 4 (n,h,w,c). */
function npyImages(arr: NpyArray, file: string): ImageArray {
  if (arr.dtype !== 'u1' && arr.dtype !== 'f4') {
    throw new InputError(`${file}: images must be uint8 or float32, got dtype ${arr.dtype}`);
  }
  if (arr.shape.length !== 3 && arr.shape.length !== 4) {
    throw new InputError(`${file}: images must have rank 3 (n,h,w) or 4 (n,h,w,c), got shape (${arr.shape.join(', ')})`);
  }
  const [count, height, width] = arr.shape as [number, number, number];
  const channels = arr.shape[3] ?? 1;
  if (height === 0 || width === 0 || channels === 0) throw new InputError(`${file}: image shape (${arr.shape.join(', ')}) contains a zero`);
  if (channels > 4) {
    throw new InputError(
      `${file}: images have ${channels} channels in the last axis; slim expects NHWC with 1, 3 or 4 channels (NCHW must be transposed)`,
    );
  }
  return { count, height, width, channels, data: arr.data as Uint8Array | Float32Array };
}

/** Label arrays as read: class indices, and label rows when the file holds rows ([n, classes]). */
export interface NpyLabels {
  labels: Int32Array;
  /** n × width label rows (one-hot, soft or multi-hot), given to the model as they are. */
  targets?: Float32Array;
}

/**
 * Checks an array holds labels: class indices (integers, or floats with integer values, of shape
 * (n,) or (n, 1)), or label rows of shape (n, k >= 2) with values in [0, 1] — one-hot or soft
 * distributions (categorical_crossentropy's labels) or 0/1 per class (multi-label). Rows keep
 * their arg-max as the class index (accuracy, confusion counts).
 */
function npyLabels(arr: NpyArray, file: string, numClasses?: number): NpyLabels {
  const integer = /^[iub][1248]$/.test(arr.dtype);
  if (!integer && arr.dtype !== 'f4' && arr.dtype !== 'f8') {
    throw new InputError(`${file}: labels must be integers or floats, got dtype ${arr.dtype}`);
  }
  if (arr.shape.length === 2 && arr.shape[1] >= 2) return npyLabelRows(arr, file);
  if (!(arr.shape.length === 1 || (arr.shape.length === 2 && arr.shape[1] === 1))) {
    throw new InputError(`${file}: labels must have shape (n,), (n, 1) or (n, classes), got (${arr.shape.join(', ')})`);
  }
  const out = new Int32Array(arr.shape[0]);
  for (let i = 0; i < out.length; i++) {
    const v = Number(arr.data[i]);
    if (!Number.isInteger(v))
      throw new InputError(`${file}: label ${i} is ${v}, not a class index (float labels of shape (n,) must be whole numbers)`);
    if (v < 0 || v > 0x7fffffff || (numClasses !== undefined && v >= numClasses)) {
      const range = numClasses !== undefined ? `0..${numClasses - 1}` : 'a class index >= 0';
      throw new InputError(`${file}: label ${i} is ${v}, outside ${range}`);
    }
    out[i] = v;
  }
  return { labels: out };
}

function npyLabelRows(arr: NpyArray, file: string): NpyLabels {
  const [count, width] = arr.shape as [number, number];
  const targets = new Float32Array(count * width);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    let best = 0;
    for (let j = 0; j < width; j++) {
      const v = Number(arr.data[i * width + j]);
      if (!(v >= 0 && v <= 1)) {
        throw new InputError(`${file}: label row ${i} has ${v} at class ${j}; label rows (n, classes) hold values in [0, 1]`);
      }
      targets[i * width + j] = v;
      if (v > targets[i * width + best]) best = j;
    }
    labels[i] = best;
  }
  return { labels, targets };
}

/** A split from its images and labels arrays (each checked, counts agreeing); labels name it in errors. */
export function npySplit(
  imagesArr: NpyArray,
  labelsArr: NpyArray,
  imagesFile: string,
  labelsFile: string,
): { images: ImageArray; labels: Int32Array; targets?: Float32Array; file: string } {
  const images = npyImages(imagesArr, imagesFile);
  const { labels, targets } = npyLabels(labelsArr, labelsFile);
  if (images.count !== labels.length) {
    throw new InputError(`${labelsFile}: has ${labels.length} labels but ${imagesFile} has ${images.count} images`);
  }
  return { images, labels, ...(targets !== undefined ? { targets } : {}), file: labelsFile };
}
