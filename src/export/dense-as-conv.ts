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
 * Only where it is exact and simple: a top-level Flatten over a static channels-last [H, W, C]
 * input whose one consumer is a Dense, then each Dense that is the sole consumer of the previous
 * one's output (not itself a model output). Pure: artifacts in, artifacts out, nothing printed.
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
  flatten: GraphNode;
  denses: GraphNode[];
  /** [H, W, C] of the Flatten's input. */
  image: [number, number, number];
}

/** Rewrites every qualifying Flatten → Dense chain of the top-level model. */
export function denseHeadAsConv(artifacts: ModelArtifacts, registry: LayerRegistry = defaultRegistry): DenseAsConvResult {
  const topology = structuredClone(artifacts.modelTopology);
  // Built from the clone: the nodes' `layer` entries are the JSON rewritten below.
  const graph = buildGraph(topology, undefined, registry);
  const changes: InferenceRewrite[] = [];
  const skipped: SkippedRewrite[] = [];
  const renamed = new Map<string, string>();
  const index = indexWeights(artifacts.weights);
  const chains: Chain[] = [];
  for (const node of graph.nodes) {
    if (node.className !== 'Flatten' || node.inner !== undefined) continue;
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

  for (const { flatten, denses, image } of chains) {
    removed.set(flatten.name, inboundRef(flatten.layer));
    const last = denses[denses.length - 1];
    let convName = `${last.name}_conv`;
    for (let k = 1; names.has(convName); k++) convName = `${last.name}_conv_${k}`;
    names.add(convName);
    denses.forEach((dense, i) => {
      const [h, w] = i === 0 ? [image[0], image[1]] : [1, 1];
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
      if (i === 0) for (const key of INPUT_SHAPE_KEYS) if (flatten.layer.config[key] != null) config[key] = flatten.layer.config[key];
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
        ...(i === 0 ? { absorbed: flatten.name } : {}),
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

/** The chain a Flatten starts, the reason it does not qualify (when it feeds a Dense), or undefined. */
function chainFrom(
  graph: LayerGraph,
  flatten: GraphNode,
  kernelReason: (dense: GraphNode, inputs: number) => string | null,
): Chain | string | undefined {
  const out = graph.tensors.get(flatten.outputs[0]);
  if (out === undefined || !out.consumers.some((id) => graph.nodeById.get(id)?.className === 'Dense')) return undefined;
  const first = out.consumers.length === 1 ? graph.nodeById.get(out.consumers[0]) : undefined;
  if (flatten.callCount > 1) return `is called ${flatten.callCount} times (shared layer)`;
  if (first === undefined || first.className !== 'Dense') return `feeds ${out.consumers.length} layers`;
  if (graph.outputs.includes(out.id)) return 'its output is also a model output';
  if (flatten.config.data_format === 'channels_first') return 'flattens channels_first';
  const shape = flatten.inputShapes[0];
  if (shape.length !== 4 || shape.slice(1).some((d) => typeof d !== 'number')) {
    return `its input shape [${shape.map((d) => d ?? 'null').join(', ')}] is not a fixed [batch, H, W, C]`;
  }
  const image = shape.slice(1) as [number, number, number];
  const denses: GraphNode[] = [];
  let dense: GraphNode | undefined = first;
  let inputs = image[0] * image[1] * image[2];
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
  return { flatten, denses, image };
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
