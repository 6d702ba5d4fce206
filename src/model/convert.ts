/**
 * Bridges between slim's plain-data ModelArtifacts and live tf.LayersModel objects.
 * Everything goes through tfjs's own (de)serialisation, so a model that converts here
 * is a model stock `tf.loadLayersModel` accepts.
 */
import * as tf from '#tfjs';
import type { ModelArtifacts, WeightMap } from './topology.js';

/** Weight specs + one contiguous buffer, in the map's order (what tf.io wants). */
export function encodeWeightMap(weights: WeightMap): { specs: tf.io.WeightsManifestEntry[]; data: ArrayBuffer } {
  const specs: tf.io.WeightsManifestEntry[] = [];
  let total = 0;
  for (const w of weights.values()) total += w.data.byteLength;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const [name, w] of weights) {
    specs.push({ name, shape: [...w.shape], dtype: w.dtype });
    out.set(new Uint8Array(w.data.buffer, w.data.byteOffset, w.data.byteLength), offset);
    offset += w.data.byteLength;
  }
  return { specs, data: out.buffer };
}

/** Builds a live model (variables on the current backend) from artifacts. */
export async function toLayersModel(artifacts: ModelArtifacts): Promise<tf.LayersModel> {
  const { specs, data } = encodeWeightMap(artifacts.weights);
  const handler = tf.io.fromMemory({
    modelTopology: artifacts.modelTopology as unknown as tf.io.ModelJSON['modelTopology'],
    weightSpecs: specs,
    weightData: data,
    trainingConfig: artifacts.trainingConfig as tf.io.TrainingConfig | undefined,
    userDefinedMetadata: artifacts.userDefinedMetadata,
  });
  return tf.loadLayersModel(handler);
}

/** Reads a live model back into plain data (topology JSON + typed arrays). */
export async function fromLayersModel(model: tf.LayersModel): Promise<ModelArtifacts> {
  let saved: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler((a) => {
      saved = a;
      return Promise.resolve({ modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } });
    }),
  );
  if (saved === undefined || saved.weightSpecs === undefined || saved.weightData === undefined) {
    throw new Error('tfjs did not hand back the model it saved');
  }
  const buffer = tf.io.CompositeArrayBuffer.join(saved.weightData);
  const weights: WeightMap = new Map();
  let offset = 0;
  for (const spec of saved.weightSpecs) {
    const size = spec.shape.reduce((a, b) => a * b, 1);
    const bytes = buffer.slice(offset, offset + size * 4);
    offset += size * 4;
    if (spec.dtype === 'int32') {
      weights.set(spec.name, { shape: [...spec.shape], dtype: 'int32', data: new Int32Array(bytes) });
    } else if (spec.dtype === 'float32') {
      weights.set(spec.name, { shape: [...spec.shape], dtype: 'float32', data: new Float32Array(bytes) });
    } else {
      throw new Error(`unsupported weight dtype ${spec.dtype} for ${spec.name}`);
    }
  }
  return {
    modelTopology: saved.modelTopology as unknown as ModelArtifacts['modelTopology'],
    weights,
    format: 'layers-model',
    generatedBy: `TensorFlow.js tfjs-layers v${tf.version_layers}`,
    convertedBy: null,
    trainingConfig: saved.trainingConfig,
    userDefinedMetadata: saved.userDefinedMetadata,
  };
}
