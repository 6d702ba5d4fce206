/** Embedding and recurrent layers: parameter formulas (MACs not counted). */
import type { BaseLayerConfig, LayerCall, LayerHandler } from '../types.js';
import { checkAll, dim, kernelAndBias, knownActivation, positiveInt, trainable, usesBias } from './util.js';

export interface EmbeddingConfig extends BaseLayerConfig {
  input_dim: number;
  output_dim: number;
}

/** SimpleRNN, LSTM and GRU. */
export interface RecurrentConfig extends BaseLayerConfig {
  units: number;
  use_bias?: boolean;
  /** GRU (Keras): separate input and recurrent biases. */
  reset_after?: boolean;
}

export const embedding: LayerHandler<EmbeddingConfig> = {
  className: 'Embedding',
  validateConfig: checkAll(positiveInt('input_dim'), positiveInt('output_dim')),
  weights: (call) => [trainable('embeddings', [call.config.input_dim, call.config.output_dim])],
  // Each integer position becomes an output_dim vector.
  outputShapes: (config, [x]) => [[...x, config.output_dim]],
  count: (call) => ({ trainable: call.config.input_dim * call.config.output_dim, nonTrainable: 0, macs: 0 }),
};

/** `gates` blocks of (input + recurrent) kernels plus biases. */
function recurrent(className: string, gates: number): LayerHandler<RecurrentConfig> {
  return {
    className,
    validateConfig: checkAll(positiveInt('units'), knownActivation(), knownActivation('recurrent_activation')),
    inputRank: 3,
    // tfjs's cells: kernel, recurrent_kernel, bias (one bias block per gate: tfjs has no reset_after).
    weights(call) {
      const width = gates * call.config.units;
      const [kernel, ...bias] = kernelAndBias('kernel', [dim(call.inputShapes[0], -1, call), width], call.config, width);
      return [kernel, trainable('recurrent_kernel', [call.config.units, width]), ...bias];
    },
    count(call: LayerCall<RecurrentConfig>) {
      const units = call.config.units;
      const inputs = dim(call.inputShapes[0], -1, call);
      // Keras GRU with reset_after keeps separate input and recurrent biases; tfjs has only one.
      const biasBlocks = className === 'GRU' && call.config.reset_after === true ? 2 : 1;
      const bias = usesBias(call.config) ? biasBlocks * gates * units : 0;
      return { trainable: gates * units * (inputs + units) + bias, nonTrainable: 0, macs: 0 };
    },
  };
}

export const simpleRNN = recurrent('SimpleRNN', 1);
export const lstm = recurrent('LSTM', 4);
export const gru = recurrent('GRU', 3);
