/**
 * The registry of per-layer handlers, keyed by Keras class name. It is passed in: graph building,
 * channel analysis, plan application, counting and BN folding take a registry (default: the one
 * holding every built-in handler), so a custom layer is registered in a registry of one's own
 * instead of in a global.
 * Adding a built-in layer type = one handler (in handlers/) + one line in builtIn() below.
 */
import * as conv from './handlers/conv.js';
import * as dense from './handlers/dense.js';
import * as elementwise from './handlers/elementwise.js';
import * as merge from './handlers/merge.js';
import * as normalization from './handlers/normalization.js';
import * as pooling from './handlers/pooling.js';
import * as reshape from './handlers/reshape.js';
import { rescaling } from './handlers/rescaling.js';
import * as sequence from './handlers/sequence.js';
import type { LayerHandler } from './types.js';

export class LayerRegistry {
  private readonly handlers = new Map<string, LayerHandler>();

  constructor(handlers: Iterable<LayerHandler> = []) {
    for (const h of handlers) {
      if (this.handlers.has(h.className)) throw new Error(`two handlers registered for ${h.className}`);
      this.handlers.set(h.className, h);
    }
  }

  /**
   * Registers (or replaces) the handler for its class name. A handler is typed by its own Keras
   * config; the registry stores it over the open-ended config JSON (this is the one cast: the
   * graph hands each handler the config of its own class).
   */
  register<C>(handler: LayerHandler<C>): this {
    this.handlers.set(handler.className, handler as unknown as LayerHandler);
    return this;
  }

  /** The handler for a Keras class name, or undefined (unknown layers are walls and counted generically). */
  get(className: string): LayerHandler | undefined {
    return this.handlers.get(className);
  }

  /** Every registered handler, in registration order. */
  all(): LayerHandler[] {
    return [...this.handlers.values()];
  }

  /** A new registry with the same handlers, to extend without touching this one. */
  copy(): LayerRegistry {
    return new LayerRegistry(this.handlers.values());
  }
}

/** A registry of every built-in handler (two for one class name is a programming error). */
function builtIn(): LayerRegistry {
  const registry = new LayerRegistry();
  const add = <C>(handler: LayerHandler<C>): void => {
    if (registry.get(handler.className) !== undefined) throw new Error(`two handlers registered for ${handler.className}`);
    registry.register(handler);
  };
  add(conv.conv2D);
  add(conv.conv1D);
  add(conv.conv3D);
  add(conv.conv2DTranspose);
  add(conv.depthwiseConv2D);
  add(conv.separableConv2D);
  add(dense.dense);
  add(normalization.batchNormalization);
  add(normalization.layerNormalization);
  add(elementwise.relu);
  add(elementwise.leakyReLU);
  add(elementwise.elu);
  add(elementwise.thresholdedReLU);
  add(elementwise.activation);
  add(elementwise.dropout);
  add(elementwise.spatialDropout1D);
  add(elementwise.spatialDropout2D);
  add(elementwise.gaussianNoise);
  add(elementwise.gaussianDropout);
  add(elementwise.alphaDropout);
  add(elementwise.softmax);
  add(elementwise.pReLU);
  add(elementwise.upSampling2D);
  add(elementwise.cropping2D);
  add(pooling.maxPooling2D);
  add(pooling.averagePooling2D);
  add(pooling.globalAveragePooling2D);
  add(pooling.globalMaxPooling2D);
  add(pooling.maxPooling1D);
  add(pooling.averagePooling1D);
  add(pooling.globalAveragePooling1D);
  add(pooling.globalMaxPooling1D);
  add(reshape.flatten);
  add(reshape.reshape);
  add(reshape.zeroPadding2D);
  add(reshape.inputLayer);
  add(rescaling);
  add(merge.add);
  add(merge.subtract);
  add(merge.multiply);
  add(merge.average);
  add(merge.maximum);
  add(merge.minimum);
  add(merge.concatenate);
  add(merge.dot);
  add(sequence.embedding);
  add(sequence.simpleRNN);
  add(sequence.lstm);
  add(sequence.gru);
  return registry;
}

/** Every built-in handler. Do not register into it: copy() it, or build a LayerRegistry of your own. */
export const defaultRegistry = builtIn();
