/**
 * Removing single-input layers from a topology (a folded BatchNorm, a fused activation, an
 * inference no-op): every reference to a removed layer's output is pointed at what it read.
 * Pure JSON surgery; which layers go is decided by the rewrite that calls it.
 */
import type { LayerGraph } from '../model/graph.js';
import type { LayerJson } from '../model/topology.js';

/** A layers-list holder: the top-level topology or a nested model's layer entry. */
export interface Container {
  class_name: string;
  // Keras configs are open-ended JSON (Sequential may even be a bare layers list in old files).
  config: LayerJson[] | Record<string, unknown>;
}

/** The one tensor reference a single-input, single-call layer reads (`[layer, node, tensor, kwargs]`). */
export function inboundRef(layer: LayerJson): unknown[] {
  const firstCall: unknown = layer.inbound_nodes?.[0];
  const ref: unknown = Array.isArray(firstCall) ? (firstCall as unknown[])[0] : undefined;
  return Array.isArray(ref) ? ref : [];
}

/**
 * Drops the folded BNs from a container's layers list; in a functional model, every reference to
 * a BN's output (inbound_nodes, output_layers) is pointed at what the BN read instead.
 */
export function removeLayers(container: Container, kind: LayerGraph['kind'], removed: Map<string, unknown[]>): void {
  const nameOf = (l: LayerJson): string | undefined => l.name ?? (l.config?.name as string | undefined);
  if (Array.isArray(container.config)) {
    container.config = container.config.filter((l) => !removed.has(nameOf(l) ?? ''));
    return;
  }
  const layers = (container.config.layers as LayerJson[]).filter((l) => !removed.has(nameOf(l) ?? ''));
  container.config.layers = layers;
  if (kind !== 'functional') return;

  // Follows chains (a folded BN read by another folded BN cannot happen today, but stays correct).
  const resolve = (ref: unknown[]): unknown[] => {
    let source = ref;
    for (let hops = 0; typeof source[0] === 'string' && removed.has(source[0]) && hops <= removed.size; hops++) {
      source = removed.get(source[0])!;
    }
    return source;
  };
  const rewire = (ref: unknown, keepKwargs: boolean): unknown => {
    if (!Array.isArray(ref) || typeof ref[0] !== 'string' || !removed.has(ref[0])) return ref;
    const source = resolve(ref);
    return keepKwargs ? [source[0], source[1], source[2], ref[3] ?? {}] : [source[0], source[1], source[2]];
  };
  for (const layer of layers) {
    if (!Array.isArray(layer.inbound_nodes)) continue;
    layer.inbound_nodes = layer.inbound_nodes.map((call: unknown) => (Array.isArray(call) ? call.map((ref) => rewire(ref, true)) : call));
  }
  const outputs: unknown = container.config.output_layers;
  if (Array.isArray(outputs)) {
    // A single output may be written unwrapped: ["name", 0, 0].
    container.config.output_layers = typeof outputs[0] === 'string' ? rewire(outputs, false) : outputs.map((ref) => rewire(ref, false));
  }
}
