/**
 * Writes slim's artifacts back as Keras files, so a Python user gets the model in their own format:
 * a Keras 3 `.keras` archive (config.json + metadata.json + model.weights.h5) or a legacy Keras 2
 * full-model HDF5 file. Both are written to a temp file beside the target, then renamed (atomic).
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { zipSync } from 'fflate';
import type * as tf from '#tfjs';
import { InputError } from '../../errors.js';
import { createParents, stagingPath } from '../../io/out-path.js';
import { toLayersModel } from '../convert.js';
import type { LayerJson, ModelArtifacts, ModelJson, Weight } from '../topology.js';
import { toKeras3Config, type KerasShapes } from './config.js';
import { VERSION } from '../../version.js';
import { buildHdf5, type Group, type H5File } from './hdf5.js';
import { keras3LayerPaths, weightNamesOf } from './weights.js';

export type KerasFormat = 'keras' | 'h5';

/** The Keras version written into files: the layout slim writes follows this release's format. */
const KERAS3_VERSION = '3.6.0';
const KERAS2_VERSION = '2.15.0';

const isModel = (layer: LayerJson): boolean => Array.isArray(layer.config.layers);
const nameOf = (layer: LayerJson): string => String(layer.config.name ?? layer.name);

/** The weights of a leaf layer, Keras order, from the artifacts' `layer/weight` names. */
function leafWeights(layer: LayerJson, artifacts: ModelArtifacts): [string, Weight][] {
  const names = weightNamesOf(layer) ?? [];
  const found = names.map((w) => [w, artifacts.weights.get(`${nameOf(layer)}/${w}`)] as const);
  const missing = found.filter(([, weight]) => weight === undefined).map(([w]) => w);
  if (missing.length > 0) throw new InputError(`layer '${nameOf(layer)}': weights ${missing.join(', ')} are missing`);
  const unknown = weightNamesOf(layer) === undefined && [...artifacts.weights.keys()].some((k) => k.startsWith(`${nameOf(layer)}/`));
  if (unknown) throw new InputError(`layer '${nameOf(layer)}' (${layer.class_name}) has weights slim cannot write as Keras`);
  return found as [string, Weight][];
}

function dataset(group: Group, name: string, weight: Weight): void {
  group.create_dataset({ name, data: weight.data, shape: weight.shape, dtype: weight.dtype === 'float32' ? '<f' : '<i' });
}

/** Creates `name` under `parent`, with any groups a `/` inside it implies (legacy names may hold `/`). */
function groupAt(parent: Group, name: string): Group {
  let current = parent;
  for (const part of name.split('/')) {
    current = (current.keys().includes(part) ? current.get(part) : current.create_group(part)) as Group;
  }
  return current;
}

/** Keras 3 layout (keras3LayerPaths): `<path>/vars/<i>` per layer, and an empty `vars` for each nested model. */
function writeKeras3Weights(layers: LayerJson[], root: H5File, artifacts: ModelArtifacts): void {
  groupAt(root, 'layers');
  for (const { layer, path } of keras3LayerPaths(layers)) {
    if (layer.class_name === 'InputLayer') continue;
    const models = path.split('/layers/').slice(0, -1);
    models.forEach((_, i) => groupAt(root, `${models.slice(0, i + 1).join('/layers/')}/vars`));
    const vars = groupAt(root, `${path}/vars`);
    leafWeights(layer, artifacts).forEach(([, weight], i) => dataset(vars, String(i), weight));
  }
}

const NON_TRAINABLE = new Set(['moving_mean', 'moving_variance']);

function writeLegacyWeights(topology: ModelJson, root: H5File, artifacts: ModelArtifacts): void {
  const modelWeights = root.create_group('model_weights');
  const layers = topology.config.layers as LayerJson[];
  modelWeights.create_attribute('layer_names', layers.map(nameOf));
  modelWeights.create_attribute('backend', 'tensorflow');
  modelWeights.create_attribute('keras_version', KERAS2_VERSION);
  for (const layer of layers) {
    const group = groupAt(modelWeights, nameOf(layer));
    const leaves = isModel(layer) ? flattenLeaves(layer) : [layer];
    // Keras 2 lists a nested model's trainable weights before its non-trainable ones.
    const entries = leaves.flatMap((leaf) => leafWeights(leaf, artifacts).map(([w, weight]) => ({ leaf: nameOf(leaf), w, weight })));
    const ordered = isModel(layer)
      ? [...entries.filter((e) => !NON_TRAINABLE.has(e.w)), ...entries.filter((e) => NON_TRAINABLE.has(e.w))]
      : entries;
    const weightNames = ordered.map((e) => `${e.leaf}/${e.w}:0`);
    for (const e of ordered) dataset(groupAt(group, e.leaf), `${e.w}:0`, e.weight);
    // Keras writes an empty list for weightless layers; h5wasm needs the shape and a dtype for that.
    if (weightNames.length > 0) group.create_attribute('weight_names', weightNames);
    else group.create_attribute('weight_names', [] as string[], [0], 'S1');
  }
}

function flattenLeaves(layer: LayerJson): LayerJson[] {
  return isModel(layer) ? (layer.config.layers as LayerJson[]).flatMap(flattenLeaves) : [layer];
}

/** Shapes from a live tfjs model (Keras 3 records each call's shapes and each layer's build shape). */
async function shapesFrom(artifacts: ModelArtifacts): Promise<{ shapes: KerasShapes; dispose: () => void }> {
  const model = await toLayersModel(artifacts);
  const layerAt = (layerPath: string[]): tf.layers.Layer | undefined => {
    let container: tf.LayersModel = model;
    let layer: tf.layers.Layer | undefined;
    for (const name of layerPath) {
      layer = container.getLayer(name);
      container = layer as unknown as tf.LayersModel;
    }
    return layer;
  };
  const output: KerasShapes['output'] = (layerPath, tensorIndex) => {
    const shape = layerAt(layerPath)?.outputShape;
    if (shape === undefined) return null;
    const one =
      Array.isArray(shape[0]) || (shape.length > 0 && shape[0] !== null && typeof shape[0] === 'object')
        ? (shape as unknown as (number | null)[][])[tensorIndex]
        : shape;
    return [...(one as (number | null)[])];
  };
  const input: KerasShapes['input'] = (layerPath) => {
    const tensors = layerPath.length === 0 ? model.inputs : layerAt(layerPath)?.inboundNodes[0]?.inputTensors;
    if (tensors === undefined || tensors.length === 0) return null;
    const shapes = tensors.map((t) => [...t.shape]);
    return shapes.length === 1 ? shapes[0] : shapes;
  };
  return { shapes: { output, input }, dispose: () => model.dispose() };
}

/**
 * The keras_version to write: the source's (read from a Keras file of the same major version,
 * recorded in `generatedBy` by read.ts), else the release whose layout slim writes. slim's own
 * version goes in slim's own field (`slim_version`), never in keras_version.
 */
export function kerasVersionFor(artifacts: ModelArtifacts, format: KerasFormat): string {
  const fallback = format === 'keras' ? KERAS3_VERSION : KERAS2_VERSION;
  const source = /^Keras (\d+)\.\d+\.\d+\S*$/.exec(artifacts.generatedBy ?? '');
  return source !== null && source[1] === fallback.split('.')[0] ? artifacts.generatedBy!.slice('Keras '.length) : fallback;
}

/** The bytes of a Keras file of `format` holding `artifacts`. */
export async function encodeKerasFile(artifacts: ModelArtifacts, format: KerasFormat): Promise<Uint8Array> {
  const topology = artifacts.modelTopology;
  const kerasVersion = kerasVersionFor(artifacts, format);
  if (format === 'h5') {
    const config = { class_name: topology.class_name, config: topology.config, keras_version: kerasVersion, backend: 'tensorflow' };
    return buildHdf5((f) => {
      f.create_attribute('model_config', JSON.stringify(config));
      f.create_attribute('keras_version', kerasVersion);
      f.create_attribute('slim_version', VERSION);
      f.create_attribute('backend', 'tensorflow');
      writeLegacyWeights(topology, f, artifacts);
    });
  }
  const { shapes, dispose } = await shapesFrom(artifacts);
  let config: unknown;
  try {
    config = toKeras3Config(topology, shapes);
  } finally {
    dispose();
  }
  const weightsFile = await buildHdf5((f) => {
    writeKeras3Weights(topology.config.layers, f, artifacts);
    groupAt(f, 'vars');
  });
  const metadata = {
    keras_version: kerasVersion,
    date_saved: new Date().toISOString().slice(0, 19).replace('T', '@'),
    saved_by: 'slim',
    slim_version: VERSION,
  };
  const encoder = new TextEncoder();
  return zipSync({
    'metadata.json': encoder.encode(JSON.stringify(metadata)),
    'config.json': encoder.encode(JSON.stringify(config)),
    'model.weights.h5': [weightsFile, { level: 0 }],
  });
}

/** Writes a Keras file atomically (temp file beside it, then rename); refuses to replace one unless `overwrite`. */
/** The policy for an existing Keras output file (a folder is refused; a file needs overwrite); returns its absolute path. */
export async function checkKerasTarget(outFile: string, format: KerasFormat, options: { overwrite?: boolean } = {}): Promise<string> {
  const target = path.resolve(outFile);
  const existing = await fs.lstat(target).catch(() => undefined);
  if (existing?.isDirectory()) throw new InputError(`${outFile}: is a folder; --format ${format} writes one file`);
  if (existing !== undefined && options.overwrite !== true) throw new InputError(`${outFile}: exists; --overwrite replaces it`);
  return target;
}

export async function writeKerasFile(
  outFile: string,
  artifacts: ModelArtifacts,
  format: KerasFormat,
  options: { overwrite?: boolean } = {},
): Promise<string> {
  const target = await checkKerasTarget(outFile, format, options);
  const bytes = await encodeKerasFile(artifacts, format);
  await createParents(target);
  const temp = stagingPath(target, 'tmp');
  try {
    const handle = await fs.open(temp, 'wx');
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temp, target);
  } catch (error) {
    await fs.rm(temp, { force: true });
    throw error;
  }
  return target;
}
