/** Pooling acts per channel: tied channels, no weights. */
import type { BaseLayerConfig, DataFormat, LayerHandler, Shape } from '../types.js';
import { NO_COST, channelsFirstWall, channelsLast, convLength, passConstant, tuple } from './util.js';

export interface PoolingConfig extends BaseLayerConfig {
  pool_size?: number | number[];
  strides?: number | number[] | null;
  padding?: 'valid' | 'same';
  data_format?: DataFormat;
  /** Global pooling only. */
  keepdims?: boolean;
}

type PoolShapes = (config: PoolingConfig, inputShapes: Shape[]) => Shape[] | undefined;

function pooling(className: string, outputShapes: PoolShapes): LayerHandler<PoolingConfig> {
  return {
    className,
    count: () => NO_COST,
    outputShapes,
    // A constant channel pools to the same constant (padding never enters max/avg pooling in tfjs).
    channels: { role: 'tied', wallReason: (call) => channelsFirstWall(call.config), mapConstant: passConstant },
  };
}

/** Windowed 2-D pooling, channels-last; pool_size is the default stride. */
function pool2DShapes(config: PoolingConfig, [x]: Shape[]): Shape[] | undefined {
  if (!channelsLast(config)) return undefined;
  const pool = tuple(config.pool_size, 2, 2);
  const strides = config.strides === null || config.strides === undefined ? pool : tuple(config.strides, 2, 1);
  const padding = config.padding ?? 'valid';
  return [[x[0], convLength(x[1], pool[0], padding, strides[0]), convLength(x[2], pool[1], padding, strides[1]), x[3]]];
}

/** Global pooling keeps only the batch and channel axes (keepdims: ask tfjs). */
function globalPoolShapes(config: PoolingConfig, [x]: Shape[]): Shape[] | undefined {
  if (!channelsLast(config) || config.keepdims === true) return undefined;
  return [[x[0], x[x.length - 1]]];
}

export const maxPooling2D = pooling('MaxPooling2D', pool2DShapes);
export const averagePooling2D = pooling('AveragePooling2D', pool2DShapes);
export const globalAveragePooling2D = pooling('GlobalAveragePooling2D', globalPoolShapes);
export const globalMaxPooling2D = pooling('GlobalMaxPooling2D', globalPoolShapes);
// 1-D pooling is counted but not pruned through; tfjs infers the windowed shapes.
export const maxPooling1D: LayerHandler<PoolingConfig> = { className: 'MaxPooling1D', count: () => NO_COST };
export const averagePooling1D: LayerHandler<PoolingConfig> = { className: 'AveragePooling1D', count: () => NO_COST };
export const globalAveragePooling1D: LayerHandler<PoolingConfig> = {
  className: 'GlobalAveragePooling1D',
  count: () => NO_COST,
  outputShapes: globalPoolShapes,
};
export const globalMaxPooling1D: LayerHandler<PoolingConfig> = {
  className: 'GlobalMaxPooling1D',
  count: () => NO_COST,
  outputShapes: globalPoolShapes,
};
