/** Layers that act on each element (or each channel) alone: tied channels, no weights. */
import { sliceAxis } from '../slice.js';
import type { ActivationConfig, BaseLayerConfig, DataFormat, LayerCall, LayerHandler, RoleWeights } from '../types.js';
import {
  checkAll,
  finiteIn,
  knownActivation,
  KNOWN_ACTIVATIONS,
  positiveInts,
  ELEMENTWISE_ACTIVATIONS,
  NO_COST,
  activate,
  activationName,
  activationWall,
  channelsFirstWall,
  dim,
  mapEach,
  passConstant,
  sameShape,
  trainable,
} from './util.js';

type ScalarFn<C> = (x: number, call: LayerCall<C>) => number;

export interface ReLUConfig extends BaseLayerConfig {
  max_value?: number | null;
  threshold?: number | null;
  negative_slope?: number | null;
}
/** LeakyReLU and ELU: `alpha`. */
export interface AlphaConfig extends BaseLayerConfig {
  alpha?: number | null;
}
export interface ThresholdedReLUConfig extends BaseLayerConfig {
  theta?: number | null;
}
export interface ActivationLayerConfig extends BaseLayerConfig {
  activation?: ActivationConfig;
}
export interface DropoutConfig extends BaseLayerConfig {
  rate?: number;
  noise_shape?: number[] | null;
}
/** UpSampling2D, Cropping2D and the weightless layers that only care about the data format. */
export interface DataFormatConfig extends BaseLayerConfig {
  data_format?: DataFormat;
}
export interface SoftmaxConfig extends BaseLayerConfig {
  axis?: number | number[] | null;
}
export interface PReLUConfig extends BaseLayerConfig {
  shared_axes?: number | number[] | null;
}

/** A weightless layer with tied channels; its output has its input's shape unless `shape` says 'tfjs'. */
function tiedNoWeights<C>(
  className: string,
  f: ScalarFn<C> | 'identity',
  wallReason?: (call: LayerCall<C>) => string | null,
  shape: 'same' | 'tfjs' = 'same',
  validateConfig?: (config: C) => string | null,
): LayerHandler<C> {
  return {
    className,
    validateConfig,
    count: () => NO_COST,
    outputShapes: shape === 'same' ? sameShape : undefined,
    channels: {
      role: 'tied',
      wallReason,
      mapConstant: f === 'identity' ? passConstant : (values, _w, call) => mapEach((x) => f(x, call))(values),
    },
  };
}

const num = (value: number | null | undefined, fallback: number): number => (value === undefined || value === null ? fallback : value);

// tfjs writes ReLU6 as ReLU with max_value 6; Keras's ReLU may also have negative_slope and threshold.
export const relu: LayerHandler<ReLUConfig> = {
  ...tiedNoWeights<ReLUConfig>('ReLU', (x, { config }) => {
    const max = num(config.max_value, Infinity);
    const threshold = num(config.threshold, 0);
    if (x >= max) return max;
    return x >= threshold ? x : num(config.negative_slope, 0) * (x - threshold);
  }),
  asActivation({ config }) {
    if (num(config.threshold, 0) !== 0 || num(config.negative_slope, 0) !== 0) return null;
    const max = num(config.max_value, Infinity);
    return max === Infinity ? 'relu' : max === 6 ? 'relu6' : null;
  },
};
export const leakyReLU = tiedNoWeights<AlphaConfig>('LeakyReLU', (x, { config }) => (x >= 0 ? x : num(config.alpha, 0.3) * x));
export const elu: LayerHandler<AlphaConfig> = {
  ...tiedNoWeights<AlphaConfig>('ELU', (x, { config }) => (x > 0 ? x : num(config.alpha, 1) * (Math.exp(x) - 1))),
  asActivation: ({ config }) => (num(config.alpha, 1) === 1 ? 'elu' : null),
};
export const thresholdedReLU = tiedNoWeights<ThresholdedReLUConfig>('ThresholdedReLU', (x, { config }) =>
  x > num(config.theta, 1) ? x : 0,
);
export const activation: LayerHandler<ActivationLayerConfig> = {
  ...tiedNoWeights<ActivationLayerConfig>(
    'Activation',
    (x, { config }) => activate(config.activation, x),
    (call) => (ELEMENTWISE_ACTIVATIONS.has(activationName(call.config.activation)) ? null : activationWall(call.config.activation)),
    'same',
    checkAll(knownActivation('activation', false)),
  ),
  inferenceIdentity: ({ config }) => activationName(config.activation) === 'linear',
  asActivation({ config }) {
    const name = activationName(config.activation);
    return name !== 'linear' && KNOWN_ACTIVATIONS.has(name) ? name : null;
  },
};
// Dropout and noise layers are the identity at inference (export drops them).
const identityAtInference = <C>(handler: LayerHandler<C>): LayerHandler<C> => ({ ...handler, inferenceIdentity: () => true });
export const dropout = identityAtInference(
  tiedNoWeights<DropoutConfig>(
    'Dropout',
    'identity',
    (call) => (Array.isArray(call.config.noise_shape) ? 'Dropout with a noise_shape' : null),
    'same',
    checkAll(finiteIn('rate', 0, 1)),
  ),
);
export const spatialDropout2D = identityAtInference(tiedNoWeights<BaseLayerConfig>('SpatialDropout2D', 'identity'));
export const spatialDropout1D = identityAtInference(tiedNoWeights<BaseLayerConfig>('SpatialDropout1D', 'identity'));
export const gaussianNoise = identityAtInference(tiedNoWeights<BaseLayerConfig>('GaussianNoise', 'identity'));
export const gaussianDropout = identityAtInference(tiedNoWeights<BaseLayerConfig>('GaussianDropout', 'identity'));
export const alphaDropout = identityAtInference(tiedNoWeights<BaseLayerConfig>('AlphaDropout', 'identity'));

// These resize positions: tfjs infers their shapes.
export const upSampling2D = tiedNoWeights<DataFormatConfig>(
  'UpSampling2D',
  'identity',
  (call) => channelsFirstWall(call.config),
  'tfjs',
  checkAll(positiveInts('size', 2)),
);
export const cropping2D = tiedNoWeights<DataFormatConfig>('Cropping2D', 'identity', (call) => channelsFirstWall(call.config), 'tfjs');

/** Softmax normalises across channels: counted, never pruned through. */
export const softmax: LayerHandler<SoftmaxConfig> = {
  className: 'Softmax',
  count: () => NO_COST,
  outputShapes: sameShape,
  // A fused softmax activation normalises the last axis, as Softmax does by default.
  // (tfjs's Softmax defaults to axis 1, which is the last axis of a rank-2 input).
  asActivation: ({ config, inputShapes }) => {
    const axis = Array.isArray(config.axis) && config.axis.length === 1 ? config.axis[0] : (config.axis ?? -1);
    const rank = inputShapes[0]?.length ?? 0;
    return axis === -1 || axis === rank - 1 ? 'softmax' : null;
  },
};

function sharedAxes(call: LayerCall<PReLUConfig>): Set<number> {
  const raw = call.config.shared_axes;
  return new Set<number>(Array.isArray(raw) ? raw : raw !== undefined && raw !== null ? [raw] : []);
}

/** PReLU has one α per element of its (non-shared) input axes; α's last axis is the channel axis unless shared. */
export const pReLU: LayerHandler<PReLUConfig> = {
  className: 'PReLU',
  // α: one per element of the input's non-batch axes, 1 on the shared ones.
  weights(call) {
    const x = call.inputShapes[0];
    const shared = sharedAxes(call);
    return [
      trainable(
        'alpha',
        x.slice(1).map((_, i) => (shared.has(i + 1) ? 1 : dim(x, i + 1, call))),
      ),
    ];
  },
  outputShapes: sameShape,
  count(call) {
    const x = call.inputShapes[0];
    const shared = sharedAxes(call);
    let alpha = 1;
    for (let i = 1; i < x.length; i++) if (!shared.has(i)) alpha *= dim(x, i, call);
    return { trainable: alpha, nonTrainable: 0, macs: 0 };
  },
  channels: {
    role: 'tied',
    sliceChannels(weights, rows, call) {
      const out: RoleWeights = new Map(weights);
      const alpha = weights.get('alpha');
      const channelShared = sharedAxes(call).has(call.inputShapes[0].length - 1);
      if (alpha !== undefined && !channelShared) out.set('alpha', sliceAxis(alpha, -1, rows.input));
      return out;
    },
    // A constant channel stays constant only if its α is the same at every position.
    mapConstant(values, weights) {
      const alpha = weights.get('alpha');
      if (alpha === undefined) return values.map(() => NaN);
      const width = alpha.shape[alpha.shape.length - 1];
      return values.map((v, c) => {
        if (Number.isNaN(v) || v >= 0) return v;
        const a0 = alpha.data[width === 1 ? 0 : c];
        for (let i = width === 1 ? 0 : c; i < alpha.data.length; i += width) if (alpha.data[i] !== a0) return NaN;
        return a0 * v;
      });
    },
  },
};
