/**
 * Which layer classes slim can prune through, from the registry itself (so the README's table
 * can be checked against it): the lists are by channel role.
 */
import type { LayerRegistry } from './registry.js';

export interface LayerSupport {
  /** Layers whose output channels slim removes (and whose input it slices): conv, dense. */
  prunable: string[];
  /** Layers the channel choice passes through (BN, activations, pooling, Add, Concatenate, depthwise). */
  'passes channels': string[];
  /** Known layers that mix or reshape channels: the channels around them are kept whole. */
  wall: string[];
}

export function layerSupport(registry: LayerRegistry): LayerSupport {
  const support: LayerSupport = { prunable: [], 'passes channels': [], wall: [] };
  for (const handler of registry.all()) {
    const role = handler.channels?.role;
    if (role === 'source') continue; // InputLayer: not a layer one prunes
    if (role === 'free') support.prunable.push(handler.className);
    else if (role === 'tied' || role === 'merge') support['passes channels'].push(handler.className);
    else support.wall.push(handler.className);
  }
  return support;
}
