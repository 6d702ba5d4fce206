/** Pooling acts per channel: tied channels, no weights. */
import type { LayerHandler } from '../types.js';
import { NO_COST, channelsFirstWall, passConstant } from './util.js';

function pooling(className: string): LayerHandler {
  return {
    className,
    count: () => NO_COST,
    // A constant channel pools to the same constant (padding never enters max/avg pooling in tfjs).
    channels: { role: 'tied', wallReason: (call) => channelsFirstWall(call.config), mapConstant: passConstant },
  };
}

export const maxPooling2D = pooling('MaxPooling2D');
export const averagePooling2D = pooling('AveragePooling2D');
export const globalAveragePooling2D = pooling('GlobalAveragePooling2D');
export const globalMaxPooling2D = pooling('GlobalMaxPooling2D');
export const maxPooling1D: LayerHandler = { className: 'MaxPooling1D', count: () => NO_COST };
export const averagePooling1D: LayerHandler = { className: 'AveragePooling1D', count: () => NO_COST };
export const globalAveragePooling1D: LayerHandler = { className: 'GlobalAveragePooling1D', count: () => NO_COST };
export const globalMaxPooling1D: LayerHandler = { className: 'GlobalMaxPooling1D', count: () => NO_COST };
