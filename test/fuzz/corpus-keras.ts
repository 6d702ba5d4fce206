/**
 * Keras files slim must refuse in one line (exit 2): content tfjs cannot run (Lambda, custom or
 * unknown classes, subclassed models), files without what a full model needs (weights only, no
 * config.json, no model.weights.h5, no model_weights), and broken files (truncated or corrupt zip,
 * a model_config that is not JSON, weights whose shapes do not fit the config).
 *
 * Every file is generated here from the corpus's tiny valid model, written by slim's own Keras
 * writer and then broken (zip members edited with fflate, HDF5 files built with h5wasm).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { unzipSync, zipSync, type Zippable } from 'fflate';
import { readModel } from '../../src/model/io.js';
import { buildHdf5 } from '../../src/model/keras/hdf5.js';
import { encodeKerasFile } from '../../src/model/keras/write.js';
import type { LayerJson, ModelArtifacts } from '../../src/model/topology.js';
import type { Base, Corpus } from './corpus.js';

type Json = Record<string, unknown>;

/** Keras 3 form of a layer the tiny model does not have (inserted after its InputLayer). */
function keras3Layer(module: string, className: string, config: Json, registeredName: string | null = null): Json {
  return { module, class_name: className, config, registered_name: registeredName };
}

const LAMBDA_CONFIG = { name: 'double', function: { class_name: '__lambda__', config: { code: 'e30=' } }, arguments: {} };

/** `.keras` archive members → edited members: the config transformed, or members left out / replaced. */
interface ArchiveEdit {
  config?: (config: Json) => unknown;
  drop?: string[];
  replace?: Record<string, Uint8Array>;
}

function editArchive(archive: Uint8Array, edit: ArchiveEdit): Uint8Array {
  const members: Zippable = unzipSync(archive);
  if (edit.config !== undefined) {
    const config = JSON.parse(new TextDecoder().decode(members['config.json'] as Uint8Array)) as Json;
    members['config.json'] = new TextEncoder().encode(JSON.stringify(edit.config(config)));
  }
  for (const name of edit.drop ?? []) delete members[name];
  Object.assign(members, edit.replace ?? {});
  return zipSync(members);
}

/** The Keras 3 config's layer list (the tiny model is a Sequential). */
function keras3Layers(config: Json): Json[] {
  return (config.config as { layers: Json[] }).layers;
}

function withKeras3Layer(layer: Json): (config: Json) => Json {
  return (config) => {
    keras3Layers(config).splice(1, 0, layer);
    return config;
  };
}

/** The `.keras` variants: name → file bytes. */
function archiveVariants(archive: Uint8Array): Record<string, Uint8Array> {
  const text = (s: string) => new TextEncoder().encode(s);
  const truncated = archive.subarray(0, Math.floor(archive.length * 0.6));
  // Overwrite the end-of-central-directory record and the central directory before it.
  const corrupt = Uint8Array.from(archive);
  corrupt.fill(0x5a, Math.max(4, corrupt.length - 200));
  return {
    'zip-lambda': editArchive(archive, { config: withKeras3Layer(keras3Layer('keras.layers', 'Lambda', LAMBDA_CONFIG)) }),
    'zip-custom-class': editArchive(archive, {
      config: withKeras3Layer(keras3Layer('my_package.layers', 'MyBlock', { name: 'my_block' }, 'Custom>MyBlock')),
    }),
    'zip-unknown-class': editArchive(archive, { config: withKeras3Layer(keras3Layer('keras.layers', 'FancyLayer', { name: 'fancy' })) }),
    'zip-subclassed': editArchive(archive, {
      config: () => ({ module: 'my_models', class_name: 'MyModel', config: {}, registered_name: 'Custom>MyModel' }),
    }),
    'zip-subclassed-no-config': editArchive(archive, {
      config: () => ({ module: 'my_models', class_name: 'MyModel', registered_name: 'Custom>MyModel' }),
    }),
    'zip-no-config': editArchive(archive, { drop: ['config.json'] }),
    'zip-no-weights': editArchive(archive, { drop: ['model.weights.h5'] }),
    'zip-config-not-json': editArchive(archive, { replace: { 'config.json': text('{"class_name": "Sequential", ') } }),
    'zip-config-not-object': editArchive(archive, { replace: { 'config.json': text('[1, 2, 3]') } }),
    'zip-weights-not-hdf5': editArchive(archive, { replace: { 'model.weights.h5': text('not an HDF5 file') } }),
    'zip-wrong-shapes': editArchive(archive, {
      // The config asks for 5 conv filters; the weights hold 4.
      config: (config) => {
        const conv = keras3Layers(config).find((l) => l.class_name === 'Conv2D')!;
        (conv.config as Json).filters = 5;
        return config;
      },
    }),
    'zip-extra-layer': editArchive(archive, {
      // One more Dense than the weights file has a `layers/dense_<n>` group for.
      config: (config) => {
        const layers = keras3Layers(config);
        const head = layers.at(-1)!;
        layers.push({ ...head, config: { ...(head.config as Json), name: 'extra_head', units: 10 } });
        return config;
      },
    }),
    'zip-truncated': truncated,
    'zip-corrupt-directory': corrupt,
    'zip-garbage': Uint8Array.from([0x50, 0x4b, 0x03, 0x04, ...Array.from({ length: 300 }, (_, i) => (i * 37) % 256)]),
  };
}

/** The tiny model with `layer` inserted after its first layer (Lambda, custom class, …). */
function withLayer(model: ModelArtifacts, layer: LayerJson): ModelArtifacts {
  const topology = structuredClone(model.modelTopology);
  (topology.config.layers as LayerJson[]).splice(1, 0, layer);
  return { ...model, modelTopology: topology };
}

/** A legacy weights-only file, as `model.save_weights('w.h5')` writes it: layer groups, no model_config. */
async function weightsOnlyHdf5(model: ModelArtifacts): Promise<Uint8Array> {
  const layers = (model.modelTopology.config.layers as LayerJson[]).map((l) => String(l.config.name));
  return buildHdf5((f) => {
    f.create_attribute('layer_names', layers);
    f.create_attribute('keras_version', '2.15.0');
    for (const name of layers) {
      const group = f.create_group(name);
      const weights = [...model.weights].filter(([key]) => key.startsWith(`${name}/`));
      group.create_attribute('weight_names', weights.length > 0 ? weights.map(([key]) => `${key}:0`) : ['none'], [weights.length || 1]);
      const vars = weights.length > 0 ? group.create_group(name) : undefined;
      for (const [key, w] of weights) vars!.create_dataset({ name: `${key.split('/')[1]}:0`, data: w.data, shape: w.shape, dtype: '<f' });
    }
  });
}

/** An HDF5 file with the given root attributes only (no model_weights group). */
function attributesOnlyHdf5(attributes: Record<string, string>): Promise<Uint8Array> {
  return buildHdf5((f) => {
    for (const [name, value] of Object.entries(attributes)) f.create_attribute(name, value);
  });
}

/** The legacy `.h5` variants: name → file bytes. */
async function hdf5Variants(model: ModelArtifacts, h5: Uint8Array): Promise<Record<string, Uint8Array>> {
  const lambda: LayerJson = { class_name: 'Lambda', config: LAMBDA_CONFIG };
  const unknown: LayerJson = { class_name: 'MyCustomLayer', config: { name: 'my_custom', trainable: true } };
  const subclassed = { ...model, modelTopology: { ...model.modelTopology, class_name: 'MyModel' } };
  const wrongShapes = { ...model, weights: new Map(model.weights) };
  const kernel = wrongShapes.weights.get('conv/kernel')!;
  wrongShapes.weights.set('conv/kernel', { ...kernel, shape: [3, 3, 1, 5], data: new Float32Array(45).fill(0.1) });
  const config = JSON.stringify({ class_name: 'Sequential', config: model.modelTopology.config });
  return {
    'h5-lambda': await encodeKerasFile(withLayer(model, lambda), 'h5'),
    'h5-unknown-class': await encodeKerasFile(withLayer(model, unknown), 'h5'),
    'h5-subclassed': await encodeKerasFile(subclassed, 'h5'),
    'h5-weights-only': await weightsOnlyHdf5(model),
    'h5-config-not-json': await attributesOnlyHdf5({ model_config: '{"class_name": "Sequential", "config": {' }),
    'h5-config-not-object': await attributesOnlyHdf5({ model_config: '"Sequential"' }),
    'h5-no-model-weights': await attributesOnlyHdf5({ model_config: config, keras_version: '2.15.0' }),
    'h5-no-attributes': await buildHdf5((f) => void f.create_group('something_else')),
    'h5-wrong-shapes': await encodeKerasFile(wrongShapes, 'h5'),
    'h5-truncated': h5.subarray(0, Math.floor(h5.length * 0.6)),
  };
}

/**
 * Variants broken only in their weights: `report` reads the config alone (as for a model.json whose
 * shards are bad), so it counts them; every command that needs the weights refuses them.
 */
const WEIGHTS_ONLY_FAULTS = new Set([
  'zip-no-weights',
  'zip-weights-not-hdf5',
  'zip-wrong-shapes',
  'zip-extra-layer',
  'h5-no-model-weights',
  'h5-wrong-shapes',
]);

/** Commands each Keras variant goes through; train reads the model before any data. */
function commandsFor(name: string, file: string, base: Base): Array<[string, (cwd: string) => string[]]> {
  return [
    ...(WEIGHTS_ONLY_FAULTS.has(name) ? [] : [['report', () => ['report', '--model', file]] as [string, () => string[]]]),
    ['prune', (cwd) => ['prune', '--model', file, '--ratio', '0.5', '--out', path.join(cwd, 'out')]],
    ['export', (cwd) => ['export', '--model', file, '--format', 'keras', '--out', path.join(cwd, 'out.keras'), '--backend', 'cpu']],
    ['train', (cwd) => ['train', '--config', base.goodConfig, '--model', file, '--out', path.join(cwd, 'out')]],
  ];
}

export async function addKerasCases(corpus: Corpus, base: Base): Promise<void> {
  const model = await readModel(base.goodModel);
  const variants = {
    ...archiveVariants(await encodeKerasFile(model, 'keras')),
    ...(await hdf5Variants(model, await encodeKerasFile(model, 'h5'))),
  };
  const dir = corpus.fixture('keras');
  await mkdir(dir, { recursive: true });
  for (const [name, bytes] of Object.entries(variants)) {
    const file = path.join(dir, `${name}.${name.startsWith('zip-') ? 'keras' : 'h5'}`);
    await writeFile(file, bytes);
    for (const [command, argv] of commandsFor(name, file, base)) await corpus.add(`keras/${name}/${command}`, 'keras', 2, argv);
  }
}
