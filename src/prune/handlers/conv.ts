/** Convolutions: Conv2D prunes (free channels); the others count only for now. */
import { tuple } from '../../model/graph.js';
import { sliceRoles } from '../slice.js';
import type { LayerCall, LayerHandler } from '../types.js';
import { activationWall, channelsFirstWall, dim, positions, usesBias } from './util.js';

function spatialOut(call: LayerCall): number {
  const out = call.outputShapes[0];
  return positions(out.slice(1, -1));
}

export const conv2D: LayerHandler = {
  className: 'Conv2D',
  count(call) {
    const { config } = call;
    const cin = dim(call.inputShapes[0], -1, call);
    const [kh, kw] = tuple(config.kernel_size, 2, 1);
    const groups = Number(config.groups ?? 1);
    const filters = Number(config.filters);
    const kernel = kh * kw * (cin / groups) * filters;
    return { trainable: kernel + (usesBias(config) ? filters : 0), nonTrainable: 0, macs: kernel * spatialOut(call) };
  },
  channels: {
    role: 'free',
    wallReason(call) {
      if (Number(call.config.groups ?? 1) !== 1) return 'grouped convolution';
      return channelsFirstWall(call.config) ?? activationWall(call.config.activation);
    },
    // kernel: [kh, kw, in, out]
    sliceOutputs: (weights, keep) => sliceRoles(weights, { kernel: 3, bias: 0 }, keep),
    sliceInputs: (weights, rows) => sliceRoles(weights, { kernel: 2 }, rows),
    foldConstantInput(weights, rowValues, call) {
      const [kh, kw] = tuple(call.config.kernel_size, 2, 1);
      if (call.config.padding === 'same' && kh * kw > 1) return "'same' padding: the border sees zeros, not the constant";
      if (!usesBias(call.config)) return 'has no bias to absorb the constant';
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

export const conv1D: LayerHandler = {
  className: 'Conv1D',
  count(call) {
    const { config } = call;
    const cin = dim(call.inputShapes[0], -1, call);
    const [k] = tuple(config.kernel_size, 1, 1);
    const filters = Number(config.filters);
    const kernel = k * cin * filters;
    return { trainable: kernel + (usesBias(config) ? filters : 0), nonTrainable: 0, macs: kernel * spatialOut(call) };
  },
};

export const conv3D: LayerHandler = {
  className: 'Conv3D',
  count(call) {
    const { config } = call;
    const cin = dim(call.inputShapes[0], -1, call);
    const [kd, kh, kw] = tuple(config.kernel_size, 3, 1);
    const filters = Number(config.filters);
    const kernel = kd * kh * kw * cin * filters;
    return { trainable: kernel + (usesBias(config) ? filters : 0), nonTrainable: 0, macs: kernel * spatialOut(call) };
  },
};

export const conv2DTranspose: LayerHandler = {
  className: 'Conv2DTranspose',
  count(call) {
    const { config } = call;
    const cin = dim(call.inputShapes[0], -1, call);
    const [kh, kw] = tuple(config.kernel_size, 2, 1);
    const filters = Number(config.filters);
    const kernel = kh * kw * cin * filters;
    // Every input position is scattered through the whole kernel.
    const inPositions = positions(call.inputShapes[0].slice(1, -1));
    return { trainable: kernel + (usesBias(config) ? filters : 0), nonTrainable: 0, macs: kernel * inPositions };
  },
};

export const depthwiseConv2D: LayerHandler = {
  className: 'DepthwiseConv2D',
  count(call) {
    const { config } = call;
    const cin = dim(call.inputShapes[0], -1, call);
    const [kh, kw] = tuple(config.kernel_size, 2, 1);
    const outChannels = cin * Number(config.depth_multiplier ?? 1);
    const kernel = kh * kw * outChannels;
    return { trainable: kernel + (usesBias(config) ? outChannels : 0), nonTrainable: 0, macs: kernel * spatialOut(call) };
  },
};

export const separableConv2D: LayerHandler = {
  className: 'SeparableConv2D',
  count(call) {
    const { config } = call;
    const cin = dim(call.inputShapes[0], -1, call);
    const [kh, kw] = tuple(config.kernel_size, 2, 1);
    const mid = cin * Number(config.depth_multiplier ?? 1);
    const filters = Number(config.filters);
    const depthwise = kh * kw * mid;
    const pointwise = mid * filters;
    return {
      trainable: depthwise + pointwise + (usesBias(config) ? filters : 0),
      nonTrainable: 0,
      macs: (depthwise + pointwise) * spatialOut(call),
    };
  },
};
