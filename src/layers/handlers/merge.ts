/**
 * Merge layers: no weights. Elementwise merges tie the channels of all their inputs (removing a
 * channel removes it from every input); Concatenate on the channel axis lays its inputs side by side.
 */
import type { BaseLayerConfig, LayerCall, LayerHandler } from '../types.js';
import { NO_COST, sameShape } from './util.js';

type Combine = (values: number[]) => number;

export interface ConcatenateConfig extends BaseLayerConfig {
  axis?: number | null;
}

export interface DotConfig extends BaseLayerConfig {
  axes?: number | number[];
  normalize?: boolean;
}

/** Channel-axis check shared by the merges: they must act on the last axis with equal widths. */
function lastAxis(call: LayerCall<unknown>): number {
  return call.inputShapes[0].length - 1;
}

function elementwise(className: string, combine: Combine): LayerHandler<BaseLayerConfig> {
  return {
    className,
    count: () => NO_COST,
    // Equal input shapes give that shape; broadcasting inputs are left to tfjs.
    outputShapes: (config, inputShapes) =>
      inputShapes.every((s) => JSON.stringify(s) === JSON.stringify(inputShapes[0])) ? sameShape(config, inputShapes) : undefined,
    channels: {
      role: 'merge',
      combine: 'tied',
      wallReason(call) {
        const widths = new Set(call.inputShapes.map((s) => s[s.length - 1]));
        return widths.size === 1 ? null : 'inputs differ on the channel axis (broadcasting)';
      },
      mergeConstants(inputs) {
        const width = inputs[0].length;
        const out = new Float64Array(width);
        for (let r = 0; r < width; r++) out[r] = combine(inputs.map((v) => v[r]));
        return out;
      },
    },
  };
}

const known = (values: number[]): boolean => values.every((v) => !Number.isNaN(v));

export const add = elementwise('Add', (v) => (known(v) ? v.reduce((a, b) => a + b, 0) : NaN));
export const subtract = elementwise('Subtract', (v) => (known(v) ? v[0] - v[1] : NaN));
// A zero factor makes the product constant whatever the other inputs are.
export const multiply = elementwise('Multiply', (v) => (v.some((x) => x === 0) ? 0 : known(v) ? v.reduce((a, b) => a * b, 1) : NaN));
export const average = elementwise('Average', (v) => (known(v) ? v.reduce((a, b) => a + b, 0) / v.length : NaN));
export const maximum = elementwise('Maximum', (v) => (known(v) ? Math.max(...v) : NaN));
export const minimum = elementwise('Minimum', (v) => (known(v) ? Math.min(...v) : NaN));

export const concatenate: LayerHandler<ConcatenateConfig> = {
  className: 'Concatenate',
  count: () => NO_COST,
  outputShapes(config, inputShapes) {
    const out = [...inputShapes[0]];
    const rank = out.length;
    const axis = config.axis === undefined || config.axis === null ? rank - 1 : (config.axis + rank) % rank;
    const sizes = inputShapes.map((s) => s[axis]);
    out[axis] = sizes.every((d): d is number => d !== null) ? sizes.reduce((a, d) => a + d, 0) : null;
    return [out];
  },
  channels: {
    role: 'merge',
    combine: 'concat',
    wallReason(call) {
      const rank = call.inputShapes[0].length;
      const axis = call.config.axis ?? -1;
      return (axis + rank) % rank === lastAxis(call) ? null : `concatenates on axis ${axis}, not the channel axis`;
    },
    mergeConstants: (inputs) => {
      const out = new Float64Array(inputs.reduce((a, v) => a + v.length, 0));
      let offset = 0;
      for (const v of inputs) {
        out.set(v, offset);
        offset += v.length;
      }
      return out;
    },
  },
};

/** Dot mixes all channels: a wall. */
export const dot: LayerHandler<DotConfig> = { className: 'Dot', count: () => NO_COST };
