/**
 * Reads Keras model files without Python: Keras 3 `.keras` archives (zip of config.json +
 * model.weights.h5) and legacy Keras 2 full-model HDF5 files (`model_config` attribute +
 * `model_weights` group). The kind is told by the file's first bytes, never its name: legacy HDF5
 * files are often saved under `.keras`.
 *
 * The result is the same plain tfjs topology + weight map `readModel` returns for a model.json.
 */
import { unzipSync } from 'fflate';
import { InputError } from '../../errors.js';
import type { LayerJson, ModelArtifacts, ModelJson, Weight, WeightMap } from '../topology.js';
import { printable } from '../printable.js';
import { toTfjsTopology } from './config.js';
import { attribute, isDataset, isGroup, withHdf5Bytes, type Group, type H5File } from './hdf5.js';
import { keras3LayerPaths, layerNamePaths, weightNamesOf, type Keras3LayerPath } from './weights.js';

export type KerasFileKind = 'keras-zip' | 'hdf5';

const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];
const HDF5_MAGIC = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

/** The Keras file kind of `head` (the file's first bytes), or undefined for anything else. */
export function sniffKerasFile(head: Uint8Array): KerasFileKind | undefined {
  const starts = (magic: number[]) => magic.every((byte, i) => head[i] === byte);
  if (starts(ZIP_MAGIC)) return 'keras-zip';
  if (starts(HDF5_MAGIC)) return 'hdf5';
  return undefined;
}

export interface KerasReadResult {
  artifacts: ModelArtifacts;
  /** Augmentation layers left out (identity at inference), as `name (Class)`. */
  droppedAugmentation: string[];
}

function parseJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new InputError(`${where}: not valid JSON (${printable((error as Error).message)})`, { cause: error });
  }
}

/** Reads a Keras file's bytes; `file` names it in messages. */
export async function readKerasBytes(bytes: Uint8Array, file: string, options: { weights?: boolean } = {}): Promise<KerasReadResult> {
  const kind = sniffKerasFile(bytes.subarray(0, 8));
  if (kind === 'keras-zip') return readKerasZip(bytes, file, options.weights !== false);
  if (kind === 'hdf5') return readLegacyHdf5(bytes, file, options.weights !== false);
  throw new InputError(`${file}: neither a Keras 3 archive nor an HDF5 file (by its first bytes)`);
}

async function readKerasZip(bytes: Uint8Array, file: string, withWeights: boolean): Promise<KerasReadResult> {
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(bytes, {
      filter: (f) => f.name === 'config.json' || f.name === 'metadata.json' || (withWeights && f.name === 'model.weights.h5'),
    });
  } catch (error) {
    throw new InputError(`${file}: cannot unzip (${(error as Error).message})`, { cause: error });
  }
  if (entries['config.json'] === undefined) throw new InputError(`${file}: zip archive has no config.json (not a Keras 3 model file)`);
  const config = parseJson(new TextDecoder().decode(entries['config.json']), `${file}: config.json`);
  const metadata = entries['metadata.json'] ? parseJson(new TextDecoder().decode(entries['metadata.json']), `${file}: metadata.json`) : {};
  const kerasVersion = (metadata as Record<string, unknown>)?.keras_version;
  const { topology, droppedAugmentation } = toTfjsTopology(config, file, typeof kerasVersion === 'string' ? kerasVersion : undefined);
  const weights: WeightMap = new Map();
  if (withWeights) {
    const h5 = entries['model.weights.h5'];
    if (h5 === undefined) throw new InputError(`${file}: archive has no model.weights.h5`);
    await withHdf5Bytes(h5, `${file}: model.weights.h5`, (f) => collectKeras3Weights(topology.config.layers, f, weights, file));
  }
  return {
    artifacts: {
      modelTopology: topology,
      weights,
      format: 'layers-model',
      generatedBy: `Keras ${typeof kerasVersion === 'string' ? kerasVersion : '3'}`,
      convertedBy: 'slim',
    },
    droppedAugmentation,
  };
}

async function readLegacyHdf5(bytes: Uint8Array, file: string, withWeights: boolean): Promise<KerasReadResult> {
  return withHdf5Bytes(bytes, file, (f) => {
    const rawConfig = attribute(f, 'model_config');
    if (rawConfig === undefined) {
      const weightsOnly = attribute(f, 'layer_names') !== undefined || f.keys().includes('model_weights');
      throw new InputError(
        weightsOnly
          ? `${file}: holds weights only (save_weights) and no model config; save the whole model (model.save) so slim knows its layers`
          : `${file}: an HDF5 file without a Keras model config (model_config attribute)`,
      );
    }
    // h5wasm gives a string attribute as a string; anything else is not a Keras model config.
    const config = parseJson(typeof rawConfig === 'string' ? rawConfig : JSON.stringify(rawConfig), `${file}: model_config`);
    const kerasVersion = attribute(f, 'keras_version');
    const { topology, droppedAugmentation } = toTfjsTopology(config, file, typeof kerasVersion === 'string' ? kerasVersion : undefined);
    const weights: WeightMap = new Map();
    if (withWeights) {
      const group = f.get('model_weights');
      if (!isGroup(group)) throw new InputError(`${file}: has a model config but no model_weights group`);
      collectLegacyWeights(topology.config.layers, group, weights, file);
    }
    return {
      artifacts: {
        modelTopology: topology,
        weights,
        format: 'layers-model',
        generatedBy: `Keras ${typeof kerasVersion === 'string' ? kerasVersion : '2'}`,
        convertedBy: 'slim',
      },
      droppedAugmentation,
    };
  });
}

const isModel = (layer: LayerJson): boolean => Array.isArray(layer.config.layers);

function layerName(layer: LayerJson): string {
  return String(layer.config.name ?? layer.name);
}

function toWeight(dataset: unknown, where: string): Weight {
  if (!isDataset(dataset)) throw new InputError(`${where}: missing in the weights file`);
  const value = dataset.value;
  const shape = dataset.shape ?? [];
  if (value instanceof Float32Array) return { shape, dtype: 'float32', data: value };
  if (value instanceof Float64Array || value instanceof Uint16Array) {
    // float64 (and float16 read as raw halves is refused below) widen/narrow to slim's float32.
    if (value instanceof Uint16Array) throw new InputError(`${where}: float16 weights are not supported`);
    return { shape, dtype: 'float32', data: Float32Array.from(value) };
  }
  if (value instanceof Int32Array) return { shape, dtype: 'int32', data: value };
  throw new InputError(`${where}: weights of dtype ${JSON.stringify(dataset.dtype)} are not supported (float32/float64/int32)`);
}

/** Keras-order weight names of a leaf layer, refusing layers whose weights slim does not know. */
function leafWeightNames(layer: LayerJson, stored: number, file: string, where?: string): string[] {
  const names = weightNamesOf(layer);
  if (names === undefined) {
    if (stored === 0) return [];
    throw new InputError(`${file}: layer '${layerName(layer)}' (${layer.class_name}) has weights slim cannot map`);
  }
  if (names.length !== stored) {
    throw new InputError(
      `${file}: layer '${layerName(layer)}' (${layer.class_name}) stores ${stored} weights${where === undefined ? '' : ` in ${where}/vars`}, expected ${names.length} (${names.join(', ')})`,
    );
  }
  return names;
}

/**
 * The entity at `path` (`a/b/c`) under `root`. tf-keras 2.13–2.15 on Windows joined the path with
 * `\`, so `layers\dense` may be one name at the top instead of two groups.
 */
function entityAt(root: Group, path: string): unknown {
  const parts = path.split('/');
  let current: unknown = root;
  for (let i = 0; i < parts.length;) {
    if (!isGroup(current)) return undefined;
    const keys = current.keys();
    let end = parts.length;
    while (end > i && !keys.includes(parts.slice(i, end).join('\\'))) end--;
    if (end === i) return undefined;
    current = current.get(parts.slice(i, end).join('\\'));
    i = end;
  }
  return current;
}

function varsCount(f: H5File, path: string): number {
  const vars = entityAt(f, `${path}/vars`);
  return isGroup(vars) ? vars.keys().length : 0;
}

/**
 * Keras 3 layout: `<path>/vars/<i>` per leaf layer, with paths as Keras names them (keras3LayerPaths).
 * Files slim wrote before it followed Keras used layer names; those are read when their layout is
 * the one that fits every layer.
 */
function collectKeras3Weights(layers: LayerJson[], f: H5File, out: WeightMap, file: string): void {
  const fits = (paths: Keras3LayerPath[]) => paths.every(({ layer, path }) => varsCount(f, path) === (weightNamesOf(layer)?.length ?? 0));
  const byClass = keras3LayerPaths(layers);
  const byName = layerNamePaths(layers);
  const paths = fits(byClass) || !fits(byName) ? byClass : byName;
  for (const { layer, path } of paths) {
    const names = leafWeightNames(layer, varsCount(f, path), file, path);
    names.forEach((w, i) => out.set(`${layerName(layer)}/${w}`, toWeight(entityAt(f, `${path}/vars/${i}`), `${file}: ${path}/vars/${i}`)));
  }
}

/** Leaf layers with weights under `layer`, depth first (a nested model's weights live in one group). */
function weightedLeaves(layer: LayerJson): LayerJson[] {
  if (isModel(layer)) return (layer.config.layers as LayerJson[]).flatMap(weightedLeaves);
  const names = weightNamesOf(layer);
  return names !== undefined && names.length > 0 ? [layer] : [];
}

/**
 * Keras 2 layout: `model_weights/<layer>` lists its datasets in `weight_names`, e.g.
 * `batch_normalization_1/batch_normalization_1_1/gamma:0` → path inside the group + `gamma`.
 * A nested model's group holds all its inner weights (trainable ones first), so they are grouped by
 * the scope before the weight's own name, in order of first appearance, and matched to the inner
 * layers with weights in order.
 */
function collectLegacyWeights(layers: LayerJson[], group: Group, out: WeightMap, file: string): void {
  for (const layer of layers) {
    const name = layerName(layer);
    const layerGroup = group.get(name);
    const weightNames = isGroup(layerGroup) ? ((attribute(layerGroup, 'weight_names') as string[] | undefined) ?? []) : [];
    const byScope = new Map<string, Map<string, string>>();
    for (const stored of weightNames) {
      const cut = stored.lastIndexOf('/');
      const scope = cut === -1 ? '' : stored.slice(0, cut);
      const own = stored.slice(cut + 1).replace(/:\d+$/, '');
      if (!byScope.has(scope)) byScope.set(scope, new Map());
      byScope.get(scope)!.set(own, stored);
    }
    const leaves = isModel(layer) ? weightedLeaves(layer) : weightNames.length > 0 || weightNamesOf(layer)?.length ? [layer] : [];
    const scopes = [...byScope.values()];
    if (!isModel(layer) && scopes.length > 1) {
      // One layer whose weights sit in several scopes (unusual): treat them as one list in order.
      const merged = new Map<string, string>();
      scopes.forEach((s) => s.forEach((v, k) => merged.set(`${merged.size}:${k}`, v)));
      scopes.splice(0, scopes.length, merged);
    }
    if (scopes.length !== leaves.length) {
      throw new InputError(
        `${file}: layer '${name}' has weights for ${scopes.length} layer(s) in the file but the config has ${leaves.length}`,
      );
    }
    leaves.forEach((leaf, i) => {
      const stored = scopes[i];
      const names = leafWeightNames(leaf, stored.size, file);
      const storedNames = [...stored.keys()];
      const byName = names.every((w) => stored.has(w));
      names.forEach((w, j) => {
        const datasetName = byName ? stored.get(w)! : stored.get(storedNames[j])!;
        out.set(
          `${layerName(leaf)}/${w}`,
          toWeight((layerGroup as Group).get(datasetName), `${file}: model_weights/${name}/${datasetName}`),
        );
      });
    });
  }
}

export type { ModelJson };
