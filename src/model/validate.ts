/**
 * Validation of a model before anything uses it: readModel calls it for every file it reads
 * (layers model.json and Keras files alike), so every command gets the same checks and the
 * same one-line InputError naming the file, the layer and the field.
 *
 * It works on plain data only (topology JSON, manifest specs, typed arrays), never builds a tfjs
 * model, and visits each layer and each weight value once: linear in the model's size.
 *
 * What it catches before tfjs or V8 can (their messages are no answer for a user, and some
 * inputs crash or exhaust the process): configs tfjs rejects or allocates from (non-positive,
 * non-integer or non-finite sizes, unknown activations), inputs of the wrong rank, unknown layer
 * classes, graph faults, weights that do not match what the config implies (missing, extra,
 * wrong shape, int32 where float32 is needed), NaN/Inf weight values, and sizes that cannot fit.
 */
import * as tf from '#tfjs';
import { InputError, SlimError } from '../errors.js';
import { defaultRegistry, type LayerRegistry } from '../layers/registry.js';
import type { Shape } from '../layers/types.js';
import { buildGraph, callOf, isModelClass, type GraphNode, type LayerGraph } from './graph.js';
import type { LayerJson, ModelJson, WeightMap } from './topology.js';

export { checkJsonDepth, MAX_JSON_DEPTH } from './json-depth.js';

/** Most elements in one tensor (a weight, or one example's activation): typed arrays and tfjs index with 32-bit ints. */
export const MAX_TENSOR_ELEMENTS = 2 ** 31 - 1;
/** Most bytes all weights together may take (float32): 4 GiB. */
export const MAX_WEIGHT_BYTES = 4 * 2 ** 30;

/** A weight as the manifest names it, before its data is read. */
export interface WeightSpecLike {
  name: string;
  shape: number[];
  dtype: string;
}

/** Runs `check`, prefixing the file to any InputError that does not name it yet. */
function inFile<T>(file: string, check: () => T): T {
  try {
    return check();
  } catch (error) {
    if (error instanceof InputError && !error.message.startsWith(file)) throw new InputError(`${file}: ${error.message}`, { cause: error });
    if (error instanceof SlimError) throw error;
    // A RangeError from a shape rule is a size no model can have, not a bug.
    if (error instanceof RangeError)
      throw new InputError(`${file}: the model's sizes are out of range (${error.message})`, { cause: error });
    throw error;
  }
}

/**
 * Checks a topology and the weights its manifest declares (names, shapes, dtypes: no data needed),
 * before any shard is read. Returns the layer graph it built.
 */
export function validateTopology(
  topology: ModelJson,
  weightSpecs: WeightSpecLike[],
  file: string,
  options: { weightsRequired?: boolean; registry?: LayerRegistry } = {},
): LayerGraph {
  const registry = options.registry ?? defaultRegistry;
  return inFile(file, () => {
    for (const spec of weightSpecs) checkSize(`weight '${spec.name}'`, spec.shape);
    checkLayerConfigs(topology, registry);
    const graph = buildGraph(topology, undefined, registry);
    const expected = checkCalls(graph, registry);
    // A model.json without any weight is fine for counting (report), never for using the weights.
    if (weightSpecs.length > 0 || options.weightsRequired === true) checkWeightsMatch(expected, weightSpecs, graph, registry);
    return graph;
  });
}

/**
 * Refuses NaN and ±Inf in any float weight, naming the weight and the first bad index; and a
 * negative BatchNorm moving_variance (its square root is taken: NaN outputs).
 */
export function validateWeightValues(weights: WeightMap, file: string): void {
  for (const [name, weight] of weights) {
    if (weight.dtype !== 'float32') continue;
    const data = weight.data;
    for (let i = 0; i < data.length; i++) {
      if (!Number.isFinite(data[i])) {
        throw new InputError(`${file}: weight '${name}' holds ${data[i]} at index ${i} (every weight value must be finite)`);
      }
    }
    if (/(^|\/)moving_variance(:\d+)?$/.test(name)) {
      const negative = data.findIndex((v) => v < 0);
      if (negative !== -1)
        throw new InputError(`${file}: weight '${name}' holds ${data[negative]} at index ${negative} (a variance cannot be negative)`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Layer configs

/** Every layer of the topology and of the models nested in it, with a path for messages. */
function* layersOf(topology: ModelJson): Generator<LayerJson> {
  const pending: ModelJson[] = [topology];
  while (pending.length > 0) {
    const model = pending.pop()!;
    const config = model.config as Record<string, unknown> | unknown[] | undefined;
    const layers = Array.isArray(config) ? config : config?.layers;
    if (!Array.isArray(layers)) continue;
    for (const layer of layers as LayerJson[]) {
      yield layer;
      if (isModelClass(layer.class_name)) pending.push({ class_name: layer.class_name, config: layer.config });
    }
  }
}

function layerLabel(layer: LayerJson): string {
  const name = layer.name ?? layer.config?.name;
  return `layer '${typeof name === 'string' ? name : '?'}' (${layer.class_name})`;
}

/** A declared input shape: every dim null or a positive integer. */
function checkDeclaredShape(layer: LayerJson): void {
  for (const field of ['batch_input_shape', 'batchInputShape', 'input_shape', 'batch_shape']) {
    const shape: unknown = layer.config?.[field];
    if (shape === undefined || shape === null) continue;
    if (!Array.isArray(shape) || !shape.every((d) => d === null || (typeof d === 'number' && Number.isSafeInteger(d) && d > 0))) {
      throw new InputError(
        `${layerLabel(layer)}: ${field}: every dimension must be a positive integer or null, got ${JSON.stringify(shape)}`,
      );
    }
  }
}

function checkLayerConfigs(topology: ModelJson, registry: LayerRegistry): void {
  const tfjsClasses = tf.serialization.SerializationMap.getMap().classNameMap;
  for (const layer of layersOf(topology)) {
    const className = layer.class_name;
    if (isModelClass(className)) continue;
    const handler = registry.get(className);
    if (handler === undefined && tfjsClasses[className] === undefined) {
      throw new InputError(
        `${layerLabel(layer)}: unknown layer class '${className}' (a custom layer? slim reads only tfjs's built-in layers)`,
      );
    }
    checkDeclaredShape(layer);
    const problem = handler?.validateConfig?.(layer.config);
    if (problem) throw new InputError(`${layerLabel(layer)}: ${problem}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Calls: ranks, shapes, sizes

function checkSize(what: string, shape: Shape): number {
  let elements = 1;
  for (const d of shape) if (d !== null) elements *= d;
  if (elements > MAX_TENSOR_ELEMENTS) {
    throw new InputError(
      `${what}: shape [${shape.map((d) => d ?? 'null').join(', ')}] has ${elements} elements, more than a tensor can hold (${MAX_TENSOR_ELEMENTS})`,
    );
  }
  return elements;
}

function nodeLabel(node: GraphNode): string {
  return `layer '${node.name}' (${node.className})`;
}

/** A weight the config implies for one layer: by role. */
type ExpectedWeights = Map<string, { node: GraphNode; roles: Map<string, number[]> }>;

/**
 * Each call's input rank and output shapes (positive integer dims, sizes that fit) and the
 * weights its config implies; the total weight size is refused when it cannot fit.
 */
function checkCalls(root: LayerGraph, registry: LayerRegistry): ExpectedWeights {
  const expected: ExpectedWeights = new Map();
  let totalWeights = 0;
  const graphs = [root];
  while (graphs.length > 0) {
    const graph = graphs.pop()!;
    for (const node of graph.nodes) {
      if (node.inner !== undefined) graphs.push(node.inner);
      const handler = registry.get(node.className);
      const rank = handler?.inputRank;
      const input = node.inputShapes[0];
      if (rank !== undefined && input !== undefined && input.length !== rank) {
        throw new InputError(
          `${nodeLabel(node)}: input has rank ${input.length} ([${input.map((d) => d ?? 'null').join(', ')}]), it needs rank ${rank}`,
        );
      }
      for (const shape of node.outputShapes) {
        if (!shape.every((d) => d === null || (Number.isSafeInteger(d) && d > 0))) {
          throw new InputError(
            `${nodeLabel(node)}: its config gives output shape [${shape.map((d) => d ?? 'null').join(', ')}]; every dimension must be a positive integer`,
          );
        }
        checkSize(`${nodeLabel(node)}: output`, shape);
      }
      if (node.callIndex !== 0 || handler?.weights === undefined) continue;
      const call = callOf(node);
      const roles = new Map<string, number[]>();
      for (const spec of handler.weights(call)) {
        totalWeights += checkSize(`${nodeLabel(node)}: weight '${spec.role}'`, spec.shape);
        roles.set(spec.role, spec.shape);
      }
      expected.set(node.name, { node, roles });
    }
  }
  if (totalWeights * 4 > MAX_WEIGHT_BYTES) {
    throw new InputError(
      `the model claims ${totalWeights} weights (${((totalWeights * 4) / 2 ** 30).toFixed(1)} GiB), more than slim handles (${MAX_WEIGHT_BYTES / 2 ** 30} GiB)`,
    );
  }
  return expected;
}

// ---------------------------------------------------------------------------------------------
// Weights against the config

/**
 * The layer a weight belongs to: the latest run of name segments before the role that names a layer,
 * longest first, so `stem/conv/kernel` finds a layer named 'stem/conv', `outer/conv/kernel` the
 * nested 'conv', and `lstm/lstm_cell/kernel` the 'lstm' whose cell holds it.
 */
function ownerOf(weightName: string, layerNames: Set<string>): { layer: string; role: string } | undefined {
  const parts = weightName.replace(/:\d+$/, '').split('/');
  const role = parts[parts.length - 1];
  for (let end = parts.length - 1; end > 0; end--) {
    for (let start = 0; start < end; start++) {
      const candidate = parts.slice(start, end).join('/');
      if (layerNames.has(candidate)) return { layer: candidate, role };
    }
  }
  return undefined;
}

/** Layer name → class name, over the graph and the graphs nested in it. */
function layerClasses(graph: LayerGraph): Map<string, string> {
  const classes = new Map<string, string>();
  const graphs = [graph];
  while (graphs.length > 0) {
    const g = graphs.pop()!;
    for (const node of g.nodes) {
      classes.set(node.name, node.className);
      if (node.inner !== undefined) graphs.push(node.inner);
    }
  }
  return classes;
}

function allLayerNames(graph: LayerGraph): Set<string> {
  return new Set(layerClasses(graph).keys());
}

const shapeText = (shape: readonly number[]): string => `[${shape.join(', ')}]`;

function checkWeightsMatch(expected: ExpectedWeights, specs: WeightSpecLike[], graph: LayerGraph, registry: LayerRegistry): void {
  const layerNames = allLayerNames(graph);
  const classOf = layerClasses(graph);
  const seen = new Map<string, Set<string>>();
  for (const spec of specs) {
    const owner = ownerOf(spec.name, layerNames);
    if (owner === undefined) throw new InputError(`weight '${spec.name}' belongs to no layer of the model`);
    if (!expected.has(owner.layer)) {
      // A layer slim knows to be weightless (a kernel on a ReLU) cannot take it; others follow tfjs's own rules.
      const className = classOf.get(owner.layer)!;
      const handler = registry.get(className);
      if (handler !== undefined && handler.weights === undefined) {
        throw new InputError(`layer '${owner.layer}' (${className}): weight '${spec.name}' is extra (this layer has no weights)`);
      }
      continue;
    }
    const { node, roles } = expected.get(owner.layer)!;
    const shape = roles.get(owner.role);
    if (shape === undefined) {
      throw new InputError(
        `${nodeLabel(node)}: weight '${spec.name}' is not one of its weights (${[...roles.keys()].join(', ') || 'none'})`,
      );
    }
    if (spec.dtype !== 'float32') throw new InputError(`${nodeLabel(node)}: weight '${spec.name}' is ${spec.dtype}; float32 is needed`);
    if (spec.shape.length !== shape.length || spec.shape.some((d, i) => d !== shape[i])) {
      throw new InputError(
        `${nodeLabel(node)}: weight '${spec.name}' has shape ${shapeText(spec.shape)}, its config implies ${shapeText(shape)}`,
      );
    }
    let seenRoles = seen.get(owner.layer);
    if (seenRoles === undefined) seen.set(owner.layer, (seenRoles = new Set()));
    if (seenRoles.has(owner.role)) throw new InputError(`${nodeLabel(node)}: weight '${owner.role}' appears twice ('${spec.name}')`);
    seenRoles.add(owner.role);
  }
  for (const [name, { node, roles }] of expected) {
    for (const role of roles.keys()) {
      if (!seen.get(name)?.has(role))
        throw new InputError(`${nodeLabel(node)}: weight '${role}' is missing (its config needs ${shapeText(roles.get(role)!)})`);
    }
  }
}
