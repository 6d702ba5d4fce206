/**
 * Convolutions. Conv2D, SeparableConv2D and Conv2DTranspose own their output channels (free);
 * DepthwiseConv2D maps input channel c to output channels c·m … c·m+m−1 (tied, m = depth_multiplier).
 */
import { sliceAxis, sliceRoles } from '../slice.js';
import type { BaseLayerConfig, LayerCall, LayerHandler, RoleWeights, Shape } from '../types.js';
import {
  PADDINGS,
  activate,
  activationWall,
  checkAll,
  knownActivation,
  oneOf,
  positiveInt,
  positiveInts,
  biasAffineFold,
  fusesActivationWhenLinear,
  channelsFirstWall,
  channelsLast,
  convLength,
  deconvLength,
  dim,
  kernelAndBias,
  positions,
  trainable,
  tuple,
  usesBias,
  type BiasedConfig,
} from './util.js';

/** Keras config of the convolutions (int-or-tuple fields as Keras writes them). */
export interface ConvConfig extends BaseLayerConfig, BiasedConfig {
  kernel_size: number | number[];
  strides?: number | number[];
  dilation_rate?: number | number[];
  padding?: 'valid' | 'same' | 'causal';
  groups?: number;
}

/** Conv1D/2D/3D, Conv2DTranspose and SeparableConv2D set their output channels. */
export interface FilteredConvConfig extends ConvConfig {
  filters: number;
  /** SeparableConv2D only (tfjs does not serialise it: the weights are the truth). */
  depth_multiplier?: number;
}

export interface DepthwiseConvConfig extends ConvConfig {
  depth_multiplier?: number;
}

/**
 * outputShapes of a channels-last 2-D convolution whose output width is `channels(config, inputChannels)`;
 * undefined (ask tfjs) for channels_first.
 */
function conv2DShapes<C extends ConvConfig>(
  channels: (config: C, inputChannels: number | null) => number | null,
): (config: C, inputShapes: Shape[]) => Shape[] | undefined {
  return (config: C, [x]: Shape[]): Shape[] | undefined => {
    if (!channelsLast(config)) return undefined;
    const k = tuple(config.kernel_size, 2, 1);
    const s = tuple(config.strides, 2, 1);
    const d = tuple(config.dilation_rate, 2, 1);
    const padding = config.padding ?? 'valid';
    const height = convLength(x[1], k[0], padding, s[0], d[0]);
    return [[x[0], height, convLength(x[2], k[1], padding, s[1], d[1]), channels(config, x[3])]];
  };
}

const filtersOf = (config: FilteredConvConfig): number => config.filters;
const multiplierOf = (config: { depth_multiplier?: number }): number => config.depth_multiplier ?? 1;

/** Why a constant input does not give a constant output (zero-padded borders), or null. */
function samePaddingReason(call: LayerCall<ConvConfig>): string | null {
  const [kh, kw] = tuple(call.config.kernel_size, 2, 1);
  return call.config.padding === 'same' && kh * kw > 1 ? "'same' padding: the border sees zeros, not the constant" : null;
}

/** Σ over the kernel taps of a depthwise kernel [kh, kw, cin, m]: the response to a constant 1. */
function depthwiseTapSums(kernel: { shape: number[]; data: ArrayLike<number> }): Float64Array {
  const [kh, kw, cin, m] = kernel.shape;
  const sums = new Float64Array(cin * m);
  for (let p = 0; p < kh * kw; p++) for (let i = 0; i < cin * m; i++) sums[i] += kernel.data[p * cin * m + i];
  return sums;
}

/** Output rows c·m+j of the input rows `rows` (channel-major, m consecutive rows per channel). */
function multiplyRows(rows: number[], m: number): number[] {
  const out: number[] = [];
  for (const r of rows) for (let j = 0; j < m; j++) out.push(r * m + j);
  return out;
}

function spatialOut(call: LayerCall<unknown>): number {
  const out = call.outputShapes[0];
  return positions(out.slice(1, -1));
}

/** The config checks every conv with its own filters shares (Conv1D/2D/3D, Conv2DTranspose, SeparableConv2D): rank = spatial dims. */
function filteredConvChecks(rank: number) {
  return checkAll(
    positiveInt('filters'),
    positiveInts('kernel_size', rank, false),
    positiveInts('strides', rank),
    positiveInts('dilation_rate', rank),
    oneOf('padding', PADDINGS),
    knownActivation(),
  );
}

export const conv2D: LayerHandler<FilteredConvConfig> = {
  className: 'Conv2D',
  validateConfig: filteredConvChecks(2),
  inputRank: 4,
  weights(call) {
    const [kh, kw] = tuple(call.config.kernel_size, 2, 1);
    const cin = dim(call.inputShapes[0], -1, call) / (call.config.groups ?? 1);
    return kernelAndBias('kernel', [kh, kw, cin, call.config.filters], call.config, call.config.filters);
  },
  // kernel [kh, kw, in, out]
  foldsAffine: biasAffineFold('kernel', [-1]),
  fusesActivation: fusesActivationWhenLinear,
  outputShapes: conv2DShapes(filtersOf),
  count(call) {
    const { config } = call;
    const cin = dim(call.inputShapes[0], -1, call);
    const [kh, kw] = tuple(config.kernel_size, 2, 1);
    const groups = config.groups ?? 1;
    const filters = config.filters;
    const kernel = kh * kw * (cin / groups) * filters;
    return { trainable: kernel + (usesBias(config) ? filters : 0), nonTrainable: 0, macs: kernel * spatialOut(call) };
  },
  channels: {
    role: 'free',
    wallReason(call) {
      if ((call.config.groups ?? 1) !== 1) return 'grouped convolution';
      return channelsFirstWall(call.config);
    },
    outputWall: (call) => activationWall(call.config.activation),
    // kernel: [kh, kw, in, out]
    sliceOutputs: (weights, keep) => sliceRoles(weights, { kernel: 3, bias: 0 }, keep),
    sliceInputs: (weights, rows) => sliceRoles(weights, { kernel: 2 }, rows),
    foldConstantInput(weights, rowValues, call) {
      const [kh, kw] = tuple(call.config.kernel_size, 2, 1);
      const padded = samePaddingReason(call);
      if (padded !== null) return padded;
      const kernel = weights.get('kernel')!;
      const [, , cin, cout] = kernel.shape;
      const delta = new Float64Array(cout);
      for (let p = 0; p < kh * kw; p++) {
        for (let c = 0; c < cin; c++) {
          const v = rowValues[c];
          if (v === 0) continue;
          const base = (p * cin + c) * cout;
          for (let j = 0; j < cout; j++) delta[j] += v * kernel.data[base + j];
        }
      }
      return delta;
    },
    rewriteConfig: (config, change) => ({ ...config, filters: change.newChannels }),
  },
};

export const conv1D: LayerHandler<FilteredConvConfig> = {
  className: 'Conv1D',
  validateConfig: filteredConvChecks(1),
  inputRank: 3,
  weights(call) {
    const [k] = tuple(call.config.kernel_size, 1, 1);
    return kernelAndBias('kernel', [k, dim(call.inputShapes[0], -1, call), call.config.filters], call.config, call.config.filters);
  },
  // kernel [k, in, out]
  foldsAffine: biasAffineFold('kernel', [-1]),
  outputShapes(config, [x]) {
    if (!channelsLast(config)) return undefined;
    const [k] = tuple(config.kernel_size, 1, 1);
    const [s] = tuple(config.strides, 1, 1);
    const [d] = tuple(config.dilation_rate, 1, 1);
    return [[x[0], convLength(x[1], k, config.padding ?? 'valid', s, d), filtersOf(config)]];
  },
  count(call) {
    const { config } = call;
    const cin = dim(call.inputShapes[0], -1, call);
    const [k] = tuple(config.kernel_size, 1, 1);
    const filters = config.filters;
    const kernel = k * cin * filters;
    return { trainable: kernel + (usesBias(config) ? filters : 0), nonTrainable: 0, macs: kernel * spatialOut(call) };
  },
};

export const conv3D: LayerHandler<FilteredConvConfig> = {
  className: 'Conv3D',
  validateConfig: filteredConvChecks(3),
  inputRank: 5,
  weights(call) {
    const k = tuple(call.config.kernel_size, 3, 1);
    return kernelAndBias('kernel', [...k, dim(call.inputShapes[0], -1, call), call.config.filters], call.config, call.config.filters);
  },
  // kernel [kd, kh, kw, in, out]
  foldsAffine: biasAffineFold('kernel', [-1]),
  count(call) {
    const { config } = call;
    const cin = dim(call.inputShapes[0], -1, call);
    const [kd, kh, kw] = tuple(config.kernel_size, 3, 1);
    const filters = config.filters;
    const kernel = kd * kh * kw * cin * filters;
    return { trainable: kernel + (usesBias(config) ? filters : 0), nonTrainable: 0, macs: kernel * spatialOut(call) };
  },
};

export const conv2DTranspose: LayerHandler<FilteredConvConfig> = {
  className: 'Conv2DTranspose',
  validateConfig: filteredConvChecks(2),
  inputRank: 4,
  weights(call) {
    const [kh, kw] = tuple(call.config.kernel_size, 2, 1);
    return kernelAndBias('kernel', [kh, kw, call.config.filters, dim(call.inputShapes[0], -1, call)], call.config, call.config.filters);
  },
  // kernel [kh, kw, out, in]
  foldsAffine: biasAffineFold('kernel', [-2]),
  outputShapes(config, [x]) {
    if (!channelsLast(config)) return undefined;
    const k = tuple(config.kernel_size, 2, 1);
    const s = tuple(config.strides, 2, 1);
    const padding = config.padding ?? 'valid';
    return [[x[0], deconvLength(x[1], k[0], padding, s[0]), deconvLength(x[2], k[1], padding, s[1]), filtersOf(config)]];
  },
  count(call) {
    const { config } = call;
    const cin = dim(call.inputShapes[0], -1, call);
    const [kh, kw] = tuple(config.kernel_size, 2, 1);
    const filters = config.filters;
    const kernel = kh * kw * cin * filters;
    // Every input position is scattered through the whole kernel.
    const inPositions = positions(call.inputShapes[0].slice(1, -1));
    return { trainable: kernel + (usesBias(config) ? filters : 0), nonTrainable: 0, macs: kernel * inPositions };
  },
  channels: {
    role: 'free',
    wallReason: (call) => channelsFirstWall(call.config),
    outputWall: (call) => activationWall(call.config.activation),
    // kernel: [kh, kw, out, in] (tfjs stores transposed convolutions this way round)
    sliceOutputs: (weights, keep) => sliceRoles(weights, { kernel: 2, bias: 0 }, keep),
    sliceInputs: (weights, rows) => sliceRoles(weights, { kernel: 3 }, rows),
    foldConstantInput(weights, rowValues, call) {
      const [kh, kw] = tuple(call.config.kernel_size, 2, 1);
      const [sh, sw] = tuple(call.config.strides, 2, 1);
      if (kh * kw * sh * sw !== 1) return 'transposed convolution spreads a constant unevenly over positions';
      const kernel = weights.get('kernel')!;
      const [, , cout, cin] = kernel.shape;
      const delta = new Float64Array(cout);
      for (let j = 0; j < cout; j++) for (let c = 0; c < cin; c++) delta[j] += rowValues[c] * kernel.data[j * cin + c];
      return delta;
    },
    rewriteConfig: (config, change) => ({ ...config, filters: change.newChannels }),
  },
};

export const depthwiseConv2D: LayerHandler<DepthwiseConvConfig> = {
  className: 'DepthwiseConv2D',
  validateConfig: checkAll(
    positiveInt('depth_multiplier', true),
    positiveInts('kernel_size', 2, false),
    positiveInts('strides', 2),
    positiveInts('dilation_rate', 2),
    oneOf('padding', PADDINGS),
    knownActivation(),
  ),
  inputRank: 4,
  weights(call) {
    const [kh, kw] = tuple(call.config.kernel_size, 2, 1);
    const cin = dim(call.inputShapes[0], -1, call);
    const m = multiplierOf(call.config);
    return kernelAndBias('depthwise_kernel', [kh, kw, cin, m], call.config, cin * m);
  },
  // depthwise_kernel [kh, kw, in, m]: output channel c·m+j
  foldsAffine: biasAffineFold('depthwise_kernel', [-2, -1]),
  fusesActivation: fusesActivationWhenLinear,
  outputShapes: conv2DShapes<DepthwiseConvConfig>((config, cin) => (cin === null ? null : cin * multiplierOf(config))),
  count(call) {
    const { config } = call;
    const cin = dim(call.inputShapes[0], -1, call);
    const [kh, kw] = tuple(config.kernel_size, 2, 1);
    const outChannels = cin * multiplierOf(config);
    const kernel = kh * kw * outChannels;
    return { trainable: kernel + (usesBias(config) ? outChannels : 0), nonTrainable: 0, macs: kernel * spatialOut(call) };
  },
  channels: {
    role: 'tied',
    wallReason: (call) => channelsFirstWall(call.config) ?? activationWall(call.config.activation),
    multiplier: (call) => multiplierOf(call.config),
    // depthwise_kernel: [kh, kw, in, m]; bias: [in·m]
    sliceChannels(weights, rows) {
      const out: RoleWeights = new Map(weights);
      const kernel = weights.get('depthwise_kernel');
      if (kernel !== undefined) out.set('depthwise_kernel', sliceAxis(kernel, 2, rows.input));
      const bias = weights.get('bias');
      if (bias !== undefined) out.set('bias', sliceAxis(bias, 0, rows.output));
      return out;
    },
    mapConstant(values, weights, call) {
      const m = multiplierOf(call.config);
      const out = new Float64Array(values.length * m).fill(NaN);
      const kernel = weights.get('depthwise_kernel');
      if (kernel === undefined || activationWall(call.config.activation) !== null) return out;
      // Zero padding keeps a zero channel zero, but not any other constant.
      const padded = samePaddingReason(call) !== null;
      const sums = depthwiseTapSums(kernel);
      const bias = weights.get('bias');
      const act = call.config.activation;
      for (let i = 0; i < out.length; i++) {
        const v = values[Math.floor(i / m)];
        if (!Number.isNaN(v) && !(padded && v !== 0)) out[i] = activate(act, v * sums[i] + (bias?.data[i] ?? 0));
      }
      return out;
    },
  },
};

export const separableConv2D: LayerHandler<FilteredConvConfig> = {
  className: 'SeparableConv2D',
  validateConfig: checkAll(positiveInt('depth_multiplier', true), filteredConvChecks(2)),
  inputRank: 4,
  weights(call) {
    const [kh, kw] = tuple(call.config.kernel_size, 2, 1);
    const cin = dim(call.inputShapes[0], -1, call);
    const m = multiplierOf(call.config);
    const filters = call.config.filters;
    const [pointwise, ...bias] = kernelAndBias('pointwise_kernel', [1, 1, cin * m, filters], call.config, filters);
    return [trainable('depthwise_kernel', [kh, kw, cin, m]), pointwise, ...bias];
  },
  // the pointwise part makes the output: pointwise_kernel [1, 1, in·m, filters]
  foldsAffine: biasAffineFold('pointwise_kernel', [-1]),
  fusesActivation: fusesActivationWhenLinear,
  outputShapes: conv2DShapes(filtersOf),
  count(call) {
    const { config } = call;
    const cin = dim(call.inputShapes[0], -1, call);
    const [kh, kw] = tuple(config.kernel_size, 2, 1);
    const mid = cin * multiplierOf(config);
    const filters = config.filters;
    const depthwise = kh * kw * mid;
    const pointwise = mid * filters;
    return {
      trainable: depthwise + pointwise + (usesBias(config) ? filters : 0),
      nonTrainable: 0,
      macs: (depthwise + pointwise) * spatialOut(call),
    };
  },
  channels: {
    role: 'free',
    wallReason: (call) => channelsFirstWall(call.config),
    outputWall: (call) => activationWall(call.config.activation),
    // pointwise_kernel: [1, 1, in·m, filters]; bias: [filters]
    sliceOutputs: (weights, keep) => sliceRoles(weights, { pointwise_kernel: 3, bias: 0 }, keep),
    // depthwise_kernel: [kh, kw, in, m] loses input rows; the pointwise kernel loses their m rows each.
    sliceInputs(weights, rows) {
      const out: RoleWeights = new Map(weights);
      const dk = weights.get('depthwise_kernel');
      const pk = weights.get('pointwise_kernel');
      // m from the weights: tfjs does not serialise SeparableConv2D's depth_multiplier.
      const m = dk?.shape[3] ?? 1;
      if (dk !== undefined) out.set('depthwise_kernel', sliceAxis(dk, 2, rows));
      if (pk !== undefined) out.set('pointwise_kernel', sliceAxis(pk, 2, multiplyRows(rows, m)));
      return out;
    },
    foldConstantInput(weights, rowValues, call) {
      const padded = samePaddingReason(call);
      if (padded !== null) return padded;
      const dk = weights.get('depthwise_kernel')!;
      const pk = weights.get('pointwise_kernel')!;
      const m = dk.shape[3];
      const sums = depthwiseTapSums(dk);
      const cout = pk.shape[3];
      const delta = new Float64Array(cout);
      for (let i = 0; i < sums.length; i++) {
        const v = rowValues[Math.floor(i / m)] * sums[i];
        if (v === 0) continue;
        for (let o = 0; o < cout; o++) delta[o] += v * pk.data[i * cout + o];
      }
      return delta;
    },
    rewriteConfig: (config, change) => ({ ...config, filters: change.newChannels }),
  },
};
