/** Layers that act on each element (or each channel) alone: tied channels, no weights. */
import type { LayerCall, LayerHandler } from '../types.js';
import { ELEMENTWISE_ACTIVATIONS, NO_COST, activate, activationWall, dim, mapEach, passConstant } from './util.js';

type ScalarFn = (x: number, call: LayerCall) => number;

function tiedNoWeights(className: string, f: ScalarFn | 'identity', wallReason?: (call: LayerCall) => string | null): LayerHandler {
  return {
    className,
    count: () => NO_COST,
    channels: {
      role: 'tied',
      wallReason,
      mapConstant: f === 'identity' ? passConstant : (values, _w, call) => mapEach((x) => f(x, call))(values),
    },
  };
}

const num = (value: unknown, fallback: number): number => (value === undefined || value === null ? fallback : Number(value));

// tfjs writes ReLU6 as ReLU with max_value 6; Keras's ReLU may also have negative_slope and threshold.
export const relu = tiedNoWeights('ReLU', (x, { config }) => {
  const max = num(config.max_value, Infinity);
  const threshold = num(config.threshold, 0);
  if (x >= max) return max;
  return x >= threshold ? x : num(config.negative_slope, 0) * (x - threshold);
});
export const leakyReLU = tiedNoWeights('LeakyReLU', (x, { config }) => (x >= 0 ? x : num(config.alpha, 0.3) * x));
export const elu = tiedNoWeights('ELU', (x, { config }) => (x > 0 ? x : num(config.alpha, 1) * (Math.exp(x) - 1)));
export const thresholdedReLU = tiedNoWeights('ThresholdedReLU', (x, { config }) => (x > num(config.theta, 1) ? x : 0));
export const activation = tiedNoWeights(
  'Activation',
  (x, { config }) => activate(config.activation, x),
  (call) => (ELEMENTWISE_ACTIVATIONS.has(String(call.config.activation)) ? null : activationWall(call.config.activation)),
);
// Dropout and noise layers are the identity at inference.
export const dropout = tiedNoWeights('Dropout', 'identity', (call) =>
  Array.isArray(call.config.noise_shape) ? 'Dropout with a noise_shape' : null,
);
export const spatialDropout2D = tiedNoWeights('SpatialDropout2D', 'identity');
export const spatialDropout1D = tiedNoWeights('SpatialDropout1D', 'identity');
export const gaussianNoise = tiedNoWeights('GaussianNoise', 'identity');
export const gaussianDropout = tiedNoWeights('GaussianDropout', 'identity');
export const alphaDropout = tiedNoWeights('AlphaDropout', 'identity');

/** Softmax normalises across channels: counted, never pruned through. */
export const softmax: LayerHandler = { className: 'Softmax', count: () => NO_COST };

/** PReLU has one α per element of its (non-shared) input axes. Pruning facet: not yet. */
export const pReLU: LayerHandler = {
  className: 'PReLU',
  count(call) {
    const x = call.inputShapes[0];
    const shared = new Set<number>(
      (Array.isArray(call.config.shared_axes) ? call.config.shared_axes : call.config.shared_axes != null ? [call.config.shared_axes] : []).map(Number),
    );
    let alpha = 1;
    for (let i = 1; i < x.length; i++) if (!shared.has(i)) alpha *= dim(x, i, call);
    return { trainable: alpha, nonTrainable: 0, macs: 0 };
  },
};
