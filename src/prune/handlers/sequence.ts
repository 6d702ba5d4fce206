/** Embedding and recurrent layers: parameter formulas (MACs not counted). */
import type { LayerCall, LayerHandler } from '../types.js';
import { dim, usesBias } from './util.js';

export const embedding: LayerHandler = {
  className: 'Embedding',
  // Each integer position becomes an output_dim vector.
  outputShapes: (config, [x]) => [[...x, Number(config.output_dim)]],
  count: (call) => ({ trainable: Number(call.config.input_dim) * Number(call.config.output_dim), nonTrainable: 0, macs: 0 }),
};

/** `gates` blocks of (input + recurrent) kernels plus biases. */
function recurrent(className: string, gates: number): LayerHandler {
  return {
    className,
    count(call: LayerCall) {
      const units = Number(call.config.units);
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
