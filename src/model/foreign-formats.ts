/**
 * Model files slim cannot train or prune, recognised by their shape on disk, each refused with one
 * line naming the format and the way to a tfjs layers model. Pure checks on the path (a few bytes
 * read at most), run before slim tries to parse anything.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import * as path from 'node:path';

/** How to turn a Keras model into what slim reads. */
const TO_LAYERS_MODEL =
  'convert the Keras model it came from with `tensorflowjs_converter --input_format keras model.h5 out/` ' +
  '(output format tfjs_layers_model) and give slim out/model.json';

/** The one-line refusal for a tfjs graph model (`format: "graph-model"` or a GraphDef topology). */
export function graphModelMessage(file: string): string {
  return `${file}: is a tfjs graph model (a frozen GraphDef), which cannot be trained in tfjs; ${TO_LAYERS_MODEL}`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** True for a parsed model.json that holds a graph model rather than a layers model. */
export function isGraphModelJson(json: Record<string, unknown>): boolean {
  if (json.format === 'graph-model') return true;
  const topology = json.modelTopology;
  // A GraphDef has `node` (and usually `versions`/`library`); a layers topology has class_name.
  return isObject(topology) && (Array.isArray(topology.node) || (topology.class_name === undefined && isObject(topology.versions)));
}

function firstBytes(file: string, count: number): Buffer {
  const fd = openSync(file, 'r');
  try {
    const buffer = Buffer.alloc(count);
    const read = readSync(fd, buffer, 0, count, 0);
    return buffer.subarray(0, read);
  } finally {
    closeSync(fd);
  }
}

function exists(file: string): boolean {
  try {
    statSync(file);
    return true;
  } catch {
    return false;
  }
}

/**
 * The refusal for a path holding a model in a format slim does not read (SavedModel folder, TFLite,
 * ONNX, a bare GraphDef .pb), or undefined when the path is not one of those.
 */
export function foreignFormatMessage(p: string): string | undefined {
  let stats;
  try {
    stats = statSync(p);
  } catch {
    return undefined;
  }
  if (stats.isDirectory()) {
    if (exists(path.join(p, 'saved_model.pb')) || exists(path.join(p, 'saved_model.pbtxt'))) {
      return (
        `${p}: is a TensorFlow SavedModel folder; slim reads tfjs layers models: save the Keras model as .h5 ` +
        `(model.save('model.h5')) and ${TO_LAYERS_MODEL}`
      );
    }
    return undefined;
  }
  if (!stats.isFile()) return undefined;
  const extension = path.extname(p).toLowerCase();
  // TFLite flatbuffers carry the identifier "TFL3" at byte 4.
  if (extension === '.tflite' || firstBytes(p, 8).subarray(4, 8).toString('latin1') === 'TFL3') {
    return `${p}: is a TensorFlow Lite model, which holds no trainable graph; start from the Keras model it was converted from and ${TO_LAYERS_MODEL}`;
  }
  if (extension === '.onnx') {
    return (
      `${p}: is an ONNX model; slim reads tfjs layers models: convert the network to a Keras model first, ` + `then ${TO_LAYERS_MODEL}`
    );
  }
  if (extension === '.pb') {
    return `${p}: is a TensorFlow GraphDef/SavedModel protobuf, which cannot be trained in tfjs; ${TO_LAYERS_MODEL}`;
  }
  return undefined;
}

/**
 * tfjs explains an unregistered layer class in several lines; this says it in one, or returns
 * undefined for any other error.
 */
export function unknownLayerClassMessage(error: unknown): string | undefined {
  const unknown = /^Unknown layer: (\S+?)\./.exec(error instanceof Error ? error.message : '');
  return unknown === null
    ? undefined
    : `unknown layer class '${unknown[1]}' (not a tfjs layer; slim works on models made of tfjs's own layers)`;
}
