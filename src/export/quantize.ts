/**
 * Weight quantization as tfjs-converter stores it: uint8 / uint16 values with a per-weight affine
 * map (value = q·scale + min) or float16 halves, named per weight by patterns like the converter's
 * `--quantize_uint8 'conv*'`. Pure: weights in, weights out. The returned weights hold the values
 * tfjs will decode (so the output check runs on exactly what a user loads) and the quantization
 * map tells the writer how to store them (src/model/io-manifest.ts encodeWeights).
 */
import { InputError } from '../errors.js';
import { dequantizeValue, floatToHalf, type QuantizationDType, type WeightQuantization } from '../model/io-manifest.js';
import type { Weight, WeightMap } from '../model/topology.js';

export const QUANTIZE_DTYPES: readonly QuantizationDType[] = ['uint8', 'uint16', 'float16'];

/** Weights whose manifest name matches `pattern` (`*` any run of characters, `?` one) are stored as `dtype`. */
export interface QuantizeRule {
  dtype: QuantizationDType;
  pattern: string;
}

export interface QuantizeResult {
  weights: WeightMap;
  quantization: Map<string, WeightQuantization>;
  /** Largest |quantized − float| over the quantized weights, relative to each weight's largest |value|. */
  maxRelativeError: number;
}

/** A glob over weight names: `*` matches any run of characters (slashes too), `?` one character. */
export function globToRegExp(pattern: string): RegExp {
  const body = [...pattern].map((ch) => (ch === '*' ? '.*' : ch === '?' ? '.' : ch.replace(/[\\^$.|+()[\]{}]/g, '\\$&'))).join('');
  return new RegExp(`^${body}$`);
}

/**
 * Quantizes the float32 weights the rules name (the first matching rule wins; int32 weights stay).
 * A pattern that matches no weight is bad input: it is almost always a typo.
 */
export function quantizeWeights(
  weights: WeightMap,
  rules: readonly QuantizeRule[],
  /** Weight name → the name it had before an export rewrite renamed it: patterns match either. */
  formerNames: ReadonlyMap<string, string> = new Map(),
): QuantizeResult {
  const compiled = rules.map((rule) => ({ ...rule, regexp: globToRegExp(rule.pattern), used: false }));
  const out: WeightMap = new Map();
  const quantization = new Map<string, WeightQuantization>();
  let maxRelativeError = 0;
  for (const [name, weight] of weights) {
    const former = formerNames.get(name);
    const rule = compiled.find((r) => r.regexp.test(name) || (former !== undefined && r.regexp.test(former)));
    if (rule !== undefined) rule.used = true;
    if (rule === undefined || weight.dtype !== 'float32') {
      out.set(name, weight);
      continue;
    }
    const { q, values } = quantizeOne(name, weight, rule.dtype);
    quantization.set(name, q);
    out.set(name, { shape: [...weight.shape], dtype: 'float32', data: values });
    let largest = 0;
    let error = 0;
    for (let i = 0; i < values.length; i++) {
      largest = Math.max(largest, Math.abs(weight.data[i]));
      error = Math.max(error, Math.abs(values[i] - weight.data[i]));
    }
    if (largest > 0) maxRelativeError = Math.max(maxRelativeError, error / largest);
  }
  const unused = compiled.filter((r) => !r.used);
  if (unused.length > 0) {
    const names = [...weights.keys()];
    throw new InputError(
      `--quantize${unused[0].pattern === '*' ? '' : `-${unused[0].dtype}`}: pattern '${unused[0].pattern}' matches no weight ` +
        `(weights are named like ${names.slice(0, 3).join(', ')}${names.length > 3 ? ', …' : ''})`,
    );
  }
  return { weights: out, quantization, maxRelativeError };
}

/** One weight's quantization and the float32 values it decodes to. */
function quantizeOne(name: string, weight: Weight, dtype: QuantizationDType): { q: WeightQuantization; values: Float32Array } {
  const data = weight.data;
  const values = new Float32Array(data.length);
  if (dtype === 'float16') {
    const q: WeightQuantization = { dtype };
    for (let i = 0; i < data.length; i++) {
      const half = floatToHalf(data[i]);
      if ((half & 0x7c00) === 0x7c00) {
        throw new InputError(
          `--quantize float16: weight '${name}' holds ${data[i]}, beyond float16's range (±65504); use uint8 or uint16 for it`,
        );
      }
      values[i] = dequantizeValue(half, q);
    }
    return { q, values };
  }
  const top = dtype === 'uint8' ? 0xff : 0xffff;
  // The range always holds 0 and is shifted so that 0 is exactly a grid point: zero weights
  // and zero biases stay exactly zero.
  let lo = 0;
  let hi = 0;
  for (let i = 0; i < data.length; i++) {
    lo = Math.min(lo, data[i]);
    hi = Math.max(hi, data[i]);
  }
  const scale = hi > lo ? (hi - lo) / top : 1;
  const zeroPoint = Math.round(-lo / scale);
  const q: WeightQuantization = { dtype, scale, min: -zeroPoint * scale };
  for (let i = 0; i < data.length; i++) {
    const stored = Math.min(top, Math.max(0, Math.round((data[i] - q.min!) / scale)));
    values[i] = dequantizeValue(stored, q);
  }
  return { q, values };
}

/** Summary of what is quantized how, for one stderr line: `uint8 12 weights, float16 2 weights`. */
export function describeQuantization(quantization: ReadonlyMap<string, WeightQuantization>): string {
  const counts = new Map<string, number>();
  for (const q of quantization.values()) counts.set(q.dtype, (counts.get(q.dtype) ?? 0) + 1);
  return [...counts].map(([dtype, n]) => `${dtype} ${n} weight${n === 1 ? '' : 's'}`).join(', ');
}
