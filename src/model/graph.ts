/**
 * Topology JSON → a graph of layer calls with inferred tensor shapes.
 *
 * One graph shape for both Sequential and functional (`Model`/`Functional`) topologies:
 * nodes are layer *calls* (a shared layer called twice gives two nodes), tensors are
 * named `layer:call:index`, and every tensor carries its shape with the batch dim as null.
 * Nested models (a Sequential/Model used as a layer) get their own inner graph.
 *
 * Shapes come from the layer's handler (src/layers/handlers: `outputShapes`, fast, no tfjs
 * objects) and, for any other layer type or config, from tfjs itself: the single layer is
 * deserialised and asked for `computeOutputShape` — that never builds the layer, so no weights
 * are allocated.
 */
import * as tf from '#tfjs';
import { InputError } from '../errors.js';
import { defaultRegistry, type LayerRegistry } from '../layers/registry.js';
import type { LayerCall, LayerConfig, Shape } from '../layers/types.js';
import type { LayerJson, ModelJson } from './topology.js';
import { nestedModelInputShape } from './nested-input.js';

// Shared with the per-layer handlers (src/layers), which sit below this module.
export type { LayerConfig, Shape } from '../layers/types.js';

export interface GraphTensor {
  id: string;
  shape: Shape;
  /** Id of the node that produces it; null for a Sequential's implicit input. */
  producer: string | null;
  /** Ids of the nodes that read it, in graph order. */
  consumers: string[];
}

export interface GraphNode {
  /** The layer name for its first call, `name#k` for call k > 0 of a shared layer. */
  id: string;
  name: string;
  className: string;
  config: LayerConfig;
  layer: LayerJson;
  /** Which call of the layer this node is (0 for unshared layers). */
  callIndex: number;
  /** How many times the layer is called in this graph. */
  callCount: number;
  inputs: string[];
  outputs: string[];
  inputShapes: Shape[];
  outputShapes: Shape[];
  /** Set when the layer is itself a model (Sequential / Model / Functional). */
  inner?: LayerGraph;
}

/** What a layer handler is told about one call of its layer. */
export function callOf(node: GraphNode): LayerCall {
  return {
    name: node.name,
    className: node.className,
    config: node.config,
    inputShapes: node.inputShapes,
    outputShapes: node.outputShapes,
  };
}

export interface LayerGraph {
  name: string;
  kind: 'sequential' | 'functional';
  /** Nodes in a topological order (inputs before the layers that read them). */
  nodes: GraphNode[];
  nodeById: Map<string, GraphNode>;
  tensors: Map<string, GraphTensor>;
  /** Model input / output tensor ids. */
  inputs: string[];
  outputs: string[];
  /** The layer entries in topology order (one per layer, shared or not). */
  layers: LayerJson[];
}

const MODEL_CLASSES = new Set(['Sequential', 'Model', 'Functional']);

export function isModelClass(className: string): boolean {
  return MODEL_CLASSES.has(className);
}

/** Accepts `modelTopology` either bare or wrapped as `{model_config: ...}` (as Keras files do). */
export function unwrapTopology(topology: ModelJson): ModelJson {
  const wrapped = topology as unknown as { model_config?: ModelJson };
  if (wrapped.model_config !== undefined && wrapped.model_config !== null) return wrapped.model_config;
  return topology;
}

/**
 * Builds the graph of a model topology.
 * `inputShapes` is used when the topology does not state its own input shape (nested Sequential).
 * `registry` gives the handlers' shape rules (other layers ask tfjs).
 */
export function buildGraph(topology: ModelJson, inputShapes?: Shape[], registry: LayerRegistry = defaultRegistry): LayerGraph {
  const top = unwrapTopology(topology);
  if (top === null || typeof top !== 'object' || typeof top.class_name !== 'string') {
    throw new InputError('model topology has no class_name: is this a tfjs layers model.json?');
  }
  if (top.class_name === 'Sequential') return buildSequential(top, inputShapes, registry);
  if (top.class_name === 'Model' || top.class_name === 'Functional') return buildFunctional(top, registry);
  throw new InputError(`unsupported model class '${top.class_name}' (expected Sequential, Model or Functional)`);
}

function sequentialLayers(top: ModelJson): LayerJson[] {
  // Old Keras wrote `config: [layers]`; modern writes `config: {name, layers}`.
  const raw: unknown = Array.isArray(top.config) ? top.config : top.config?.layers;
  if (!Array.isArray(raw)) throw new InputError('Sequential topology has no layers list');
  return raw as LayerJson[];
}

function layerName(layer: LayerJson, index: number): string {
  const name = layer.name ?? layer.config?.name;
  if (typeof name !== 'string' || name === '') {
    throw new InputError(`layer #${index} (${layer.class_name}) has no name`);
  }
  return name;
}

function declaredInputShape(config: LayerConfig): Shape | undefined {
  if (Array.isArray(config.batch_input_shape)) return [...config.batch_input_shape];
  if (Array.isArray(config.batchInputShape)) return [...config.batchInputShape];
  if (Array.isArray(config.input_shape)) return [null, ...config.input_shape];
  if (Array.isArray(config.batch_shape)) return [...config.batch_shape];
  return undefined;
}

function newGraph(name: string, kind: LayerGraph['kind'], layers: LayerJson[]): LayerGraph {
  return { name, kind, nodes: [], nodeById: new Map(), tensors: new Map(), inputs: [], outputs: [], layers };
}

function addNode(graph: LayerGraph, node: GraphNode): void {
  if (graph.nodeById.has(node.id)) throw new InputError(`duplicate layer name '${node.name}' in ${graph.name}`);
  graph.nodes.push(node);
  graph.nodeById.set(node.id, node);
  for (const t of node.inputs) graph.tensors.get(t)?.consumers.push(node.id);
  node.outputShapes.forEach((shape, i) => {
    const id = node.outputs[i];
    graph.tensors.set(id, { id, shape, producer: node.id, consumers: [] });
  });
}

function makeNode(
  registry: LayerRegistry,
  layer: LayerJson,
  name: string,
  callIndex: number,
  callCount: number,
  inputs: string[],
  inputShapes: Shape[],
): GraphNode {
  const config: LayerConfig = layer.config ?? {};
  let inner: LayerGraph | undefined;
  let outputShapes: Shape[];
  if (isModelClass(layer.class_name)) {
    inner = buildGraph({ class_name: layer.class_name, config }, inputShapes, registry);
    outputShapes = inner.outputs.map((t) => inner!.tensors.get(t)!.shape);
  } else {
    outputShapes = inferOutputShapes(name, layer.class_name, config, inputShapes, registry);
  }
  const id = callIndex === 0 ? name : `${name}#${callIndex}`;
  const outputs = outputShapes.map((_, i) => `${name}:${callIndex}:${i}`);
  return { id, name, className: layer.class_name, config, layer, callIndex, callCount, inputs, outputs, inputShapes, outputShapes, inner };
}

function buildSequential(top: ModelJson, inputShapes: Shape[] | undefined, registry: LayerRegistry): LayerGraph {
  const layers = sequentialLayers(top);
  const modelName: string = (Array.isArray(top.config) ? undefined : top.config?.name) ?? 'sequential';
  const graph = newGraph(modelName, 'sequential', layers);
  if (layers.length === 0) throw new InputError(`Sequential model '${modelName}' has no layers`);

  let current: string;
  let start = 0;
  if (layers[0].class_name === 'InputLayer') {
    const name = layerName(layers[0], 0);
    const shape = declaredInputShape(layers[0].config) ?? inputShapes?.[0];
    if (shape === undefined) throw new InputError(`input layer '${name}' has no batch_input_shape`);
    const node = makeNode(registry, layers[0], name, 0, 1, [], [shape]);
    addNode(graph, node);
    current = node.outputs[0];
    start = 1;
  } else {
    // A nested model as first layer declares its input inside (Teachable Machine exports).
    const shape = declaredInputShape(layers[0].config ?? {}) ?? inputShapes?.[0] ?? nestedModelInputShape(layers[0]);
    if (shape === undefined) {
      throw new InputError(`first layer '${layerName(layers[0], 0)}' of '${modelName}' has no batch_input_shape`);
    }
    // tfjs names the implicit input `<first layer>_input`.
    current = `${layerName(layers[0], 0)}_input:0:0`;
    graph.tensors.set(current, { id: current, shape, producer: null, consumers: [] });
  }
  graph.inputs.push(current);
  for (let i = start; i < layers.length; i++) {
    const name = layerName(layers[i], i);
    const node = makeNode(registry, layers[i], name, 0, 1, [current], [graph.tensors.get(current)!.shape]);
    if (node.outputs.length !== 1) {
      throw new InputError(`layer '${name}' in Sequential '${modelName}' has ${node.outputs.length} outputs (expected 1)`);
    }
    addNode(graph, node);
    current = node.outputs[0];
  }
  graph.outputs.push(current);
  return graph;
}

/** A `[layerName, nodeIndex, tensorIndex, kwargs?]` reference as written in inbound_nodes / input_layers. */
type TensorRefJson = [string, number, number, unknown?];

function parseRef(ref: unknown, where: string): TensorRefJson {
  if (!Array.isArray(ref) || typeof ref[0] !== 'string') {
    throw new InputError(`${where}: unsupported inbound node format (expected [layer, node, tensor, kwargs])`);
  }
  return [ref[0], Number(ref[1] ?? 0), Number(ref[2] ?? 0)];
}

function buildFunctional(top: ModelJson, registry: LayerRegistry): LayerGraph {
  const config = top.config ?? {};
  const layers: LayerJson[] = Array.isArray(config.layers) ? config.layers : [];
  const modelName: string = config.name ?? 'model';
  if (layers.length === 0) throw new InputError(`model '${modelName}' has no layers`);
  const graph = newGraph(modelName, 'functional', layers);
  const byName = new Map<string, LayerJson>();
  layers.forEach((l, i) => byName.set(layerName(l, i), l));

  addCallsInOrder(graph, pendingCalls(layers, byName, modelName), registry);

  const refsOf = (key: string): string[] => {
    const raw: unknown = config[key];
    if (!Array.isArray(raw)) throw new InputError(`model '${modelName}' has no ${key}`);
    // A single reference may be written unwrapped: ["name", 0, 0].
    const list = typeof raw[0] === 'string' ? [raw] : raw;
    return list.map((r: unknown) => tensorId(byName, parseRef(r, `${key} of '${modelName}'`), `${key} of '${modelName}'`));
  };
  graph.inputs = refsOf('input_layers');
  graph.outputs = refsOf('output_layers');
  for (const t of [...graph.inputs, ...graph.outputs]) {
    if (!graph.tensors.has(t)) throw new InputError(`model '${modelName}': tensor ${t} is not produced by any layer`);
  }
  checkInputsAndOutputs(graph);
  return graph;
}

/**
 * The graph's id (`layer:call:tensor`) of a tensor reference, after checking that the node exists.
 * Container layers keep an internal node 0 of their own, so references to their calls are offset
 * by one (tfjs and Keras write node index 1 for a nested model's first call).
 */
function tensorId(byName: ReadonlyMap<string, LayerJson>, ref: TensorRefJson, where: string): string {
  const [name, nodeIndex, tensorIndex] = ref;
  const layer = byName.get(name);
  if (layer === undefined) throw new InputError(`${where} refers to unknown layer '${name}'`);
  const calls = callsOf(layer).length;
  // An InputLayer has one node of its own; a nested model's calls are numbered from 1 (see above).
  const lastNode = isModelClass(layer.class_name) ? calls : Math.max(calls, 1) - 1;
  if (!Number.isInteger(nodeIndex) || nodeIndex < 0 || nodeIndex > lastNode) {
    throw new InputError(
      `${where} refers to node ${nodeIndex} of layer '${name}', which has ${lastNode === 0 ? 'only node 0' : `nodes 0 to ${lastNode}`}`,
    );
  }
  let call = nodeIndex;
  if (isModelClass(layer.class_name) && call >= calls) call -= 1;
  if (calls <= 1) call = 0;
  return `${name}:${call}:${tensorIndex}`;
}

/** One call of a layer in a functional model, with the ids of the tensors it reads. */
interface PendingCall {
  layer: LayerJson;
  name: string;
  call: number;
  count: number;
  inputs: string[];
}

/** Every call of every layer, in file order (an InputLayer is one call reading nothing). */
function pendingCalls(layers: LayerJson[], byName: ReadonlyMap<string, LayerJson>, modelName: string): PendingCall[] {
  const pending: PendingCall[] = [];
  layers.forEach((layer, i) => {
    const name = layerName(layer, i);
    const calls = callsOf(layer);
    if (calls.length === 0) {
      if (layer.class_name !== 'InputLayer') throw new InputError(`layer '${name}' of '${modelName}' is never called`);
      pending.push({ layer, name, call: 0, count: 1, inputs: [] });
      return;
    }
    calls.forEach((callRefs, k) => {
      if (!Array.isArray(callRefs)) throw new InputError(`layer '${name}': unsupported inbound_nodes format (Keras 3?)`);
      const inputs = callRefs.map((r: unknown) => tensorId(byName, parseRef(r, `layer '${name}'`), `layer '${name}'`));
      pending.push({ layer, name, call: k, count: calls.length, inputs });
    });
  });
  return pending;
}

/** Adds the calls to the graph in dependency order (files are usually ordered already; this makes sure). */
function addCallsInOrder(graph: LayerGraph, calls: PendingCall[], registry: LayerRegistry): void {
  let pending = calls;
  while (pending.length > 0) {
    const waiting: PendingCall[] = [];
    for (const p of pending) {
      if (!p.inputs.every((t) => graph.tensors.has(t))) {
        waiting.push(p);
        continue;
      }
      if (p.layer.class_name === 'InputLayer') {
        const shape = declaredInputShape(p.layer.config ?? {});
        if (shape === undefined) throw new InputError(`input layer '${p.name}' has no batch_input_shape`);
        addNode(graph, makeNode(registry, p.layer, p.name, 0, 1, [], [shape]));
      } else {
        const shapes = p.inputs.map((t) => graph.tensors.get(t)!.shape);
        addNode(graph, makeNode(registry, p.layer, p.name, p.call, p.count, p.inputs, shapes));
      }
    }
    if (waiting.length === pending.length) {
      throw new InputError(`model '${graph.name}': layer '${waiting[0].name}' reads a tensor no layer produces`);
    }
    pending = waiting;
  }
}

/**
 * A functional model's input_layers and output_layers as tfjs needs them: neither empty, every input
 * the output of an InputLayer, and every InputLayer an output depends on listed among the inputs
 * (tfjs calls the model "disconnected" otherwise). One walk back from the outputs: linear.
 */
function checkInputsAndOutputs(graph: LayerGraph): void {
  const model = `model '${graph.name}'`;
  if (graph.inputs.length === 0) throw new InputError(`${model}: input_layers is empty (a model needs at least one input)`);
  if (graph.outputs.length === 0) throw new InputError(`${model}: output_layers is empty (a model needs at least one output)`);
  const producerOf = (tensor: string): GraphNode => graph.nodeById.get(graph.tensors.get(tensor)!.producer!)!;
  for (const input of graph.inputs) {
    const producer = producerOf(input);
    if (producer.className !== 'InputLayer') {
      throw new InputError(
        `${model}: input_layers names layer '${producer.name}' (${producer.className}); every input must be an InputLayer`,
      );
    }
  }
  const listed = new Set(graph.inputs);
  const seen = new Set<string>(graph.outputs);
  const pending = [...graph.outputs];
  while (pending.length > 0) {
    const tensor = pending.pop()!;
    const producer = producerOf(tensor);
    if (producer.className === 'InputLayer' && !listed.has(tensor)) {
      throw new InputError(`${model}: the outputs depend on input layer '${producer.name}', which input_layers does not list`);
    }
    for (const input of producer.inputs) {
      if (!seen.has(input)) {
        seen.add(input);
        pending.push(input);
      }
    }
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function callsOf(layer: LayerJson): any[] {
  return Array.isArray(layer.inbound_nodes) ? layer.inbound_nodes : [];
}

// ---------------------------------------------------------------------------------------------
// Shape inference

function snakeToCamel(key: string): string {
  return key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/**
 * Keras config → tfjs constructor args, the way tfjs's own deserialiser does it: keys and string
 * values go snake_case → camelCase ('hard_sigmoid' → 'hardSigmoid'), except `name` values.
 */
function toTsConfig(value: unknown, key = ''): unknown {
  if (typeof value === 'string') return key === 'name' ? value : snakeToCamel(value);
  if (Array.isArray(value)) return value.map((v) => toTsConfig(v, key));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k === 'name' ? k : snakeToCamel(k)] = toTsConfig(v, k);
    return out;
  }
  return value;
}

/** Deserialises one layer (never built, so no weights) via the classes tfjs registers. */
export function instantiateLayer(name: string, className: string, config: LayerConfig): tf.layers.Layer {
  const entry = tf.serialization.SerializationMap.getMap().classNameMap[className];
  if (entry === undefined) throw new InputError(`layer '${name}': unknown layer class '${className}' (not a tfjs layer)`);
  const [cls, fromConfig] = entry;
  try {
    return fromConfig(cls, toTsConfig(config) as tf.serialization.ConfigDict) as unknown as tf.layers.Layer;
  } catch (err) {
    throw new InputError(`layer '${name}' (${className}): tfjs cannot read its config: ${(err as Error).message}`);
  }
}

/** Output shapes of one layer call given its input shapes. */
function inferOutputShapes(name: string, className: string, config: LayerConfig, inputShapes: Shape[], registry: LayerRegistry): Shape[] {
  if (inputShapes.length === 0) throw new InputError(`layer '${name}' (${className}) has no inputs`);
  const ruled = registry.get(className)?.outputShapes?.(config, inputShapes);
  if (ruled !== undefined) return ruled;
  const layer = instantiateLayer(name, className, config);
  let out: tf.Shape | tf.Shape[];
  try {
    out = layer.computeOutputShape(inputShapes.length === 1 ? inputShapes[0] : inputShapes);
  } catch (err) {
    throw new InputError(`layer '${name}' (${className}): cannot infer its output shape: ${(err as Error).message}`);
  }
  // A list of shapes is a list of arrays; a single shape is a list of numbers/nulls.
  return Array.isArray(out[0]) || (out.length > 0 && out.every((d) => Array.isArray(d)))
    ? (out as tf.Shape[]).map((s) => [...s])
    : [[...(out as tf.Shape)]];
}
