/** BatchNormalization (tied; its γ is the importance) and LayerNormalization (tied, renormalises). */
import { sliceRoles } from '../slice.js';
import type { LayerCall, LayerHandler } from '../types.js';
import { dim, sameShape } from './util.js';

/** The normalised axes as non-negative indices of the input shape. */
function axes(call: LayerCall, fallback: number): number[] {
  const rank = call.inputShapes[0].length;
  const raw: unknown = call.config.axis ?? fallback;
  const list = Array.isArray(raw) ? raw.map(Number) : [Number(raw)];
  return list.map((a) => (a < 0 ? a + rank : a));
}

function featureSize(call: LayerCall, fallback: number): number {
  return axes(call, fallback).reduce((a, ax) => a * dim(call.inputShapes[0], ax, call), 1);
}

export const batchNormalization: LayerHandler = {
  className: 'BatchNormalization',
  outputShapes: sameShape,
  count(call) {
    const c = featureSize(call, -1);
    const affine = (call.config.scale !== false ? c : 0) + (call.config.center !== false ? c : 0);
    // moving_mean and moving_variance are never trained.
    return { trainable: affine, nonTrainable: 2 * c, macs: 0 };
  },
  channels: {
    role: 'tied',
    wallReason(call) {
      const a = axes(call, -1);
      const rank = call.inputShapes[0].length;
      return a.length === 1 && a[0] === rank - 1 ? null : `normalises axis ${JSON.stringify(call.config.axis)}, not the channel axis`;
    },
    importanceRole: (call) => (call.config.scale !== false ? 'gamma' : null),
    absorbsInputShift: { role: 'moving_mean', sign: -1 },
    // γ = 0 makes the output β whatever the input; otherwise a constant input stays constant.
    mapConstant(values, weights, call) {
      const get = (role: string, c: number, fallback: number): number => weights.get(role)?.data[c] ?? fallback;
      const epsilon = Number(call.config.epsilon ?? 0.001);
      return values.map((x, c) => {
        const gamma = get('gamma', c, 1);
        const beta = get('beta', c, 0);
        if (gamma === 0) return beta;
        if (Number.isNaN(x)) return NaN;
        return (gamma * (x - get('moving_mean', c, 0))) / Math.sqrt(get('moving_variance', c, 1) + epsilon) + beta;
      });
    },
    sliceChannels: (weights, rows) =>
      sliceRoles(weights, { gamma: 0, beta: 0, moving_mean: 0, moving_variance: 0 }, rows.input),
  },
};

export const layerNormalization: LayerHandler = {
  className: 'LayerNormalization',
  outputShapes: sameShape,
  count(call) {
    const c = featureSize(call, -1);
    return { trainable: (call.config.scale !== false ? c : 0) + (call.config.center !== false ? c : 0), nonTrainable: 0, macs: 0 };
  },
  channels: {
    role: 'tied',
    wallReason(call) {
      const a = axes(call, -1);
      const rank = call.inputShapes[0].length;
      return a.length === 1 && a[0] === rank - 1 ? null : `normalises axes ${JSON.stringify(call.config.axis)}, not only the channel axis`;
    },
    // Mean and variance are taken over the channels, so dropping any channel changes the others.
    inexact: (call) => `LayerNormalization '${call.name}' renormalises over the kept channels: outputs change even for dead channels`,
    sliceChannels: (weights, rows) => sliceRoles(weights, { gamma: 0, beta: 0 }, rows.input),
  },
};
