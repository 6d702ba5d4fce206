/**
 * Normalises the many shapes a layers-model topology takes on disk into one:
 * `{class_name, config: {name, layers, ...}, keras_version?, backend?}`.
 *
 * Shapes seen in the wild:
 *   - tfjs `model.save()`:          `{class_name, config: {name, layers}, keras_version, backend}`
 *   - Python converter / Keras h5:  `{keras_version, backend, model_config: {class_name, config}, training_config}`
 *   - old Keras Sequential:         `config` is a bare list of layers instead of `{name, layers}`
 *     (also for a Sequential nested as a layer inside another model).
 */
import { InputError } from '../errors.js';
import type { LayerJson, ModelJson } from './topology.js';

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Returns a fresh, normalised copy of `raw` (the input is never mutated).
 * `file` is only used to name the source in error messages.
 */
export function normalizeTopology(raw: unknown, file: string): ModelJson {
  if (!isObject(raw)) {
    throw new InputError(`${file}: modelTopology is not a JSON object`);
  }
  // Work on a deep copy: tfjs's fromConfig mutates configs, and callers may keep the original.
  const topology = structuredClone(raw);
  let inner: unknown = topology;
  if (topology.model_config !== undefined && topology.model_config !== null) {
    inner = topology.model_config;
  }
  if (!isObject(inner) || typeof inner.class_name !== 'string') {
    throw new InputError(`${file}: modelTopology has no class_name (is this a tfjs layers model.json?)`);
  }
  const model: ModelJson = {
    class_name: inner.class_name,
    config: normalizeModelConfig(inner.class_name, inner.config, undefined, file, 'modelTopology'),
  };
  // The wrapper (Keras h5 style) carries keras_version/backend outside model_config; prefer the inner ones.
  const kerasVersion = inner.keras_version ?? topology.keras_version;
  const backend = inner.backend ?? topology.backend;
  if (typeof kerasVersion === 'string') model.keras_version = kerasVersion;
  if (typeof backend === 'string') model.backend = backend;
  return model;
}

/** Normalises the `config` of a model (top level or nested), recursing into nested models. */
function normalizeModelConfig(
  className: string,
  config: unknown,
  fallbackName: string | undefined,
  file: string,
  where: string,
): JsonObject {
  let normalized: JsonObject;
  if (Array.isArray(config)) {
    // Old Keras Sequential: the config *is* the layer list.
    if (className !== 'Sequential') {
      throw new InputError(`${file}: ${where} is a ${className} whose config is a list; only Sequential may be written that way`);
    }
    normalized = { name: fallbackName ?? 'sequential', layers: config };
  } else if (isObject(config)) {
    normalized = config;
  } else {
    throw new InputError(`${file}: ${where} has no config object`);
  }
  if (!Array.isArray(normalized.layers)) {
    throw new InputError(`${file}: ${where} (${className}) has no layers list`);
  }
  normalized.layers = normalized.layers.map((layer: unknown, index: number) =>
    normalizeLayer(layer, file, `${where}.config.layers[${index}]`),
  );
  return normalized;
}

const MODEL_CLASS_NAMES = new Set(['Sequential', 'Model', 'Functional']);

function normalizeLayer(layer: unknown, file: string, where: string): LayerJson {
  if (!isObject(layer) || typeof layer.class_name !== 'string') {
    throw new InputError(`${file}: ${where} is not a layer (needs class_name)`);
  }
  if (MODEL_CLASS_NAMES.has(layer.class_name)) {
    // A model used as a layer: its config is itself a model config (maybe old list style).
    const name = typeof layer.name === 'string' ? layer.name : undefined;
    layer.config = normalizeModelConfig(layer.class_name, layer.config, name, file, where);
  } else if (!isObject(layer.config)) {
    throw new InputError(`${file}: ${where} (${layer.class_name}) has no config object`);
  }
  return layer as unknown as LayerJson;
}
