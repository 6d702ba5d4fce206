/** Small helpers shared by the handlers. */
import { InputError } from '../../errors.js';
import type { ActivationConfig, AffineFoldFacet, DataFormat, LayerCall, LayerCost, Shape, WeightSpec } from '../types.js';

/** Size of a known dimension; a missing channel count is a broken model, not a guess. */
export function dim(shape: Shape, axis: number, call: LayerCall<unknown>): number {
  const d = shape[axis < 0 ? shape.length + axis : axis];
  if (d === null || d === undefined) {
    throw new InputError(`layer '${call.name}' (${call.className}): dimension ${axis} of its input is unknown`);
  }
  return d;
}

/** Product of spatial/position dims; unknown (null) dims make MACs unknowable, counted as 0. */
export function positions(dims: Shape): number {
  return dims.reduce<number>((a, d) => a * (d ?? 0), 1);
}

export const NO_COST: LayerCost = { trainable: 0, nonTrainable: 0, macs: 0 };

export function usesBias(config: { use_bias?: boolean }): boolean {
  return config.use_bias !== false;
}

/** Activations that act on each element alone, so pruning a channel never changes another. */
export const ELEMENTWISE_ACTIVATIONS = new Set([
  'linear',
  'relu',
  'relu6',
  'elu',
  'selu',
  'sigmoid',
  'hard_sigmoid',
  'hardSigmoid',
  'tanh',
  'softplus',
  'softsign',
  'swish',
  'gelu',
  'gelu_new',
  'mish',
  'exponential',
  'silu',
]);

/** Wall reason for a fused activation that couples channels (softmax), else null. */
/** An activation's name: the string itself, or a Keras activation object's class_name (else its JSON). */
export function activationName(activation: unknown): string {
  if (typeof activation === 'string') return activation;
  const className = (activation as { class_name?: unknown } | null)?.class_name;
  return typeof className === 'string' ? className : JSON.stringify(activation);
}

export function activationWall(activation: ActivationConfig | undefined): string | null {
  if (activation === undefined || activation === null) return null;
  const name = activationName(activation);
  return ELEMENTWISE_ACTIVATIONS.has(name) ? null : `activation '${name}' mixes channels`;
}

export function channelsFirstWall(config: { data_format?: DataFormat }): string | null {
  return config.data_format === 'channels_first' ? 'channels_first data format is not supported' : null;
}

/** A Keras activation applied to one number; NaN when slim does not know it. */
export function activate(name: ActivationConfig | undefined, x: number): number {
  switch (name) {
    case undefined:
    case null:
    case 'linear':
      return x;
    case 'relu':
      return Math.max(0, x);
    case 'relu6':
      return Math.min(6, Math.max(0, x));
    case 'elu':
      return x > 0 ? x : Math.exp(x) - 1;
    case 'selu':
      return 1.0507009873554805 * (x > 0 ? x : 1.6732632423543772 * (Math.exp(x) - 1));
    case 'sigmoid':
      return 1 / (1 + Math.exp(-x));
    case 'hard_sigmoid':
    case 'hardSigmoid':
      return Math.min(1, Math.max(0, 0.2 * x + 0.5));
    case 'tanh':
      return Math.tanh(x);
    case 'softplus':
      return Math.log1p(Math.exp(x));
    case 'softsign':
      return x / (1 + Math.abs(x));
    case 'swish':
    case 'silu':
      return x / (1 + Math.exp(-x));
    default:
      return NaN;
  }
}

/** mapConstant for layers that pass each channel's value through `f` (NaN stays NaN). */
export function mapEach(f: (x: number, channel: number) => number): (values: Float64Array) => Float64Array {
  return (values) => values.map((v, c) => (Number.isNaN(v) ? NaN : f(v, c)));
}

/** mapConstant for layers that keep a constant channel constant (pooling, dropout, flatten). */
export const passConstant = (values: Float64Array): Float64Array => new Float64Array(values);

// ---------------------------------------------------------------------------------------------
// Shape geometry (channels-last), shared by the handlers' outputShapes and their counting.

/** `n` numbers from a Keras int-or-tuple field. */
export function tuple(value: unknown, n: number, fallback: number): number[] {
  if (typeof value === 'number') return new Array<number>(n).fill(value);
  if (Array.isArray(value) && value.length === n) return value.map(Number);
  return new Array<number>(n).fill(fallback);
}

/** Output length of a convolution / pooling window along one axis (tfjs's rule). */
export function convLength(input: number | null, kernel: number, padding: string, stride: number, dilation = 1): number | null {
  if (input === null) return null;
  const dilated = kernel + (kernel - 1) * (dilation - 1);
  const length = padding === 'same' || padding === 'causal' ? input : input - dilated + 1;
  return Math.floor((length + stride - 1) / stride);
}

/** Output length of a transposed convolution along one axis (tfjs's rule, no output_padding). */
export function deconvLength(input: number | null, kernel: number, padding: string, stride: number): number | null {
  if (input === null) return null;
  return padding === 'valid' ? input * stride + Math.max(kernel - stride, 0) : input * stride;
}

/** Product of dims, or null when any is unknown. */
export function knownProduct(dims: Shape): number | null {
  let p = 1;
  for (const d of dims) {
    if (d === null) return null;
    p *= d;
  }
  return p;
}

/** True unless the config says channels_first (the hand shape rules only know channels-last). */
export function channelsLast(config: { data_format?: DataFormat }): boolean {
  return config.data_format === undefined || config.data_format === null || config.data_format === 'channels_last';
}

/** ZeroPadding2D's `padding` as [[top, bottom], [left, right]]. */
export function zeroPaddingAmounts(padding: unknown): [[number, number], [number, number]] {
  if (typeof padding === 'number')
    return [
      [padding, padding],
      [padding, padding],
    ];
  if (Array.isArray(padding) && padding.length === 2) {
    const [a, b] = padding as unknown[];
    if (typeof a === 'number' && typeof b === 'number')
      return [
        [a, a],
        [b, b],
      ];
    if (Array.isArray(a) && Array.isArray(b))
      return [
        [Number(a[0]), Number(a[1])],
        [Number(b[0]), Number(b[1])],
      ];
  }
  return [
    [1, 1],
    [1, 1],
  ];
}

/** outputShapes for layers whose output has the shape of their (first) input. */
export const sameShape = (_config: unknown, inputShapes: Shape[]): Shape[] => [[...inputShapes[0]]];

// ---------------------------------------------------------------------------------------------
// Folding a per-channel affine (BatchNorm) into the layer before it.

/** Why a fused activation keeps an affine map after the layer from moving inside it, or null (linear). */
function nonLinearActivationReason(activation: ActivationConfig | undefined): string | null {
  if (activation === undefined || activation === null || activation === 'linear') return null;
  const name = activationName(activation);
  return `has activation '${name}' (a fold needs a linear output)`;
}

/**
 * The foldsAffine facet of a channels-last layer with a `use_bias` flag and a 'bias' weight, whose
 * output channels are the row-major index over `kernelOutputAxes` of weight `kernelRole`.
 */
export function biasAffineFold<C extends BiasedConfig>(kernelRole: string, kernelOutputAxes: number[]): AffineFoldFacet<C> {
  return {
    kernelRole,
    kernelOutputAxes,
    biasRole: 'bias',
    enableBias: (config) => ({ ...config, use_bias: true }),
    refuse: (call) => channelsFirstWall(call.config) ?? nonLinearActivationReason(call.config.activation),
  };
}

/**
 * fusesActivation of a channels-last layer with a fused `activation` setting: it can take an
 * activation layer that follows it only while its own activation is linear.
 */
export function fusesActivationWhenLinear(call: LayerCall<BiasedConfig>): string | null {
  const own = call.config.activation;
  if (own !== undefined && own !== null && own !== 'linear') return `already has activation '${activationName(own)}'`;
  return channelsFirstWall(call.config);
}

/** Config fields of a channels-last layer with a kernel, an optional bias and a fused activation. */
export interface BiasedConfig {
  use_bias?: boolean;
  activation?: ActivationConfig;
  data_format?: DataFormat;
}

/** A trainable weight spec. */
export function trainable(role: string, shape: number[]): WeightSpec {
  return { role, shape, trainable: true };
}

/** Kernel then (when used) bias: the weights of Dense and the convolutions, in tfjs's order. */
export function kernelAndBias(kernelRole: string, kernel: number[], config: { use_bias?: boolean }, outputs: number): WeightSpec[] {
  return usesBias(config) ? [trainable(kernelRole, kernel), trainable('bias', [outputs])] : [trainable(kernelRole, kernel)];
}

// ---------------------------------------------------------------------------------------------
// Config checks (the handlers' validateConfig): each returns what is wrong, naming the field, or null.

/** A check of one config; null when it passes. */
export type ConfigCheck = (config: Record<string, unknown>) => string | null;

/** Runs checks in order; the first failure is the answer. */
export function checkAll(...checks: ConfigCheck[]): (config: unknown) => string | null {
  return (config) => {
    for (const check of checks) {
      const problem = check(config as Record<string, unknown>);
      if (problem !== null) return problem;
    }
    return null;
  };
}

function shown(value: unknown): string {
  const text = JSON.stringify(value);
  if (text === undefined) return String(value);
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

function isPositiveInteger(value: unknown): boolean {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0;
}

/** `field` is a positive integer (absent is fine when `optional`). */
export function positiveInt(field: string, optional = false): ConfigCheck {
  return (config) => {
    const value = config[field];
    if (value === undefined || value === null) return optional ? null : `${field}: missing (a positive integer is needed)`;
    return isPositiveInteger(value) ? null : `${field}: must be a positive integer, got ${shown(value)}`;
  };
}

/** `field` is a positive integer or a list of `n` of them (Keras int-or-tuple fields); absent is fine when `optional`. */
export function positiveInts(field: string, n: number, optional = true): ConfigCheck {
  return (config) => {
    const value = config[field];
    if (value === undefined || value === null)
      return optional ? null : `${field}: missing (a positive integer or a list of ${n} is needed)`;
    if (isPositiveInteger(value)) return null;
    if (Array.isArray(value) && value.length === n && value.every(isPositiveInteger)) return null;
    return `${field}: must be a positive integer or a list of ${n} positive integers, got ${shown(value)}`;
  };
}

/** `field` is one of `allowed` (absent is fine). */
export function oneOf(field: string, allowed: readonly string[]): ConfigCheck {
  return (config) => {
    const value = config[field];
    if (value === undefined || value === null || (typeof value === 'string' && allowed.includes(value))) return null;
    return `${field}: must be one of ${allowed.join(', ')}, got ${shown(value)}`;
  };
}

/** `field` is a finite number in [min, max) (absent is fine). */
export function finiteIn(field: string, min: number, max: number): ConfigCheck {
  return (config) => {
    const value = config[field];
    if (value === undefined || value === null) return null;
    return typeof value === 'number' && Number.isFinite(value) && value >= min && value < max
      ? null
      : `${field}: must be a number in [${min}, ${max}), got ${shown(value)}`;
  };
}

/** The activation names tfjs registers (Keras snake_case and tfjs camelCase spellings). */
export const KNOWN_ACTIVATIONS: ReadonlySet<string> = new Set([
  'elu',
  'hard_sigmoid',
  'hardSigmoid',
  'linear',
  'relu',
  'relu6',
  'selu',
  'sigmoid',
  'softmax',
  'log_softmax',
  'logSoftmax',
  'softplus',
  'softsign',
  'tanh',
  'swish',
  'mish',
  'gelu',
  'gelu_new',
]);

/** `field` names an activation tfjs knows (a string, or a serialised `{class_name}` object); absent is fine unless required. */
export function knownActivation(field = 'activation', optional = true): ConfigCheck {
  return (config) => {
    const value = config[field];
    if (value === undefined || value === null) return optional ? null : `${field}: missing`;
    const name = typeof value === 'object' && !Array.isArray(value) ? (value as { class_name?: unknown }).class_name : value;
    if (typeof name === 'string' && KNOWN_ACTIVATIONS.has(name)) return null;
    return `${field}: unknown activation ${shown(name)} (tfjs knows ${[...KNOWN_ACTIVATIONS].filter((a) => !/[A-Z]/.test(a)).join(', ')})`;
  };
}

export const PADDINGS = ['valid', 'same', 'causal'] as const;
