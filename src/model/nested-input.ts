/**
 * The input shape of a model that is used as the first layer of a Sequential.
 *
 * Teachable Machine (tfjs-layers 1.x) writes a Sequential whose first layer is another Sequential
 * wrapping a functional MobileNet; none of the outer layers carries `batch_input_shape`, only the
 * innermost InputLayer does. Stock tfjs finds the input by asking the nested model, at any depth;
 * this does the same on topology JSON.
 */
import type { LayerJson } from './topology.js';

type Shape = (number | null)[];
type JsonObject = Record<string, unknown>;

const MODEL_CLASSES = new Set(['Sequential', 'Model', 'Functional']);

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The shape a layer config declares for its input (`batch_input_shape` and its spellings). */
export function declaredInputShape(config: JsonObject): Shape | undefined {
  const asShape = (v: unknown): Shape | undefined => (Array.isArray(v) ? ([...(v as unknown[])] as Shape) : undefined);
  if (Array.isArray(config.input_shape)) return [null, ...(config.input_shape as Shape)];
  return asShape(config.batch_input_shape) ?? asShape(config.batchInputShape) ?? asShape(config.batch_shape);
}

function modelLayers(config: unknown): LayerJson[] {
  if (Array.isArray(config)) return config as LayerJson[];
  if (isObject(config) && Array.isArray(config.layers)) return config.layers as LayerJson[];
  return [];
}

/**
 * The input shape of `layer` when it is itself a model: its own declared shape, else (Sequential)
 * its first layer's, recursively, else (functional) its single input layer's. Undefined when no
 * depth declares one, or when a functional model has several inputs.
 */
export function nestedModelInputShape(layer: LayerJson, depth = 0): Shape | undefined {
  const config: unknown = layer.config;
  if (isObject(config)) {
    const own = declaredInputShape(config);
    if (own !== undefined) return own;
  }
  if (!MODEL_CLASSES.has(layer.class_name) || depth > 32) return undefined;
  const layers = modelLayers(config);
  if (layer.class_name === 'Sequential') {
    const first = layers[0];
    if (first === undefined) return undefined;
    return isObject(first.config) ? (declaredInputShape(first.config) ?? nestedModelInputShape(first, depth + 1)) : undefined;
  }
  const inputNames: unknown[] = isObject(config) && Array.isArray(config.input_layers) ? (config.input_layers as unknown[]) : [];
  // One reference may be written unwrapped: ["name", 0, 0].
  const refs = typeof inputNames[0] === 'string' ? [inputNames] : inputNames;
  if (refs.length !== 1 || !Array.isArray(refs[0])) return undefined;
  const inputName: unknown = (refs[0] as unknown[])[0];
  const input = layers.find((l) => (l.name ?? l.config?.name) === inputName);
  if (input === undefined) return undefined;
  return isObject(input.config) ? (declaredInputShape(input.config) ?? nestedModelInputShape(input, depth + 1)) : undefined;
}
