/**
 * slim as a library, in a page: the prune/count/export/training core on the page's own tfjs and
 * backend (WebGL, WebGPU, wasm). No Node built-ins; tfjs is a peer dependency, imported as
 * '@tensorflow/tfjs' (an import map or the page's bundler resolves it). Models come from a URL,
 * tfjs artifacts or an IOHandler (tf.io.browserFiles, an IndexedDB key through tf.io.getLoadHandlers…).
 */
import * as tf from '#tfjs';
import { InputError } from './shared/errors.js';
import { loadFromTfjs } from './shared/model.js';

export * from './shared/surface.js';
export { sparsityTrain } from './shared/train.js';

/** A live model from a URL of a model.json, tfjs model artifacts, or a tfjs IOHandler; checked as the CLI checks model files. */
export async function loadModel(source: string | URL | tf.io.ModelArtifacts | tf.io.IOHandler): Promise<tf.LayersModel> {
  if (typeof source === 'string' || source instanceof URL) {
    const url = String(source);
    return loadFromTfjs(tf.io.http(url), `loadModel: ${url}`);
  }
  if (typeof source === 'object' && source !== null) return loadFromTfjs(source, 'loadModel: source');
  throw new InputError(`loadModel: source: expected a URL, tfjs model artifacts or an IOHandler, got ${typeof source}`);
}
