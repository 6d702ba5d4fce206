/**
 * Keras model configs ↔ the tfjs layers topology slim works on.
 *
 * Keras 2 (legacy HDF5) configs are already what tfjs reads. Keras 3 (`.keras`) differs in form only:
 * every object is wrapped as `{module, class_name, config, registered_name}`, dtypes are policy
 * objects, `InputLayer` has `batch_shape`, and a functional layer's `inbound_nodes` are
 * `{args, kwargs}` calls whose tensors name their producer in `keras_history`.
 * `toTfjsTopology` maps either into tfjs's form and refuses, in one line, what tfjs cannot run;
 * `toKeras3Config` maps back.
 */
import * as tf from '#tfjs';
import { InputError } from '../../errors.js';
import type { LayerJson, ModelJson } from '../topology.js';

type Json = Record<string, unknown>;

const MODEL_CLASSES = new Set(['Sequential', 'Model', 'Functional']);

/** Random augmentation layers: identity at inference, so slim leaves them out of the model. */
export const AUGMENTATION_CLASSES = new Set([
  'RandomFlip',
  'RandomRotation',
  'RandomZoom',
  'RandomTranslation',
  'RandomContrast',
  'RandomBrightness',
]);

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A Keras 3 serialized object: `{module?, class_name, config, registered_name?}`. */
function isSerialized(value: unknown): value is Json & { class_name: string } {
  return isObject(value) && typeof value.class_name === 'string' && 'config' in value;
}

/** Strips Keras 3 wrappers from a value inside a layer config (initializers, dtype policies, …). */
function unwrapValue(value: unknown, key: string): unknown {
  if (Array.isArray(value)) return value.map((v) => unwrapValue(v, key));
  if (!isObject(value)) return value;
  if (key === 'dtype' && isSerialized(value)) {
    // A dtype policy: tfjs knows only the variable dtype. Mixed precision is left for float32.
    const name = isObject(value.config) ? value.config.name : undefined;
    return typeof name === 'string' && name.startsWith('mixed_') ? 'float32' : name;
  }
  if (isSerialized(value) && value.class_name !== '__keras_tensor__') {
    return { class_name: value.class_name, config: unwrapConfig(value.config) };
  }
  return unwrapConfig(value);
}

function unwrapConfig(config: unknown): unknown {
  if (!isObject(config)) return config;
  const out: Json = {};
  for (const [key, value] of Object.entries(config)) out[key] = unwrapValue(value, key);
  return out;
}

/** Refuses a layer tfjs cannot build, naming it and saying why. */
function checkLayerClass(layer: Json, where: string): void {
  const className = String(layer.class_name);
  const rawName = (isObject(layer.config) && layer.config.name) ?? layer.name ?? '?';
  const name = typeof rawName === 'string' ? rawName : JSON.stringify(rawName);
  if (className === 'Lambda' || className === 'TFOpLambda' || className === 'SlicingOpLambda') {
    throw new InputError(`${where}: layer '${name}' is a ${className} (Python code in the model), which slim cannot run`);
  }
  const registered = layer.registered_name;
  const module = typeof layer.module === 'string' ? layer.module : undefined;
  const custom =
    (typeof registered === 'string' && registered !== className && registered.includes('>')) ||
    (module !== undefined && !module.startsWith('keras'));
  if (custom || (!MODEL_CLASSES.has(className) && !tfjsKnows(className))) {
    throw new InputError(
      `${where}: layer '${name}' is a custom or unsupported layer (${className}) that tfjs-layers has no implementation of`,
    );
  }
}

function tfjsKnows(className: string): boolean {
  return className in tf.serialization.SerializationMap.getMap().classNameMap;
}

/** Keras 3 `inbound_nodes` (`[{args, kwargs}]`) → tfjs `[[[name, node, tensor, {}], …]]`; Keras 2 form passes through. */
function convertInboundNodes(nodes: unknown, modelNames: Set<string>): unknown[] {
  if (!Array.isArray(nodes)) return [];
  return nodes.map((node) => {
    if (!isObject(node)) return node;
    const refs: unknown[][] = [];
    const collect = (value: unknown): void => {
      if (Array.isArray(value)) value.forEach(collect);
      else if (isObject(value) && value.class_name === '__keras_tensor__' && isObject(value.config)) {
        const [layerName, nodeIndex, tensorIndex] = value.config.keras_history as [string, number, number];
        // tfjs (like Keras 2) gives a nested model a node of its own at construction; Keras 3 does not.
        refs.push([layerName, modelNames.has(layerName) ? nodeIndex + 1 : nodeIndex, tensorIndex, {}]);
      }
    };
    collect(node.args);
    return refs;
  });
}

/** `[name, 0, 0]` (Keras 3 with one tensor) or `[[name, 0, 0], …]` → the list form. */
function tensorRefList(value: unknown): unknown[] {
  if (!Array.isArray(value)) return [];
  return value.length > 0 && typeof value[0] === 'string' ? [value] : value;
}

function convertLayer(raw: unknown, where: string, modelNames: Set<string>): LayerJson {
  if (!isObject(raw) || typeof raw.class_name !== 'string') {
    throw new InputError(`${where}: not a layer (needs class_name)`);
  }
  // Augmentation layers are left out later (dropAugmentation), so tfjs need not know them.
  if (!AUGMENTATION_CLASSES.has(raw.class_name)) checkLayerClass(raw, where);
  const className = raw.class_name === 'Functional' ? 'Model' : raw.class_name;
  let config: Json;
  if (MODEL_CLASSES.has(raw.class_name)) {
    config = convertModelConfig(raw.class_name, raw.config, where, typeof raw.name === 'string' ? raw.name : undefined);
  } else {
    config = (unwrapConfig(raw.config) ?? {}) as Json;
    if (className === 'InputLayer' && config.batch_shape !== undefined) {
      config.batch_input_shape = config.batch_shape;
      delete config.batch_shape;
      delete config.optional;
    }
  }
  const layer: LayerJson = { class_name: className, config };
  const name = raw.name ?? config.name;
  if (typeof name === 'string') layer.name = name;
  if (raw.inbound_nodes !== undefined) layer.inbound_nodes = convertInboundNodes(raw.inbound_nodes, modelNames);
  return layer;
}

/** Drops augmentation layers, rewiring whatever read them to read their input; returns their names. */
function dropAugmentation(className: string, config: Json): string[] {
  const layers = config.layers as LayerJson[];
  const dropped = layers.filter((l) => AUGMENTATION_CLASSES.has(l.class_name));
  if (dropped.length === 0) return [];
  if (className === 'Sequential') {
    const kept: LayerJson[] = [];
    let pendingInput: Json | undefined;
    for (const layer of layers) {
      if (AUGMENTATION_CLASSES.has(layer.class_name)) {
        if (layer.config.batch_input_shape !== undefined)
          pendingInput = { batch_input_shape: layer.config.batch_input_shape, dtype: layer.config.dtype };
        continue;
      }
      if (pendingInput !== undefined && layer.config.batch_input_shape === undefined) Object.assign(layer.config, pendingInput);
      pendingInput = undefined;
      kept.push(layer);
    }
    config.layers = kept;
  } else {
    const source = new Map<string, unknown[]>();
    for (const l of dropped) {
      const ref = (l.inbound_nodes?.[0] as unknown[][] | undefined)?.[0];
      if (ref === undefined || (l.inbound_nodes?.length ?? 0) > 1) {
        throw new InputError(`layer '${l.config.name}' (${l.class_name}) is used more than once; slim cannot leave it out`);
      }
      source.set(String(l.config.name), ref);
    }
    const resolve = (ref: unknown[]): unknown[] => {
      let current = ref;
      while (source.has(String(current[0]))) current = source.get(String(current[0]))!;
      return [current[0], current[1], current[2], ...(ref.length > 3 ? [ref[3]] : [])];
    };
    config.layers = layers.filter((l) => !AUGMENTATION_CLASSES.has(l.class_name));
    for (const l of config.layers as LayerJson[]) {
      l.inbound_nodes = l.inbound_nodes?.map((node: unknown[][]) => node.map(resolve));
    }
    config.output_layers = (config.output_layers as unknown[][]).map(resolve);
  }
  return dropped.map((l) => `${l.config.name} (${l.class_name})`);
}

/** Names of augmentation layers left out while converting (reported once by the reader). */
let droppedAugmentation: string[] = [];

function convertModelConfig(className: string, raw: unknown, where: string, fallbackName?: string): Json {
  let config: Json;
  if (Array.isArray(raw)) config = { name: fallbackName ?? 'sequential', layers: raw };
  else if (isObject(raw)) config = { ...raw };
  else throw new InputError(`${where}: the ${className} has no config`);
  if (!Array.isArray(config.layers)) throw new InputError(`${where}: the ${className} has no layers list`);
  const rawLayers = config.layers as unknown[];
  const modelNames = new Set(
    rawLayers
      .filter((l) => isObject(l) && MODEL_CLASSES.has(String(l.class_name)))
      .map((l) => String((l as Json).name ?? ((l as Json).config as Json)?.name)),
  );
  const keras3Nodes = rawLayers.some((l) => isObject(l) && Array.isArray(l.inbound_nodes) && l.inbound_nodes.some(isObject));
  // `file: layers[2]` at the top, `file: layers[2].layers[0]` inside a nested model.
  const layerWhere = (i: number) => `${where}${where.endsWith(']') ? '.' : ': '}layers[${i}]`;
  // A Sequential's InputLayer is kept as it is (tfjs builds a Sequential from one too), so its name
  // survives a round trip: Keras 3 calls it `input_layer`, tfjs would call it `<first layer>_input`.
  const layers = rawLayers.map((l, i) => convertLayer(l, layerWhere(i), modelNames));
  config.layers = layers;
  if (className !== 'Sequential') {
    config.input_layers = tensorRefList(config.input_layers);
    config.output_layers = tensorRefList(config.output_layers).map((ref) =>
      keras3Nodes && Array.isArray(ref) && modelNames.has(String(ref[0])) ? [ref[0], Number(ref[1]) + 1, ...ref.slice(2)] : ref,
    );
  }
  delete config.build_input_shape;
  delete config.dtype;
  droppedAugmentation.push(...dropAugmentation(className, config));
  return config;
}

export interface ConvertedTopology {
  topology: ModelJson;
  /** Augmentation layers that were left out (`name (Class)`). */
  droppedAugmentation: string[];
}

/** A Keras 2 or Keras 3 model config → tfjs layers topology; InputError naming anything unsupported. */
export function toTfjsTopology(raw: unknown, where: string, kerasVersion?: string): ConvertedTopology {
  if (!isObject(raw) || typeof raw.class_name !== 'string') {
    throw new InputError(`${where}: the model config has no class_name`);
  }
  if (!MODEL_CLASSES.has(raw.class_name)) {
    throw new InputError(
      `${where}: the model is a ${raw.class_name} (a subclassed model); slim needs a Sequential or functional model with a full config`,
    );
  }
  droppedAugmentation = [];
  const config = convertModelConfig(raw.class_name, raw.config, where, undefined);
  const topology: ModelJson = { class_name: raw.class_name === 'Functional' ? 'Model' : raw.class_name, config, backend: 'tensor_flow.js' };
  if (kerasVersion !== undefined) topology.keras_version = kerasVersion;
  return { topology, droppedAugmentation: droppedAugmentation };
}

type Shape = (number | null)[];

/** Shapes of the live model, looked up by the writer (Keras 3 records them in each call and build_config). */
export interface KerasShapes {
  /** The shape of a layer's output `tensorIndex` (`layerPath`: names from the top model down). */
  output(layerPath: string[], tensorIndex: number): Shape | null;
  /** The input shape of a layer's first call (a list of shapes for a merge layer); [] = the model's own input. */
  input(layerPath: string[]): Shape | Shape[] | null;
}

const SUFFIX_MODULES: [string, string][] = [
  ['_initializer', 'keras.initializers'],
  ['_regularizer', 'keras.regularizers'],
  ['_constraint', 'keras.constraints'],
];

function wrapValue(value: unknown, key: string): unknown {
  if (key === 'dtype' && typeof value === 'string') {
    return { module: 'keras', class_name: 'DTypePolicy', config: { name: value }, registered_name: null };
  }
  if (isObject(value) && typeof value.class_name === 'string' && 'config' in value) {
    const module = SUFFIX_MODULES.find(([suffix]) => key.endsWith(suffix))?.[1] ?? 'keras';
    return { module, class_name: value.class_name, config: value.config, registered_name: null };
  }
  return value;
}

/** Keras 3's default dtype policy, which its layers' get_config always writes. */
const FLOAT32_POLICY = wrapValue('float32', 'dtype');

function keras3Layer(layer: LayerJson, path: string[], shapes: KerasShapes, modelNames: Set<string>): Json {
  const name = String(layer.config.name ?? layer.name);
  const isNested = Array.isArray(layer.config.layers);
  const className = layer.class_name === 'Model' ? 'Functional' : layer.class_name;
  let config: Json;
  if (isNested) config = keras3ModelConfig(layer.class_name, layer.config, [...path, name], shapes);
  else {
    config = {};
    for (const [key, value] of Object.entries(layer.config)) config[key] = wrapValue(value, key);
    if (className === 'InputLayer') {
      config.batch_shape = config.batch_input_shape;
      delete config.batch_input_shape;
      // Keras 3's InputLayer.get_config gives its dtype as a plain name, not a DTypePolicy.
      config.dtype = typeof layer.config.dtype === 'string' ? layer.config.dtype : 'float32';
    } else {
      // Keras 3 layers refuse batch_input_shape (Keras 2 wrote it on a Sequential's first layer): the InputLayer holds it.
      delete config.batch_input_shape;
      config.dtype ??= FLOAT32_POLICY;
    }
  }
  const out: Json = {
    module: isNested ? (className === 'Sequential' ? 'keras' : 'keras.src.models.functional') : 'keras.layers',
    class_name: className,
    config,
    registered_name: isNested && className === 'Functional' ? 'Functional' : null,
  };
  // Keras 3 records the shape each built layer was built for (its first call), an InputLayer none.
  const inputShape = className === 'InputLayer' || isNested ? null : shapes.input([...path, name]);
  if (inputShape !== null) out.build_config = { input_shape: inputShape };
  if (layer.inbound_nodes !== undefined) {
    out.name = name;
    out.inbound_nodes = (layer.inbound_nodes as unknown[][][]).map((node) => {
      const tensors = node.map(([producer, nodeIndex, tensorIndex]) => ({
        class_name: '__keras_tensor__',
        config: {
          shape: shapes.output([...path, String(producer)], Number(tensorIndex)),
          dtype: 'float32',
          keras_history: [producer, modelNames.has(String(producer)) ? Number(nodeIndex) - 1 : nodeIndex, tensorIndex],
        },
      }));
      return { args: tensors.length === 1 ? tensors : [tensors], kwargs: {} };
    });
  }
  return out;
}

function keras3ModelConfig(className: string, config: Json, path: string[], shapes: KerasShapes): Json {
  let layers = config.layers as LayerJson[];
  // Keras 3: a Sequential's config has a dtype policy (Layer.get_config), a Functional's does not.
  const out: Json =
    className === 'Sequential' ? { name: config.name, trainable: true, dtype: FLOAT32_POLICY } : { name: config.name, trainable: true };
  if (className === 'Sequential') {
    // Keras 3 Sequential starts with an explicit InputLayer; tfjs puts the shape on the first layer.
    const first = layers[0];
    if (first !== undefined && first.config.batch_input_shape !== undefined && first.class_name !== 'InputLayer') {
      const { batch_input_shape: batchShape, ...rest } = first.config;
      const input: LayerJson = {
        class_name: 'InputLayer',
        config: {
          batch_input_shape: batchShape,
          dtype: first.config.dtype ?? 'float32',
          sparse: false,
          name: `${String(first.config.name)}_input`,
        },
      };
      layers = [input, { ...first, config: rest }, ...layers.slice(1)];
    }
  }
  // Keras 3 numbers a nested model's calls from 0; tfjs from 1 (see convertInboundNodes).
  const modelNames = new Set(layers.filter((l) => Array.isArray(l.config.layers)).map((l) => String(l.config.name ?? l.name)));
  out.layers = layers.map((l) => keras3Layer(l, path, shapes, modelNames));
  if (className === 'Sequential') {
    const inputShape = shapes.input(path);
    if (inputShape !== null) out.build_input_shape = inputShape;
  } else {
    out.input_layers = config.input_layers;
    out.output_layers = (config.output_layers as unknown[][]).map((ref) =>
      modelNames.has(String(ref[0])) ? [ref[0], Number(ref[1]) - 1, ...ref.slice(2)] : ref,
    );
  }
  return out;
}

/** tfjs layers topology → a Keras 3 `config.json` object. */
export function toKeras3Config(topology: ModelJson, shapes: KerasShapes): Json {
  const className = topology.class_name === 'Model' ? 'Functional' : topology.class_name;
  const config = keras3ModelConfig(topology.class_name, topology.config, [], shapes);
  return {
    module: className === 'Sequential' ? 'keras' : 'keras.src.models.functional',
    class_name: className,
    config,
    registered_name: className === 'Functional' ? 'Functional' : null,
    // A Sequential built on its input records it, as any built layer does.
    ...(config.build_input_shape !== undefined ? { build_config: { input_shape: config.build_input_shape } } : {}),
  };
}
