/**
 * Models at the library's boundary. A function takes either a live `tf.LayersModel` or slim's
 * plain data (`ModelArtifacts`: topology JSON + typed arrays, what the CLI reads from files) and
 * gives back the same kind it was given. A live model is read through its own `save()` (tfjs's
 * serialisation), so the caller's model is never modified and a model from another copy of tfjs 4
 * works too; a disposed model or one from another tfjs major is refused with its own error.
 */
import * as tf from '#tfjs';
import { InputError } from '../../errors.js';
import { fromLayersModel, toLayersModel } from '../../model/convert.js';
import { decodeGroup, type ManifestWeightSpec } from '../../model/io-manifest.js';
import { normalizeTopology } from '../../model/io-topology.js';
import type { ModelArtifacts, WeightMap } from '../../model/topology.js';
import { validateTopology, validateWeightValues } from '../../model/validate.js';
import { DisposedModelError, TfjsVersionError } from './errors.js';

export type { ModelArtifacts } from '../../model/topology.js';

/** What the library's model arguments accept. */
export type ModelInput = tf.LayersModel | ModelArtifacts;

/** Slim's plain-data model (a Map of typed-array weights), as opposed to a live model or tfjs's own artifacts. */
export function isSlimArtifacts(value: unknown): value is ModelArtifacts {
  return typeof value === 'object' && value !== null && 'modelTopology' in value && (value as { weights?: unknown }).weights instanceof Map;
}

/** Looks like a tfjs LayersModel, from this copy of tfjs or another one. */
function isLayersModelLike(value: unknown): value is tf.LayersModel {
  const v = value as { layers?: unknown; save?: unknown; getConfig?: unknown } | null;
  return (
    typeof v === 'object' && v !== null && Array.isArray(v.layers) && typeof v.save === 'function' && typeof v.getConfig === 'function'
  );
}

function major(version: string): number {
  return Number.parseInt(version, 10);
}

/** Major of the tfjs-layers a model's `generatedBy` names ("TensorFlow.js tfjs-layers v4.22.0"). */
function layersMajorOf(generatedBy: unknown): number | undefined {
  const match = typeof generatedBy === 'string' ? /tfjs-layers v(\d+)\./.exec(generatedBy) : null;
  return match === null ? undefined : Number(match[1]);
}

/** A model's weights are readable (a disposed model's variables throw on read). */
function checkNotDisposed(model: tf.LayersModel, fn: string, argument: string): void {
  try {
    for (const weight of model.weights) weight.read();
  } catch (error) {
    throw new DisposedModelError(`${fn}: ${argument}: the model was disposed (model.dispose()); pass a live model`, { cause: error });
  }
}

/**
 * The plain data of a model argument (the caller's model is only read). Slim artifacts are
 * returned as they are: the core never writes into its input.
 */
export async function artifactsOf(model: unknown, fn: string, argument = 'model'): Promise<ModelArtifacts> {
  if (isSlimArtifacts(model)) return model;
  if (!isLayersModelLike(model)) {
    throw new InputError(`${fn}: ${argument}: expected a tf.LayersModel (or slim's model artifacts), got ${describeValue(model)}`);
  }
  checkNotDisposed(model, fn, argument);
  if (!(model instanceof tf.LayersModel)) {
    // Another copy of tfjs: its save() tells which version built it.
    const foreign = await saveToMemory(model);
    checkSameMajor(foreign.generatedBy, fn, argument);
    return artifactsFromTfjs(foreign, `${fn}: ${argument}`);
  }
  return fromLayersModel(model);
}

function checkSameMajor(generatedBy: unknown, fn: string, argument: string): void {
  const theirs = layersMajorOf(generatedBy);
  const ours = major(tf.version_layers);
  if (theirs !== ours) {
    throw new TfjsVersionError(
      `${fn}: ${argument}: the model comes from TensorFlow.js ${theirs !== undefined ? `${theirs}.x` : 'of an unknown version'}, ` +
        `slim runs on ${tf.version_layers} (major ${ours}); load it with @tensorflow/tfjs ${ours}.x`,
    );
  }
}

/**
 * A model slim works on in place (training): a live model of the very tfjs slim runs on, since
 * its variables must live in that tfjs's engine.
 */
export async function requireLiveModel(model: unknown, fn: string, argument = 'model'): Promise<tf.LayersModel> {
  if (!isLayersModelLike(model)) throw new InputError(`${fn}: ${argument}: expected a tf.LayersModel, got ${describeValue(model)}`);
  checkNotDisposed(model, fn, argument);
  if (model instanceof tf.LayersModel) return model;
  checkSameMajor((await saveToMemory(model)).generatedBy, fn, argument);
  throw new InputError(
    `${fn}: ${argument}: the model comes from another copy of @tensorflow/tfjs than the one slim imports; ` +
      'training needs the same copy (dedupe @tensorflow/tfjs, or pass the model through loadModel)',
  );
}

/** A model from another copy of tfjs, saved to memory through its own save(). */
async function saveToMemory(model: tf.LayersModel): Promise<tf.io.ModelArtifacts> {
  let saved: tf.io.ModelArtifacts | undefined;
  await model.save({
    save: (artifacts: tf.io.ModelArtifacts) => {
      saved = artifacts;
      return Promise.resolve({ modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } });
    },
  });
  if (saved === undefined) throw new Error('the model did not hand back what it saved');
  return saved;
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value !== 'object') return typeof value;
  const name = (value as { constructor?: { name?: string } }).constructor?.name;
  return name !== undefined && name !== 'Object' ? `a ${name}` : 'an object that is neither';
}

/**
 * tfjs's artifacts (model.json content + one weight buffer) → slim's plain data, checked like a
 * model file (layer configs, weight names/shapes, no NaN/Inf). `where` prefixes every error.
 */
export function artifactsFromTfjs(artifacts: tf.io.ModelArtifacts, where: string): ModelArtifacts {
  if (artifacts.modelTopology === undefined || artifacts.modelTopology === null || artifacts.modelTopology instanceof ArrayBuffer) {
    throw new InputError(`${where}: has no modelTopology JSON (is this a tfjs layers model?)`);
  }
  if (artifacts.format !== undefined && artifacts.format !== 'layers-model') {
    throw new InputError(`${where}: format ${JSON.stringify(artifacts.format)} is not a layers model; slim reads "layers-model"`);
  }
  const topology = normalizeTopology(artifacts.modelTopology, where);
  const specs = (artifacts.weightSpecs ?? []) as ManifestWeightSpec[];
  validateTopology(
    topology,
    specs.map((s) => ({ name: s.name, shape: [...s.shape], dtype: s.dtype })),
    where,
    { weightsRequired: true },
  );
  const weights: WeightMap = new Map();
  if (artifacts.weightData !== undefined) {
    const bytes = new Uint8Array(tf.io.CompositeArrayBuffer.join(artifacts.weightData));
    for (const [name, weight] of decodeGroup(specs, bytes)) weights.set(name, weight);
  }
  validateWeightValues(weights, where);
  return {
    modelTopology: topology,
    weights,
    format: 'layers-model',
    ...(artifacts.generatedBy !== undefined ? { generatedBy: artifacts.generatedBy } : {}),
    ...(artifacts.convertedBy !== undefined ? { convertedBy: artifacts.convertedBy } : {}),
    ...(artifacts.trainingConfig !== undefined ? { trainingConfig: artifacts.trainingConfig } : {}),
    ...(artifacts.userDefinedMetadata !== undefined ? { userDefinedMetadata: artifacts.userDefinedMetadata } : {}),
  };
}

/** A live model on the current backend from plain data. */
export async function liveModelOf(artifacts: ModelArtifacts): Promise<tf.LayersModel> {
  return toLayersModel(artifacts);
}

/** The result's model in the kind the caller passed: live in, live out; plain data in, plain data out. */
export async function sameKindAs<M extends ModelInput>(input: M, artifacts: ModelArtifacts): Promise<M> {
  return (isSlimArtifacts(input) ? artifacts : await liveModelOf(artifacts)) as M;
}

/**
 * tfjs artifacts, or anything with tfjs's `load()` (an IOHandler such as `tf.io.http(url)` or
 * `tf.io.browserFiles`), → a validated live model.
 */
export async function loadFromTfjs(source: tf.io.ModelArtifacts | tf.io.IOHandler, where: string): Promise<tf.LayersModel> {
  const artifacts = 'load' in source && typeof source.load === 'function' ? await source.load() : (source as tf.io.ModelArtifacts);
  return liveModelOf(artifactsFromTfjs(artifacts, where));
}
