/**
 * A Dense head as convolutions, so tfjs launches fewer kernels per predict:
 *   Flatten → Dense → Dense …  becomes  Conv2D (kernel [H, W], valid) → Conv2D 1×1 … → Reshape [units].
 * tfjs-core runs every Dense as reshape, reshape, BatchMatMul, reshape (it lifts both operands to
 * 3-D and back), plus Flatten's own Reshape; a Conv2D is one fused kernel (conv + bias +
 * activation). The numbers are the same: Flatten is row-major over H, W, C, which is the order of
 * a Conv2D kernel [H, W, C, units], so the Dense kernel is only given a new shape.
 *
 * The last rewritten layer's output goes through one Reshape back to [N, units]; that Reshape takes
 * the last Dense's name, so the model's outputs (and any layer reading that Dense) keep their name
 * and shape, and the last conv is renamed (`<name>_conv`, its weights with it; `renamed` maps the
 * new weight names to the old ones so quantization patterns still find them).
 *
 * A GlobalAveragePooling2D → Dense head is the same with a 1×1 kernel (on request: the graph
 * format): the pool becomes an AveragePooling2D over the whole H×W map (output [N, 1, 1, C], one
 * kernel like the Mean it was), and the Dense layers 1×1 convs.
 *
 * Only where it is exact and simple: a top-level Flatten (or global average pool) over a static
 * channels-last [H, W, C] input whose one consumer is a Dense, then each Dense that is the sole
 * consumer of the previous one's output (not itself a model output). Pure: artifacts in,
 * artifacts out, nothing printed.
 */
import { defaultRegistry, type LayerRegistry } from '../layers/registry.js';
import { buildGraph, unwrapTopology, type GraphNode, type LayerGraph } from '../model/graph.js';
import type { LayerJson, ModelArtifacts, Weight, WeightMap } from '../model/topology.js';
import { indexWeights } from '../prune/weights.js';
import { inboundRef, removeLayers, type Container } from './rewire.js';
import type { InferenceRewrite, SkippedRewrite } from './simplify.js';

export interface DenseAsConvResult {
  artifacts: ModelArtifacts;
  changes: InferenceRewrite[];
  skipped: SkippedRewrite[];
  /** New weight name → its name before the rewrite (the renamed last conv's weights). */
  renamed: Map<string, string>;
}

/** Keys a Dense and a Conv2D config share, copied over as they are. */
const SHARED_KEYS = [
  'trainable',
  'dtype',
  'activation',
  'use_bias',
  'kernel_initializer',
  'bias_initializer',
  'kernel_regularizer',
  'bias_regularizer',
  'activity_regularizer',
  'kernel_constraint',
  'bias_constraint',
];

const INPUT_SHAPE_KEYS = ['batch_input_shape', 'batch_shape', 'input_shape'];

interface Chain {
  /** The Flatten (taken into the first conv) or GlobalAveragePooling2D (made an H×W average pool) before the Dense. */
  start: GraphNode;
  denses: GraphNode[];
  /** [H, W, C] of the start layer's input. */
  image: [number, number, number];
}

/** The layers a head chain starts from. */
const STARTS = new Set(['Flatten', 'GlobalAveragePooling2D']);

/**
 * Rewrites every qualifying Flatten → Dense chain of the top-level model, and with `globalPool`
 * every GlobalAveragePooling2D → Dense chain. The export asks for the latter in the graph format
 * only: there it measured 1.00–1.09× (batch 1) the Dense head's speed; in a layers model a pruned
 * MobileNetV2 came out 0.97–0.99× end to end in two paired runs, although the pool kernel itself
 * profiled faster than the Mean it replaces (0.08 vs 0.59 ms), so that stays the Dense head.
 */
export function denseHeadAsConv(
  artifacts: ModelArtifacts,
  registry: LayerRegistry = defaultRegistry,
  options: { globalPool?: boolean } = {},
): DenseAsConvResult {
  const starts = options.globalPool === true ? STARTS : new Set(['Flatten']);
  const topology = structuredClone(artifacts.modelTopology);
  // Built from the clone: the nodes' `layer` entries are the JSON rewritten below.
  const graph = buildGraph(topology, undefined, registry);
  const changes: InferenceRewrite[] = [];
  const skipped: SkippedRewrite[] = [];
  const renamed = new Map<string, string>();
  const index = indexWeights(artifacts.weights);
  const chains: Chain[] = [];
  for (const node of graph.nodes) {
    if (!starts.has(node.className) || node.inner !== undefined) continue;
    const chain = chainFrom(graph, node, (dense, inputs) => {
      const kernel = artifacts.weights.get(index.get(dense.name)?.get('kernel') ?? '');
      if (kernel?.shape.length !== 2 || kernel.shape[0] !== inputs) return `has no kernel of shape [${inputs}, units]`;
      return null;
    });
    if (chain === undefined) continue;
    if (typeof chain === 'string') skipped.push({ layer: node.name, reason: chain });
    else chains.push(chain);
  }
  if (chains.length === 0) return { artifacts, changes, skipped, renamed };

  const container = unwrapTopology(topology) as Container;
  const layers: LayerJson[] = Array.isArray(container.config) ? container.config : (container.config.layers as LayerJson[]);
  const names = new Set(graph.layers.map((l) => nameOf(l)));
  const weightRenames = new Map<string, string>(); // old name → new name
  const reshaped = new Map<string, Weight>(); // old name → kernel with its conv shape
  const removed = new Map<string, unknown[]>();

  for (const { start, denses, image } of chains) {
    const flatten = start.className === 'Flatten';
    if (flatten) removed.set(start.name, inboundRef(start.layer));
    else {
      // An average over the whole H×W map, kept 4-D so the Dense after it runs as a 1×1 conv.
      const config: Record<string, unknown> = {};
      for (const key of [...INPUT_SHAPE_KEYS, 'name', 'trainable', 'dtype'])
        if (start.layer.config[key] != null) config[key] = start.layer.config[key];
      Object.assign(config, {
        pool_size: [image[0], image[1]],
        strides: [image[0], image[1]],
        padding: 'valid',
        data_format: 'channels_last',
      });
      start.layer.class_name = 'AveragePooling2D';
      start.layer.config = config;
      changes.push({
        kind: 'as-conv',
        layer: start.name,
        className: 'GlobalAveragePooling2D',
        into: start.name,
        kernelSize: [image[0], image[1]],
      });
    }
    const last = denses[denses.length - 1];
    let convName = `${last.name}_conv`;
    for (let k = 1; names.has(convName); k++) convName = `${last.name}_conv_${k}`;
    names.add(convName);
    denses.forEach((dense, i) => {
      const [h, w] = i === 0 && flatten ? [image[0], image[1]] : [1, 1];
      const name = dense === last ? convName : dense.name;
      const kernelName = index.get(dense.name)!.get('kernel')!;
      const kernel = artifacts.weights.get(kernelName)!;
      reshaped.set(kernelName, { ...kernel, shape: [h, w, kernel.shape[0] / (h * w), kernel.shape[1]] });
      if (dense === last) {
        for (const weightName of index.get(dense.name)!.values()) {
          const at = weightName.lastIndexOf(`${dense.name}/`);
          const next = weightName.slice(0, at) + `${convName}/` + weightName.slice(at + dense.name.length + 1);
          weightRenames.set(weightName, next);
          renamed.set(next, weightName);
        }
      }
      const config: Record<string, unknown> = { name };
      // A Sequential's first layer carries the model's input shape: the first conv takes it over.
      if (i === 0 && flatten)
        for (const key of INPUT_SHAPE_KEYS) if (start.layer.config[key] != null) config[key] = start.layer.config[key];
      for (const key of SHARED_KEYS) if (key in dense.layer.config) config[key] = dense.layer.config[key];
      Object.assign(config, {
        filters: dense.layer.config.units as number,
        kernel_size: [h, w],
        strides: [1, 1],
        padding: 'valid',
        data_format: 'channels_last',
        dilation_rate: [1, 1],
      });
      dense.layer.class_name = 'Conv2D';
      dense.layer.config = config;
      if (dense.layer.name !== undefined) dense.layer.name = name;
      changes.push({
        kind: 'as-conv',
        layer: dense.name,
        className: 'Dense',
        into: name,
        kernelSize: [h, w],
        ...(i === 0 && flatten ? { absorbed: start.name } : {}),
      });
    });
    // The Reshape back to [N, units] takes the last Dense's name and place in the graph.
    const reshape: LayerJson = {
      class_name: 'Reshape',
      config: { name: last.name, trainable: false, target_shape: [last.layer.config.filters as number] },
    };
    if (last.layer.name !== undefined) reshape.name = last.name;
    if (graph.kind === 'functional') reshape.inbound_nodes = [[[convName, 0, 0, {}]]];
    layers.splice(layers.indexOf(last.layer) + 1, 0, reshape);
  }
  removeLayers(container, graph.kind, removed);

  const weights: WeightMap = new Map();
  for (const [name, weight] of artifacts.weights) weights.set(weightRenames.get(name) ?? name, reshaped.get(name) ?? weight);
  return { artifacts: { ...artifacts, modelTopology: topology, weights }, changes, skipped, renamed };
}

/** The chain a Flatten or global average pool starts, the reason it does not qualify (when it feeds a Dense), or undefined. */
function chainFrom(
  graph: LayerGraph,
  start: GraphNode,
  kernelReason: (dense: GraphNode, inputs: number) => string | null,
): Chain | string | undefined {
  const out = graph.tensors.get(start.outputs[0]);
  if (out === undefined || !out.consumers.some((id) => graph.nodeById.get(id)?.className === 'Dense')) return undefined;
  const first = out.consumers.length === 1 ? graph.nodeById.get(out.consumers[0]) : undefined;
  if (start.callCount > 1) return `is called ${start.callCount} times (shared layer)`;
  if (first === undefined || first.className !== 'Dense') return `feeds ${out.consumers.length} layers`;
  if (graph.outputs.includes(out.id)) return 'its output is also a model output';
  if (start.config.data_format === 'channels_first') return `${start.className === 'Flatten' ? 'flattens' : 'pools'} channels_first`;
  if (start.config.keepdims === true) return 'keeps its dims';
  const shape = start.inputShapes[0];
  if (shape.length !== 4 || shape.slice(1).some((d) => typeof d !== 'number')) {
    return `its input shape [${shape.map((d) => d ?? 'null').join(', ')}] is not a fixed [batch, H, W, C]`;
  }
  const image = shape.slice(1) as [number, number, number];
  const denses: GraphNode[] = [];
  let dense: GraphNode | undefined = first;
  let inputs = start.className === 'Flatten' ? image[0] * image[1] * image[2] : image[2];
  while (dense !== undefined) {
    const reason = denseReason(dense) ?? kernelReason(dense, inputs);
    if (reason !== null) {
      if (denses.length === 0) return `its Dense '${dense.name}' ${reason}`;
      break;
    }
    denses.push(dense);
    inputs = dense.layer.config.units as number;
    const y = graph.tensors.get(dense.outputs[0])!;
    if (graph.outputs.includes(y.id) || y.consumers.length !== 1) break;
    const next = graph.nodeById.get(y.consumers[0]);
    dense = next?.className === 'Dense' ? next : undefined;
  }
  return { start, denses, image };
}

function denseReason(dense: GraphNode): string | null {
  if (dense.callCount > 1) return `is called ${dense.callCount} times (shared layer)`;
  if (dense.inputShapes.length !== 1 || dense.inputShapes[0].length !== 2) return 'reads more than a flat input';
  if (typeof dense.layer.config.units !== 'number') return 'has no fixed units';
  return null;
}

function nameOf(layer: LayerJson): string {
  return layer.name ?? (layer.config?.name as string);
}
