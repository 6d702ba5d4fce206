/**
 * The weights manifest of a tfjs model.json: validation and decoding
 * (including dequantization) of one group's concatenated shard bytes into typed arrays.
 *
 * dtype policy:
 *   - float32, int32: read as is.
 *   - bool (1 byte per value): read as int32 0/1, because slim's Weight only has float32/int32;
 *     a model written back stores it as int32. Layers models practically never carry bool weights.
 *   - string, complex64: refused (no layers weight uses them).
 *   - quantized (`quantization: {dtype: 'uint8'|'uint16', scale, min}` or `{dtype: 'float16'}`):
 *     dequantized on load to the spec's dtype (value = q*scale + min; int32 rounds, like tfjs),
 *     and written by encodeWeights from weights whose values are already on the quantization grid.
 */
import { InputError } from '../errors.js';
import type { Weight } from './topology.js';

export type QuantizationDType = 'uint8' | 'uint16' | 'float16';

/** How a weight is stored when quantized: uint8/uint16 value = q·scale + min; float16 has neither. */
export interface WeightQuantization {
  dtype: QuantizationDType;
  scale?: number;
  min?: number;
}

export interface ManifestWeightSpec {
  name: string;
  shape: number[];
  /** The dtype the weight has once dequantized. */
  dtype: 'float32' | 'int32' | 'bool';
  quantization?: WeightQuantization;
}

export interface ManifestGroup {
  paths: string[];
  weights: ManifestWeightSpec[];
}

const BYTES_PER_VALUE: Record<ManifestWeightSpec['dtype'] | QuantizationDType, number> = {
  float32: 4,
  int32: 4,
  bool: 1,
  uint8: 1,
  uint16: 2,
  float16: 2,
};

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((product, dim) => product * dim, 1);
}

/** Bytes one weight occupies inside its group's shards. */
export function storedByteLength(spec: ManifestWeightSpec): number {
  const storedDType = spec.quantization?.dtype ?? spec.dtype;
  return elementCount(spec.shape) * BYTES_PER_VALUE[storedDType];
}

/** Validates `weightsManifest` (absent means no weights) and returns typed groups. */
export function parseManifest(raw: unknown, file: string): ManifestGroup[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) {
    throw new InputError(`${file}: weightsManifest is not a list of groups`);
  }
  const seenNames = new Set<string>();
  return raw.map((group: unknown, groupIndex: number): ManifestGroup => {
    const where = `weightsManifest[${groupIndex}]`;
    if (!isObject(group) || !Array.isArray(group.paths) || !Array.isArray(group.weights)) {
      throw new InputError(`${file}: ${where} needs "paths" and "weights" lists`);
    }
    const paths = group.paths.map((shardPath: unknown, i: number) => {
      if (typeof shardPath !== 'string' || shardPath.length === 0) {
        throw new InputError(`${file}: ${where}.paths[${i}] is not a file name`);
      }
      return shardPath;
    });
    const weights = group.weights.map((spec: unknown, i: number) => {
      const parsed = parseWeightSpec(spec, file, `${where}.weights[${i}]`);
      if (seenNames.has(parsed.name)) {
        throw new InputError(`${file}: weight "${parsed.name}" appears twice in weightsManifest`);
      }
      seenNames.add(parsed.name);
      return parsed;
    });
    if (weights.length > 0 && paths.length === 0) {
      throw new InputError(`${file}: ${where} lists weights but no shard files`);
    }
    return { paths, weights };
  });
}

function parseWeightSpec(raw: unknown, file: string, where: string): ManifestWeightSpec {
  if (!isObject(raw) || typeof raw.name !== 'string') {
    throw new InputError(`${file}: ${where} has no weight name`);
  }
  const name = raw.name;
  const shape = raw.shape;
  if (!Array.isArray(shape) || !shape.every((dim) => Number.isInteger(dim) && (dim as number) >= 0)) {
    throw new InputError(`${file}: weight "${name}" has an invalid shape ${JSON.stringify(shape)}`);
  }
  const dtype = raw.dtype;
  if (dtype !== 'float32' && dtype !== 'int32' && dtype !== 'bool') {
    throw new InputError(`${file}: weight "${name}" has dtype ${JSON.stringify(dtype)}; slim reads float32, int32 and bool`);
  }
  const spec: ManifestWeightSpec = { name, shape: shape as number[], dtype };
  if (raw.quantization !== undefined && raw.quantization !== null) {
    const q = raw.quantization;
    if (!isObject(q) || (q.dtype !== 'uint8' && q.dtype !== 'uint16' && q.dtype !== 'float16')) {
      throw new InputError(`${file}: weight "${name}" has unknown quantization ${JSON.stringify(q)}; slim reads uint8, uint16 and float16`);
    }
    if (q.dtype === 'float16') {
      if (dtype !== 'float32') {
        throw new InputError(`${file}: weight "${name}" is float16-quantized but its dtype is ${dtype}, not float32`);
      }
      spec.quantization = { dtype: 'float16' };
    } else {
      if (typeof q.scale !== 'number' || typeof q.min !== 'number') {
        throw new InputError(`${file}: weight "${name}" is ${q.dtype}-quantized but lacks numeric scale and min`);
      }
      if (dtype === 'bool') {
        throw new InputError(`${file}: weight "${name}" is a quantized bool, which tfjs does not define`);
      }
      spec.quantization = { dtype: q.dtype, scale: q.scale, min: q.min };
    }
  }
  return spec;
}

/** IEEE 754 half-precision bits → number. */
function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24; // subnormal (and ±0)
  if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : NaN;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** number → IEEE 754 half-precision bits, rounding to nearest even (beyond ±65504: ±Inf). */
export function floatToHalf(value: number): number {
  const f32 = new Float32Array([value]);
  const bits = new Uint32Array(f32.buffer)[0];
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa !== 0 ? 0x200 : 0); // Inf, NaN
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow
  if (e <= 0) {
    if (e < -10) return sign; // below half the smallest subnormal
    const m = mantissa | 0x800000; // implicit leading 1
    const shift = 14 - e;
    let half = m >>> shift;
    const rest = m & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && (half & 1) === 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (up to Inf).
  if (rest > 0x1000 || (rest === 0x1000 && (half & 1) === 1)) half++;
  return sign | half;
}

/** The value a stored quantized number decodes to (what tfjs computes, stored as float32). */
export function dequantizeValue(stored: number, q: WeightQuantization): number {
  if (q.dtype === 'float16') return halfToFloat(stored);
  return Math.fround(stored * (q.scale as number) + (q.min as number));
}

/**
 * The manifest entries and the one weights buffer for `weights`, in the map's order. A weight named
 * in `quantization` is stored in that form: its values must already be on the grid (as
 * quantizeWeights leaves them), so storing them is exact and loading gives back the same numbers.
 */
export function encodeWeights(
  weights: ReadonlyMap<string, Weight>,
  quantization: ReadonlyMap<string, WeightQuantization> = new Map(),
): { specs: ManifestWeightSpec[]; data: Uint8Array } {
  const specs: ManifestWeightSpec[] = [];
  for (const [name, w] of weights) {
    const q = quantization.get(name);
    specs.push({ name, shape: [...w.shape], dtype: w.dtype, ...(q !== undefined ? { quantization: { ...q } } : {}) });
  }
  const data = new Uint8Array(specs.reduce((sum, spec) => sum + storedByteLength(spec), 0));
  const view = new DataView(data.buffer);
  let offset = 0;
  for (const spec of specs) {
    const w = weights.get(spec.name)!;
    const q = spec.quantization;
    if (q === undefined) {
      data.set(new Uint8Array(w.data.buffer, w.data.byteOffset, w.data.byteLength), offset);
    } else if (q.dtype === 'float16') {
      for (let i = 0; i < w.data.length; i++) view.setUint16(offset + 2 * i, floatToHalf(w.data[i]), true);
    } else {
      const top = q.dtype === 'uint8' ? 0xff : 0xffff;
      const scale = q.scale as number;
      const min = q.min as number;
      for (let i = 0; i < w.data.length; i++) {
        const stored = Math.min(top, Math.max(0, Math.round((w.data[i] - min) / scale)));
        if (q.dtype === 'uint8') view.setUint8(offset + i, stored);
        else view.setUint16(offset + 2 * i, stored, true);
      }
    }
    offset += storedByteLength(spec);
  }
  return { specs, data };
}

/**
 * Decodes one group's weights from the concatenation of its shards.
 * The caller has already checked that `bytes` is exactly as long as the specs need.
 */
export function decodeGroup(specs: readonly ManifestWeightSpec[], bytes: Uint8Array): Map<string, Weight> {
  // DataView reads are alignment-free: a uint8-quantized weight can leave the next one at an odd offset.
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Map<string, Weight>();
  let offset = 0;
  for (const spec of specs) {
    const count = elementCount(spec.shape);
    const outputDType = spec.dtype === 'float32' ? 'float32' : 'int32';
    const data = outputDType === 'float32' ? new Float32Array(count) : new Int32Array(count);
    const q = spec.quantization;
    if (q === undefined && spec.dtype !== 'bool') {
      // Plain float32/int32: a byte copy (tfjs, like every host it runs on, is little-endian).
      new Uint8Array(data.buffer).set(bytes.subarray(offset, offset + 4 * count));
    } else if (q === undefined) {
      for (let i = 0; i < count; i++) data[i] = view.getUint8(offset + i) === 0 ? 0 : 1;
    } else if (q.dtype === 'float16') {
      for (let i = 0; i < count; i++) data[i] = halfToFloat(view.getUint16(offset + 2 * i, true));
    } else {
      const scale = q.scale as number;
      const min = q.min as number;
      const rounds = outputDType === 'int32';
      for (let i = 0; i < count; i++) {
        const quantized = q.dtype === 'uint8' ? view.getUint8(offset + i) : view.getUint16(offset + 2 * i, true);
        const value = quantized * scale + min;
        data[i] = rounds ? Math.round(value) : value;
      }
    }
    out.set(spec.name, { shape: [...spec.shape], dtype: outputDType, data });
    offset += storedByteLength(spec);
  }
  return out;
}
