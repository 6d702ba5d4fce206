/**
 * Inference rewrites that take layers out of the graph without changing what it computes:
 *   - dropNoOps: layers that are the identity at inference (Dropout, SpatialDropout*, GaussianNoise,
 *     GaussianDropout, AlphaDropout, a linear Activation) are removed;
 *   - fuseActivations: an activation layer that alone reads a Conv2D / DepthwiseConv2D /
 *     SeparableConv2D / Dense output moves into that layer's `activation` setting, so tfjs runs
 *     conv + bias + activation as one fused kernel and one layer call fewer per predict (in a
 *     layers model, not where tfjs-layers would run the activation slower: see slowerInLayers).
 * Which layers qualify is per-layer knowledge in the handler registry (`inferenceIdentity`,
 * `asActivation`, `fusesActivation`); this file walks the graph and rewires the topology.
 * Pure: artifacts in, artifacts out, nothing printed.
 */
import { defaultRegistry, type LayerRegistry } from '../layers/registry.js';
import { buildGraph, callOf, unwrapTopology, type GraphNode, type LayerGraph } from '../model/graph.js';
import type { ModelArtifacts } from '../model/topology.js';
import { inboundRef, removeLayers, type Container } from './rewire.js';

/**
 * One layer the rewrite removed or replaced: `fused` moved into `into`; `dropped` was an inference
 * no-op; `as-conv` is a Dense now run as the Conv2D `into` (src/export/dense-as-conv.ts).
 */
export interface InferenceRewrite {
  kind: 'fused' | 'dropped' | 'as-conv';
  /** Path of the removed layer ('outer/relu' inside nested models). */
  layer: string;
  className: string;
  /** The layer that took the activation (fused only). */
  into?: string;
  /** The activation now fused (fused only). */
  activation?: string;
  /** The Conv2D's kernel size [H, W] (as-conv only). */
  kernelSize?: number[];
  /** The Flatten the conv took over (as-conv, first Dense of a chain only). */
  absorbed?: string;
}

/** A candidate left in place, and why (one line). */
export interface SkippedRewrite {
  layer: string;
  reason: string;
}

export interface SimplifyResult {
  artifacts: ModelArtifacts;
  changes: InferenceRewrite[];
  skipped: SkippedRewrite[];
}

type Decide = (graph: LayerGraph, node: GraphNode, path: string) => InferenceRewrite | string | undefined;

/** Removes every inference no-op layer (top level and inside nested models). */
export function dropNoOps(artifacts: ModelArtifacts, registry: LayerRegistry = defaultRegistry): SimplifyResult {
  return rewrite(artifacts, registry, (graph, node, path) => {
    const handler = registry.get(node.className);
    if (handler?.inferenceIdentity === undefined || !handler.inferenceIdentity(callOf(node))) return undefined;
    const common = singleCallReason(graph, node);
    if (common !== null) return common;
    return { kind: 'dropped', layer: path, className: node.className };
  });
}

/** Which runtime the fused model is written for: tfjs-layers (a layers model) or tfjs-converter (a graph model). */
export type FuseTarget = 'layers' | 'graph';

/**
 * Why a layers model would run this activation layer slower inside the Conv/Dense, or undefined.
 * tfjs-layers fuses only relu, linear and elu into its conv/matmul kernels; any other activation
 * setting runs as its own ops after the kernel. A ReLU layer with max_value 6 runs relu +
 * clipByValue, but the 'relu6' setting runs relu + minimum(6, ·), and on wasm that minimum with a
 * broadcast scalar measured ~3× slower (bench/RESULTS.md, MobileNetV2 at 224×224: 266 ms vs 81 ms a
 * predict), which made the layers export no faster than the model it came from. (An
 * Activation('relu6') layer already runs relu + minimum: fusing it costs nothing.) The graph
 * format fuses relu6 into the kernel.
 */
function slowerInLayers(className: string, activation: string): string | undefined {
  if (className === 'ReLU' && activation === 'relu6') {
    return "tfjs-layers runs activation 'relu6' as relu + minimum, slower on wasm than this layer's clip (--format graph fuses it into the kernel)";
  }
  return undefined;
}

/**
 * Moves each activation layer into the Conv/Dense right before it, where that is exact and (for
 * `target` 'layers', the default) where the layers runtime does not run it slower there.
 */
export function fuseActivations(
  artifacts: ModelArtifacts,
  registry: LayerRegistry = defaultRegistry,
  target: FuseTarget = 'layers',
): SimplifyResult {
  return rewrite(artifacts, registry, (graph, node, path) => {
    const handler = registry.get(node.className);
    if (handler?.asActivation === undefined) return undefined;
    const activation = handler.asActivation(callOf(node));
    if (activation === null) return undefined; // a ReLU with a threshold, say: nothing to fuse, nothing to report
    const slower = target === 'layers' ? slowerInLayers(node.className, activation) : undefined;
    if (slower !== undefined) return slower;
    const common = singleCallReason(graph, node);
    if (common !== null) return common;
    const tensor = graph.tensors.get(node.inputs[0])!;
    if (tensor.producer === null) return undefined; // reads the model input: there is no layer to fuse into
    const producer = graph.nodeById.get(tensor.producer)!;
    const producerHandler = registry.get(producer.className);
    if (producerHandler?.fusesActivation === undefined || producer.inner !== undefined) return undefined;
    const what = `producer '${producer.name}' (${producer.className})`;
    if (producer.callCount > 1) return `${what} is called ${producer.callCount} times (shared layer)`;
    if (producer.outputs.length !== 1) return `${what} has ${producer.outputs.length} outputs`;
    const others = tensor.consumers.filter((id) => id !== node.id);
    if (others.length > 0) return `${what} output also feeds ${others.map((id) => `'${id}'`).join(', ')}`;
    if (graph.outputs.includes(tensor.id)) return `${what} output is also a model output`;
    const refused = producerHandler.fusesActivation(callOf(producer));
    if (refused !== null) return `${what} ${refused}`;
    producer.layer.config = { ...producer.layer.config, activation };
    return {
      kind: 'fused',
      layer: path,
      className: node.className,
      into: path.slice(0, path.length - node.name.length) + producer.name,
      activation,
    };
  });
}

/** Why a single-input layer cannot be taken out of the graph at all, or null. */
function singleCallReason(graph: LayerGraph, node: GraphNode): string | null {
  if (node.callCount > 1) return `is called ${node.callCount} times (shared layer)`;
  if (node.inputs.length !== 1 || node.outputs.length !== 1) return `has ${node.inputs.length} inputs and ${node.outputs.length} outputs`;
  const config = node.layer.config ?? {};
  // In a Sequential model the first layer may carry the model's input shape.
  if (graph.kind === 'sequential' && ['batch_input_shape', 'batch_shape', 'input_shape'].some((k) => config[k] != null)) {
    return "carries the model's input shape";
  }
  const tensor = graph.tensors.get(node.inputs[0])!;
  if (tensor.producer === null && graph.outputs.includes(node.outputs[0])) return 'maps the model input straight to its output';
  return null;
}

function rewrite(artifacts: ModelArtifacts, registry: LayerRegistry, decide: Decide): SimplifyResult {
  const topology = structuredClone(artifacts.modelTopology);
  // The graph is built from the clone, so its nodes' `layer` entries are the JSON we rewrite.
  const graph = buildGraph(topology, undefined, registry);
  const changes: InferenceRewrite[] = [];
  const skipped: SkippedRewrite[] = [];
  walk(graph, unwrapTopology(topology), '', decide, changes, skipped);
  return { artifacts: { ...artifacts, modelTopology: topology }, changes, skipped };
}

function walk(
  graph: LayerGraph,
  container: Container,
  prefix: string,
  decide: Decide,
  changes: InferenceRewrite[],
  skipped: SkippedRewrite[],
): void {
  const removed = new Map<string, unknown[]>();
  for (const node of graph.nodes) {
    if (node.inner !== undefined) {
      if (node.callIndex === 0) walk(node.inner, node.layer, `${prefix}${node.name}/`, decide, changes, skipped);
      continue;
    }
    if (node.callIndex > 0) continue;
    const decision = decide(graph, node, prefix + node.name);
    if (decision === undefined) continue;
    if (typeof decision === 'string') {
      skipped.push({ layer: prefix + node.name, reason: decision });
      continue;
    }
    changes.push(decision);
    removed.set(node.name, inboundRef(node.layer));
  }
  if (removed.size > 0) removeLayers(container, graph.kind, removed);
}

/** Stderr lines: each change, then each candidate left in place with its reason. */
export function describeRewrites(changes: readonly InferenceRewrite[], skipped: readonly SkippedRewrite[]): string[] {
  const lines = changes.map((c) =>
    c.kind === 'fused'
      ? `fused ${c.layer} (${c.className}) into ${c.into} as activation '${c.activation}'`
      : c.kind === 'as-conv' && c.className === 'GlobalAveragePooling2D'
        ? `rewrote ${c.layer} (GlobalAveragePooling2D) as AveragePooling2D ${c.kernelSize!.join('×')}, so the Dense after it runs as a 1×1 conv`
        : c.kind === 'as-conv'
          ? `rewrote ${c.layer} (Dense) as Conv2D ${c.into} (kernel ${c.kernelSize!.join('×')}` +
            `${c.absorbed !== undefined ? `, Flatten ${c.absorbed} taken into it` : ''}): fewer tfjs kernels per predict` +
            (c.into !== c.layer ? `; a Reshape named ${c.layer} restores its [batch, units] output` : '')
          : `dropped ${c.layer} (${c.className}: identity at inference)`,
  );
  for (const s of skipped) lines.push(`  left in place: ${s.layer}: ${s.reason}`);
  return lines;
}
