/**
 * Layers that move positions around but keep the channel as the fastest-varying index
 * (channels-last): Flatten, Reshape, ZeroPadding2D. After Flatten a channel c of C lives at
 * rows p·C + c for every position p, which `expand` reports so consumers slice the right rows.
 */
import type { BaseLayerConfig, DataFormat, LayerCall, LayerHandler, Shape } from '../types.js';
import { NO_COST, channelsFirstWall, channelsLast, knownProduct, passConstant, sameShape, zeroPaddingAmounts } from './util.js';

export interface FlattenConfig extends BaseLayerConfig {
  data_format?: DataFormat;
}
export interface ReshapeConfig extends BaseLayerConfig {
  target_shape: number[];
}
export interface ZeroPadding2DConfig extends BaseLayerConfig {
  /** An int, [rows, cols], or [[top, bottom], [left, right]]. */
  padding?: number | number[] | number[][];
  data_format?: DataFormat;
}
/** The declared input shape is read by the graph (batch_input_shape / input_shape / batch_shape). */
export type InputLayerConfig = BaseLayerConfig;

function known(shape: Shape): shape is number[] {
  return shape.slice(1).every((d) => d !== null);
}

function positionsBeforeChannel(shape: Shape): number {
  return (shape.slice(1, -1) as number[]).reduce((a, d) => a * d, 1);
}

export const flatten: LayerHandler<FlattenConfig> = {
  className: 'Flatten',
  count: () => NO_COST,
  outputShapes: (_config, [x]) => [[x[0], knownProduct(x.slice(1))]],
  channels: {
    role: 'tied',
    wallReason: (call) => channelsFirstWall(call.config) ?? (known(call.inputShapes[0]) ? null : 'input has unknown dimensions'),
    expand: (call) => positionsBeforeChannel(call.inputShapes[0]),
    mapConstant: passConstant,
  },
};

/** Reshape keeps channels intact when the last axis is unchanged, or when it flattens everything. */
function reshapeKind(call: LayerCall<unknown>): 'keep-last' | 'flatten' | null {
  const x = call.inputShapes[0];
  const y = call.outputShapes[0];
  if (!known(x) || !known(y)) return null;
  if (y[y.length - 1] === x[x.length - 1]) return 'keep-last';
  if (y.length === 2) return 'flatten';
  return null;
}

export const reshape: LayerHandler<ReshapeConfig> = {
  className: 'Reshape',
  count: () => NO_COST,
  outputShapes(config, [x]) {
    const target = config.target_shape ?? [];
    const unknownAt = target.indexOf(-1);
    if (unknownAt < 0) return [[x[0], ...target]];
    // One -1 in target_shape takes whatever size is left over.
    const known = knownProduct(x.slice(1));
    const rest = target.reduce((a, d, i) => (i === unknownAt ? a : a * d), 1);
    const out: Shape = [...target];
    out[unknownAt] = known === null ? null : known / rest;
    return [[x[0], ...out]];
  },
  channels: {
    role: 'tied',
    wallReason: (call) => (reshapeKind(call) === null ? 'reshape moves the channel axis' : null),
    expand: (call) => (reshapeKind(call) === 'flatten' ? positionsBeforeChannel(call.inputShapes[0]) : 1),
    mapConstant: passConstant,
    rewriteConfig(config, change) {
      // Only the last target dim holds channels; `change` is the new width of the output's last axis.
      const target: number[] = [...(config.target_shape ?? [])];
      const last = target.length - 1;
      if (last >= 0 && target[last] !== -1) target[last] = change.newChannels;
      return { ...config, target_shape: target };
    },
  },
};

export const zeroPadding2D: LayerHandler<ZeroPadding2DConfig> = {
  className: 'ZeroPadding2D',
  count: () => NO_COST,
  outputShapes(config, [x]) {
    if (!channelsLast(config)) return undefined;
    const [[top, bottom], [left, right]] = zeroPaddingAmounts(config.padding);
    return [[x[0], x[1] === null ? null : x[1] + top + bottom, x[2] === null ? null : x[2] + left + right, x[3]]];
  },
  // The zeros it adds keep a zero channel zero but make any other constant non-constant.
  channels: {
    role: 'tied',
    wallReason: (call) => channelsFirstWall(call.config),
    mapConstant: (values) => values.map((v) => (v === 0 ? 0 : NaN)),
  },
};

export const inputLayer: LayerHandler<InputLayerConfig> = {
  className: 'InputLayer',
  count: () => NO_COST,
  // The graph gives an input layer its declared shape as its one input.
  outputShapes: sameShape,
  channels: { role: 'source' },
};
