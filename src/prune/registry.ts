/**
 * The one registry of per-layer handlers, keyed by Keras class name.
 * Adding a layer type = one handler (in handlers/) + one line in HANDLERS below.
 */
import { InputError } from '../errors.js';
import * as conv from './handlers/conv.js';
import * as dense from './handlers/dense.js';
import * as elementwise from './handlers/elementwise.js';
import * as merge from './handlers/merge.js';
import * as normalization from './handlers/normalization.js';
import * as pooling from './handlers/pooling.js';
import * as reshape from './handlers/reshape.js';
import * as sequence from './handlers/sequence.js';
import type { LayerHandler } from './types.js';

export type { ChannelChange, ChannelFacet, LayerCall, LayerCost, LayerHandler, RoleWeights } from './types.js';

const HANDLERS: LayerHandler[] = [
  conv.conv2D,
  conv.conv1D,
  conv.conv3D,
  conv.conv2DTranspose,
  conv.depthwiseConv2D,
  conv.separableConv2D,
  dense.dense,
  normalization.batchNormalization,
  normalization.layerNormalization,
  elementwise.relu,
  elementwise.leakyReLU,
  elementwise.elu,
  elementwise.thresholdedReLU,
  elementwise.activation,
  elementwise.dropout,
  elementwise.spatialDropout1D,
  elementwise.spatialDropout2D,
  elementwise.gaussianNoise,
  elementwise.gaussianDropout,
  elementwise.alphaDropout,
  elementwise.softmax,
  elementwise.pReLU,
  elementwise.upSampling2D,
  elementwise.cropping2D,
  pooling.maxPooling2D,
  pooling.averagePooling2D,
  pooling.globalAveragePooling2D,
  pooling.globalMaxPooling2D,
  pooling.maxPooling1D,
  pooling.averagePooling1D,
  pooling.globalAveragePooling1D,
  pooling.globalMaxPooling1D,
  reshape.flatten,
  reshape.reshape,
  reshape.zeroPadding2D,
  reshape.inputLayer,
  merge.add,
  merge.subtract,
  merge.multiply,
  merge.average,
  merge.maximum,
  merge.minimum,
  merge.concatenate,
  merge.dot,
  sequence.embedding,
  sequence.simpleRNN,
  sequence.lstm,
  sequence.gru,
];

const registry = new Map<string, LayerHandler>();

/** Registers (or replaces) the handler for its class name. */
export function registerHandler(handler: LayerHandler): void {
  registry.set(handler.className, handler);
}

for (const h of HANDLERS) {
  if (registry.has(h.className)) throw new InputError(`two handlers registered for ${h.className}`);
  registerHandler(h);
}

/** The handler for a Keras class name, or undefined (unknown layers are walls and counted generically). */
export function getHandler(className: string): LayerHandler | undefined {
  return registry.get(className);
}

/** Every registered handler (for conformance tests). */
export function allHandlers(): LayerHandler[] {
  return [...registry.values()];
}
