/** Dense: free output channels (units); reads the last axis of any rank (per position on rank 3+, incl. after Flatten). */
import { sliceRoles } from '../slice.js';
import type { BaseLayerConfig, LayerHandler } from '../types.js';
import {
  checkAll,
  knownActivation,
  positiveInt,
  activationWall,
  biasAffineFold,
  fusesActivationWhenLinear,
  dim,
  kernelAndBias,
  positions,
  usesBias,
  type BiasedConfig,
} from './util.js';

export interface DenseConfig extends BaseLayerConfig, BiasedConfig {
  units: number;
}

export const dense: LayerHandler<DenseConfig> = {
  className: 'Dense',
  validateConfig: checkAll(positiveInt('units'), knownActivation()),
  weights: (call) => kernelAndBias('kernel', [dim(call.inputShapes[0], -1, call), call.config.units], call.config, call.config.units),
  // kernel [in, out]
  foldsAffine: biasAffineFold('kernel', [-1]),
  fusesActivation: fusesActivationWhenLinear,
  outputShapes: (config, [x]) => [[...x.slice(0, -1), config.units]],
  count(call) {
    const x = call.inputShapes[0];
    const inputs = dim(x, -1, call);
    const units = call.config.units;
    const kernel = inputs * units;
    // Dense on rank-3+ input applies the same kernel at every position.
    return { trainable: kernel + (usesBias(call.config) ? units : 0), nonTrainable: 0, macs: kernel * positions(x.slice(1, -1)) };
  },
  channels: {
    role: 'free',
    acceptsExpandedInput: true,
    outputWall: (call) => activationWall(call.config.activation),
    // kernel: [in, out]
    sliceOutputs: (weights, keep) => sliceRoles(weights, { kernel: 1, bias: 0 }, keep),
    sliceInputs: (weights, rows) => sliceRoles(weights, { kernel: 0 }, rows),
    foldConstantInput(weights, rowValues) {
      const kernel = weights.get('kernel')!;
      const [rows, units] = kernel.shape;
      const delta = new Float64Array(units);
      for (let r = 0; r < rows; r++) {
        const v = rowValues[r];
        if (v === 0) continue;
        for (let j = 0; j < units; j++) delta[j] += v * kernel.data[r * units + j];
      }
      return delta;
    },
    rewriteConfig: (config, change) => ({ ...config, units: change.newChannels }),
  },
};
