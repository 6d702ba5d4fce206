/** BatchNormalization (tied; its γ is the importance) and LayerNormalization (tied, renormalises). */
import { sliceRoles } from '../slice.js';
import type { BaseLayerConfig, ChannelAffine, LayerCall, LayerHandler, RoleWeights, WeightSpec } from '../types.js';
import { checkAll, dim, finiteIn, sameShape } from './util.js';

/** BatchNormalization and LayerNormalization. */
export interface NormalizationConfig extends BaseLayerConfig {
  axis?: number | number[];
  epsilon?: number;
  center?: boolean;
  scale?: boolean;
  momentum?: number;
}

/** The normalised axes as non-negative indices of the input shape. */
function axes(call: LayerCall<NormalizationConfig>, fallback: number): number[] {
  const rank = call.inputShapes[0].length;
  const raw = call.config.axis ?? fallback;
  const list = Array.isArray(raw) ? raw : [raw];
  return list.map((a) => (a < 0 ? a + rank : a));
}

function featureSize(call: LayerCall<NormalizationConfig>, fallback: number): number {
  return axes(call, fallback).reduce((a, ax) => a * dim(call.inputShapes[0], ax, call), 1);
}

/**
 * BatchNormalization at inference: γ·(x − mean)/√(var + ε) + β = scale·x + shift per channel,
 * in float64 (γ = 1 without scale, β = 0 without center).
 */
function batchNormAffine(weights: RoleWeights, call: LayerCall<NormalizationConfig>): ChannelAffine | string {
  const a = axes(call, -1);
  const rank = call.inputShapes[0].length;
  if (a.length !== 1 || a[0] !== rank - 1) return `normalises axis ${JSON.stringify(call.config.axis)}, not the last (channel) axis`;
  const mean = weights.get('moving_mean');
  const variance = weights.get('moving_variance');
  if (mean === undefined || variance === undefined) return 'its weights have no moving_mean / moving_variance';
  const gamma = call.config.scale !== false ? weights.get('gamma') : undefined;
  const beta = call.config.center !== false ? weights.get('beta') : undefined;
  if (call.config.scale !== false && gamma === undefined) return 'scale is on but its weights have no gamma';
  if (call.config.center !== false && beta === undefined) return 'center is on but its weights have no beta';
  const epsilon = call.config.epsilon ?? 0.001;
  const channels = mean.data.length;
  const scale = new Float64Array(channels);
  const shift = new Float64Array(channels);
  for (let c = 0; c < channels; c++) {
    scale[c] = (gamma?.data[c] ?? 1) / Math.sqrt(variance.data[c] + epsilon);
    shift[c] = (beta?.data[c] ?? 0) - mean.data[c] * scale[c];
  }
  return { scale, shift };
}

/** γ (scale) then β (center), each over the normalised axes, as tfjs builds them; then BN's moving statistics. */
function normalizationWeights(call: LayerCall<NormalizationConfig>, movingStats: boolean): WeightSpec[] {
  const shape = axes(call, -1).map((ax) => dim(call.inputShapes[0], ax, call));
  const specs: WeightSpec[] = [];
  if (call.config.scale !== false) specs.push({ role: 'gamma', shape, trainable: true });
  if (call.config.center !== false) specs.push({ role: 'beta', shape, trainable: true });
  if (movingStats) specs.push({ role: 'moving_mean', shape, trainable: false }, { role: 'moving_variance', shape, trainable: false });
  return specs;
}

export const batchNormalization: LayerHandler<NormalizationConfig> = {
  className: 'BatchNormalization',
  validateConfig: checkAll(finiteIn('epsilon', 0, Infinity), finiteIn('momentum', 0, Infinity)),
  weights: (call) => normalizationWeights(call, true),
  outputShapes: sameShape,
  inferenceAffine: batchNormAffine,
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
      const epsilon = call.config.epsilon ?? 0.001;
      return values.map((x, c) => {
        const gamma = get('gamma', c, 1);
        const beta = get('beta', c, 0);
        if (gamma === 0) return beta;
        if (Number.isNaN(x)) return NaN;
        return (gamma * (x - get('moving_mean', c, 0))) / Math.sqrt(get('moving_variance', c, 1) + epsilon) + beta;
      });
    },
    // (x − moving_mean)/√(moving_var + ε) averages ≈ 0 over the data the statistics came from, so
    // the output averages β whatever γ is (exactly β for every input when γ = 0).
    meanOutput(weights, call) {
      const beta = call.config.center !== false ? weights.get('beta') : undefined;
      return beta === undefined ? new Float64Array(featureSize(call, -1)) : Float64Array.from(beta.data);
    },
    sliceChannels: (weights, rows) => sliceRoles(weights, { gamma: 0, beta: 0, moving_mean: 0, moving_variance: 0 }, rows.input),
  },
};

export const layerNormalization: LayerHandler<NormalizationConfig> = {
  className: 'LayerNormalization',
  weights: (call) => normalizationWeights(call, false),
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
