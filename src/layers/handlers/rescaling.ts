/**
 * Rescaling (Keras preprocessing, often a model's first layer): x·scale + offset on every element.
 * With scalar scale and offset its output channels are its input's (tied, no weights), so it never
 * stops pruning around it. Per-channel lists would have to be sliced with the channels: those stay
 * whole (a wall naming why).
 */
import type { BaseLayerConfig, LayerHandler } from '../types.js';
import { NO_COST, mapEach, sameShape } from './util.js';

export interface RescalingConfig extends BaseLayerConfig {
  scale?: number | number[];
  offset?: number | number[];
}

const scalar = (value: number | number[] | undefined, fallback: number): number | undefined =>
  value === undefined ? fallback : typeof value === 'number' ? value : undefined;

export const rescaling: LayerHandler<RescalingConfig> = {
  className: 'Rescaling',
  validateConfig: (config) => {
    for (const key of ['scale', 'offset'] as const) {
      const value = config[key];
      const values = Array.isArray(value) ? value : value === undefined ? [] : [value];
      if (!values.every((v) => typeof v === 'number' && Number.isFinite(v))) return `${key} must be a finite number`;
    }
    return null;
  },
  count: () => NO_COST,
  outputShapes: sameShape,
  channels: {
    role: 'tied',
    wallReason: ({ config }) =>
      scalar(config.scale, 1) === undefined || scalar(config.offset, 0) === undefined ? 'per-channel scale/offset lists' : null,
    mapConstant: (values, _weights, { config }) =>
      mapEach((x) => x * (scalar(config.scale, 1) ?? NaN) + (scalar(config.offset, 0) ?? NaN))(values),
  },
};
