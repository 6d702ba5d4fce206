/**
 * BatchNormalization saved with `scale: false` (Keras' InceptionV3 and models built like it) has
 * no γ, so Network Slimming has nothing to push towards zero. Giving such a layer a γ of ones
 * leaves its function unchanged and makes its channels prunable. Pure functions on topology JSON
 * and weights; the live-model wrapper goes through tfjs's own (de)serialisation.
 */
import type * as tf from '#tfjs';
import { fromLayersModel, toLayersModel } from './convert.js';
import type { LayerJson, ModelArtifacts, ModelJson, Weight, WeightMap } from './topology.js';

const MODEL_CLASSES = new Set(['Sequential', 'Model', 'Functional']);

/** Every BatchNormalization layer of a topology, nested models included. */
function batchNormLayers(topology: ModelJson | LayerJson): LayerJson[] {
  const layers: unknown = Array.isArray(topology.config) ? topology.config : topology.config?.layers;
  const found: LayerJson[] = [];
  for (const layer of Array.isArray(layers) ? (layers as LayerJson[]) : []) {
    if (layer.class_name === 'BatchNormalization') found.push(layer);
    else if (MODEL_CLASSES.has(layer.class_name)) found.push(...batchNormLayers(layer));
  }
  return found;
}

function layerNameOf(layer: LayerJson): string {
  return String(layer.name ?? layer.config?.name ?? '');
}

/** The manifest name of a layer's weight of `role` (tfjs writes `<layer>/<role>`, converters may prefix). */
function weightNameOf(weights: WeightMap, layer: string, role: string): string | undefined {
  const suffix = `${layer}/${role}`;
  for (const name of weights.keys()) if (name === suffix || name.endsWith(`/${suffix}`)) return name;
  return undefined;
}

/** How many BN layers have no γ, and how many have one. */
export function countBnScales(topology: ModelJson): { withoutScale: number; withScale: number } {
  const bns = batchNormLayers(topology);
  const withoutScale = bns.filter((l) => l.config?.scale === false).length;
  return { withoutScale, withScale: bns.length - withoutScale };
}

/**
 * The refusal for pruning a model whose BatchNorm layers all lack γ, or undefined when some
 * BN has one (or there is no BN: the plan says that itself).
 */
export function missingScaleRefusal(topology: ModelJson): string | undefined {
  const { withoutScale, withScale } = countBnScales(topology);
  if (withoutScale === 0 || withScale > 0) return undefined;
  return (
    `every BatchNormalization (${withoutScale}) has scale: false, so there is no gamma to prune by; ` +
    'sparsity-train it first with slim train or slim run (train.addMissingScale, on by default, gives each a gamma of ones)'
  );
}

/**
 * A copy of `artifacts` where every BN with `scale: false` has `scale: true` and a γ of ones
 * (placed before its β in the weight order, as tfjs orders them). Returns the names of those layers.
 */
export function addMissingBnScale(artifacts: ModelArtifacts): { artifacts: ModelArtifacts; added: string[] } {
  const topology = structuredClone(artifacts.modelTopology);
  const gammaBefore = new Map<string, [string, Weight]>();
  const added: string[] = [];
  for (const layer of batchNormLayers(topology)) {
    if (layer.config?.scale !== false) continue;
    const name = layerNameOf(layer);
    const anchor = weightNameOf(artifacts.weights, name, 'beta') ?? weightNameOf(artifacts.weights, name, 'moving_mean');
    if (anchor === undefined) continue; // no weights to size γ by: leave the layer as it is
    const channels = artifacts.weights.get(anchor)!.shape[0];
    const gammaName = anchor.replace(/(beta|moving_mean)$/, 'gamma');
    gammaBefore.set(anchor, [gammaName, { shape: [channels], dtype: 'float32', data: new Float32Array(channels).fill(1) }]);
    layer.config.scale = true;
    // The initializer only matters to someone rebuilding the layer from config: ones, as Keras' default.
    layer.config.gamma_initializer = { class_name: 'Ones', config: {} };
    added.push(name);
  }
  const weights: WeightMap = new Map();
  for (const [name, weight] of artifacts.weights) {
    const gamma = gammaBefore.get(name);
    if (gamma !== undefined) weights.set(gamma[0], gamma[1]);
    weights.set(name, weight);
  }
  return { artifacts: { ...artifacts, modelTopology: topology, weights }, added };
}

/**
 * The live-model form: a new model with γ added (the old one is disposed), or the same model when
 * no BN lacks a scale.
 */
export async function addMissingBnScaleToModel(model: tf.LayersModel): Promise<{ model: tf.LayersModel; added: string[] }> {
  const artifacts = await fromLayersModel(model);
  const result = addMissingBnScale(artifacts);
  if (result.added.length === 0) return { model, added: [] };
  const rebuilt = await toLayersModel(result.artifacts);
  model.dispose();
  return { model: rebuilt, added: result.added };
}
