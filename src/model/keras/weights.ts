/**
 * Which weights a Keras layer holds, in Keras's own order (the order both HDF5 layouts store them in),
 * under the names tfjs gives them. Only layers slim can use are listed; a layer of another class
 * that carries weights is refused by the reader rather than guessed at.
 */
import type { LayerJson } from '../topology.js';

type Config = LayerJson['config'];

const bias = (config: Config): string[] => (config.use_bias === false ? [] : ['bias']);

const WEIGHT_NAMES: Record<string, (config: Config) => string[]> = {
  Dense: (c) => ['kernel', ...bias(c)],
  Conv1D: (c) => ['kernel', ...bias(c)],
  Conv2D: (c) => ['kernel', ...bias(c)],
  Conv3D: (c) => ['kernel', ...bias(c)],
  Conv2DTranspose: (c) => ['kernel', ...bias(c)],
  Conv3DTranspose: (c) => ['kernel', ...bias(c)],
  DepthwiseConv2D: (c) => ['depthwise_kernel', ...bias(c)],
  SeparableConv1D: (c) => ['depthwise_kernel', 'pointwise_kernel', ...bias(c)],
  SeparableConv2D: (c) => ['depthwise_kernel', 'pointwise_kernel', ...bias(c)],
  BatchNormalization: (c) => [
    ...(c.scale === false ? [] : ['gamma']),
    ...(c.center === false ? [] : ['beta']),
    'moving_mean',
    'moving_variance',
  ],
  LayerNormalization: (c) => [...(c.scale === false ? [] : ['gamma']), ...(c.center === false ? [] : ['beta'])],
  Embedding: () => ['embeddings'],
  PReLU: () => ['alpha'],
};

/** Weight names of a layer in Keras order, or undefined when slim does not know the class's weights. */
export function weightNamesOf(layer: LayerJson): string[] | undefined {
  return WEIGHT_NAMES[layer.class_name]?.(layer.config);
}
