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

/** Keras's snake_case of a class name: Conv2D → conv2d, BatchNormalization → batch_normalization, ReLU → re_lu. */
export function kerasSnakeCase(className: string): string {
  return className
    .replace(/\W+/g, '')
    .replace(/(.)([A-Z][a-z]+)/g, '$1_$2')
    .replace(/([a-z])([A-Z])/g, '$1_$2')
    .toLowerCase();
}

export interface Keras3LayerPath {
  layer: LayerJson;
  /** Group of the layer's variables in model.weights.h5, without the trailing `/vars`. */
  path: string;
}

const isModel = (layer: LayerJson): boolean => Array.isArray(layer.config.layers);

/**
 * Where Keras 3 keeps each leaf layer's variables in model.weights.h5. Keras does not use layer
 * names there (they are not reproducible): a model's layers list is stored as
 * `layers/<snake_case class>`, the second layer of a class as `…_1`, the third `…_2`, in layer
 * order; a nested model's layers sit under its own group the same way.
 */
export function keras3LayerPaths(layers: LayerJson[], prefix = ''): Keras3LayerPath[] {
  const seen = new Map<string, number>();
  return layers.flatMap((layer) => {
    // tfjs calls Keras's Functional class Model.
    const base = kerasSnakeCase(layer.class_name === 'Model' ? 'Functional' : layer.class_name);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    const path = `${prefix}layers/${count === 0 ? base : `${base}_${count}`}`;
    return isModel(layer) ? keras3LayerPaths(layer.config.layers as LayerJson[], `${path}/`) : [{ layer, path }];
  });
}

/** The layout slim wrote before it followed Keras: `layers/<layer name>`; still read. */
export function layerNamePaths(layers: LayerJson[], prefix = ''): Keras3LayerPath[] {
  return layers.flatMap((layer) => {
    const path = `${prefix}layers/${String(layer.config.name ?? layer.name)}`;
    return isModel(layer) ? layerNamePaths(layer.config.layers as LayerJson[], `${path}/`) : [{ layer, path }];
  });
}
